"""SQL ``where`` strings, evaluated by DuckDB over the attribute table (the ``sql`` extra).

The attributes are handed to DuckDB as an Arrow table (built once per collection, on the first
SQL filter) with one extra column, the row number; a ``where`` string is applied with DuckDB's
relational ``filter``, which parses it as exactly one expression, and the matching row numbers
become a Bitmap. Any DuckDB expression works: ``price < 50 AND category = 'shoes'``,
``list_contains(tags, 'sale')``, ``date >= TIMESTAMP '2024-01-01'``, ``name ILIKE 'a%'``.

Column types in SQL: numeric columns are BIGINT, DOUBLE or TIMESTAMP; categorical VARCHAR (or
BIGINT); boolean BOOLEAN; multi_label VARCHAR[]; keywords VARCHAR[] of the text's lower-cased
words. Missing values are NULL, so SQL's three-valued logic gives the same rows as the Python
predicates.

Safety: a ``where`` string is one SQL *expression*, never a statement.

* ``;`` outside string literals and quoted names is refused before DuckDB sees the text;
* DuckDB parses the text as a single filter expression, so ``) UNION SELECT ...`` and
  other ways out of the expression are syntax errors;
* the DuckDB connection is private to the collection, in memory, with external access
  (files, network, extensions) disabled and its configuration locked, so a sub-query can read
  nothing but the attribute table.

Errors (unknown column, syntax, type mismatch) raise ``ValueError`` carrying DuckDB's message,
which names the column or the position.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..bitmap import Bitmap
from ._optional import require
from .columns import Column, ids_to_bitmap
from .table import RESERVED

__all__ = ["SqlFilter", "check_where"]

ROW = RESERVED[0]


def check_where(where: Any) -> str:
    """``where`` stripped, after the checks that need no DuckDB: a non-empty str with no ``;``
    outside string literals (``'...'``) and quoted names (``"..."``)."""
    if not isinstance(where, str):
        raise TypeError(f"a where string must be a str, got {type(where).__name__}")
    text = where.strip()
    if not text:
        raise ValueError("empty where string")
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None  # a doubled quote ('') closes and reopens: same state after two chars
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            raise ValueError(f"where {where!r}: ';' at position {i} is not allowed; a where string is one SQL "
                             f"expression, not statements")
    return text


_MAX_POSITION_SEARCH = 20_000  # characters of where text searched for DuckDB's caret (quadratic at worst)
_LINE = re.compile(r"\n\s*LINE (\d+): (.*)\n(\s*)(\^+)\s*$", re.S)


def _position(snippet: str, caret: int, width: int, text: str) -> int | None:
    """Where in ``text`` (0-based) DuckDB's caret points. DuckDB shows a line of the SQL it ran
    (the user's text inside its own ``SELECT ...`` / ``... WHERE (...)``, cut with ``...``) and
    a caret under it: the position is the one where the snippet around the caret best matches
    ``text`` (longest common context on both sides)."""
    before = snippet[:caret].removeprefix("...")
    after = snippet[caret:].removesuffix("...")
    if not after[:width].strip() or len(text) > _MAX_POSITION_SEARCH:
        return None
    best, best_score = None, 0
    for p in range(len(text) + 1):
        left = 0
        while left < min(p, len(before)) and text[p - left - 1] == before[-left - 1]:
            left += 1
        right = 0
        while right < min(len(text) - p, len(after)) and text[p + right] == after[right]:
            right += 1
        if right >= min(width, len(after)) and left + right > best_score:
            best, best_score = p, left + right
    return best


def _clean_message(exc: BaseException, text: str) -> str:
    """DuckDB's message about the user's ``text``, on one line: the caret under DuckDB's own SQL
    becomes a position in ``text``; the internal row-number column and the internal name of
    the Arrow relation are left out."""
    message = str(exc)
    where = ""
    match = _LINE.search(message)
    if match:
        message = message[: match.start()]
        indent = len(match.group(3).split("\n")[-1]) - len(f"LINE {match.group(1)}: ")
        pos = _position(match.group(2), indent, len(match.group(4)), text)
        if pos is not None:
            where = f" (at position {pos} of the where string, before {text[pos:pos + 20]!r})"
    message = re.sub(r"arrow_object_[0-9a-f]+\.", "", message)
    message = re.sub(rf',?\s*"?{ROW}"?(?=[,\s]|$)', "", message)
    message = re.sub(r"\s*Candidate bindings:\s*$", "", message.strip())
    return " ".join(message.split()) + where


class SqlFilter:
    """Compiles SQL ``where`` strings over one collection's columns into Bitmaps.

    The DuckDB connection and the Arrow table are created on first use and reused; calls are
    serialised with a lock (a DuckDB connection is not meant for concurrent use).
    """

    def __init__(self, columns: Mapping[str, Column], n: int):
        self._columns = columns
        self._n = n
        self._lock = threading.Lock()
        self._relation: Any = None
        self._duckdb: Any = None

    def _ensure(self) -> Any:
        if self._relation is None:
            duckdb = require("duckdb", "a SQL where string")
            pa = require("pyarrow", "a SQL where string")
            data = {name: c.sql_arrow() for name, c in self._columns.items()}
            data[ROW] = pa.array(np.arange(self._n, dtype=np.int64))
            table = pa.table(data)
            con = duckdb.connect(":memory:", config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            })
            con.execute("SET lock_configuration = true")
            self._con = con  # keeps the connection (and so the relation) alive
            self._table = table
            self._duckdb = duckdb
            self._relation = con.from_arrow(table)
        return self._relation

    def compile(self, where: str) -> Bitmap:
        """The rows where the SQL expression ``where`` is TRUE (NULL and FALSE rows excluded)."""
        text = check_where(where)
        with self._lock:
            relation = self._ensure()
            try:
                rows = relation.filter(text).project(f'"{ROW}"').fetchnumpy()[ROW]
            except self._duckdb.Error as exc:
                raise ValueError(f"where {where!r}: {_clean_message(exc, text)}") from None
        return ids_to_bitmap(np.asarray(rows, dtype=np.int64), self._n)
