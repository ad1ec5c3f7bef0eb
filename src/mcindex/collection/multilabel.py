"""Multi-label and keyword columns: a set of string labels per row, indexed by postings.

Each row stores its labels (codes into the sorted label vocabulary, in the order given, CSR
``row_offsets`` / ``row_codes``); the index is the inverted lists: for each label the sorted ids
of the rows holding it (CSR ``post_offsets`` / ``post_rows``). ``contains(x)`` is one posting
list, ``contains_any`` the union of several, ``contains_all`` their intersection, smallest first
(time proportional to the postings read).

A row whose list is missing (``None``) is NULL: no containment test matches it, nor its negation.
An empty list is a value: it contains nothing, so ``~col("tags").contains("x")`` matches it.
Labels inside a list must be strings; a missing label inside a list is refused.

A ``keywords`` column holds one text per row and matches its *words*: maximal runs of letters,
digits and underscores (Python's ``\\w``), lower-cased. ``contains("Sale")`` matches a row whose
text has the word "sale". In SQL ``where`` strings the column is the list of those words
(``list_contains(description, 'sale')``); results and saved files hold the original text.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..bitmap import Bitmap
from ._encoding import decode_strings, encode_strings
from ._factorize import factorize, flatten_lists
from ._optional import require
from .columns import (Column, RawColumn, check_labels_sorted, check_valid_array, classify, ids_to_bitmap, is_missing,
                      npz_array, object_kinds)

__all__ = ["KeywordsColumn", "MultiLabelColumn", "tokenize"]

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """The distinct words of ``text`` in order of first appearance, lower-cased (``\\w+`` runs,
    found before lower-casing: lower-casing may add characters that are not ``\\w``, such as
    the combining dot of ``"İ".lower()``)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))


def _lists_from_objects(name: str, values: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten an object array of lists of strings into ``(items, offsets)`` (rows where
    ``null`` is set contribute no items)."""
    rows = values[~null].tolist()
    if not set(map(type, rows)) <= {list, tuple}:  # numpy arrays, sets, strings, ...: value by value
        for i in np.flatnonzero(~null):
            row = values[i]
            if classify(row) != "list":
                raise TypeError(f"column {name!r}: row {i} holds {type(row).__name__} {row!r}; a multi_label column "
                                f"needs a list of strings per row (or None)")
        rows = [list(row) for row in rows]
    items, present_lengths = flatten_lists(rows)
    lengths = np.zeros(values.shape[0], dtype=np.int64)
    lengths[~null] = present_lengths
    offsets = np.zeros(values.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.empty(len(items), dtype=object)
    flat[:] = items
    return flat, offsets


def _missing_rows(values: np.ndarray) -> np.ndarray:
    """Which rows of an object array of lists are missing (None, NaN, pandas' NA, ...)."""
    items = values.tolist()
    types = set(map(type, items))
    if types <= {list, tuple, type(None)}:
        return values == None  # noqa: E711  (elementwise on an object array)
    return np.fromiter(map(is_missing, items), dtype=np.bool_, count=len(items))


def _check_items(name: str, flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The flattened labels as an object array of ``str``; refuses missing or non-string labels."""
    if flat.dtype.kind == "U":
        return flat.astype(object)
    if flat.dtype != object:
        raise TypeError(f"column {name!r}: labels must be strings, got {flat.dtype}")
    if set(map(type, flat.tolist())) <= {str}:
        return flat
    missing = np.fromiter((is_missing(x) for x in flat), dtype=np.bool_, count=flat.size)
    if missing.any():
        row = int(np.searchsorted(offsets, np.flatnonzero(missing)[0], "right") - 1)
        raise ValueError(f"column {name!r}: row {row} has a missing label inside its list; drop it, or make the "
                         f"whole row None")
    kinds = {classify(x) for x in flat}
    if not kinds <= {"str"}:
        raise TypeError(f"column {name!r}: labels must be strings, got {', '.join(sorted(kinds - {'str'}))}")
    return np.array([str(x) for x in flat], dtype=object) if flat.size else flat


class MultiLabelColumn(Column):
    """A list of string labels per row (``None`` for a missing list)."""

    kind = "multi_label"
    ARROW_TYPES = {"list<str>": "list<item: string>"}

    def __init__(self, name: str, labels: np.ndarray, row_offsets: np.ndarray, row_codes: np.ndarray,
                 valid: np.ndarray):
        super().__init__(name, valid)
        n = self.n
        row_offsets = np.ascontiguousarray(row_offsets, dtype=np.int64)
        row_codes = np.ascontiguousarray(row_codes, dtype=np.int32)
        if row_offsets.shape != (n + 1,) or row_offsets[0] != 0 or row_offsets[-1] != row_codes.size \
                or np.any(np.diff(row_offsets) < 0) or np.any(np.diff(row_offsets)[~self.valid] != 0):
            raise ValueError(f"column {name!r}: malformed row offsets")
        if row_codes.size and (int(row_codes.min()) < 0 or int(row_codes.max()) >= labels.size):
            raise ValueError(f"column {name!r}: a label code is out of range")
        self.labels = labels
        self.row_offsets = row_offsets
        self.row_codes = row_codes
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(row_offsets))
        pairs = np.sort(row_codes.astype(np.int64) * max(n, 1) + rows)  # np.sort: numpy 2's unique hashes first
        if pairs.size > 1:
            pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]  # a label twice in one row
        codes_sorted = pairs // max(n, 1)
        self.post_rows = pairs % max(n, 1)
        self.post_offsets = np.searchsorted(codes_sorted, np.arange(labels.size + 1), "left").astype(np.int64)

    @property
    def dtype(self) -> str:
        return "list<str>"

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["labels"] = int(self.labels.size)
        return out

    def label_counts(self) -> dict[str, int]:
        """Rows per label."""
        return {str(lab): int(c) for lab, c in zip(self.labels, np.diff(self.post_offsets))}

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def _from_lists(cls, name: str, flat: np.ndarray, offsets: np.ndarray, null: np.ndarray,
                    **extra: Any) -> MultiLabelColumn:
        labels, codes = factorize(flat)
        return cls(name, labels, offsets, codes, ~null, **extra)

    @classmethod
    def from_raw(cls, raw: RawColumn) -> MultiLabelColumn:
        name = raw.name
        n = len(raw)
        null = np.zeros(n, dtype=np.bool_) if raw.null is None else np.asarray(raw.null, dtype=np.bool_)
        if raw.offsets is not None:
            offsets = np.asarray(raw.offsets, dtype=np.int64)
            flat = raw.values
        elif raw.values.dtype == object:
            null = null | _missing_rows(raw.values)
            flat, offsets = _lists_from_objects(name, raw.values, null)
        else:
            raise TypeError(f"column {name!r} holds {raw.values.dtype} values; a multi_label column needs a list of "
                            f"strings per row")
        flat = _check_items(name, flat, offsets)
        return cls._from_lists(name, flat, offsets, null)

    # ---- predicates --------------------------------------------------------------------------
    def _needle(self, label: Any) -> str:
        if classify(label) != "str":
            raise TypeError(f"column {self.name!r} is {self.kind}; its labels are strings, not "
                            f"{type(label).__name__} {label!r}")
        return str(label)

    def _posting(self, label: str) -> np.ndarray | None:
        i = int(np.searchsorted(self.labels, label, "left"))
        if i < self.labels.size and self.labels[i] == label:
            return self.post_rows[self.post_offsets[i]: self.post_offsets[i + 1]]
        return None

    def contains(self, labels: list[str], mode: str) -> Bitmap:
        needles = list(dict.fromkeys(self._needle(x) for x in labels))
        postings = [self._posting(x) for x in needles]
        if mode == "any":
            found = [p for p in postings if p is not None and p.size]
            ids = np.concatenate(found) if found else np.empty(0, np.int64)
            return ids_to_bitmap(ids, self.n)
        if mode != "all":
            raise ValueError(f"mode must be 'any' or 'all', got {mode!r}")
        if not needles:
            return self.valid_bitmap  # every (non-missing) list contains all of no labels
        if any(p is None for p in postings):
            return Bitmap.none(self.n)
        postings.sort(key=len)
        ids = postings[0]
        for p in postings[1:]:
            if not ids.size:
                break
            ids = np.intersect1d(ids, p, assume_unique=True)
        return ids_to_bitmap(ids, self.n)

    # ---- data ------------------------------------------------------------------------------------
    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(codes, offsets, ok)`` of the lists of ``rows`` (``-1`` or missing: an empty slot)."""
        ok = self._valid_rows(rows)
        safe = np.where(ok, rows, 0)
        starts = self.row_offsets[safe]
        lengths = np.where(ok, self.row_offsets[safe + 1] - starts, 0)
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        index = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]), dtype=np.int64)
        return self.row_codes[index], offsets, ok

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        codes, offsets, ok = self._gather(rows)
        words = self.labels[codes].tolist()
        out = np.full(rows.shape, None, dtype=object)
        for i in np.flatnonzero(ok):
            out[i] = words[offsets[i]: offsets[i + 1]]
        return out

    def to_arrow(self, rows: np.ndarray | None = None) -> Any:
        pa = require("pyarrow", "Arrow output")
        rows = np.arange(self.n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        codes, offsets, ok = self._gather(rows)
        values = pa.array(self.labels[codes] if codes.size else np.empty(0, dtype=object), type=pa.string())
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, mask=pa.array(~ok))

    def to_npz(self) -> dict[str, np.ndarray]:
        blob, offsets = encode_strings(self.labels)
        return {"valid": self.valid, "row_offsets": self.row_offsets, "row_codes": self.row_codes,
                "labels_blob": blob, "labels_offsets": offsets}

    @classmethod
    def from_npz(cls, name: str, arrays: dict[str, np.ndarray], n: int) -> MultiLabelColumn:
        valid = check_valid_array(arrays, "valid", n, name)
        for key in ("labels_blob", "labels_offsets"):
            if key not in arrays:
                raise ValueError(f"column {name!r}: missing {key!r} array")
        labels = decode_strings(arrays["labels_blob"], arrays["labels_offsets"], f"column {name!r} labels")
        check_labels_sorted(labels, name)
        row_offsets = npz_array(arrays, "row_offsets", name, np.int64, n + 1)
        row_codes = npz_array(arrays, "row_codes", name, np.int32)
        return cls(name, labels, row_offsets, row_codes, valid)  # checks the offsets and the code range


class KeywordsColumn(MultiLabelColumn):
    """A text per row, matched by its lower-cased words (see the module docstring)."""

    kind = "keywords"
    ARROW_TYPES = {"text": "string"}

    def __init__(self, name: str, labels: np.ndarray, row_offsets: np.ndarray, row_codes: np.ndarray,
                 valid: np.ndarray, text: np.ndarray):
        super().__init__(name, labels, row_offsets, row_codes, valid)
        self.text = text

    @property
    def dtype(self) -> str:
        return "text"

    @classmethod
    def from_texts(cls, name: str, text: np.ndarray, null: np.ndarray) -> KeywordsColumn:
        """Tokenise every text (one Python call per row, at build or load time only)."""
        words = [tokenize(t) if not missing else [] for t, missing in zip(text.tolist(), null.tolist())]
        items, lengths = flatten_lists(words)
        offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.empty(len(items), dtype=object)
        flat[:] = items
        text = text.copy()
        text[null] = None
        return cls._from_lists(name, flat, offsets, null, text=text)

    @classmethod
    def from_raw(cls, raw: RawColumn) -> KeywordsColumn:
        name = raw.name
        if raw.offsets is not None:
            raise TypeError(f"column {name!r} holds lists; a keywords column needs one text per row "
                            f"(use kind 'multi_label' for lists of labels)")
        v = raw.values
        null = np.zeros(v.shape[0], dtype=np.bool_) if raw.null is None else np.asarray(raw.null, dtype=np.bool_)
        if v.dtype.kind == "U":
            v = v.astype(object)
        if v.dtype != object:
            raise TypeError(f"column {name!r} holds {v.dtype} values; a keywords column needs one text per row")
        obj_null, kinds = object_kinds(v)
        null = null | obj_null
        if not kinds <= {"str"}:
            raise TypeError(f"column {name!r} holds {', '.join(sorted(kinds))} values; a keywords column needs one "
                            f"text per row")
        return cls.from_texts(name, v, null)

    def _needle(self, label: Any) -> str:
        word = super()._needle(label)
        if not _WORD.fullmatch(word):
            raise ValueError(f"column {self.name!r} is keywords: it matches single words (letters, digits, _), got "
                             f"{label!r}; use contains_all([...]) for several words")
        return word.lower()

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        ok = self._valid_rows(rows)
        out = np.full(rows.shape, None, dtype=object)
        out[ok] = self.text[rows[ok]]
        return out

    def to_arrow(self, rows: np.ndarray | None = None) -> Any:
        pa = require("pyarrow", "Arrow output")
        values = self.text if rows is None else self.take(rows)
        return pa.array(values, type=pa.string())

    def sql_arrow(self) -> Any:
        return super().to_arrow()

    def to_npz(self) -> dict[str, np.ndarray]:
        blob, offsets = encode_strings(self.text)
        return {"valid": self.valid, "text_blob": blob, "text_offsets": offsets}

    @classmethod
    def from_npz(cls, name: str, arrays: dict[str, np.ndarray], n: int) -> KeywordsColumn:
        valid = check_valid_array(arrays, "valid", n, name)
        if "text_blob" not in arrays or "text_offsets" not in arrays:
            raise ValueError(f"column {name!r}: missing text arrays")
        text = decode_strings(arrays["text_blob"], arrays["text_offsets"], f"column {name!r} text")
        if text.shape != (n,):
            raise ValueError(f"column {name!r}: expected {n} texts, got {text.shape[0]}")
        return cls.from_texts(name, text, ~valid)
