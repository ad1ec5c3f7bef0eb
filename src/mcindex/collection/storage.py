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
     "files": {"index.mci": {"bytes": 123, "sha256": "..."}, ...}}

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
is never touched).

Loading checks, in order: the manifest parses and is a collection manifest of a version this
mcindex reads, every listed file exists with the recorded size and SHA-256, the index file's own
checks (Index.load), and that the index and the columns agree with the manifest.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

try:  # POSIX: a writer holds a lock on its temporary directory (see _remove_stale_temps)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ._optional import available, require
from .columns import Column
from .ids import ExternalIds
from .table import build_columns, read_attributes

__all__ = ["FORMAT", "FORMAT_VERSION", "CollectionFormatError", "check_target", "load_collection", "replacing_directory", "write_manifest",
           "read_manifest", "save_collection"]

FORMAT = "mcindex-collection"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
MANIFEST = "manifest.json"
INDEX_FILE = "index.mci"
IDS_FILE = "ids.npz"
ATTRIBUTE_FILES = {"arrow": "attributes.arrow", "npz": "attributes.npz"}
_CHUNK = 1 << 20


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


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some platforms cannot fsync a directory; the data files are synced already
        pass
    finally:
        os.close(fd)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(RENAME_EXCHANGE)``; False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _write_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as exc:
        raise CollectionFormatError(f"{path}: unreadable: {exc}") from None


def _lock_directory(path: str) -> int | None:
    """An fd holding an exclusive lock on the directory ``path`` (None without fcntl)."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new directory: never contended
    except OSError:  # a file system without locks: the directory is simply unprotected
        pass
    return fd


def _remove_stale_temps(parent: str, base: str) -> list[str]:
    """Delete the ``.<base>.<random>.tmp`` directories that a killed save left in ``parent``;
    return their names.

    A writer holds an exclusive ``flock`` on its temporary directory until it has been swapped
    into place, and the kernel drops the lock when the writer dies; a directory that can be
    locked therefore belongs to no live writer. (After the swap the temporary name holds the
    old collection, unlocked, which the writer deletes; a writer killed before it did leaves it
    here for this function.) ``.<base>.<random>.old`` directories are never touched: where
    the two-rename fallback is used they may hold the only copy. Without ``fcntl``, nothing is
    deleted.
    """
    if fcntl is None:
        return []
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    pattern = re.compile(r"\." + re.escape(base) + r"\.[0-9a-f]{12}\.tmp\Z")
    removed = []
    for name in names:
        if not pattern.match(name):
            continue
        full = os.path.join(parent, name)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.stat(full, follow_symlinks=False)):
                shutil.rmtree(full, ignore_errors=True)
                removed.append(name)
        except OSError:  # a live writer's, or gone
            pass
        finally:
            os.close(fd)
    return removed


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


def install_directory(tmp: str, target: str, token: str) -> None:
    """Put the finished directory ``tmp`` (``.<base>.<token>.tmp`` next to ``target``) in place
    of ``target``, atomically where Linux allows (see the module docstring), and delete the old
    one once the new one is in place. The caller fsyncs ``tmp`` first and the parent after."""
    parent, base = os.path.split(target)
    if os.path.isdir(target) and _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old directory
    elif os.path.isdir(target):
        old = os.path.join(parent, f".{base}.{token}.old")
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)


def write_manifest(directory: str, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` into ``directory``, fsynced, replacing any older one in a single
    rename (so a reader sees the old manifest or the new, never half of one)."""
    path = os.path.join(directory, MANIFEST)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def replacing_directory(path: str | os.PathLike[str], what: str = "collection") -> Iterator[str]:
    """The save protocol every directory format shares: yields a new temporary directory next to
    ``path`` (locked, so that a later save knows a live writer from a dead one); when the block
    ends, fsyncs it and installs it in place of ``path`` (:func:`install_directory`). If the
    block raises, the temporary directory is removed and ``path`` is untouched.

    Raises:
        FileExistsError / PermissionError: ``path`` cannot be replaced (:func:`check_target`).
        OSError: the temporary directory cannot be made (the message names ``path``).
    """
    target = check_target(path)
    parent, base = os.path.split(target)
    _remove_stale_temps(parent, base)
    token = secrets.token_hex(6)
    tmp = os.path.join(parent, f".{base}.{token}.tmp")
    try:
        os.mkdir(tmp)
    except OSError as exc:  # name the target, not the temporary directory
        raise type(exc)(exc.errno, f"cannot write the {what} {target}: {exc.strerror}", parent) from None
    lock = None
    try:
        lock = _lock_directory(tmp)
        yield tmp
        _fsync_path(tmp)
        install_directory(tmp, target, token)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    _fsync_path(parent)


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
    from .. import __version__

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
def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and checked ``manifest.json`` of a collection directory (no file checks)."""
    directory = os.fspath(path)
    if not os.path.exists(directory):
        raise FileNotFoundError(2, "No such file or directory", directory)
    if not os.path.isdir(directory):
        raise CollectionFormatError(f"{directory}: not a collection directory")
    mpath = os.path.join(directory, MANIFEST)
    if not os.path.exists(mpath):
        raise CollectionFormatError(f"{directory}: not a collection (no {MANIFEST})")
    try:
        with open(mpath, encoding="utf-8") as f:
            manifest = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CollectionFormatError(f"{mpath}: corrupted manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CollectionFormatError(f"{mpath}: not an mcindex collection manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CollectionFormatError(f"{mpath}: format_version must be an int, got {version!r}")
    if version not in READABLE_VERSIONS:
        raise CollectionFormatError(
            f"{mpath}: collection format version {version} (written by mcindex "
            f"{manifest.get('mcindex_version', '?')}); this mcindex reads version(s) "
            f"{', '.join(map(str, READABLE_VERSIONS))}")
    expected = {"n": int, "dim": int, "metric": str, "columns": list, "files": dict, "checksum": str}
    for key, typ in expected.items():
        if not isinstance(manifest.get(key), typ) or isinstance(manifest.get(key), bool):
            raise CollectionFormatError(f"{mpath}: manifest key {key!r} missing or not {typ.__name__}")
    if manifest["checksum"] != "sha256":
        raise CollectionFormatError(f"{mpath}: unknown checksum {manifest['checksum']!r}")
    for col in manifest["columns"]:
        if not isinstance(col, dict) or not isinstance(col.get("name"), str) or not isinstance(col.get("kind"), str):
            raise CollectionFormatError(f"{mpath}: malformed column entry {col!r}")
    return manifest


def _verify_files(directory: str, manifest: dict[str, Any]) -> None:
    needed = {INDEX_FILE}
    if manifest.get("attributes_format"):
        fmt = manifest["attributes_format"]
        if fmt not in ATTRIBUTE_FILES:
            raise CollectionFormatError(f"{directory}: unknown attributes_format {fmt!r}")
        needed.add(ATTRIBUTE_FILES[fmt])
    if manifest.get("ids"):
        needed.add(IDS_FILE)
    missing = needed - set(manifest["files"])
    if missing:
        raise CollectionFormatError(f"{directory}: manifest lists no checksum for {', '.join(sorted(missing))}")
    for name, info in manifest["files"].items():
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise CollectionFormatError(f"{directory}: bad file name {name!r} in the manifest")
        full = os.path.join(directory, name)
        if not os.path.isfile(full):
            raise CollectionFormatError(f"{directory}: {name} is missing")
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise CollectionFormatError(f"{directory}: malformed manifest entry for {name}")
        size = os.path.getsize(full)
        if size != info.get("bytes"):
            raise CollectionFormatError(f"{full}: size {size} bytes, the manifest says {info.get('bytes')} "
                                        f"(truncated or modified)")
        if sha256_of(full) != info["sha256"]:
            raise CollectionFormatError(f"{full}: checksum mismatch (the file is corrupted or was modified)")


def _read_attribute_columns(directory: str, manifest: dict[str, Any]) -> dict[str, Column]:
    fmt = manifest.get("attributes_format")
    specs = manifest["columns"]
    n = manifest["n"]
    if not fmt:
        if specs:
            raise CollectionFormatError(f"{directory}: the manifest lists columns but no attributes file")
        return {}
    path = os.path.join(directory, ATTRIBUTE_FILES[fmt])
    names = [c["name"] for c in specs]
    if fmt == "arrow":
        pa = require("pyarrow", f"loading {path}")
        try:
            with open(path, "rb") as f:
                table = pa.ipc.open_file(f).read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            raise CollectionFormatError(f"{path}: unreadable Arrow file: {exc}") from None
        if table.column_names != names or table.num_rows != n:
            raise CollectionFormatError(f"{path}: holds columns {table.column_names} x {table.num_rows} rows, "
                                        f"the manifest says {names} x {n}")
        columns = build_columns(read_attributes(table), n, {c["name"]: c["kind"] for c in specs})
    else:
        from .categorical import BooleanColumn, CategoricalColumn
        from .multilabel import KeywordsColumn, MultiLabelColumn
        from .numeric import NumericColumn

        classes = {"numeric": NumericColumn, "categorical": CategoricalColumn, "boolean": BooleanColumn,
                   "multi_label": MultiLabelColumn, "keywords": KeywordsColumn}
        arrays = _read_npz(path)
        columns = {}
        for i, spec in enumerate(specs):
            if spec["kind"] not in classes:
                raise CollectionFormatError(f"{path}: unknown column kind {spec['kind']!r}")
            prefix = f"c{i}."
            part = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            columns[spec["name"]] = classes[spec["kind"]].from_npz(spec["name"], part, n)
    for spec in specs:
        got = columns[spec["name"]].dtype
        if spec.get("dtype") not in (None, got):
            raise CollectionFormatError(f"{path}: column {spec['name']!r} reads back as {got}, "
                                        f"the manifest says {spec['dtype']}")
    return columns


def load_collection(path: str | os.PathLike[str], *, mmap: bool = False
                    ) -> tuple[Any, dict[str, Column], ExternalIds | None, dict[str, Any]]:
    """``(index, columns, ids, manifest)`` of a collection directory, after every check of the
    module docstring. ``mmap=True`` maps the index file instead of reading it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CollectionFormatError: anything else wrong with the directory (a ``ValueError``).
    """
    from ..index import Index
    from ..persistence import IndexFormatError

    directory = os.fspath(path)
    manifest = read_manifest(directory)
    _verify_files(directory, manifest)
    try:
        index = Index.load(os.path.join(directory, INDEX_FILE), mmap=mmap)
    except IndexFormatError as exc:
        raise CollectionFormatError(str(exc)) from None
    if (len(index), index.dim, index.metric) != (manifest["n"], manifest["dim"], manifest["metric"]):
        raise CollectionFormatError(f"{directory}: the index holds {len(index)} x {index.dim} ({index.metric}), "
                                    f"the manifest says {manifest['n']} x {manifest['dim']} ({manifest['metric']})")
    try:
        columns = _read_attribute_columns(directory, manifest)
        ids = None
        if manifest.get("ids"):
            ids = ExternalIds.from_npz(_read_npz(os.path.join(directory, IDS_FILE)), manifest["n"])
            if ids.kind != manifest["ids"]:
                raise CollectionFormatError(f"{directory}: ids are {ids.kind}, the manifest says {manifest['ids']}")
    except CollectionFormatError:
        raise
    except (ValueError, TypeError) as exc:
        raise CollectionFormatError(f"{directory}: {exc}") from None
    return index, columns, ids, manifest
