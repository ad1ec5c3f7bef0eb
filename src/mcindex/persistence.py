"""Save and load a built index as one versioned, checksummed file (pure Python + numpy).

An index is a JSON-able header dict (its fields: :mod:`mcindex.index_header`) plus eight named
numpy arrays ("sections", listed below). :func:`save_index` writes them atomically
(:mod:`mcindex.atomic_files`), :func:`load_index` reads them back (optionally as zero-copy,
read-only views of a memory map) after verifying every byte of the file, and
:func:`validate_index` checks the structure of an index in memory (it lives in
:mod:`mcindex.index_validation`, with :data:`SECTION_DTYPES`; both are re-exported here). Every
problem is reported as :class:`IndexFormatError` (a ``ValueError``) naming the file and what is
wrong.

File format, versions 1-3
=========================
Version 2 differs from version 1 in one rule only: vector rows may have any ``stride >= dim``
(the writer stores them unpadded); version 1 required a multiple of 16. Version 3 adds two
optional sections, the 8-bit codes of an index built with ``codes="sq8"`` (header key
``"codes"``). This reader accepts all three; the writer writes version 3 for an index with
codes and version 2 otherwise (which version 2 readers read), and the preamble and header
versions must agree.

All integers are little-endian. Offsets are in bytes from the start of the file.

Preamble (64 bytes, fixed layout)::

    offset  size  type      field
    ------  ----  --------  -------------------------------------------------------------
         0     8  bytes     magic b"MCINDEX\\0"  (4D 43 49 4E 44 45 58 00)
         8     4  uint32    format_version = 2 or 3
        12     4  uint32    flags = 0 (reserved; a reader rejects anything else)
        16     8  uint64    file_size: total length of the file in bytes
        24     8  uint64    header_length: length L of the JSON header in bytes
        32     4  uint32    header_checksum: CRC-32 of bytes [64, 64 + L)
        36    24  bytes     reserved, all zero
        60     4  uint32    preamble_checksum: CRC-32 of bytes [0, 60)

The magic and the version stay at offsets 0 and 8 in every future version, so any reader can
say which version a file is before it parses anything else.

Header (bytes [64, 64 + L)): one UTF-8 JSON object (strict JSON: no NaN/Infinity)::

    {"header":   {...},            # the index header (mcindex.index_header), returned by load_index
     "checksum": "crc32",          # algorithm of every checksum in this file
     "sections": [                 # the section table, in file order
        {"name": "vectors", "dtype": "<f4", "shape": [n, stride],
         "offset": 1536, "length": 4 * n * stride, "checksum": 123456789},
        ...]}

Section table entries: ``name`` (str), ``dtype`` (numpy dtype string, byte order explicit),
``shape`` (list of ints), ``offset`` and ``length`` of the payload in bytes, ``checksum`` (the
CRC-32 of the payload as an unsigned int, ``zlib.crc32``). Files hold exactly these
sections (any order in the table, but payloads must not overlap)::

    name            dtype  shape
    vectors         <f4    (n, stride)
    nav_offsets     <u8    (n + 1,)
    nav_neighbors   <u4    (E,)
    clique_offsets  <u8    (C + 1,)
    clique_members  <u4    (M,)
    clique_thresholds <f4  (C,)
    node_offsets    <u8    (n + 1,)
    node_cliques    <u4    (M,)
    codes           <u1    (n, dim)     version 3, header "codes": "sq8"
    code_ranges     <f4    (2, dim)     row 0: offset, row 1: step (coordinate = offset + step * code)

Payloads (bytes [header end, file_size)): each section's raw C-order bytes start at an offset
that is a multiple of 64 (so memory-mapped float32 rows are 64-byte aligned) and occupy exactly
``length = prod(shape) * itemsize`` bytes. Every byte of the file that is not preamble, header
or a payload is zero padding; the writer pads the end of the file to a multiple of 64 as well.
The CRC-32 is the standard one (zlib / gzip / PNG: polynomial 0xEDB88320 reflected, initial
value 0xFFFFFFFF, final xor 0xFFFFFFFF).

A reader verifies, in this order: magic, version, preamble checksum, flags and reserved bytes,
file size (a short file is reported as truncated), header length, header checksum, header JSON,
the section table (names, dtypes, shapes against lengths, alignment, bounds, no overlap),
zero padding, each payload checksum, and finally :func:`validate_index` on the arrays.
No buffer is allocated from a length field before that length has been checked against the
size of the file.
"""

from __future__ import annotations

import errno
import json
import math
import mmap as _mmap
import os
import struct
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO, Union

import numpy as np

from ._files import open_regular
from .atomic_files import replacing_file
from .file_fields import IndexFormatError
from .file_fields import is_int as _is_int
from .file_fields import short as _short
from .index_header import READABLE_VERSIONS
from .index_validation import CODE_SECTIONS, SECTION_DTYPES, section_dtypes, validate_index

__all__ = [
    "IndexFormatError",
    "save_index",
    "load_index",
    "validate_index",
    "MAGIC",
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "SECTION_DTYPES",
    "CODE_SECTIONS",
]

PathLike = Union[str, "os.PathLike[str]"]

MAGIC = b"MCINDEX\0"
FORMAT_VERSION = 3
#: The version written for an index without codes: version 2 readers can read it.
_PLAIN_VERSION = 2
PREAMBLE_SIZE = 64
ALIGNMENT = 64
CHECKSUM = "crc32"

# magic, format_version, flags, file_size, header_length, header_checksum, reserved, preamble_checksum
_PREAMBLE = struct.Struct("<8sIIQQI24sI")
assert _PREAMBLE.size == PREAMBLE_SIZE

_READ_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------
def _align(x: int) -> int:
    return -(-x // ALIGNMENT) * ALIGNMENT


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _bytes_of(arr: np.ndarray) -> np.ndarray:
    """A flat uint8 view of a C-contiguous array (works for empty arrays too)."""
    return arr.reshape(-1).view(np.uint8)


def _crc32(buf: Any) -> int:
    return zlib.crc32(buf) & 0xFFFFFFFF


def _pack_preamble(version: int, file_size: int, header_length: int, header_checksum: int) -> bytes:
    body = _PREAMBLE.pack(MAGIC, version, 0, file_size, header_length, header_checksum, bytes(24), 0)
    return body[:-4] + struct.pack("<I", _crc32(body[:-4]))


def _encode(header: Mapping[str, Any],
            arrays: dict[str, np.ndarray]) -> tuple[bytes, bytes, int, list[dict[str, Any]]]:
    """Lay the file out: return (preamble, header JSON, file size, section table)."""
    try:
        plain = json.loads(json.dumps(dict(header), default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise IndexFormatError(f"header is not JSON-serialisable (strict JSON, no NaN): {exc}") from None
    dtypes = section_dtypes(header)
    table = [{"name": name, "dtype": dtypes[name][0], "shape": list(arr.shape),
              "offset": 0, "length": arr.nbytes, "checksum": _crc32(_bytes_of(arr))}
             for name, arr in arrays.items()]
    # A re-saved older index is valid in the version written: 3 with codes, else 2.
    version = FORMAT_VERSION if "codes" in arrays else _PLAIN_VERSION
    plain["format_version"] = version
    meta = {"header": plain, "checksum": CHECKSUM, "sections": table}
    data_start = _align(PREAMBLE_SIZE + 1)
    while True:  # offsets depend on the header length and vice versa; grows monotonically
        pos = data_start
        for entry in table:
            entry["offset"] = pos
            pos = _align(pos + entry["length"])
        blob = json.dumps(meta, indent=1, allow_nan=False).encode("utf-8")
        needed = _align(PREAMBLE_SIZE + len(blob))
        if needed <= data_start:
            break
        data_start = needed
    file_size = pos
    return _pack_preamble(version, file_size, len(blob), _crc32(blob)), blob, file_size, table


def save_index(path: PathLike, header: Mapping[str, Any], sections: Mapping[str, np.ndarray]) -> None:
    """Write an index to ``path`` atomically.

    The index is validated first (:func:`validate_index`), so an inconsistent index is never
    written. The file is written to a temporary file ``.<name>.<random>.tmp`` in the same
    directory, flushed and fsync'ed, moved onto ``path`` with ``os.replace`` and the directory is
    fsync'ed (:func:`mcindex.atomic_files.replacing_file`). If anything fails before the replace
    (an exception, Ctrl-C), the temporary file is removed and an existing file at ``path`` is
    left untouched (only a failure of the final directory fsync is reported after the new file
    is in place). If the process dies mid-save (SIGKILL, power loss), ``path`` holds the old
    index or the new one, never a mixture; the temporary file it leaves is deleted by the next
    save to the same ``path`` (the writer holds a lock on it while alive, so a concurrent save's
    file is never touched). If ``path`` is a symlink, its target is replaced. Arrays are written
    little-endian and C-ordered whatever their layout in memory. Only ``sections`` are read:
    searches of the same index may run during a save.

    Raises:
        IndexFormatError: the index is invalid or its header is not JSON-serialisable.
        IsADirectoryError: ``path`` is a directory.
        FileExistsError: ``path`` is a FIFO, a device or a socket (only a regular file, or
            nothing, is ever replaced).
        FileNotFoundError: the directory of ``path`` does not exist.
        OSError: the file could not be written.
    """
    validate_index(header, sections)
    arrays = {name: np.ascontiguousarray(sections[name], dtype=np.dtype(dt))
              for name, (dt, _) in section_dtypes(header).items()}
    preamble, blob, file_size, table = _encode(header, arrays)
    offsets = [(arrays[e["name"]], e["offset"]) for e in table]

    path = os.path.realpath(os.fspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory (an index is saved as one file)", path)
    with replacing_file(path) as f:
        f.write(preamble)
        f.write(blob)
        written = PREAMBLE_SIZE + len(blob)
        for arr, offset in offsets:
            f.write(bytes(offset - written))
            f.write(_bytes_of(arr))
            written = offset + arr.nbytes
        f.write(bytes(file_size - written))
        f.flush()
        if f.tell() != file_size:
            raise RuntimeError(f"internal error: wrote {f.tell()} bytes, expected {file_size}")


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
class _Entry:
    __slots__ = ("name", "dtype", "shape", "offset", "length", "checksum")

    def __init__(self, name: str, dtype: np.dtype, shape: tuple[int, ...], offset: int,
                 length: int, checksum: int):
        self.name, self.dtype, self.shape = name, dtype, shape
        self.offset, self.length, self.checksum = offset, length, checksum


def _read_preamble(f: BinaryIO, actual: int) -> tuple[int, int, int, int]:
    """Check the preamble; return (file_size, header_length, header_checksum)."""
    if actual == 0:
        raise IndexFormatError("not an mcindex file (the file is empty)")
    raw = f.read(PREAMBLE_SIZE)
    head = raw[:len(MAGIC)]
    if head != MAGIC[:len(head)]:
        raise IndexFormatError(f"not an mcindex file (magic is {head!r}, expected {MAGIC!r})")
    if len(raw) < PREAMBLE_SIZE:
        raise IndexFormatError(
            f"truncated: expected at least {PREAMBLE_SIZE} bytes (the preamble), file has {actual}")
    _, version, flags, file_size, header_length, header_checksum, reserved, checksum = \
        _PREAMBLE.unpack(raw)
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"format version {version} is newer than this mcindex supports (version "
            f"{FORMAT_VERSION}); upgrade mcindex to read it")
    if version not in READABLE_VERSIONS:
        raise IndexFormatError(f"invalid format version {version} (this mcindex reads versions "
                               f"{READABLE_VERSIONS})")
    if _crc32(raw[:-4]) != checksum:
        raise IndexFormatError(
            f"checksum mismatch in preamble: stored {checksum:08x}, computed {_crc32(raw[:-4]):08x}")
    if flags != 0:
        raise IndexFormatError(f"unsupported flags {flags:#x} in preamble (versions 1 and 2 have none)")
    if any(reserved):
        raise IndexFormatError("reserved preamble bytes [36, 60) are not zero")
    if actual < file_size:
        raise IndexFormatError(f"truncated: expected {file_size} bytes, file has {actual}")
    if actual > file_size:
        raise IndexFormatError(
            f"file size mismatch: expected {file_size} bytes, file has {actual} (trailing data)")
    if PREAMBLE_SIZE + header_length > file_size:
        raise IndexFormatError(
            f"header length {header_length} does not fit in a file of {file_size} bytes")
    return version, file_size, header_length, header_checksum


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _parse_header(blob: bytes, checksum: int) -> dict[str, Any]:
    computed = _crc32(blob)
    if computed != checksum:
        raise IndexFormatError(f"checksum mismatch in header: stored {checksum:08x}, computed {computed:08x}")
    try:
        meta = json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise IndexFormatError(f"header is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise IndexFormatError(f"header JSON must be an object, got {type(meta).__name__}")
    for key, kind in (("header", dict), ("checksum", str), ("sections", list)):
        if not isinstance(meta.get(key), kind):
            raise IndexFormatError(f"header JSON needs {key!r} of type {kind.__name__}")
    if meta["checksum"] != CHECKSUM:
        raise IndexFormatError(
            f"unsupported checksum algorithm {_short(meta['checksum'])} (expected {CHECKSUM!r})")
    return meta


def _parse_table(table: list[Any], data_start: int, file_size: int) -> list[_Entry]:
    entries: dict[str, _Entry] = {}
    for k, raw in enumerate(table):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise IndexFormatError(f"section table entry {k} is not an object with a 'name'")
        name = raw["name"]
        known = {**SECTION_DTYPES, **CODE_SECTIONS}  # which ones the header asks for: validate_index
        if name not in known:
            raise IndexFormatError(f"unknown section {name!r} in the section table")
        if name in entries:
            raise IndexFormatError(f"section {name!r} appears twice in the section table")
        want_dtype, ndim = known[name]
        if raw.get("dtype") != want_dtype:
            raise IndexFormatError(
                f"section {name!r} has dtype {_short(raw.get('dtype'))}, expected {want_dtype!r}")
        shape = raw.get("shape")
        if (not isinstance(shape, list) or len(shape) != ndim
                or not all(_is_int(s) and s >= 0 for s in shape)):
            raise IndexFormatError(
                f"section {name!r} has shape {_short(shape)}, expected a list of {ndim} non-negative ints")
        for key in ("offset", "length", "checksum"):
            if not _is_int(raw.get(key)) or raw[key] < 0:
                raise IndexFormatError(f"section {name!r}: {key} must be a non-negative int, "
                                       f"got {_short(raw.get(key))}")
        offset, length, checksum = raw["offset"], raw["length"], raw["checksum"]
        dtype = np.dtype(want_dtype)
        expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if length != expected:
            raise IndexFormatError(
                f"section {name!r}: shape {shape} of {want_dtype} needs {expected} bytes but its "
                f"length is {length}")
        if offset % ALIGNMENT:
            raise IndexFormatError(f"section {name!r}: offset {offset} is not {ALIGNMENT}-byte aligned")
        if offset < data_start:
            raise IndexFormatError(
                f"section {name!r}: offset {offset} lies inside the preamble or header "
                f"(payloads start at {data_start})")
        if offset + length > file_size:
            raise IndexFormatError(
                f"section {name!r}: bytes [{offset}, {offset + length}) extend past the end of "
                f"the file ({file_size} bytes)")
        if checksum >= 2**32:
            raise IndexFormatError(f"section {name!r}: checksum {checksum} is not a CRC-32")
        entries[name] = _Entry(name, dtype, tuple(shape), offset, length, checksum)
    missing = [name for name in SECTION_DTYPES if name not in entries]
    if missing:
        raise IndexFormatError(f"missing section(s) in the section table: {', '.join(missing)}")
    ordered = sorted(entries.values(), key=lambda e: (e.offset, e.length))
    for a, b in zip(ordered, ordered[1:]):
        if b.offset < a.offset + a.length:
            raise IndexFormatError(
                f"sections {a.name!r} [{a.offset}, {a.offset + a.length}) and {b.name!r} "
                f"[{b.offset}, {b.offset + b.length}) overlap")
    return ordered


def _gaps(entries: list[_Entry], start: int, file_size: int) -> list[tuple[int, int]]:
    gaps, pos = [], start
    for e in entries:
        if e.offset > pos:
            gaps.append((pos, e.offset))
        pos = max(pos, e.offset + e.length)
    if file_size > pos:
        gaps.append((pos, file_size))
    return gaps


def _check_checksum(entry: _Entry, buf: Any) -> None:
    computed = _crc32(buf)
    if computed != entry.checksum:
        raise IndexFormatError(
            f"checksum mismatch in section {entry.name!r}: stored {entry.checksum:08x}, "
            f"computed {computed:08x}")


def _read_into(f: BinaryIO, buf: np.ndarray, offset: int, file_size: int) -> None:
    f.seek(offset)
    view, done = memoryview(buf), 0
    while done < len(view):
        got = f.readinto(view[done:])
        if not got:
            raise IndexFormatError(
                f"truncated: expected {file_size} bytes, file has {offset + done} "
                "(the file changed while it was read)")
        done += got


def _load_copy(f: BinaryIO, entries: list[_Entry], gaps: list[tuple[int, int]],
               file_size: int) -> dict[str, np.ndarray]:
    for lo, hi in gaps:
        for pos in range(lo, hi, _READ_CHUNK):
            chunk = np.empty(min(_READ_CHUNK, hi - pos), dtype=np.uint8)
            _read_into(f, chunk, pos, file_size)
            if chunk.any():
                raise IndexFormatError(f"non-zero padding byte at offset {pos + int(np.argmax(chunk != 0))}")
    out = {}
    for e in entries:
        arr = np.empty(e.shape, dtype=e.dtype)
        raw = _bytes_of(arr)
        _read_into(f, raw, e.offset, file_size)
        _check_checksum(e, raw)
        out[e.name] = arr
    return out


def _load_mmap(f: BinaryIO, entries: list[_Entry], gaps: list[tuple[int, int]],
               file_size: int) -> dict[str, np.ndarray]:
    buf = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
    if len(buf) != file_size:
        n = len(buf)
        buf.close()
        raise IndexFormatError(f"truncated: expected {file_size} bytes, file has {n} "
                               "(the file changed while it was read)")
    whole = np.frombuffer(buf, dtype=np.uint8)  # read-only, keeps the map alive
    for lo, hi in gaps:
        nz = np.flatnonzero(whole[lo:hi])
        if nz.size:
            raise IndexFormatError(f"non-zero padding byte at offset {lo + int(nz[0])}")
    out = {}
    for e in entries:
        raw = whole[e.offset:e.offset + e.length]
        _check_checksum(e, raw)
        out[e.name] = raw.view(e.dtype).reshape(e.shape)
    return out


def load_index(path: PathLike, *, mmap: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read an index written by :func:`save_index`; return ``(header, sections)``.

    With ``mmap=False`` the sections are ordinary in-memory arrays. With ``mmap=True`` they are
    read-only views of one read-only memory map of the file (no copy; ``vectors`` rows are
    64-byte aligned); the map stays open as long as any of the arrays is alive. Either way the
    whole file is verified before anything is returned (checksums read every byte once), and
    :func:`validate_index` is run on the result. ``save_index`` replaces files atomically, so
    an existing mapping keeps seeing the old contents when the file is overwritten.

    Raises:
        IndexFormatError: the file is not an mcindex file, is of a newer format version, is
            truncated or corrupt, or holds an invalid index; or the path is a FIFO, a device or
            a socket (refused before it is opened for reading). The message names the file.
        OSError: the file cannot be opened or read.
    """
    name = os.fspath(path)
    f = open_regular(name, IndexFormatError)  # a FIFO or a device: refused before a blocking read
    try:
        with f:
            actual = os.fstat(f.fileno()).st_size
            version, file_size, header_length, header_checksum = _read_preamble(f, actual)
            blob = bytearray(header_length)  # bounded by the file size checked above
            _read_into(f, np.frombuffer(blob, dtype=np.uint8), PREAMBLE_SIZE, file_size)
            meta = _parse_header(bytes(blob), header_checksum)
            header_end = PREAMBLE_SIZE + header_length
            entries = _parse_table(meta["sections"], header_end, file_size)
            gaps = _gaps(entries, header_end, file_size)
            load = _load_mmap if mmap else _load_copy
            sections = load(f, entries, gaps, file_size)
        header = meta["header"]
        if isinstance(header, Mapping) and header.get("format_version") != version:
            raise IndexFormatError(f"header['format_version'] is {_short(header.get('format_version'))} "
                                   f"but the preamble says version {version}")
        validate_index(header, sections)
    except IndexFormatError as exc:
        raise IndexFormatError(f"{name}: {exc}") from None
    return header, sections
