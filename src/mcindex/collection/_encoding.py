"""Strings as plain numpy arrays (a UTF-8 byte blob plus offsets), so nothing is ever pickled.

Used by the ``.npz`` fallback of :mod:`mcindex.collection.storage` for labels, texts and
string ids. Fixed-width ``<U`` arrays are avoided on purpose: one long string would make every
entry that wide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["decode_strings", "encode_strings"]


def encode_strings(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """``(blob uint8[total], offsets int64[len + 1])``; a ``None`` is stored as an empty string
    (callers keep their own missing-value mask)."""
    encoded = [b"" if v is None else str(v).encode("utf-8") for v in values]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return blob, offsets


def decode_strings(blob: np.ndarray, offsets: np.ndarray, what: str) -> np.ndarray:
    """The object array of ``str`` that :func:`encode_strings` encoded.

    Raises ValueError (naming ``what``) when the offsets do not describe the blob or a string is
    not valid UTF-8.
    """
    blob = np.asarray(blob)
    offsets = np.asarray(offsets)
    # int64 exactly: with unsigned offsets a decreasing pair would wrap around and pass the checks
    if blob.dtype != np.uint8 or blob.ndim != 1 or offsets.ndim != 1 or offsets.size < 1 \
            or offsets.dtype != np.int64:
        raise ValueError(f"{what}: malformed string arrays (expected a uint8 blob and int64 offsets, got "
                         f"{blob.dtype} {blob.shape} and {offsets.dtype} {offsets.shape})")
    if offsets[0] != 0 or offsets[-1] != blob.size or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{what}: string offsets do not match the {blob.size}-byte blob")
    raw = blob.tobytes()
    out = np.empty(offsets.size - 1, dtype=object)
    try:
        for i in range(out.size):
            out[i] = raw[offsets[i]: offsets[i + 1]].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: string {i} is not valid UTF-8: {exc}") from None
    return out
