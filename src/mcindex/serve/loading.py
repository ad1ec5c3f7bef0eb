"""What a path to serve holds, and loading it into something :func:`~.api.make_app` can serve.

* a collection directory (``Collection.save``): loaded with ``Collection.load(path, mmap=True)``;
* a bare index file (``Index.save``, usually ``.mci``): wrapped in a collection without
  attributes, so it serves searches without ``where`` (and reports row numbers as ids);
* a sharded collection directory (``ShardedCollection.save`` / ``build(path=...)``): opened with
  ``ShardedCollection.load(path)``, which starts one Ray actor per shard. :func:`~.deployment.run`
  opens it once, in the driver, and hands every replica a client of the same shard actors.

Anything else is a ``ValueError`` / ``FileNotFoundError`` with a one-line message.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["check_servable", "describe_path", "load_servable"]

MANIFEST = "manifest.json"
# mcindex.distributed.storage.FORMAT and MAX_MANIFEST_BYTES, spelled out: importing that package
# imports Ray when it is installed.
SHARDED_FORMAT = "mcindex-sharded-collection"
_MAX_MANIFEST_BYTES = 64 << 20


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
        from ..collection.storage import CollectionFormatError, read_json_file

        manifest_path = os.path.join(path, MANIFEST)
        try:  # a regular file only (a FIFO would block), size and nesting capped
            manifest, _ = read_json_file(manifest_path, max_bytes=_MAX_MANIFEST_BYTES)
        except FileNotFoundError:
            raise ValueError(f"{path}: not a collection directory (no {MANIFEST}); serve a directory written by "
                             "Collection.save / 'mcindex build', or an index file") from None
        except CollectionFormatError as exc:
            raise ValueError(f"unreadable manifest: {exc}") from None
        if isinstance(manifest, dict) and manifest.get("format") == SHARDED_FORMAT:
            return "sharded"
        return "collection"
    from .._files import open_regular
    from ..persistence import MAGIC

    with open_regular(path) as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        raise ValueError(f"{path}: not an mcindex index file or collection directory")
    return "index"


def check_servable(path: str | os.PathLike[str]) -> str:
    """What ``path`` holds (as :func:`describe_path`), after verifying it the way loading would,
    without starting anything: a sharded collection's manifest and each shard's manifest checksum
    are checked, any other kind is loaded (and dropped). Raises what loading would."""
    kind = describe_path(path)
    if kind == "sharded":
        from ..distributed.storage import read_manifest, verify_shard_manifests

        root = os.path.abspath(os.fspath(path))
        verify_shard_manifests(root, read_manifest(root))
    else:
        load_servable(path)
    return kind


def load_servable(path: str | os.PathLike[str]) -> Any:
    """The object to serve for ``path`` (see the module docstring); checksums are verified."""
    kind = describe_path(path)
    if kind == "sharded":
        from ..distributed import ShardedCollection

        return ShardedCollection.load(path)  # connects to Ray (RAY_ADDRESS) or starts it
    if kind == "collection":
        from ..collection import Collection

        return Collection.load(path, mmap=True)
    from ..collection import Collection
    from ..index import Index

    return Collection.from_index(Index.load(path, mmap=True))
