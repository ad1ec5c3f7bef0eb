"""A packed set of allowed ids: the one filter representation every search path shares.

Bit ``i`` of word ``i // 64`` (least significant bit first) says whether id ``i`` is
allowed. The C++ core reads the same uint64 words without copying.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Bitmap"]


def _check_size(n: Any) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"size must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"size must be >= 0, got {n}")
    return int(n)


class Bitmap:
    """A fixed-size set of ids in ``[0, size)``, stored as packed uint64 words.

    Build one with :meth:`from_mask`, :meth:`from_ids`, :meth:`all` or :meth:`none`;
    combine with ``&``, ``|``, ``^`` and ``~``. ``count()`` is a popcount, ``len()`` the
    universe size. Bitmaps are immutable: every operator returns a new one.
    """

    __slots__ = ("_words", "_size")

    def __init__(self, words: np.ndarray, size: int):
        size = _check_size(size)
        words = np.asarray(words)
        if words.dtype != np.uint64 or words.ndim != 1:
            raise TypeError(f"words must be a 1-D uint64 array, got {words.dtype} with shape {words.shape}")
        expected = (size + 63) // 64
        if words.shape[0] != expected:
            raise ValueError(f"a bitmap of size {size} needs {expected} words, got {words.shape[0]}")
        words = np.ascontiguousarray(words).copy()
        tail = size % 64
        if tail and expected:
            # Bits past `size` are always zero so that count() and ~ stay exact.
            words[-1] &= np.uint64((1 << tail) - 1)
        words.flags.writeable = False
        self._words = words
        self._size = size

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_mask(cls, mask: Any) -> Bitmap:
        """Bitmap from a 1-D numpy bool array: id ``i`` is allowed where ``mask[i]``."""
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
        if mask.ndim != 1:
            raise ValueError(f"mask must be 1-D, got shape {mask.shape}")
        size = mask.shape[0]
        nwords = (size + 63) // 64
        packed = np.packbits(mask, bitorder="little")
        buf = np.zeros(nwords * 8, dtype=np.uint8)
        buf[: packed.shape[0]] = packed
        return cls(buf.view("<u8").astype(np.uint64, copy=False), size)

    @classmethod
    def from_ids(cls, ids: Any, size: int) -> Bitmap:
        """Bitmap of ``size`` ids with the given integer ids set (duplicates are fine)."""
        size = _check_size(size)
        ids = np.asarray(ids)
        if ids.size == 0:
            ids = ids.astype(np.int64)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
        if ids.size:
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= size:
                bad = lo if lo < 0 else hi
                raise ValueError(f"id {bad} is out of range [0, {size})")
        mask = np.zeros(size, dtype=np.bool_)
        mask[ids] = True
        return cls.from_mask(mask)

    @classmethod
    def all(cls, size: int) -> Bitmap:
        """Every id in ``[0, size)`` allowed."""
        size = _check_size(size)
        return cls(np.full((size + 63) // 64, np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64), size)

    @classmethod
    def none(cls, size: int) -> Bitmap:
        """No id allowed."""
        size = _check_size(size)
        return cls(np.zeros((size + 63) // 64, dtype=np.uint64), size)

    # ---- views ------------------------------------------------------------------
    @property
    def words(self) -> np.ndarray:
        """The packed uint64 words (read-only)."""
        return self._words

    @property
    def size(self) -> int:
        """Universe size: ids range over ``[0, size)``."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def count(self) -> int:
        """Number of allowed ids (a popcount over the words)."""
        return int(np.bitwise_count(self._words).sum(dtype=np.int64))

    def selectivity(self) -> float:
        """Fraction of ids allowed (0 for an empty universe)."""
        return self.count() / self._size if self._size else 0.0

    def to_mask(self) -> np.ndarray:
        """The set as a bool array of length ``size``."""
        bits = np.unpackbits(self._words.view(np.uint8), bitorder="little")
        return bits[: self._size].astype(np.bool_)

    def to_ids(self) -> np.ndarray:
        """Allowed ids, ascending, as int64."""
        return np.flatnonzero(self.to_mask()).astype(np.int64)

    def __contains__(self, i: object) -> bool:
        if not isinstance(i, (int, np.integer)) or not 0 <= int(i) < self._size:
            return False
        i = int(i)
        return bool((int(self._words[i >> 6]) >> (i & 63)) & 1)

    # ---- algebra -----------------------------------------------------------------
    def _other(self, other: object, op: str) -> Bitmap:
        if not isinstance(other, Bitmap):
            raise TypeError(f"cannot {op} a Bitmap with {type(other).__name__}")
        if other._size != self._size:
            raise ValueError(f"bitmap sizes differ: {self._size} and {other._size}")
        return other

    def __and__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self._words & self._other(other, "&")._words, self._size)

    def __or__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self._words | self._other(other, "|")._words, self._size)

    def __xor__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self._words ^ self._other(other, "^")._words, self._size)

    def __sub__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self._words & ~self._other(other, "-")._words, self._size)

    def __invert__(self) -> Bitmap:
        return Bitmap(~self._words, self._size)  # the constructor clears the tail bits

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitmap):
            return NotImplemented
        return self._size == other._size and bool(np.array_equal(self._words, other._words))

    def __hash__(self) -> int:
        return hash((self._size, self._words.tobytes()))

    def __repr__(self) -> str:
        return f"Bitmap(size={self._size}, count={self.count()})"
