"""A collection on disk: one directory, written atomically, verified when loaded.

Layout (format version 1)::

    DIR/
      manifest.json      what the directory holds, with a SHA-256 of every other file
      index.mci          the index (Index.save: its own versioned, CRC-checked format)
      attributes.arrow   the attribute columns, Arrow IPC file format (when pyarrow is installed)
        or attributes.npz  the numpy fallback (plain arrays, never pickles; see below)
      ids.npz            the external ids, when given (int64 array, or UTF-8 blob + offsets)

``manifest.json``::

    {"format": "mcindex-collection", "format_version": 1, "mcindex_version": "0.1.0",
     "n": 1000, "dim": 64, "metric": "cosine",
     "columns": [{"name": "price", "kind": "numeric", "dtype": "float64", "nulls": 3, ...}, ...],
     "ids": "int64" | "str" | null,
     "attributes_format": "arrow" | "npz" | null,      # null: no attribute columns
     "checksum": "sha256",
     "files": {"index.mci": {"bytes": 123, "sha256": "..."}, ...},
     "self_sha256": "..."}                              # SHA-256 of the manifest's own content

``self_sha256`` (:func:`manifest_digest`: the canonical JSON of the manifest without that key)
covers the one file no other checksum does; manifests written before it existed have none and
still load.

The Arrow file holds one column per attribute in manifest order (numeric: int64 / double /
timestamp[us]; categorical: string or int64; boolean: bool; multi_label: list<string>;
keywords: the text as string), readable by any Arrow tool. The ``.npz`` fallback stores, for
column ``i``, arrays named ``c{i}.<part>`` as each column kind's ``to_npz`` describes (values and
validity masks, label codes, strings as a UTF-8 blob plus int64 offsets).

Saving writes everything to a temporary directory next to ``DIR`` (``.DIR.<random>.tmp``),
fsyncs every file and the directory, then swaps it into place: an atomic exchange
(``renameat2(RENAME_EXCHANGE)``) where Linux offers it, otherwise ``DIR`` is first renamed
aside and then replaced (two renames; a crash between them leaves the old collection, intact,
under ``.DIR.<random>.old``). The old collection is deleted only after the new one is in place,
so a failed or interrupted save never leaves a half-written collection where a good one was.
An existing ``DIR`` that is not a collection (non-empty, no manifest) is never replaced. A save
killed outright (SIGKILL) may leave its ``.DIR.<random>.tmp`` directory behind; the next save to
``DIR`` deletes it (the writer holds a lock on it while alive, so a concurrent save's directory
is never touched). The protocol is :mod:`mcindex.atomic_files`, which index files share.

Loading treats the directory as possibly hostile: a checksum proves that a file is intact, not
that it can be trusted, since whoever edits a file can recompute it. Any problem raises
:class:`CollectionFormatError` (a ``ValueError``) naming the file; nothing is read out of bounds,
nothing is allocated from a length in a file before that length is checked against the file's
size, and nothing blocks. Load checks, in order:

1. the manifest: a regular file (not a symlink, FIFO, socket or device: each file is checked with
   ``lstat`` before it is opened, then opened ``O_NONBLOCK | O_NOFOLLOW`` and checked again with
   ``fstat``) of at most :data:`MAX_MANIFEST_BYTES`, UTF-8, JSON nested at most
   :data:`MAX_JSON_DEPTH` levels (measured before parsing, which recurses), strict JSON; a
   collection manifest of a version this mcindex reads, its ``self_sha256`` matching, no
   unknown keys, every key of the right type and range (:func:`check_manifest`), listing exactly
   the files the format needs;
2. every listed file: a regular file inside the directory (symlinks are refused, even to an
   identical file) of the listed size;
3. the index: its SHA-256, then ``Index.load``'s own checks; its ``n``, ``dim`` and ``metric``
   must be the manifest's;
4. the attributes, read once into memory and hashed as read (so what is parsed is what was
   hashed). Arrow (:mod:`._arrowfile`): the IPC layout (no compressed bodies, no dictionary
   batches), the schema against the manifest's names, kinds and dtypes, ``validate(full=True)``
   before any value is converted, the row count. npz (:mod:`._npz`): parsed from memory, without
   ``np.load``: uncompressed members only, plain npy headers, shapes that match the bytes. Each
   column class then checks its arrays (``from_npz``: dtypes, shapes, offsets, code ranges,
   sorted labels); the loaded columns' kinds, dtypes, null and label counts must be the
   manifest's;
5. the ids, as the attributes: unique, of the manifest's kind, one per row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._checks import METRICS
from .. import _files, atomic_files
from ._optional import available, require
from .columns import KINDS, Column
from .kinds import column_class
from .ids import ExternalIds
from .table import RESERVED

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_JSON_DEPTH", "MAX_MANIFEST_BYTES", "CollectionFormatError", "check_keys", "check_manifest",
           "check_target", "load_collection", "open_regular", "read_json_file", "read_manifest", "replacing_directory",
           "save_collection", "write_manifest"]

FORMAT = "mcindex-collection"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
MANIFEST = "manifest.json"
INDEX_FILE = "index.mci"
IDS_FILE = "ids.npz"
ATTRIBUTE_FILES = {"arrow": "attributes.arrow", "npz": "attributes.npz"}
_CHUNK = 1 << 20
#: A collection manifest is read whole and parsed only if it is at most this big (about 50,000
#: columns); a save that would write a bigger one fails before anything is replaced.
MAX_MANIFEST_BYTES = 8 << 20
#: JSON nested deeper than this is refused before it is parsed (json.loads recurses once per
#: level); mcindex's manifests nest 4 levels at most.
MAX_JSON_DEPTH = 32
#: The manifest key holding the SHA-256 of the manifest's own content (see manifest_digest).
SELF_CHECKSUM = "self_sha256"
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


class CollectionFormatError(ValueError):
    """A collection directory that cannot be loaded: missing or corrupted files, wrong version."""


# ---- small helpers ------------------------------------------------------------------------------
def sha256_of(path: str) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def clip(text: str, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters, non-printable characters escaped: an
    error message may quote bytes from a hostile file."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: values from a hostile file go into messages."""
    text = repr(value) if not isinstance(value, (list, dict)) or len(value) < 1000 else f"<{type(value).__name__} " \
        f"of {len(value)} items>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---- reading files that may be hostile ----------------------------------------------------------
# The manifest's SHA-256 values prove that files are intact, not that they are trustworthy: whoever
# edits a file can recompute them. So everything below checks what it reads as if it came from an
# attacker: the type of every file before it is opened, lengths against sizes before allocating,
# JSON depth before parsing.
def check_regular(path: str) -> os.stat_result:
    """``lstat`` of ``path``, which must be a regular file and not a symbolic link.

    A FIFO would block the reader forever and a device could be endless; a symlink could make a
    collection read a file outside its directory. Raises FileNotFoundError when ``path`` is
    missing (callers say what is missing), CollectionFormatError otherwise."""
    return _regular(_files.check_regular, path)


def open_regular(path: str) -> Any:
    """``path`` opened for binary reading after :func:`check_regular`, non-blocking and without
    following a link, and checked again on the descriptor (:func:`mcindex._files.open_regular`),
    so a file swapped for a FIFO or a symlink in between cannot block or redirect the read.
    Raises CollectionFormatError (FileNotFoundError when ``path`` is missing)."""
    return _regular(_files.open_regular, path)


def _regular(fn: Any, path: str) -> Any:
    try:
        return fn(path, CollectionFormatError, follow_symlinks=False)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise CollectionFormatError(f"{path}: a directory, not a regular file; refusing to read it") from None
    except OSError as exc:
        raise CollectionFormatError(f"{path}: cannot read it: {exc.strerror}") from None


def read_regular(path: str, max_bytes: int) -> bytes:
    """The whole of the regular file ``path`` (see :func:`open_regular`), refused when it is
    larger than ``max_bytes`` (before anything of that size is allocated)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise CollectionFormatError(f"{path}: {size} bytes, more than the {max_bytes} bytes allowed")
        try:
            data = f.read(max_bytes + 1)  # +1: a file that grew since fstat is caught too
        except OSError as exc:
            raise CollectionFormatError(f"{path}: cannot read it: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise CollectionFormatError(f"{path}: more than the {max_bytes} bytes allowed")
    return data


# A JSON string (escapes included), one bracket, or a quote that opens a string never closed.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"|[\[\]{}]|"', re.S)


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``.

    Brackets inside strings do not count. The scan is linear (a quote never closed ends it: the
    parser fails there without going deeper) and is skipped when there are too few brackets to
    reach the limit, as in every manifest mcindex writes."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for m in _JSON_TOKEN.finditer(raw):
        c = raw[m.start()]
        if c == 0x22:  # '"'
            if m.end() - m.start() == 1:
                return False
        elif c in (0x5B, 0x7B):  # '[' '{'
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # a valid JSON number such as 1e999 overflows to inf
        raise ValueError(f"number {text[:40]} is out of the float64 range")
    return value


def read_json_file(path: str, *, max_bytes: int, what: str = "manifest") -> tuple[Any, bytes]:
    """``(parsed value, raw bytes)`` of the JSON file ``path``: a regular file of at most
    ``max_bytes``, UTF-8, nested at most :data:`MAX_JSON_DEPTH` deep, strict JSON (no NaN or
    Infinity, no number that overflows to infinity). Raises CollectionFormatError naming the file and ``what`` it should be
    (FileNotFoundError when it is missing)."""
    raw = read_regular(path, max_bytes)
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        raise CollectionFormatError(f"{path}: corrupted {what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float), raw
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, integers of over 4300 digits
        raise CollectionFormatError(f"{path}: corrupted {what}: {clip(str(exc))}") from None


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of a manifest's content: its canonical JSON (sorted keys, no spaces) without the
    :data:`SELF_CHECKSUM` key. Any change to a value changes it; layout and key order do not."""
    content = {k: v for k, v in manifest.items() if k != SELF_CHECKSUM}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_self_checksum(path: str, manifest: Mapping[str, Any]) -> None:
    """Refuse a manifest whose :data:`SELF_CHECKSUM` does not match its content. Manifests
    written before the key existed have none and are accepted: the checksum catches accidental
    damage of the one file no other checksum covers, not an attacker, who can recompute it."""
    if SELF_CHECKSUM not in manifest:
        return
    stored = manifest[SELF_CHECKSUM]
    if not isinstance(stored, str) or not _SHA256.match(stored):
        raise CollectionFormatError(f"{path}: {SELF_CHECKSUM} must be 64 lower-case hex digits, got {short(stored)}")
    if manifest_digest(manifest) != stored:
        raise CollectionFormatError(f"{path}: checksum mismatch (the manifest is corrupted or was modified)")


def read_verified(path: str, info: Mapping[str, Any]) -> bytes:
    """The bytes of a listed file, read once and checked against the manifest's size and SHA-256
    (so what is parsed is exactly what was hashed)."""
    data = read_regular(path, info["bytes"])
    if len(data) != info["bytes"]:
        raise CollectionFormatError(f"{path}: size {len(data)} bytes, the manifest says {info['bytes']} "
                                    f"(truncated or modified)")
    if hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CollectionFormatError(f"{path}: checksum mismatch (the file is corrupted or was modified)")
    return data


def _verify_streamed(path: str, info: Mapping[str, Any]) -> None:
    """The size and SHA-256 of a listed file too big to hold in memory (the index)."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        try:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        except OSError as exc:
            raise CollectionFormatError(f"{path}: cannot read it: {exc.strerror}") from None
    if h.hexdigest() != info["sha256"]:
        raise CollectionFormatError(f"{path}: checksum mismatch (the file is corrupted or was modified)")


def _write_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


# ---- save ---------------------------------------------------------------------------------------
def _write_attributes(directory: str, columns: Mapping[str, Column], fmt: str) -> str | None:
    if not columns:
        return None
    path = os.path.join(directory, ATTRIBUTE_FILES[fmt])
    if fmt == "arrow":
        pa = require("pyarrow", "saving attributes as Arrow")
        table = pa.table({name: c.to_arrow() for name, c in columns.items()})
        with open(path, "wb") as f:
            with pa.ipc.new_file(f, table.schema) as writer:
                writer.write_table(table)
            f.flush()
            os.fsync(f.fileno())
    else:
        arrays = {f"c{i}.{key}": arr for i, c in enumerate(columns.values()) for key, arr in c.to_npz().items()}
        _write_npz(path, arrays)
    return os.path.basename(path)


def check_target(path: str | os.PathLike[str]) -> str:
    """The absolute path a collection would be saved to, after every check that writes nothing
    (run before an expensive build, so that a bad output path fails first).

    Raises:
        ValueError: a path with no name (``/``).
        FileNotFoundError: its parent directory does not exist.
        FileExistsError: it exists and is not a collection directory (a file, a symlink, or a
            non-empty directory without a manifest), which a save never replaces.
        PermissionError: the parent directory is not writable.
    """
    target = os.path.abspath(os.fspath(path)).rstrip(os.sep)
    parent, base = os.path.split(target)
    if not base:
        raise ValueError(f"cannot save a collection as {os.fspath(path)!r}")
    if not os.path.isdir(parent):
        raise FileNotFoundError(2, "No such directory", parent)
    if os.path.lexists(target):
        if not os.path.isdir(target) or os.path.islink(target):
            raise FileExistsError(f"{target} exists and is not a collection directory; refusing to replace it")
        if os.listdir(target) and not os.path.exists(os.path.join(target, MANIFEST)):
            raise FileExistsError(f"{target} is a non-empty directory without {MANIFEST} (not a collection); "
                                  f"refusing to replace it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(13, "Permission denied (cannot create the collection there)", parent)
    return target


def write_manifest(directory: str, manifest: dict[str, Any], *, max_bytes: int = MAX_MANIFEST_BYTES) -> None:
    """Write ``manifest.json`` into ``directory`` with its :data:`SELF_CHECKSUM` added, fsynced,
    replacing any older one in a single rename (:func:`mcindex.atomic_files.replacing_file`: a
    reader sees the old manifest or the new, never half of one), and fsync ``directory``.

    Raises:
        ValueError: the manifest would be larger than ``max_bytes``, which its reader refuses
            (nothing is written).
    """
    content = {k: v for k, v in manifest.items() if k != SELF_CHECKSUM}
    content[SELF_CHECKSUM] = manifest_digest(content)
    data = (json.dumps(content, indent=1, allow_nan=False) + "\n").encode("utf-8")
    if len(data) > max_bytes:
        raise ValueError(f"the manifest would take {len(data)} bytes, more than the {max_bytes} "
                         f"a reader accepts (too many columns or centroids)")
    with atomic_files.replacing_file(os.path.join(directory, MANIFEST)) as f:
        f.write(data)


def replacing_directory(path: str | os.PathLike[str], what: str = "collection"
                        ) -> contextlib.AbstractContextManager[str]:
    """The save protocol every directory format shares: :func:`check_target`, then
    :func:`mcindex.atomic_files.replacing_directory`, which yields a new temporary directory next
    to ``path`` (locked, so that a later save knows a live writer from a dead one) and, when the
    block ends, fsyncs it and installs it in place of ``path``. If the block raises, the
    temporary directory is removed and ``path`` is untouched.

    Raises:
        FileExistsError / PermissionError: ``path`` cannot be replaced (:func:`check_target`).
        OSError: the temporary directory cannot be made (the message names ``path``).
    """
    return atomic_files.replacing_directory(check_target(path), what)


def save_collection(path: str | os.PathLike[str], index: Any, columns: Mapping[str, Column],
                    ids: ExternalIds | None, *, attributes_format: str = "auto") -> None:
    """Write a collection directory atomically (see the module docstring).

    Args:
        attributes_format: ``"arrow"`` (needs pyarrow), ``"npz"`` or ``"auto"`` (arrow when
            pyarrow is installed).

    Raises:
        FileExistsError: ``path`` exists and is not a collection directory.
        ImportError: ``"arrow"`` without pyarrow.
        OSError: the files could not be written (the old collection, if any, is untouched).
    """
    from .._version import __version__

    if attributes_format == "auto":
        attributes_format = "arrow" if available("pyarrow") else "npz"
    if attributes_format not in ATTRIBUTE_FILES:
        raise ValueError(f"attributes_format must be 'auto', 'arrow' or 'npz', got {attributes_format!r}")
    with replacing_directory(path) as tmp:
        index.save(os.path.join(tmp, INDEX_FILE))
        attr_file = _write_attributes(tmp, columns, attributes_format)
        if ids is not None:
            _write_npz(os.path.join(tmp, IDS_FILE), ids.to_npz())
        files = {}
        for name in sorted(os.listdir(tmp)):
            full = os.path.join(tmp, name)
            files[name] = {"bytes": os.path.getsize(full), "sha256": sha256_of(full)}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "mcindex_version": __version__,
            "n": len(index), "dim": index.dim, "metric": index.metric,
            "columns": [c.describe() for c in columns.values()],
            "ids": None if ids is None else ids.kind,
            "attributes_format": attributes_format if attr_file else None,
            "checksum": "sha256",
            "files": files,
        }
        write_manifest(tmp, manifest)


# ---- load ---------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and checked ``manifest.json`` of a collection directory (no other file is
    opened). See :func:`check_manifest` for what is checked.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CollectionFormatError: anything else wrong with the directory or its manifest.
    """
    directory = os.fspath(path)
    if not os.path.exists(directory):
        raise FileNotFoundError(2, "No such file or directory", directory)
    if not os.path.isdir(directory):
        raise CollectionFormatError(f"{directory}: not a collection directory")
    mpath = os.path.join(directory, MANIFEST)
    try:
        manifest, _ = read_json_file(mpath, max_bytes=MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise CollectionFormatError(f"{directory}: not a collection (no {MANIFEST})") from None
    return check_manifest(mpath, manifest)


MANIFEST_KEYS = {"format", "format_version", "mcindex_version", "n", "dim", "metric", "columns", "ids",
                 "attributes_format", "checksum", "files", SELF_CHECKSUM}
_COLUMN_KEYS = {"name", "kind", "dtype", "nulls", "labels", "min", "max"}


def check_keys(path: str, entry: Mapping[str, Any], allowed: set[str], what: str) -> None:
    """Refuse keys no writer of this format version writes: a damaged key name is caught rather
    than silently ignored (newer formats have a new ``format_version``)."""
    unknown = set(entry) - allowed
    if unknown:
        raise CollectionFormatError(f"{path}: unknown key(s) {short(sorted(unknown))} in {what}")


def _require(mpath: str, manifest: Mapping[str, Any], key: str, ok: bool, expected: str) -> None:
    if not ok:
        got = short(manifest[key]) if key in manifest else "nothing"
        raise CollectionFormatError(f"{mpath}: manifest key {key!r} must be {expected}, got {got}")


def check_manifest(mpath: str, manifest: Any) -> dict[str, Any]:
    """``manifest`` (parsed from ``mpath``) after checking that it is a collection manifest of a
    version this mcindex reads, that its own checksum matches (when it has one), and that every
    key has the type and range a loader relies on: ``n``, ``dim``, ``metric``, ``ids``,
    ``attributes_format``, each column's name (unique, not reserved), kind and dtype, and the
    files it lists (exactly those the format needs, each with a size and a SHA-256). Keys no
    writer of this version writes are refused."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CollectionFormatError(f"{mpath}: not an mcindex collection manifest")
    version = manifest.get("format_version")
    if not _is_int(version):
        raise CollectionFormatError(f"{mpath}: format_version must be an int, got {short(version)}")
    if version not in READABLE_VERSIONS:
        raise CollectionFormatError(
            f"{mpath}: collection format version {short(version)} (written by mcindex "
            f"{short(manifest.get('mcindex_version', '?'))}); this mcindex reads version(s) "
            f"{', '.join(map(str, READABLE_VERSIONS))}")
    check_self_checksum(mpath, manifest)
    check_keys(mpath, manifest, MANIFEST_KEYS, "the manifest")
    get = manifest.get
    _require(mpath, manifest, "n", _is_int(get("n")) and get("n") >= 0, "an int >= 0")
    _require(mpath, manifest, "dim", _is_int(get("dim")) and get("dim") >= 1, "an int >= 1")
    _require(mpath, manifest, "metric", get("metric") in METRICS, f"one of {', '.join(METRICS)}")
    _require(mpath, manifest, "checksum", get("checksum") == "sha256", "'sha256'")
    _require(mpath, manifest, "ids", get("ids") in (None, "int64", "str"), "null, 'int64' or 'str'")
    _require(mpath, manifest, "attributes_format", get("attributes_format") in (None, *ATTRIBUTE_FILES),
             "null, 'arrow' or 'npz'")
    _require(mpath, manifest, "mcindex_version", isinstance(get("mcindex_version", ""), str), "a string")
    _require(mpath, manifest, "columns", isinstance(get("columns"), list), "a list")
    _require(mpath, manifest, "files", isinstance(get("files"), dict), "an object")
    _check_column_specs(mpath, manifest["columns"])
    if manifest["columns"] and not get("attributes_format"):
        raise CollectionFormatError(f"{mpath}: the manifest lists columns but no attributes file")
    _check_file_entries(mpath, manifest)
    return manifest


def _check_column_specs(mpath: str, specs: list[Any]) -> None:
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"] \
                or spec.get("kind") not in KINDS:
            raise CollectionFormatError(f"{mpath}: malformed column entry {i}: {short(spec)} (needs a non-empty "
                                        f"name and a kind among {', '.join(KINDS)})")
        name, kind = spec["name"], spec["kind"]
        check_keys(mpath, spec, _COLUMN_KEYS, f"column entry {i}")
        if name in seen or name in RESERVED:
            raise CollectionFormatError(f"{mpath}: column name {short(name)} is {'reserved' if name in RESERVED else 'repeated'}")
        seen.add(name)
        dtypes = column_class(kind).ARROW_TYPES
        if not isinstance(spec.get("dtype"), str) or spec["dtype"] not in dtypes:  # a dict or list is unhashable
            raise CollectionFormatError(f"{mpath}: column {short(name)} ({kind}) has dtype {short(spec.get('dtype'))}; "
                                        f"a {kind} column is one of {', '.join(dtypes)}")
        for key in ("nulls", "labels"):
            if key in spec and not (_is_int(spec[key]) and spec[key] >= 0):
                raise CollectionFormatError(f"{mpath}: column {short(name)}: {key} must be an int >= 0, "
                                            f"got {short(spec[key])}")


def _needed_files(manifest: Mapping[str, Any]) -> set[str]:
    needed = {INDEX_FILE}
    if manifest.get("attributes_format"):
        needed.add(ATTRIBUTE_FILES[manifest["attributes_format"]])
    if manifest.get("ids"):
        needed.add(IDS_FILE)
    return needed


def _check_file_entries(mpath: str, manifest: Mapping[str, Any]) -> None:
    files = manifest["files"]
    needed = _needed_files(manifest)
    missing = needed - set(files)
    if missing:
        raise CollectionFormatError(f"{mpath}: manifest lists no checksum for {', '.join(sorted(missing))}")
    for name, info in files.items():
        if name not in needed:
            raise CollectionFormatError(f"{mpath}: the manifest lists {short(name)}, which is not a file of this "
                                        f"collection (it holds {', '.join(sorted(needed))})")
        if not isinstance(info, dict) or set(info) != {"bytes", "sha256"} or not _is_int(info["bytes"]) \
                or info["bytes"] < 0 or not isinstance(info["sha256"], str) or not _SHA256.match(info["sha256"]):
            raise CollectionFormatError(f"{mpath}: malformed manifest entry for {name}: {short(info)} (needs "
                                        f"'bytes' >= 0 and a 64-digit hex 'sha256')")


def _check_listed_files(directory: str, manifest: Mapping[str, Any]) -> None:
    """Every listed file is a regular file (not a symlink, FIFO, device...) of the listed size."""
    for name, info in manifest["files"].items():
        full = os.path.join(directory, name)
        try:
            st = check_regular(full)
        except FileNotFoundError:
            raise CollectionFormatError(f"{directory}: {name} is missing") from None
        if st.st_size != info["bytes"]:
            raise CollectionFormatError(f"{full}: size {st.st_size} bytes, the manifest says {info['bytes']} "
                                        f"(truncated or modified)")


def _load_index(directory: str, manifest: Mapping[str, Any], mmap: bool) -> Any:
    from ..index import Index

    path = os.path.join(directory, INDEX_FILE)
    _verify_streamed(path, manifest["files"][INDEX_FILE])
    try:
        index = Index.load(path, mmap=mmap)
    except (ValueError, TypeError, OSError) as exc:  # IndexFormatError is a ValueError; so is a bad planner rule
        text = str(exc)
        raise CollectionFormatError(text if text.startswith(path) else f"{path}: {text}") from None
    if (len(index), index.dim, index.metric) != (manifest["n"], manifest["dim"], manifest["metric"]):
        raise CollectionFormatError(f"{path}: the index holds {len(index)} x {index.dim} ({index.metric}), "
                                    f"the manifest says {manifest['n']} x {manifest['dim']} ({manifest['metric']})")
    return index


_NPZ_KEY = re.compile(r"c(0|[1-9][0-9]{0,8})\.([a-z_]{1,32})\Z")


def _columns_from_npz(arrays: Mapping[str, np.ndarray], specs: list[dict[str, Any]], n: int) -> dict[str, Column]:
    """The columns of an ``attributes.npz`` (arrays ``c{i}.<part>``), each checked by its class."""
    parts: dict[int, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        m = _NPZ_KEY.match(key)
        if not m or int(m[1]) >= len(specs):
            raise ValueError(f"unexpected array {short(key)} (the manifest lists {len(specs)} columns)")
        parts.setdefault(int(m[1]), {})[m[2]] = arr
    return {spec["name"]: column_class(spec["kind"]).from_npz(spec["name"], parts.get(i, {}), n)
            for i, spec in enumerate(specs)}


def _check_columns(path: str, columns: Mapping[str, Column], specs: list[dict[str, Any]]) -> None:
    """What the columns read back as must be what the manifest describes."""
    for spec in specs:
        got = columns[spec["name"]].describe()
        for key in ("kind", "dtype", "nulls", "labels"):
            if key in spec and got.get(key) != spec[key]:
                raise CollectionFormatError(f"{path}: column {short(spec['name'])} reads back with {key} "
                                            f"{short(got.get(key))}, the manifest says {short(spec[key])}")


def _read_attribute_columns(directory: str, manifest: dict[str, Any]) -> dict[str, Column]:
    from ._npz import read_npz

    fmt = manifest.get("attributes_format")
    if not fmt:
        return {}
    specs, n = manifest["columns"], manifest["n"]
    name = ATTRIBUTE_FILES[fmt]
    path = os.path.join(directory, name)
    if fmt == "arrow":
        require("pyarrow", f"loading {path}")  # ImportError before the file is read
    data = read_verified(path, manifest["files"][name])
    try:
        if fmt == "arrow":
            from ._arrowfile import read_arrow_columns

            columns = read_arrow_columns(data, specs, n)
        else:
            columns = _columns_from_npz(read_npz(data), specs, n)
    except (ValueError, TypeError) as exc:
        raise CollectionFormatError(f"{path}: {clip(str(exc))}") from None
    _check_columns(path, columns, specs)
    return columns


def _read_ids(directory: str, manifest: dict[str, Any]) -> ExternalIds | None:
    from ._npz import read_npz

    kind = manifest.get("ids")
    if not kind:
        return None
    path = os.path.join(directory, IDS_FILE)
    data = read_verified(path, manifest["files"][IDS_FILE])
    try:
        ids = ExternalIds.from_npz(read_npz(data), manifest["n"])
    except (ValueError, TypeError) as exc:
        raise CollectionFormatError(f"{path}: {clip(str(exc))}") from None
    if ids.kind != kind:
        raise CollectionFormatError(f"{path}: ids are {ids.kind}, the manifest says {kind}")
    return ids


def load_collection(path: str | os.PathLike[str], *, mmap: bool = False
                    ) -> tuple[Any, dict[str, Column], ExternalIds | None, dict[str, Any]]:
    """``(index, columns, ids, manifest)`` of a collection directory, after every check of the
    module docstring. ``mmap=True`` maps the index file instead of reading it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportError: the attributes are stored as Arrow and pyarrow is not installed.
        CollectionFormatError: anything else wrong with the directory (a ``ValueError`` whose
            message names the file).
    """
    directory = os.fspath(path)
    manifest = read_manifest(directory)
    _check_listed_files(directory, manifest)
    index = _load_index(directory, manifest, mmap)
    columns = _read_attribute_columns(directory, manifest)
    ids = _read_ids(directory, manifest)
    return index, columns, ids, manifest
