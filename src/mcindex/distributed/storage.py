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
driver checks the first link, each shard actor the rest when it loads (Collection.load). The
manifest also carries ``self_sha256``, the SHA-256 of its own content
(:func:`mcindex.collection.storage.manifest_digest`), so that damage to the one file no other
checksum covers is caught too.

Reading treats the directory as possibly hostile (checksums can be recomputed by whoever edits
the files): the manifests are read as in :mod:`mcindex.collection.storage` (regular files only,
at most :data:`MAX_MANIFEST_BYTES` here, JSON nested at most 32 levels), every key is checked for
type and range, shard directories must be real directories (not symlinks) with distinct names,
and each shard's manifest must be a valid collection manifest agreeing with this one (rows, dim,
metric, columns, ids). Keys that no writer of the format version writes are refused. Anything
wrong is a ``CollectionFormatError`` naming the file.

Saving writes every shard into a temporary directory next to ``DIR`` (each shard actor writes
its own, possibly on another machine: ``DIR`` must be on storage all nodes see), then the
manifest, then swaps the whole directory into place the way collections are saved
(:func:`mcindex.collection.storage.replacing_directory`, :mod:`mcindex.atomic_files`): an older
save at ``DIR`` is replaced only once everything new is written.
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any

from ..collection.columns import KINDS
from ..collection.storage import (MANIFEST, METRICS, SELF_CHECKSUM, CollectionFormatError, check_keys, check_manifest,
                                  check_self_checksum, read_json_file, short)

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_MANIFEST_BYTES", "make_manifest", "read_manifest",
           "verify_shard_manifests"]

FORMAT = "mcindex-sharded-collection"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
#: The manifest is read only if it is at most this big: it holds ``shards x dim`` centroids
#: (1,024 shards of 2,048 dimensions fit); a save that would write a bigger one fails.
MAX_MANIFEST_BYTES = 64 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_FLOAT32_MAX = 3.4028234663852886e38
_KEYS = {"format", "format_version", "mcindex_version", "n", "dim", "metric", "ids", "columns", "partition",
         "checksum", "shards", SELF_CHECKSUM}
_PARTITION_KEYS = {"kind", "balance", "seed", "centroids"}
_SHARD_KEYS = {"dir", "n", "manifest_sha256"}


def _fail(path: str, problem: str) -> CollectionFormatError:
    return CollectionFormatError(f"{path}: {problem}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def make_manifest(*, version: str, n: int, dim: int, metric: str, ids: str | None, columns: list[list[str]],
                  partition: dict[str, Any], shards: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest of a sharded collection (``write_manifest`` adds its checksum). ``shards``:
    ``{"dir", "n", "manifest_sha256"}`` per shard; cluster centroids as lists of floats."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mcindex_version": version,
        "n": n, "dim": dim, "metric": metric, "ids": ids, "columns": columns,
        "partition": partition, "checksum": "sha256", "shards": shards,
    }


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
    try:
        m, _ = read_json_file(mpath, max_bytes=MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise _fail(directory, f"not a sharded collection (no {MANIFEST}; a build that did not finish?)") from None
    return check_manifest_content(mpath, m)


def check_manifest_content(mpath: str, m: Any) -> dict[str, Any]:
    """``m`` (parsed from ``mpath``) after checking every key a loader uses."""
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        hint = " (a single collection: use mcindex.Collection.load)" if isinstance(m, dict) and \
            m.get("format") == "mcindex-collection" else ""
        raise _fail(mpath, f"not an mcindex sharded collection manifest{hint}")
    version = m.get("format_version")
    if not _is_int(version):
        raise _fail(mpath, f"format_version must be an int, got {short(version)}")
    if version not in READABLE_VERSIONS:
        raise _fail(mpath, f"sharded collection format version {version} (written by mcindex "
                           f"{short(m.get('mcindex_version', '?'))}); this mcindex reads version(s) "
                           f"{', '.join(map(str, READABLE_VERSIONS))}")
    check_self_checksum(mpath, m)
    check_keys(mpath, m, _KEYS, "the manifest")
    expected = {"n": int, "dim": int, "metric": str, "columns": list, "partition": dict, "shards": list,
                "checksum": str}
    for key, typ in expected.items():
        if not isinstance(m.get(key), typ) or isinstance(m.get(key), bool):
            raise _fail(mpath, f"manifest key {key!r} missing or not {typ.__name__}")
    if m["n"] < 1 or m["dim"] < 1:
        raise _fail(mpath, f"n and dim must be >= 1, got {short(m['n'])} and {short(m['dim'])}")
    if m["checksum"] != "sha256":
        raise _fail(mpath, f"unknown checksum {short(m['checksum'])}")
    if m.get("ids") not in (None, "int64", "str"):
        raise _fail(mpath, f"unknown ids kind {short(m.get('ids'))}")
    if m["metric"] not in METRICS:
        raise _fail(mpath, f"unknown metric {short(m['metric'])}")
    if not isinstance(m.get("mcindex_version", ""), str):
        raise _fail(mpath, f"mcindex_version must be a string, got {short(m['mcindex_version'])}")
    _check_columns(mpath, m["columns"])
    _check_shards(mpath, m)
    _check_partition(mpath, m)
    return m


def _check_columns(mpath: str, columns: list[Any]) -> None:
    names = set()
    for entry in columns:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and entry[0]
                and entry[1] in KINDS) or entry[0] in names:
            raise _fail(mpath, f"malformed or repeated column entry {short(entry)}")
        names.add(entry[0])


def _check_shards(mpath: str, m: dict[str, Any]) -> None:
    shards = m["shards"]
    if not shards:
        raise _fail(mpath, "lists no shards")
    if len(shards) > m["n"]:
        raise _fail(mpath, f"lists {len(shards)} shards for {m['n']} rows (every shard holds at least one)")
    total, dirs = 0, set()
    for i, s in enumerate(shards):
        if not isinstance(s, dict) or not isinstance(s.get("dir"), str) or not _is_int(s.get("n")) or s["n"] < 1 \
                or not isinstance(s.get("manifest_sha256"), str) or not _SHA256.match(s["manifest_sha256"]):
            raise _fail(mpath, f"malformed entry for shard {i}: {short(s)}")
        check_keys(mpath, s, _SHARD_KEYS, f"the entry of shard {i}")
        name = s["dir"]
        if os.path.basename(name) != name or name in ("", ".", "..") or "\0" in name:
            raise _fail(mpath, f"bad shard directory name {short(name)}")
        if name in dirs:
            raise _fail(mpath, f"shard directory {short(name)} is listed twice")
        dirs.add(name)
        total += s["n"]
    if total != m["n"]:
        raise _fail(mpath, f"the shards hold {total} rows, the manifest says n = {m['n']}")


def _check_partition(mpath: str, m: dict[str, Any]) -> None:
    part, shards = m["partition"], m["shards"]
    if part.get("kind") not in ("hash", "cluster"):
        raise _fail(mpath, f"unknown partition {short(part.get('kind'))}")
    check_keys(mpath, part, _PARTITION_KEYS, "the partition")
    if part["kind"] != "cluster":
        return
    cents = part.get("centroids")
    # float32 range: the centroids are searched as float32, where a larger value would be inf
    if not (isinstance(cents, list) and len(cents) == len(shards) and all(
            isinstance(row, list) and len(row) == m["dim"]
            and all(_is_number(x) and math.isfinite(x) and abs(x) <= _FLOAT32_MAX for x in row)
            for row in cents)):
        raise _fail(mpath, f"cluster partition needs {len(shards)} centroids of dim {m['dim']} (finite float32 "
                           f"numbers)")
    balance = part.get("balance")
    if balance is not None and not (_is_number(balance) and math.isfinite(balance) and balance >= 1):
        raise _fail(mpath, f"partition balance must be a number >= 1 or null, got {short(balance)}")
    if "seed" in part and not (_is_int(part["seed"]) and part["seed"] >= 0):
        raise _fail(mpath, f"partition seed must be an int >= 0, got {short(part['seed'])}")


def _shard_dir(directory: str, i: int, name: str) -> str:
    """The path of shard ``i``, which must be a directory and not a symlink (a symlink could
    make a shard load a collection from anywhere)."""
    sdir = os.path.join(directory, name)
    try:
        mode = os.lstat(sdir).st_mode
    except FileNotFoundError:
        raise _fail(sdir, f"shard {i} is missing (no {MANIFEST})") from None
    except OSError as exc:
        raise _fail(sdir, f"shard {i}: cannot read it: {exc.strerror}") from None
    if not stat.S_ISDIR(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a directory"
        raise _fail(sdir, f"shard {i} is {what}; a shard must be a directory inside the sharded collection")
    return sdir


def verify_shard_manifests(directory: str, manifest: dict[str, Any]) -> None:
    """Check that every shard directory exists and its manifest has the recorded SHA-256, is a
    valid collection manifest, and agrees with the sharded manifest (rows, dim, metric, columns,
    ids). The shard's own files are checked by the shard when it loads.

    Raises:
        CollectionFormatError: naming the shard and what is wrong with it.
    """
    import hashlib

    # The shards store the global row numbers as int64 ids when the user gave none.
    want_ids = manifest.get("ids") or "int64"
    for i, s in enumerate(manifest["shards"]):
        sdir = _shard_dir(directory, i, s["dir"])
        spath = os.path.join(sdir, MANIFEST)
        try:
            sm, raw = read_json_file(spath, max_bytes=MAX_MANIFEST_BYTES, what=f"manifest of shard {i}")
        except FileNotFoundError:
            raise _fail(sdir, f"shard {i} is missing (no {MANIFEST})") from None
        if hashlib.sha256(raw).hexdigest() != s["manifest_sha256"]:
            raise _fail(spath, f"shard {i}: checksum mismatch (its manifest is corrupted or was replaced)")
        sm = check_manifest(spath, sm)
        got = (sm["n"], sm["dim"], sm["metric"])
        want = (s["n"], manifest["dim"], manifest["metric"])
        if got != want:
            raise _fail(spath, f"shard {i} holds n, dim, metric = {got}, the sharded manifest says {want}")
        columns = [[c["name"], c["kind"]] for c in sm["columns"]]
        if columns != manifest["columns"] or sm.get("ids") != want_ids:
            raise _fail(spath, f"shard {i} has columns {short(columns)} and ids {sm.get('ids')}, the sharded "
                               f"manifest says {short(manifest['columns'])} and ids {want_ids}")
