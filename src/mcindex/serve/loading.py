"""What a path to serve holds, and loading it into something :func:`~.api.make_app` can serve.

* a collection directory (``Collection.save``): loaded with ``Collection.load(path, mmap=True)``;
* a bare index file (``Index.save``, usually ``.mci``): wrapped in a collection without
  attributes, so it serves searches without ``where`` (and reports row numbers as ids);
* a sharded collection directory (a ``manifest.json`` with ``"kind": "sharded"``): see the
  marked hook below.

Anything else is a ``ValueError`` / ``FileNotFoundError`` with a one-line message.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["describe_path", "load_servable"]

MANIFEST = "manifest.json"


def describe_path(path: str | os.PathLike[str]) -> str:
    """``"collection"``, ``"sharded"`` or ``"index"``: what ``path`` holds, judged from its
    manifest or file header without loading it.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a directory without a readable manifest, or a file that is not an index.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    if os.path.isdir(path):
        manifest_path = os.path.join(path, MANIFEST)
        try:
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            raise ValueError(f"{path}: not a collection directory (no {MANIFEST}); serve a directory written by "
                             "Collection.save / 'mcindex build', or an index file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{manifest_path}: unreadable manifest: {exc}") from None
        if isinstance(manifest, dict) and manifest.get("kind") == "sharded":
            return "sharded"
        return "collection"
    from ..persistence import MAGIC

    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        raise ValueError(f"{path}: not an mcindex index file or collection directory")
    return "index"


def load_servable(path: str | os.PathLike[str]) -> Any:
    """The object to serve for ``path`` (see the module docstring); checksums are verified."""
    kind = describe_path(path)
    if kind == "sharded":
        # ---- HOOK: sharded collections (issue 7, part 1) ----------------------------------------
        # Once mcindex.distributed lands, serve it like a collection; ShardedCollection has the
        # same search / info / dim / metric / len interface that make_app uses:
        #     from ..distributed import ShardedCollection
        #     return ShardedCollection.load(path)
        # (Its shards are Ray actors: load it in the Serve replica, inside the same Ray cluster.)
        # Then serve it with make_app(..., search_threads=None): its shards choose their own
        # thread counts, and the CLI's --threads default of 1 would override that.
        raise ValueError(f"{os.fspath(path)}: a sharded collection; serving one needs mcindex.distributed "
                         "(not available in this version)")
    if kind == "collection":
        from ..collection import Collection

        return Collection.load(path, mmap=True)
    from ..collection import Collection
    from ..index import Index

    return Collection.from_index(Index.load(path, mmap=True))
