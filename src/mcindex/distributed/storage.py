"""A sharded collection on disk: one directory per shard plus a manifest tying them together.

Layout (format version 1)::

    DIR/
      manifest.json     what the directory holds (below)
      shard-0000/       shard 0: an ordinary collection directory (Collection.save), its own
      shard-0001/       manifest.json listing the SHA-256 of each of its files
      ...

``manifest.json``::

    {"format": "mcindex-sharded-collection", "format_version": 1, "mcindex_version": "0.1.0",
     "n": 100000, "dim": 64, "metric": "cosine", "ids": null | "int64" | "str",
     "columns": [["price", "numeric"], ["tags", "multi_label"]],
     "partition": {"kind": "hash"}
               or {"kind": "cluster", "balance": 2.0, "seed": 0, "centroids": [[...], ...]},
     "checksum": "sha256",
     "shards": [{"dir": "shard-0000", "n": 25013, "manifest_sha256": "..."}, ...]}

``ids: null`` means the user gave none: the shards then store the global row numbers as their
ids. The chain of checksums is manifest -> each shard's manifest -> each shard's files; the
driver checks the first link, each shard actor the rest when it loads (Collection.load).

Saving writes every shard into a temporary directory next to ``DIR`` (each shard actor writes
its own, possibly on another machine: ``DIR`` must be on storage all nodes see), then the
manifest, then swaps the whole directory into place the way collections are saved
(:func:`mcindex.collection.storage.install_directory`): an older save at ``DIR`` is replaced
only once everything new is written.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from ..collection.storage import MANIFEST, CollectionFormatError, sha256_of

__all__ = ["FORMAT", "FORMAT_VERSION", "read_manifest", "verify_shard_manifests"]

FORMAT = "mcindex-sharded-collection"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)


def _fail(path: str, problem: str) -> CollectionFormatError:
    return CollectionFormatError(f"{path}: {problem}")


def _read_json(path: str, problem: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(path, f"{problem}: {exc}") from None


def read_manifest(path: str) -> dict[str, Any]:
    """The checked manifest of a sharded collection directory (no shard is opened).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CollectionFormatError: no manifest (an unfinished build or not a sharded collection), an
            unreadable or inconsistent one, or a format version this mcindex does not read.
    """
    directory = os.fspath(path)
    if not os.path.exists(directory):
        raise FileNotFoundError(2, "No such file or directory", directory)
    if not os.path.isdir(directory):
        raise _fail(directory, "not a sharded collection directory")
    mpath = os.path.join(directory, MANIFEST)
    if not os.path.exists(mpath):
        raise _fail(directory, f"not a sharded collection (no {MANIFEST}; a build that did not finish?)")
    m = _read_json(mpath, "corrupted manifest")
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        hint = " (a single collection: use mcindex.Collection.load)" if isinstance(m, dict) and \
            m.get("format") == "mcindex-collection" else ""
        raise _fail(mpath, f"not an mcindex sharded collection manifest{hint}")
    version = m.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(mpath, f"format_version must be an int, got {version!r}")
    if version not in READABLE_VERSIONS:
        raise _fail(mpath, f"sharded collection format version {version} (written by mcindex "
                           f"{m.get('mcindex_version', '?')}); this mcindex reads version(s) "
                           f"{', '.join(map(str, READABLE_VERSIONS))}")
    expected = {"n": int, "dim": int, "metric": str, "columns": list, "partition": dict, "shards": list,
                "checksum": str}
    for key, typ in expected.items():
        if not isinstance(m.get(key), typ) or isinstance(m.get(key), bool):
            raise _fail(mpath, f"manifest key {key!r} missing or not {typ.__name__}")
    if m["checksum"] != "sha256":
        raise _fail(mpath, f"unknown checksum {m['checksum']!r}")
    if m.get("ids") not in (None, "int64", "str"):
        raise _fail(mpath, f"unknown ids kind {m.get('ids')!r}")
    if m["metric"] not in ("l2", "ip", "cosine"):
        raise _fail(mpath, f"unknown metric {m['metric']!r}")
    for entry in m["columns"]:
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
            raise _fail(mpath, f"malformed column entry {entry!r}")
    shards = m["shards"]
    if not shards:
        raise _fail(mpath, "lists no shards")
    total = 0
    for i, s in enumerate(shards):
        if not isinstance(s, dict) or not isinstance(s.get("dir"), str) or not isinstance(s.get("manifest_sha256"), str) \
                or not isinstance(s.get("n"), int) or isinstance(s.get("n"), bool) or s["n"] < 1:
            raise _fail(mpath, f"malformed entry for shard {i}: {s!r}")
        name = s["dir"]
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise _fail(mpath, f"bad shard directory name {name!r}")
        total += s["n"]
    if total != m["n"]:
        raise _fail(mpath, f"the shards hold {total} rows, the manifest says n = {m['n']}")
    part = m["partition"]
    if part.get("kind") not in ("hash", "cluster"):
        raise _fail(mpath, f"unknown partition {part.get('kind')!r}")
    if part["kind"] == "cluster":
        cents = part.get("centroids")
        if not (isinstance(cents, list) and len(cents) == len(shards) and all(
                isinstance(row, list) and len(row) == m["dim"]
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in row)
                for row in cents)):
            raise _fail(mpath, f"cluster partition needs {len(shards)} centroids of dim {m['dim']}")
    return m


def verify_shard_manifests(directory: str, manifest: dict[str, Any]) -> None:
    """Check that every shard directory exists and its manifest has the recorded SHA-256 and
    agrees with the sharded manifest (rows, dim, metric). The shard's own files are checked by
    the shard when it loads.

    Raises:
        CollectionFormatError: naming the shard and what is wrong with it.
    """
    for i, s in enumerate(manifest["shards"]):
        sdir = os.path.join(directory, s["dir"])
        spath = os.path.join(sdir, MANIFEST)
        if not os.path.isfile(spath):
            raise _fail(sdir, f"shard {i} is missing (no {MANIFEST})")
        if sha256_of(spath) != s["manifest_sha256"]:
            raise _fail(spath, f"shard {i}: checksum mismatch (its manifest is corrupted or was replaced)")
        sm = _read_json(spath, f"shard {i}: unreadable manifest")
        got = (sm.get("n"), sm.get("dim"), sm.get("metric"))
        want = (s["n"], manifest["dim"], manifest["metric"])
        if got != want:
            raise _fail(spath, f"shard {i} holds n, dim, metric = {got}, the sharded manifest says {want}")
