"""Reading the ``.npz`` files of a collection (``attributes.npz``, ``ids.npz``) from bytes that
may have been crafted.

``np.load`` is not used: it allocates each array from the shape in its header before reading
(a header claiming 2**40 rows allocates that much), decompresses members of any size, and turns
damaged zip structures into ``BadZipFile``, ``zlib.error`` or ``EOFError``. Here the archive is
parsed by :mod:`zipfile` from memory (so no length in it can make a read allocate more than the
file holds), only what ``np.savez`` writes is accepted (uncompressed ``.npy`` members, each
once; a header of the plain form ``{'descr': ..., 'fortran_order': ..., 'shape': (...), }``;
flat numeric dtypes), and an array's byte size must equal what is left of its member. Every
problem is a ``ValueError`` with a message; the caller names the file.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
import zlib

import numpy as np

__all__ = ["read_npz"]

_MAGIC = b"\x93NUMPY"
# The header np.save writes (numpy.lib.format): keys sorted, values as repr() writes them.
_HEADER = re.compile(r"\{'descr': '([<>|=])([a-zA-Z0-9]{2}(?:\[us\])?)', 'fortran_order': (True|False), "
                     r"'shape': \(((?:[0-9]{1,19}, )*[0-9]{1,19},?|)\), \} *\n?\Z")
# The dtypes mcindex saves: bool, uint8 (string blobs), int32 (codes), int64, float64, datetime64[us].
_DTYPES = {"b1", "u1", "i4", "i8", "f8", "M8[us]"}
# What zipfile and struct raise on a damaged archive, besides ValueError.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError, OSError,
               NotImplementedError, RuntimeError, OverflowError, IndexError, KeyError)


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive ``data`` (name without ``.npy`` -> array), read-only
    views of copies of their members. ValueError on anything ``np.savez`` would not write."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (ValueError, *_ZIP_ERRORS) as exc:
        raise ValueError(f"not a valid .npz (zip) file: {exc}") from None
    with archive:
        return {name: array for name, array in _members(archive, len(data))}


def _members(archive: zipfile.ZipFile, size: int) -> list[tuple[str, np.ndarray]]:
    out, seen = [], set()
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy") or name in seen:
            raise ValueError(f"unexpected member {name[:80]!r} (an .npz holds each array once, as NAME.npy)")
        seen.add(name)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise ValueError(f"member {name[:80]!r} is compressed or encrypted (mcindex stores arrays uncompressed)")
        if info.file_size != info.compress_size or info.file_size > size:
            raise ValueError(f"member {name[:80]!r} declares {info.file_size} bytes in an archive of {size}")
        try:
            with archive.open(info) as f:
                raw = f.read()  # bounded: the archive is in memory; the CRC is checked at the end
        except (ValueError, *_ZIP_ERRORS) as exc:
            raise ValueError(f"member {name[:80]!r} is damaged: {exc}") from None
        if len(raw) != info.file_size:
            raise ValueError(f"member {name[:80]!r} holds {len(raw)} bytes, its entry says {info.file_size}")
        try:
            out.append((name[:-4], parse_npy(raw)))
        except ValueError as exc:
            raise ValueError(f"member {name[:80]!r}: {exc}") from None
    return out


def parse_npy(raw: bytes) -> np.ndarray:
    """The array of one ``.npy`` file held in ``raw`` (read-only, no copy)."""
    if raw[:6] != _MAGIC or len(raw) < 10:
        raise ValueError("not an .npy array (bad magic)")
    major = raw[6]
    if major == 1:
        (length,), start = struct.unpack_from("<H", raw, 8), 10
    elif major in (2, 3) and len(raw) >= 12:
        (length,), start = struct.unpack_from("<I", raw, 8), 12
    else:
        raise ValueError(f"unsupported .npy version {major}")
    if start + length > len(raw):
        raise ValueError(f"header of {length} bytes runs past the {len(raw)}-byte member")
    try:
        header = raw[start:start + length].decode("utf-8" if major == 3 else "latin-1")
    except UnicodeDecodeError:
        raise ValueError("header is not text") from None
    m = _HEADER.match(header)
    if not m:
        raise ValueError(f"unexpected header {header[:120]!r}")
    order, code, fortran, shape_text = m.groups()
    if code not in _DTYPES:
        raise ValueError(f"unsupported dtype {order + code!r}")
    shape = tuple(int(x) for x in shape_text.replace(" ", "").split(",") if x)
    if fortran == "True" and len(shape) > 1:
        raise ValueError("Fortran-ordered arrays are not what mcindex writes")
    dtype = np.dtype(order + code)
    count = math.prod(shape)
    body = len(raw) - start - length
    if count * dtype.itemsize != body:  # Python ints: a huge shape cannot overflow into a match
        raise ValueError(f"shape {shape} of {dtype} needs {count * dtype.itemsize} bytes, the member holds {body}")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=start + length).reshape(shape)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
        arr.flags.writeable = False
    return arr
