"""Merging the shards' top-k lists into one top-k per query (pure numpy).

Each shard answers with its own ``k`` nearest (external ids, distances), padded with ``-1`` /
``None`` and ``inf``. The union's ``k`` nearest are among the shards' ``k`` nearest, so the
merge of exact per-shard answers is the exact answer over the union. Candidates are ordered
by distance, ties by id (ints numerically, str ids by their text), so the result does not
depend on which shard answered first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["merge_topk"]


def _tie_keys(ids: np.ndarray) -> np.ndarray:
    """int64 keys ordering the ids for tie-breaks; empty slots last."""
    if ids.dtype != object:
        return np.where(ids < 0, np.iinfo(np.int64).max, ids)
    keys = np.full(ids.shape, np.iinfo(np.int64).max, dtype=np.int64)
    present = np.not_equal(ids, None)
    if present.any():
        _, rank = np.unique(ids[present].astype(str), return_inverse=True)
        keys[present] = rank
    return keys


def merge_topk(ids: Sequence[np.ndarray], dists: Sequence[np.ndarray], k: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` nearest of each query over all shards' candidates.

    Args:
        ids: per shard, ``(nq, k_s)`` external ids (int64 with -1, or object with None).
        dists: per shard, ``(nq, k_s)`` float32 distances (inf in empty slots).
        k: how many to keep.

    Returns:
        ``(ids, dists, source)``: ``(nq, k)`` merged ids and distances, padded like a single
        collection's answer, and ``source``: for each slot its flat position in the
        concatenation of the shards' ``(nq, k_s)`` blocks (shard ``s``'s slot ``(q, j)`` is
        ``offset_s + q * k_s + j``), or -1 for an empty slot.
    """
    if not ids:
        raise ValueError("nothing to merge: no shard answered")
    nq = ids[0].shape[0]
    str_ids = any(a.dtype == object for a in ids)
    all_ids = np.concatenate([a.astype(object) if str_ids else a for a in ids], axis=1)
    all_d = np.concatenate([np.asarray(d, dtype=np.float32) for d in dists], axis=1)
    # flat position of every candidate in the shards' blocks, for return_attributes
    positions, offset = [], 0
    for a in ids:
        q, j = np.indices(a.shape)
        positions.append(offset + q * a.shape[1] + j)
        offset += a.size
    all_pos = np.concatenate(positions, axis=1) if positions else np.empty((nq, 0), np.int64)
    order = np.lexsort((_tie_keys(all_ids), all_d), axis=1)[:, :k]
    out_ids = np.take_along_axis(all_ids, order, axis=1)
    out_d = np.take_along_axis(all_d, order, axis=1)
    source = np.take_along_axis(all_pos, order, axis=1).astype(np.int64)
    width = out_ids.shape[1]
    if width < k:  # fewer candidates than k in all (every shard padded to its own k_s < k)
        pad = k - width
        out_ids = np.concatenate([out_ids, np.full((nq, pad), None if str_ids else -1, dtype=out_ids.dtype)], 1)
        out_d = np.concatenate([out_d, np.full((nq, pad), np.inf, dtype=np.float32)], 1)
        source = np.concatenate([source, np.full((nq, pad), -1, dtype=np.int64)], 1)
    empty = ~np.isfinite(out_d)
    if str_ids:
        out_ids[empty] = None
    else:
        out_ids = out_ids.astype(np.int64)
        out_ids[empty] = -1
    source[empty] = -1
    return out_ids, out_d, source
