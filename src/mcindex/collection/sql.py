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
* every DuckDB connection is private to the collection, in memory, with external access
  (files, network, extensions) disabled and its configuration locked, so a sub-query can read
  nothing but the attribute table.

Limits (:class:`SqlLimits`, set per collection; :class:`FilterLimitError`, a ``ValueError``,
when one is exceeded). A where string can ask for unbounded work (a cross join of two
``range(20000)``), so every SQL filter runs under:

* a **time budget** (default 1 s) for the whole call: waiting for a connection, parsing,
  running, fetching and converting the rows (not the one-time setup: the Arrow table, opening
  a connection). A timer interrupts DuckDB (``connection.interrupt()``) when it runs out, and
  every 5 ms after until the filter stops (DuckDB forgets an interrupt that arrives between
  its calls); DuckDB stops at its next vector of rows;
* a **memory limit** (default 256 MiB) per connection: DuckDB's ``memory_limit``, with no
  temporary directory, so nothing spills to disk. It bounds what DuckDB's buffer manager holds
  (hash tables, joins, aggregates such as ``string_agg`` and ``list``, recursive CTEs);
* a **size guard**: DuckDB neither interrupts a single function call nor counts the strings
  and lists it builds per row against its memory limit, so a function told to build a huge
  value (``repeat('x', 300000000)`` ran 5 s in 570 MB, past both limits) is refused before
  anything runs. ``repeat``, ``lpad``, ``rpad``, ``list_resize``, ``to_base`` and
  ``equi_width_bins`` must get their size as an integer literal, ``range`` and
  ``generate_series`` (as values; as tables in ``FROM`` they stream and are timed) integer
  literal bounds, ``printf`` and ``format`` a literal format string. Functions that make a
  value several times longer count with their factor (``hex`` 2, ``bin`` 8, ``to_base64`` 2,
  ``url_encode`` 3, ``to_json`` and ``json_quote`` 6; ``replace`` and ``regexp_replace``
  twice their literal replacement's length plus one), since nested they grow a value
  exponentially. All these sizes and factors in one where string multiply to at most
  :data:`MAX_SIZE` (10,000). Accumulating lambdas (``list_reduce``) are refused: one can
  double a value at every step. The guard reads the expression as DuckDB's own parser does
  (``json_serialize_sql``).

What the limits do not bound: one large sub-query result combined with every row (``(SELECT
string_agg(...) ...) || category``), or a lengthening function the guard does not list, builds
its values inside one 2,048-row vector of DuckDB, outside its memory limit and before the
interrupt is looked at; run a server with a process memory cap (a cgroup, Ray's memory
monitor) where hostile users matter.

Concurrency: each collection keeps up to ``SqlLimits.connections`` DuckDB databases, each
with one thread and its own memory limit, all scanning the one Arrow table (zero-copy). A
filter takes an idle connection (or opens one), so filters run in parallel and a slow one
never holds up the others; DuckDB releases the GIL while it runs, so Python threads go on too.

Errors (unknown column, syntax, type mismatch) raise ``ValueError`` carrying DuckDB's message,
which names the column or the position.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bitmap import Bitmap
from ._optional import require
from .columns import Column, ids_to_bitmap
from .table import RESERVED

__all__ = ["MAX_SIZE", "FilterLimitError", "SqlFilter", "SqlLimits", "check_where"]

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


# ---- limits -------------------------------------------------------------------------------------
MiB = 1 << 20


@dataclass(frozen=True)
class SqlLimits:
    """What one SQL ``where`` string may cost; see the module docstring.

    Attributes:
        time_budget: seconds for one where string, from the call to the Bitmap: waiting for a
            connection, running, fetching and converting (not the one-time setup: the Arrow
            table on the first filter, a new connection). Default 1 s: an ordinary filter
            over a million rows takes milliseconds to tens of milliseconds, and a request
            that waits longer has usually lost its client.
        memory_limit: bytes DuckDB may hold for one filter (its ``memory_limit``, per
            connection; the attribute table itself is scanned in place and not counted).
            Default 256 MiB: the row numbers of a million matches take 8 MB, so only a
            filter that builds large joins or aggregates comes near it.
        connections: DuckDB connections of the collection, so SQL filters that run at once;
            one more waits for a free one (within its time budget). Default 4: a few
            filters in parallel per core of a small server, with at most
            ``connections * memory_limit`` (1 GiB) held by DuckDB.
    """

    time_budget: float = 1.0
    memory_limit: int = 256 * MiB
    connections: int = 4

    def __post_init__(self) -> None:
        budget = self.time_budget
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 3600 \
                or not math.isfinite(budget):
            raise ValueError(f"time_budget must be a number of seconds in (0, 3600], got {budget!r}")
        for name, low in (("memory_limit", MiB), ("connections", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")

    def describe(self) -> dict[str, Any]:
        """The limits as plain JSON values (seconds, MiB, count), as ``/info`` reports them."""
        return {"time_budget_s": self.time_budget, "memory_limit_mib": self.memory_limit / MiB,
                "connections": self.connections}


class FilterLimitError(ValueError):
    """A SQL ``where`` string exceeded a limit of :class:`SqlLimits`, or asked for a value larger
    than the size guard allows. ``limit`` is ``"time"``, ``"memory"`` or ``"size"``; ``value``
    is that limit (seconds, bytes, or the largest size allowed)."""

    def __init__(self, message: str, limit: str, value: float):
        super().__init__(message)
        self.limit = limit
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:  # pickles whole (a sharded collection's shards raise it)
        return (type(self), (str(self), self.limit, self.value))


def _time_error(where: str, limits: SqlLimits, waiting: bool = False) -> FilterLimitError:
    detail = (f" waiting for one of the collection's {limits.connections} DuckDB connection"
              f"{'s' if limits.connections != 1 else ''} (all busy)" if waiting else "")
    return FilterLimitError(f"where {where!r}: exceeded the SQL time budget of {limits.time_budget:g} s{detail}",
                            "time", limits.time_budget)


def _memory_error(where: str, limits: SqlLimits) -> FilterLimitError:
    return FilterLimitError(f"where {where!r}: exceeded the SQL memory limit of {limits.memory_limit / MiB:g} MiB",
                            "memory", limits.memory_limit)


# ---- the size guard ----------------------------------------------------------------------------
#: The largest product of the sizes (counts, lengths, widths, list lengths) one where string
#: may ask functions to build; see the module docstring.
MAX_SIZE = 10_000

# function -> position of the argument that sets the size of its result
_SIZED = {"repeat": 1, "lpad": 1, "rpad": 1, "list_resize": 1, "to_base": 2, "equi_width_bins": 2}
_RANGES = {"range": 0, "generate_series": 1}  # name -> 1 when the stop is included
_FORMATS = {"printf", "format"}
_ACCUMULATORS = {"list_reduce"}
# functions whose result can be this many times longer than their input: nested, they grow a
# value exponentially (hex 16 deep: 65,536 times, 816 MB over 1,500 rows)
_FACTORS = {"hex": 2, "bin": 8, "to_base64": 2, "url_encode": 3, "to_json": 6, "json_quote": 6,
            "array_to_json": 6, "row_to_json": 6}
_REPLACES = {"replace": 2, "regexp_replace": 2}  # -> position of the replacement text
_DIGITS = re.compile(r"\d+")
_DYNAMIC_WIDTH = re.compile(r"\*|\{[^{}]*:[^{}]*\{")  # printf's '*', fmt's '{:{}}'


_KNOWN_ALIASES = {"array_resize": "list_resize", "array_reduce": "list_reduce", "reduce": "list_reduce",
                  "to_hex": "hex", "to_binary": "bin", "base64": "to_base64"}


def _aliases(con: Any, error: type[Exception]) -> dict[str, str]:
    """Every name DuckDB knows for the guarded functions -> the canonical name
    (``array_resize`` -> ``list_resize``, ``reduce`` -> ``list_reduce``, ...): the ones known
    here plus those the running DuckDB lists."""
    canonical = set(_SIZED) | set(_RANGES) | _FORMATS | _ACCUMULATORS | set(_FACTORS) | set(_REPLACES)
    names = {name: name for name in canonical} | _KNOWN_ALIASES
    try:
        rows = con.execute("SELECT DISTINCT function_name, alias_of FROM duckdb_functions() "
                           "WHERE alias_of IS NOT NULL").fetchall()
    except error:  # a DuckDB without the alias_of column: the known aliases only
        rows = []
    for name, alias_of in rows:
        if alias_of in canonical:
            names[name.lower()] = alias_of
    return names


def _integer(text: str) -> int:
    """``text`` (digits, maybe a sign) as an int; past 18 digits just "too large" (Python refuses
    to convert over 4,300 digits, and any such size is refused anyway)."""
    digits = text.lstrip("-")
    value = int(digits) if len(digits) <= 18 else 10**18
    return -value if text.startswith("-") else value


def _int_literal(node: Any) -> int | None:
    """The value of an integer literal node of DuckDB's parse tree, else None."""
    if isinstance(node, dict) and node.get("class") == "CONSTANT":
        text = str((node.get("literal") or {}).get("text", ""))
        if re.fullmatch(r"-?\d+", text):
            return _integer(text)
    return None


def _string_literal(node: Any) -> str | None:
    """The text of a string literal node of DuckDB's parse tree, else None."""
    if isinstance(node, dict) and node.get("class") == "CONSTANT":
        literal = node.get("literal") or {}
        if literal.get("kind") in ("STRING", "VARCHAR"):
            return str(literal.get("text", ""))
    return None


def _arguments(function: Mapping[str, Any]) -> list[Any]:
    return [a.get("expression") if isinstance(a, dict) and "expression" in a else a
            for a in function.get("arguments") or function.get("children") or []]


def _function_calls(tree: Any) -> Iterator[Mapping[str, Any]]:
    """Every function called as a value in DuckDB's parse tree (iteratively: a where string can
    nest a thousand levels deep). A table function in ``FROM`` streams its rows in vectors
    under the time budget, so it is not yielded itself; its arguments are."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
                stack.extend(_arguments(node["function"]))
                stack.extend(v for k, v in node.items() if k != "function")
                continue
            if node.get("class") == "FUNCTION":
                yield node
            stack.extend(node.values())


def _size_of(name: str, args: list[Any]) -> int | str:
    """The size a call of the guarded function ``name`` asks for, or why it cannot be told."""
    if name in _ACCUMULATORS:
        return "is not allowed: its accumulator can double a value at every step"
    if name in _FACTORS:
        return _FACTORS[name]
    if name in _REPLACES:
        pos = _REPLACES[name]
        text = _string_literal(args[pos]) if len(args) > pos else ""
        # each character can become the replacement plus itself: empty matches come between them
        return "needs its replacement as a string literal" if text is None else 2 * len(text) + 1
    if name in _SIZED:
        pos = _SIZED[name]
        size = _int_literal(args[pos]) if len(args) > pos else 1
        return "needs its size as an integer literal" if size is None else max(size, 1)
    if name in _RANGES:
        bounds = [_int_literal(a) for a in args]
        if not bounds or len(bounds) > 3 or None in bounds:
            return "needs integer literal bounds as a value (as a table in FROM it has no such limit)"
        start, stop, step = ([0] + bounds + [1])[-3:] if len(bounds) == 1 else (bounds + [1])[:3]
        stop += _RANGES[name] * (1 if step > 0 else -1)
        return max(len(range(start, stop, step)) if step else 0, 1)
    text = _string_literal(args[0]) if args else None
    if text is None:
        return "needs a literal format string"
    if _DYNAMIC_WIDTH.search(text):
        return "cannot take its width from an argument"
    return max([_integer(d) for d in _DIGITS.findall(text)] + [1])


def check_sizes(tree: Any, where: str, aliases: Mapping[str, str]) -> None:
    """Refuse (FilterLimitError) a parse tree whose functions are asked to build values larger
    than :data:`MAX_SIZE` allows; see the module docstring."""
    product = 1
    for call in _function_calls(tree):
        spelled = str(call.get("function_name", "")).lower()
        name = aliases.get(spelled)
        if name is None:
            continue
        size = _size_of(name, _arguments(call))
        if isinstance(size, str):
            raise FilterLimitError(f"where {where!r}: {spelled} {size} (the SQL size guard allows sizes up to "
                                   f"{MAX_SIZE:,})", "size", MAX_SIZE)
        product *= size
        if product > MAX_SIZE:
            grows = name in _FACTORS or name in _REPLACES
            what = f"can make a value {size:,} times longer" if grows else f"asks for a size of {size:,}"
            total = f" (with the others in this where string, {product:,}{' times' if grows else ''})" \
                if product != size else ""
            raise FilterLimitError(f"where {where!r}: {spelled} {what}{total}; the SQL size guard allows at most "
                                   f"{MAX_SIZE:,} in one where string", "size", MAX_SIZE)


# ---- connections -------------------------------------------------------------------------------
def _config(duckdb: Any, limits: SqlLimits) -> dict[str, Any]:
    """The settings of every connection: private, in memory, one thread, no disk, no extensions.
    ``async_threads`` (newer DuckDBs) only where DuckDB knows it; the others are required."""
    config: dict[str, Any] = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "threads": 1,                    # one core per filter: a slow one cannot take them all
        "memory_limit": f"{limits.memory_limit // 1024}KiB",
        "temp_directory": "",            # nothing spills to disk: over the limit is an error
    }
    if "async_threads" in _known_settings(duckdb):
        config["async_threads"] = 0      # I/O threads: none is needed, and each costs a thread
    return config


_SETTINGS: set[str] = set()


def _known_settings(duckdb: Any) -> set[str]:
    if not _SETTINGS:
        probe = duckdb.connect(":memory:", config={"enable_external_access": False})
        try:
            _SETTINGS.update(name for (name,) in probe.execute("SELECT name FROM duckdb_settings()").fetchall())
        finally:
            probe.close()
    return _SETTINGS


class _Connection:
    """One private in-memory DuckDB database scanning the shared Arrow table, used by one
    filter at a time. Its timer interrupts only the filter it was started for."""

    def __init__(self, duckdb: Any, table: Any, limits: SqlLimits):
        self.con = duckdb.connect(":memory:", config=_config(duckdb, limits))
        self.aliases = _aliases(self.con, duckdb.Error)
        self.con.execute("SET lock_configuration = true")
        self.relation = self.con.from_arrow(table)
        self._lock = threading.Lock()
        self._running = 0  # the number of the filter running now; 0 when idle
        self._count = 0
        self.expired = False

    def start(self, seconds: float) -> threading.Timer:
        """Mark a new filter as running and start its timer."""
        with self._lock:
            self._count += 1
            self._running = self._count
            self.expired = False
        # The timer holds the connection weakly: were it to hold the last reference, the DuckDB
        # connection would be destroyed in the timer's daemon thread, and one doing that while
        # the interpreter exits aborts the process (Python ends such threads mid-C++).
        timer = threading.Timer(max(seconds, 0.0), _expire, args=(weakref.ref(self), self._count))
        timer.daemon = True
        timer.start()
        return timer

    def stop(self, timer: threading.Timer) -> bool:
        """Mark the filter as finished; True when its time ran out first."""
        with self._lock:
            self._running = 0
        timer.cancel()
        return self.expired

    def expire(self, number: int) -> bool:
        """Interrupt filter ``number`` if it is still running; whether it was."""
        with self._lock:
            if self._running != number:  # a late timer never interrupts the next filter
                return False
            self.expired = True
            self.con.interrupt()
            return True

    def parse(self, sql: str) -> Any:
        """DuckDB's parse tree of ``sql`` (a dict), or None when it does not parse."""
        text = self.con.execute("SELECT json_serialize_sql($1)", [sql]).fetchall()[0][0]
        tree = json.loads(text)
        return None if tree.get("error") else tree

    def close(self) -> None:
        self.con.close()


_REINTERRUPT = 0.005  # seconds between interrupts of a filter past its budget


def _expire(ref: weakref.ref[_Connection], number: int) -> None:
    """Interrupt filter ``number`` until it stops. Once is not enough: DuckDB forgets an
    interrupt that arrives between two of its calls (the guard's parse, the bind, the fetch),
    and the next call would run to its end (the issue's cross join: 4-6 s)."""
    while True:
        conn = ref()
        if conn is None or not conn.expire(number):
            return
        del conn  # never hold the connection while sleeping (see _Connection.start)
        time.sleep(_REINTERRUPT)


class _Pool:
    """At most ``size`` connections, opened on demand and reused (the last one freed first)."""

    def __init__(self, make: Any, size: int):
        self._make = make
        self._size = size
        self._idle: list[_Connection] = []
        self._opened = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self, deadline: float) -> tuple[_Connection | None, bool]:
        """``(connection, opened)``: an idle connection, a new one (``opened``) while fewer
        than ``size`` are open, or None when none is freed before ``deadline``
        (``time.monotonic()``)."""
        with self._cond:
            while not self._idle and self._opened >= self._size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, False
                self._cond.wait(remaining)
            if self._idle:
                return self._idle.pop(), False
            self._opened += 1
        try:
            return self._make(), True
        except BaseException:
            with self._cond:
                self._opened -= 1
                self._cond.notify()
            raise

    def release(self, conn: _Connection) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(conn)
                self._cond.notify()
                return
            self._opened -= 1
        conn.close()

    def close(self) -> None:
        """Close the idle connections now and the busy ones when they are released."""
        with self._cond:
            self._closed, idle, self._idle = True, self._idle, []
            self._opened -= len(idle)
        for conn in idle:
            conn.close()


class SqlFilter:
    """Compiles SQL ``where`` strings over one collection's columns into Bitmaps, under
    :class:`SqlLimits`.

    The Arrow table is built on first use; the DuckDB connections are opened as concurrent
    filters need them, up to ``limits.connections``, and reused.
    """

    def __init__(self, columns: Mapping[str, Column], n: int, limits: SqlLimits | None = None):
        self._columns = columns
        self._n = n
        self._setup = threading.Lock()  # guards the one-time table build and the pool swap
        self._table: Any = None
        self._duckdb: Any = None
        self._limits = SqlLimits() if limits is None else _check_limits(limits)
        self._pool: _Pool | None = None

    @property
    def limits(self) -> SqlLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: SqlLimits) -> None:
        limits = _check_limits(limits)
        with self._setup:
            # Connections carry their memory limit (locked), so new limits need new ones;
            # filters running now finish on the old ones.
            old, self._pool, self._limits = self._pool, None, limits
        if old is not None:
            old.close()

    def _ensure(self) -> tuple[_Pool, SqlLimits]:
        """The pool of the current limits, building the Arrow table on first use."""
        with self._setup:
            if self._table is None:
                duckdb = require("duckdb", "a SQL where string")
                pa = require("pyarrow", "a SQL where string")
                data = {name: c.sql_arrow() for name, c in self._columns.items()}
                data[ROW] = pa.array(np.arange(self._n, dtype=np.int64))
                self._table = pa.table(data)
                self._duckdb = duckdb
            if self._pool is None:
                limits, table, duckdb = self._limits, self._table, self._duckdb
                self._pool = _Pool(lambda: _Connection(duckdb, table, limits), limits.connections)
            return self._pool, self._limits

    def compile(self, where: str) -> Bitmap:
        """The rows where the SQL expression ``where`` is TRUE (NULL and FALSE rows excluded).

        Raises:
            FilterLimitError: the filter ran past the time budget or the memory limit, or asked
                for a value larger than the size guard allows.
            ValueError: bad SQL (DuckDB's message), an empty string, ``;``.
        """
        text = check_where(where)
        pool, limits = self._ensure()  # the first call builds the Arrow table: not timed
        deadline = time.monotonic() + limits.time_budget
        conn, opened = pool.acquire(deadline)
        if conn is None:
            raise _time_error(where, limits, waiting=True)
        if opened:  # opening a connection (a few ms, once) is setup, like the table: not timed
            deadline = time.monotonic() + limits.time_budget
        elif time.monotonic() >= deadline:  # freed just in time: no budget is left to run in
            pool.release(conn)
            raise _time_error(where, limits, waiting=True)
        try:
            timer = conn.start(deadline - time.monotonic())
            try:
                rows = self._run(conn, text, where, limits)
            finally:
                expired = conn.stop(timer)
        finally:
            pool.release(conn)
        if expired:  # the budget covers fetching and converting too, not only DuckDB's run
            raise _time_error(where, limits)
        return rows

    def _run(self, conn: _Connection, text: str, where: str, limits: SqlLimits) -> Bitmap:
        duckdb = self._duckdb
        try:
            # The guard reads the text first: binding it (filter) already folds constants, which
            # is where repeat('x', 300000000) would run. A newline before the closing
            # parenthesis: a trailing '--' comment must not hide it from the guard's parse.
            tree = conn.parse(f"SELECT 1 WHERE (\n{text}\n)")
            if tree is None:
                conn.relation.filter(text)  # raises DuckDB's message, with its position
                raise ValueError(f"where {where!r}: not a single SQL expression")
            check_sizes(tree, where, conn.aliases)
            relation = conn.relation.filter(text)
            rows = relation.project(f'"{ROW}"').fetchnumpy()[ROW]
            return ids_to_bitmap(np.asarray(rows, dtype=np.int64), self._n)
        except duckdb.InterruptException:
            raise _time_error(where, limits) from None
        except duckdb.OutOfMemoryException:
            raise _memory_error(where, limits) from None
        except duckdb.Error as exc:
            if conn.expired:  # interrupted while parsing or binding: reported as the budget
                raise _time_error(where, limits) from None
            raise ValueError(f"where {where!r}: {_clean_message(exc, text)}") from None


def _check_limits(limits: Any) -> SqlLimits:
    if not isinstance(limits, SqlLimits):
        raise TypeError(f"sql limits must be a mcindex.collection.SqlLimits, got {type(limits).__name__}")
    return limits
