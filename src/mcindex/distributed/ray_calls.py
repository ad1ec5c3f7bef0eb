"""The Ray calls of a sharded collection: shard actors started, asked and ended, and every failure
of theirs turned into the errors of :mod:`.errors`.

* An actor whose process dies is restarted by Ray (``max_restarts`` in :data:`ACTOR_DEFAULTS`),
  reloads its shard from its checkpoint directory, and Ray re-sends the call that was in flight
  (``max_task_retries``): the caller waits, then gets the full answer.
* A shard that stays down (restarts exhausted, checkpoint gone or damaged) is reported as
  :class:`~.errors.ShardUnavailableError` naming it and Ray's reason; a shard that does not answer
  within a search's ``timeout`` as :class:`~.errors.ShardTimeoutError` naming it
  (:func:`raise_for_missing`, unless the caller accepts partial results).
* A ``ValueError``, ``TypeError``, ``ImportError`` or ``KeyError`` a shard raised is the caller's
  mistake (a ``where`` naming an unknown column, bad SQL), identical on every shard: it is raised
  as is, out of Ray's wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from . import placement
from .errors import ShardTimeoutError, ShardUnavailableError
from .shard import Shard

__all__ = ["ACTOR_DEFAULTS", "ask_each", "collect", "end", "gather", "placement_of", "raise_for_missing", "share",
           "start_actors"]

#: How shard actors are created unless ``actor_options`` says otherwise. ``num_cpus=0``: an
#: actor reserves no CPU, so any number of shards fit on a node (four on a 2-CPU machine);
#: the work's parallelism is set by ``threads``, which defaults to the node's CPUs divided
#: among the shards placed there. No ``scheduling_strategy``: unless the caller gives one, the
#: shards are spread over the alive nodes in proportion to their CPUs (:mod:`.placement`).
ACTOR_DEFAULTS: dict[str, Any] = {"num_cpus": 0, "max_restarts": 3, "max_task_retries": 3}

_USER_ERRORS = (ValueError, TypeError, ImportError, KeyError)
_INLINE_BYTES = 64 << 10  # below Ray's own inline limit (100 KiB) for task arguments


# ---- actors -------------------------------------------------------------------------------------
def start_actors(actor_options: Mapping[str, Any] | None, shard_dirs: Sequence[str]) -> list[Any]:
    """One shard actor per directory (each loads its checkpoint, if there is one, as it starts),
    with :data:`ACTOR_DEFAULTS` overridden by ``actor_options`` and placed on nodes as
    :func:`.placement.actor_options` says.

    Connects to Ray first if this process is not connected yet: ``ray.init()`` joins the cluster
    named by ``RAY_ADDRESS`` (or one started on this machine with ``ray start``), else starts a
    local one."""
    options = {**ACTOR_DEFAULTS, **dict(actor_options or {})}
    if not ray.is_initialized():
        ray.init()
    cls = ray.remote(Shard)
    per_shard = placement.actor_options(options, len(shard_dirs))
    return [cls.options(**opts).remote(s, d) for s, (opts, d) in enumerate(zip(per_shard, shard_dirs))]


def end(actors: Sequence[Any]) -> None:
    """End the actors for good (no restart). An actor already gone, or Ray shut down first,
    leaves nothing to end."""
    for a in actors:
        try:
            ray.kill(a, no_restart=True)
        except Exception:
            pass


def placement_of(actors: Sequence[Any]) -> list[tuple[str, float, int]]:
    """Where the actors run, per shard: :func:`.placement.describe` of each one's node."""
    return placement.describe(gather(actors, [a.node_id.remote() for a in actors], "start"))


def share(queries: np.ndarray) -> Any:
    """``queries`` as an argument for every shard: one copy in the object store, unless the batch
    is small: Ray then sends it inline with each call, which saves a store round trip (about
    1 ms per search)."""
    return ray.put(queries) if queries.nbytes > _INLINE_BYTES else queries


# ---- answers and failures -----------------------------------------------------------------------
def _unwrap(exc: BaseException) -> BaseException:
    """The shard's own exception inside Ray's wrapper (``RayTaskError.cause``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(exc, RayTaskError) and isinstance(cause, BaseException) else exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


def collect(refs: Mapping[int, Any], timeout: float | None
            ) -> tuple[dict[int, Any], dict[int, str], list[int]]:
    """Wait for the shards' answers: (answers, failed shard -> reason, shards that timed out).

    A shard's own ValueError / TypeError (a bad ``where`` it could not compile, say) is the
    caller's mistake, identical on every shard: it is raised as is."""
    by_ref = {ref: s for s, ref in refs.items()}
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout)
    answers: dict[int, Any] = {}
    failed: dict[int, str] = {}
    for ref in ready:
        s = by_ref[ref]
        try:
            answers[s] = ray.get(ref)
        except RayActorError as exc:
            failed[s] = _describe(exc)
        except RayTaskError as exc:
            cause = _unwrap(exc)
            if isinstance(cause, _USER_ERRORS):
                raise cause from None
            failed[s] = _describe(cause)
        except RayError as exc:  # e.g. the result object was lost with its node
            failed[s] = _describe(exc)
    slow = sorted(set(refs) - set(answers) - set(failed))
    return answers, failed, slow


def gather(actors: Sequence[Any], refs: Sequence[Any], what: str) -> list[Any]:
    """Every shard's answer, in order; ShardUnavailableError naming the shards that failed."""
    answers, failed, _ = collect(dict(enumerate(refs)), None)
    if failed:
        names = ", ".join(f"shard {s}: {why}" for s, why in sorted(failed.items()))
        raise ShardUnavailableError(f"{what} failed on {len(failed)} of {len(actors)} shard(s) ({names})",
                                    sorted(failed), [failed[s] for s in sorted(failed)])
    return [answers[s] for s in range(len(refs))]


def raise_for_missing(answers: Mapping[int, Any], failed: Mapping[int, str], slow: Sequence[int], *, shards: int,
                      timeout: float | None, allow_partial: bool) -> None:
    """Raise for the shards of a search that failed or timed out (as :func:`collect` returns
    them), unless ``allow_partial`` and at least one shard answered: ShardUnavailableError when
    some failed, else ShardTimeoutError."""
    if not (failed or slow) or (allow_partial and answers):
        return
    if failed:
        names = ", ".join(f"shard {s}: {why}" for s, why in sorted(failed.items()))
        extra = f"; shard(s) {sorted(slow)} also did not answer within {timeout} s" if slow else ""
        raise ShardUnavailableError(
            f"{len(failed)} of {shards} shard(s) unavailable ({names}){extra}; "
            f"{'no shard answered' if allow_partial else 'pass allow_partial=True to accept partial results'}",
            sorted(failed), [failed[s] for s in sorted(failed)])
    raise ShardTimeoutError(f"shard(s) {sorted(slow)} did not answer within {timeout} s"
                            + ("" if allow_partial else "; pass allow_partial=True to accept partial results"),
                            sorted(slow))


def ask_each(refs: Sequence[Any], timeout: float | None) -> list[Any]:
    """Each shard's answer, in order; a shard that fails or does not answer within ``timeout``
    seconds gives ``{"shard": s, "error": reason}`` instead (for monitoring: a dead shard is
    information, not an error)."""
    ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
    ready_set = set(ready)
    out = []
    for s, ref in enumerate(refs):
        if ref not in ready_set:
            out.append({"shard": s, "error": f"no answer within {timeout} s"})
            continue
        try:
            out.append(ray.get(ref))
        except Exception as exc:
            out.append({"shard": s, "error": _describe(_unwrap(exc))})
    return out
