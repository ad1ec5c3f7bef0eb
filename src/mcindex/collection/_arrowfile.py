"""Reading ``attributes.arrow`` (Arrow IPC file format) from bytes that may have been crafted.

In this order, before any value is converted:

1. the file's layout is checked by hand (:func:`check_ipc_layout`): magic bytes at both ends,
   the footer, and every record batch it lists, which must lie inside the file and carry no body
   compression; dictionary batches are refused. mcindex writes neither, and a compressed buffer
   starts with its decompressed length, which Arrow would allocate as given;
2. pyarrow opens the file (native byte order, one thread) and its schema must be exactly the
   manifest's columns, in order, each with the Arrow type of its kind and dtype
   (``Column.ARROW_TYPES``);
3. the batches are read and ``Table.validate(full=True)`` checks every buffer: offsets within
   bounds and non-decreasing, valid UTF-8, null counts. Converting an array that fails it reads
   outside its buffers (a string offset of 2**31 - 1 crashed the process);
4. the row count must be ``n``; then the columns are built as from a user's table.

Every problem is a ``ValueError`` (the caller names the file).
"""

from __future__ import annotations

import struct
from typing import Any

from ._optional import require
from .columns import Column
from .kinds import column_class
from .table import build_columns, read_attributes

__all__ = ["check_ipc_layout", "read_arrow_columns"]

_MAGIC = b"ARROW1"
_RECORD_BATCH = 3  # MessageHeader union tag (Message.fbs)
_BLOCK = struct.Struct("<qi4xq")  # Block: offset, metaDataLength, padding, bodyLength


class _FlatBuffer:
    """Bounds-checked reads of a FlatBuffer (the encoding of Arrow's footer and messages)."""

    def __init__(self, buf: memoryview):
        self.buf = buf

    def read(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise ValueError("Arrow metadata points outside itself")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def root(self) -> int:
        return self.read("<I", 0)

    def field(self, table: int, index: int) -> int | None:
        """Position of field ``index`` of the table at ``table``, None when absent."""
        vtable = table - self.read("<i", table)
        vsize = self.read("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vsize:
            return None
        offset = self.read("<H", vtable + slot)
        return table + offset if offset else None

    def target(self, pos: int) -> int:
        """Where the offset stored at ``pos`` points (a table or a vector)."""
        return pos + self.read("<I", pos)

    def vector(self, pos: int, item: int) -> tuple[int, int]:
        """``(start, count)`` of the vector referenced at ``pos``, whose items are ``item`` bytes."""
        start = self.target(pos)
        count = self.read("<I", start)
        if start + 4 + count * item > len(self.buf):
            raise ValueError("an Arrow metadata vector runs past its buffer")
        return start + 4, count


def _blocks(footer: _FlatBuffer, field: int) -> list[tuple[int, int, int]]:
    pos = footer.field(footer.root(), field)
    if pos is None:
        return []
    start, count = footer.vector(pos, _BLOCK.size)
    return [_BLOCK.unpack_from(footer.buf, start + i * _BLOCK.size) for i in range(count)]


def _check_batch(data: memoryview, offset: int, meta_length: int, body_length: int, end: int) -> None:
    if offset < 8 or meta_length < 8 or body_length < 0 or offset + meta_length + body_length > end:
        raise ValueError(f"a record batch at [{offset}, {offset + meta_length + body_length}) lies outside the "
                         f"data of the file")
    prefix = struct.unpack_from("<i", data, offset)[0]
    skip = 8 if prefix == -1 else 4  # a continuation marker, or the legacy bare length
    length = struct.unpack_from("<i", data, offset + skip - 4)[0]
    if length <= 0 or skip + length > meta_length:
        raise ValueError("a record batch's metadata length does not fit its block")
    message = _FlatBuffer(data[offset + skip: offset + skip + length])
    root = message.root()
    kind = message.field(root, 1)
    header = message.field(root, 2)
    if kind is None or message.read("<B", kind) != _RECORD_BATCH or header is None:
        raise ValueError("a block listed as a record batch holds another kind of message")
    if message.field(message.target(header), 3) is not None:
        raise ValueError("a record batch is compressed (mcindex writes uncompressed Arrow files)")


def check_ipc_layout(data: bytes) -> None:
    """Check what pyarrow would trust in an Arrow IPC file before it reads the batches (see the
    module docstring, step 1)."""
    view = memoryview(data)
    if len(data) < 8 + 10 or data[:6] != _MAGIC or data[-6:] != _MAGIC:
        raise ValueError("not an Arrow IPC file (no ARROW1 magic at both ends)")
    footer_length = struct.unpack_from("<i", data, len(data) - 10)[0]
    footer_start = len(data) - 10 - footer_length
    if footer_length <= 0 or footer_start < 8:
        raise ValueError(f"footer length {footer_length} does not fit a file of {len(data)} bytes")
    footer = _FlatBuffer(view[footer_start:len(data) - 10])
    if _blocks(footer, 2):
        raise ValueError("the file holds dictionary batches (mcindex writes none)")
    for offset, meta_length, body_length in _blocks(footer, 3):
        _check_batch(view, offset, meta_length, body_length, footer_start)


def _check_schema(schema: Any, specs: list[dict[str, Any]]) -> None:
    names = [spec["name"] for spec in specs]
    if schema.names != names:
        raise ValueError(f"holds columns {schema.names[:20]}, the manifest says {names[:20]}")
    for field, spec in zip(schema, specs):
        want = column_class(spec["kind"]).ARROW_TYPES[spec["dtype"]]
        if str(field.type) != want:
            raise ValueError(f"column {spec['name']!r} is stored as {str(field.type)[:80]}, but a {spec['kind']} "
                             f"column of {spec['dtype']} is stored as {want}")


def read_arrow_columns(data: bytes, specs: list[dict[str, Any]], n: int) -> dict[str, Column]:
    """The columns described by ``specs`` (manifest column entries, already checked) from the
    Arrow IPC file ``data`` of ``n`` rows, after the checks of the module docstring."""
    pa = require("pyarrow", "loading Arrow attributes")
    check_ipc_layout(data)
    # Native byte order (a big-endian file is converted, never misread); one thread, as the
    # columns are small next to the index. Nesting needs no cap: the schema, checked before any
    # batch is read, allows nothing deeper than list<string>.
    options = pa.ipc.IpcReadOptions(ensure_native_endian=True, use_threads=False)
    try:
        reader = pa.ipc.open_file(pa.BufferReader(data), options=options)
        _check_schema(reader.schema, specs)
        table = reader.read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError) as exc:  # ArrowInvalid is also a ValueError; ArrowIOError an OSError
        raise ValueError(f"invalid Arrow file: {str(exc)[:300]}") from None
    if table.num_rows != n:
        raise ValueError(f"holds {table.num_rows} rows, the manifest says {n}")
    return build_columns(read_attributes(table), n, {spec["name"]: spec["kind"] for spec in specs})
