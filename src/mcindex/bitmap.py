"""A packed set of allowed ids: the one filter form every search path takes.

Bit ``i`` of word ``i // 64`` (least significant bit first) says whether id ``i`` is
allowed. A Bitmap knows its count (computed once) and, when the set is small, its sorted ids;
the C++ core reads the words, the count and the ids without copying or recounting them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core

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
    combine with ``&``, ``|``, ``^``, ``-`` and ``~``. ``count()`` is a popcount (computed once),
    ``len()`` the universe size. Bitmaps are immutable: every operator returns a new one.
    """

    __slots__ = ("_words", "_size", "_count", "_ids")

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
        self._set(words, size, None, None)

    def _set(self, words: np.ndarray, size: int, count: int | None, ids: np.ndarray | None) -> None:
        words.flags.writeable = False
        if ids is not None:
            ids.flags.writeable = False
        self._words, self._size, self._count, self._ids = words, size, count, ids

    @classmethod
    def _made(cls, words: np.ndarray, size: int, count: int | None, ids: np.ndarray | None = None) -> Bitmap:
        """A Bitmap around words the library made itself (tail bits clear, no copy)."""
        bm = cls.__new__(cls)
        bm._set(words, size, count, ids)
        return bm

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_mask(cls, mask: Any) -> Bitmap:
        """Bitmap from a 1-D numpy bool array: id ``i`` is allowed where ``mask[i]``."""
        if type(mask) is not np.ndarray:
            mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
        if mask.ndim != 1:
            raise ValueError(f"mask must be 1-D, got shape {mask.shape}")
        words, count = _core.filter_from_mask(mask if mask.flags.c_contiguous else np.ascontiguousarray(mask))
        return cls._made(words, mask.shape[0], count)

    @classmethod
    def from_ids(cls, ids: Any, size: int) -> Bitmap:
        """Bitmap of ``size`` ids with the given integer ids set (duplicates are fine)."""
        return cls._from_ids(ids, size)[0]

    @classmethod
    def _from_ids(cls, ids: Any, size: int) -> tuple[Bitmap, bool]:
        """The Bitmap, and whether ``ids`` looked like a 0/1 mask in an integer dtype (length
        ``size`` > 2, only 0 and 1)."""
        if type(size) is not int:
            size = _check_size(size)
        elif size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if type(ids) is not np.ndarray:
            ids = np.asarray(ids)
        if ids.size == 0:
            ids = ids.astype(np.int64)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
        if ids.dtype != np.int64 or not ids.flags.c_contiguous:
            if ids.dtype == np.uint64 and int(ids.max()) > 2**63 - 1:
                raise ValueError(f"id {int(ids.max())} is out of range [0, {size})")
            ids = np.ascontiguousarray(ids, dtype=np.int64)
        words, kept, count, zero_one = _core.filter_from_ids(ids, size)
        return cls._made(words, size, count, kept), zero_one

    @classmethod
    def all(cls, size: int) -> Bitmap:
        """Every id in ``[0, size)`` allowed."""
        size = _check_size(size)
        return cls(np.full((size + 63) // 64, np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64), size)

    @classmethod
    def none(cls, size: int) -> Bitmap:
        """No id allowed."""
        size = _check_size(size)
        return cls._made(np.zeros((size + 63) // 64, dtype=np.uint64), size, 0)

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
        """Number of allowed ids (a popcount, computed once)."""
        if self._count is None:
            self._count = int(_core.popcount(self._words))
        return self._count

    def selectivity(self) -> float:
        """Fraction of ids allowed (0 for an empty universe)."""
        return self.count() / self._size if self._size else 0.0

    def to_mask(self) -> np.ndarray:
        """The set as a bool array of length ``size``."""
        bits = np.unpackbits(self._words.view(np.uint8), bitorder="little")
        return bits[: self._size].astype(np.bool_)

    def to_ids(self) -> np.ndarray:
        """Allowed ids, ascending, as int64."""
        if self._ids is not None:
            return self._ids.astype(np.int64)
        return np.flatnonzero(self.to_mask()).astype(np.int64)

    def core(self) -> tuple[np.ndarray, np.ndarray | None, int]:
        """``(words, sorted ids or None, count)``: what the core reads."""
        return self._words, self._ids, self.count()

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
        return Bitmap._made(self._words & self._other(other, "&")._words, self._size, None)

    def __or__(self, other: Bitmap) -> Bitmap:
        return Bitmap._made(self._words | self._other(other, "|")._words, self._size, None)

    def __xor__(self, other: Bitmap) -> Bitmap:
        return Bitmap._made(self._words ^ self._other(other, "^")._words, self._size, None)

    def __sub__(self, other: Bitmap) -> Bitmap:
        return Bitmap._made(self._words & ~self._other(other, "-")._words, self._size, None)

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

    def __getstate__(self) -> tuple[Any, ...]:
        return (self._words, self._size, self._count, self._ids)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        words, size, count, ids = state
        self._set(np.array(words, dtype=np.uint64), size, count, None if ids is None else np.array(ids, dtype=np.uint32))
