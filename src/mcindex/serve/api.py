"""The HTTP JSON API of a collection: a FastAPI application, usable with or without Ray Serve.

:func:`make_app` wraps anything that searches like :class:`mcindex.Collection`::

    from fastapi.testclient import TestClient
    from mcindex.serve import make_app
    client = TestClient(make_app(collection))
    client.post("/search", json={"queries": [[0.1, ...]], "k": 10,
                                 "where": {"col": "price", "op": "<", "value": 50}}).json()

Endpoints: ``POST /search``, ``GET /info``, ``GET /health``, and FastAPI's ``/openapi.json``
and ``/docs``. Status codes:

* 200 - results;
* 400 - the request is well formed but the library refuses it: unknown column, an op the
  column's kind does not support, bad SQL (DuckDB's message), a query of the wrong dimension or
  too large a magnitude, malformed JSON, a SQL ``where`` on a server without DuckDB, a SQL
  ``where`` over the collection's SQL limits (time budget, memory limit, size guard:
  :class:`~mcindex.collection.FilterLimitError`, whose message names the limit and its value;
  400 rather than 408 or 504: the filter, not the connection or the server, is at fault, and
  sending it again would fail again);
* 413 - the body is over ``max_body_bytes`` (declared or streamed);
* 422 - the body does not match the request schema (types, bounds on ``k``, query count, NaN);
* 503 / 504 - ``/health`` when the collection does not answer, a search that timed out.

Every error body is ``{"detail": "<one line>"}`` (422 adds ``"errors"``, pydantic's list).
No client input is meant to produce a 5xx; an unexpected exception is logged on the server and
answered with a 500 that carries no traceback.
"""

import asyncio
import logging
import platform
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..collection.report import to_jsonable
from ..collection.sql import SqlLimits
from ..exact import max_magnitude
from .body_limit import BodySizeLimit
from .models import ErrorResponse, HealthResponse, SearchResponse, search_request_model
from .results import attributes_json, distances_json, ids_json
from .where_json import predicate_from_json

__all__ = ["make_app"]

# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at run
# time, and the request model is a local of make_app (its bounds belong to one collection).

log = logging.getLogger("mcindex.serve")

# Defaults shared with the command line (mcindex serve).
MAX_QUERIES = 256
MAX_K = 1000
MAX_EF = 4096
MAX_BODY_BYTES = 4 << 20
MAX_WHERE_CHARS = 10_000
HEALTH_TIMEOUT = 5.0


class ClientError(Exception):
    """A request the collection refused: answered with ``status`` and the message."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


_ERRORS = {400: {"model": ErrorResponse, "description": "refused by the library (message says why)"},
           413: {"model": ErrorResponse, "description": "body too large"},
           422: {"model": ErrorResponse, "description": "the body does not match the schema"}}


def make_app(collection: Any, *, max_queries: int = MAX_QUERIES, max_k: int = MAX_K, max_ef: int = MAX_EF,
             max_body_bytes: int = MAX_BODY_BYTES, max_where_chars: int = MAX_WHERE_CHARS,
             search_threads: int | None = 1, health_timeout: float = HEALTH_TIMEOUT,
             sql_limits: SqlLimits | None = None, title: str = "mcindex") -> FastAPI:
    """A FastAPI application serving ``collection``.

    Args:
        collection: a :class:`mcindex.Collection`, or any object with ``search(queries, k, where,
            **params)`` returning ``(ids, distances[, attributes][, stats])``, ``info()``,
            ``dim``, ``metric`` and ``len()`` (a sharded collection has the same interface).
        max_queries: most query vectors in one request.
        max_k: largest ``k``.
        max_ef: largest ``ef``.
        max_body_bytes: largest request body; bigger ones get 413 (also when streamed without
            a ``Content-Length``).
        max_where_chars: longest SQL ``where`` string.
        search_threads: threads per search call. 1 (default) suits a server: concurrent
            requests already run in parallel (each search runs in a worker thread and releases
            the GIL); None lets one request use every core.
        health_timeout: seconds ``/health`` waits for its probe search before answering 503.
        sql_limits: the time budget, memory limit and DuckDB connections of SQL ``where``
            strings (:class:`~mcindex.collection.SqlLimits`), set on ``collection``; None keeps
            the collection's own (by default ``SqlLimits()``: 1 s, 256 MiB, 4 connections). A
            filter over a limit is a 400 whose ``detail`` names it.
        title: the OpenAPI title.
    """
    for name, value in (("max_queries", max_queries), ("max_k", max_k), ("max_ef", max_ef),
                        ("max_body_bytes", max_body_bytes), ("max_where_chars", max_where_chars)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    dim = int(collection.dim)
    limits: dict[str, Any] = {"max_queries": max_queries, "max_k": max_k, "max_ef": max_ef,
                              "max_body_bytes": max_body_bytes, "max_where_chars": max_where_chars}
    sql = _apply_sql_limits(collection, sql_limits)
    if sql is not None:
        limits["sql"] = sql.describe()
    SearchRequest = search_request_model(dim=dim, max_queries=max_queries, max_k=max_k, max_ef=max_ef,
                                         max_where_chars=max_where_chars)
    columns = _column_names(collection)
    magnitude_limit = max_magnitude(dim)

    app = FastAPI(
        title=title, version=__version__,
        description=f"Nearest-neighbour search under filters over a collection of {len(collection):,} vectors "
                    f"of dimension {dim} ({collection.metric}). Limits: {max_queries} queries and k <= {max_k} "
                    f"per request, bodies up to {max_body_bytes:,} bytes.",
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    _install_error_handlers(app)

    def search_now(body: Any) -> dict[str, Any]:
        """Runs in a worker thread: the core releases the GIL, so the event loop stays free."""
        where = body.where
        if isinstance(where, dict):
            where = predicate_from_json(where, columns)
        params: dict[str, Any] = {}
        if body.ef is not None:
            params["ef"] = body.ef
        if body.strategy is not None:
            params["strategy"] = body.strategy
        if search_threads is not None:
            params["threads"] = search_threads
        if body.return_stats:
            params["return_stats"] = True
        # float64, as JSON gives; a value too large for float32 is refused here by name, rather
        # than reported as the inf a float32 cast makes of it.
        queries = np.asarray(body.queries, dtype=np.float64)
        too_large = np.flatnonzero(np.abs(queries).max(axis=1) > magnitude_limit)
        if too_large.size:  # the JSON was finite (checked), so only the float32 cast could overflow
            raise ValueError(f"query {too_large[0]} has values too large for float32 distances "
                             f"(|x| > {magnitude_limit:.3g}); rescale the vectors")
        result = collection.search(queries, body.k, where,
                                   return_attributes="numpy" if body.return_attributes else False, **params)
        ids = ids_json(result[0])
        out: dict[str, Any] = {"ids": ids, "distances": distances_json(result[1])}
        rest = list(result[2:])
        if body.return_attributes:
            out["attributes"] = attributes_json(rest.pop(0), ids)
        if body.return_stats and rest:
            out["stats"] = to_jsonable(rest.pop(0))
        return out

    @app.post("/search", response_model=SearchResponse, responses=_ERRORS,
              summary="k nearest neighbours under a filter")
    async def search(body: SearchRequest) -> Any:  # type: ignore[valid-type]
        """The ``k`` nearest rows of each query among those ``where`` selects, nearest first."""
        try:
            return JSONResponse(await run_in_threadpool(search_now, body))
        except ImportError as exc:  # a SQL where without DuckDB on the server: the message names the extra
            raise ClientError(400, str(exc)) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise ClientError(400, _one_line(exc)) from None

    @app.get("/info", summary="the collection: size, dimension, metric, columns, index statistics, versions")
    async def info() -> Any:
        # Not cached: a collection is immutable, but a sharded one reports its shards' live state.
        data = await run_in_threadpool(collection.info)
        return JSONResponse(to_jsonable({**data, "limits": limits, "versions": _versions()}))

    @app.get("/health", response_model=HealthResponse, response_model_exclude_none=True,
             responses={503: {"model": HealthResponse}},
             summary="200 when the collection answers a one-vector search, 503 otherwise")
    async def health() -> Any:
        probe = np.ones((1, dim), dtype=np.float32)  # ones: a zero vector is refused under cosine
        try:
            await asyncio.wait_for(run_in_threadpool(collection.search, probe, 1), timeout=health_timeout)
        except TimeoutError:
            return JSONResponse({"status": "unavailable", "detail": f"no answer within {health_timeout:g} s"}, 503)
        except Exception as exc:  # any failure means unhealthy; the reason helps the operator
            log.warning("health probe failed: %r", exc)
            return JSONResponse({"status": "unavailable", "detail": _one_line(exc)}, 503)
        return {"status": "ok"}

    return app


def _install_error_handlers(app: FastAPI) -> None:
    """One JSON shape for every error: ``{"detail": "..."}``."""

    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        for e in errors:
            if e.get("type") == "json_invalid":  # the body is not JSON at all
                reason = (e.get("ctx") or {}).get("error", "invalid JSON")
                where = e.get("loc", ("body", "?"))[-1]
                return JSONResponse({"detail": f"malformed JSON body at character {where}: {reason}"}, 400)
        messages = [f"{_location(e.get('loc', ()))}: {_message(e)}" for e in errors]
        return JSONResponse({"detail": "; ".join(messages[:5]) + (" ..." if len(messages) > 5 else ""),
                             "errors": [_plain_error(e) for e in errors[:20]]}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": the JSON decoder gave up for a
            # reason other than syntax (nesting too deep, an integer too long); say which.
            detail = f"unreadable JSON body: {_one_line(exc.__cause__)}"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(TimeoutError)
    async def timeout(request: Request, exc: TimeoutError) -> JSONResponse:
        log.warning("timeout: %r", exc)
        return JSONResponse({"detail": f"the search timed out: {_one_line(exc)}"}, 504)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "http_status", None)
        if isinstance(status, int) and 500 <= status < 600:
            # An error that says what the service lacks (a sharded collection's shard is down):
            # its message names the shard and the reason, not our internals.
            log.warning("%s %s: %r", request.method, request.url.path, exc)
            return JSONResponse({"detail": _one_line(exc)}, status)
        # Logged with its traceback on the server; the client learns nothing of the internals.
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error (logged on the server)"}, 500)


def _location(loc: Any) -> str:
    """pydantic's error location as a path: ``("body", "queries", 0, 2)`` -> ``queries[0][2]``."""
    parts = [p for p in loc if p != "body"]
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "body"


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message without the "Value error, " it puts before our validators' messages."""
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def _plain_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic error without its input (which can be large) and with JSON-safe context."""
    return {"loc": [p for p in error.get("loc", ())], "msg": _message(error),
            "type": str(error.get("type", ""))}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _apply_sql_limits(collection: Any, sql_limits: SqlLimits | None) -> SqlLimits | None:
    """Set ``sql_limits`` on ``collection`` (when given); the limits in force, or None when the
    collection has none of its own (a sharded collection: its shards apply the defaults)."""
    has_limits = hasattr(type(collection), "sql_limits")
    if sql_limits is not None:
        if not isinstance(sql_limits, SqlLimits):
            raise TypeError(f"sql_limits must be a mcindex.collection.SqlLimits, got {type(sql_limits).__name__}")
        if not has_limits:
            raise ValueError(f"a {type(collection).__name__} takes no SQL limits (a sharded collection's shards "
                             "apply the defaults)")
        collection.sql_limits = sql_limits
    return collection.sql_limits if has_limits else None


def _column_names(collection: Any) -> list[str] | None:
    """The column names, for early "unknown column" messages; None when the object does not
    say (the collection then reports unknown columns itself)."""
    names = getattr(collection, "column_names", None)
    if names is None:
        names = getattr(collection, "kinds", None)  # e.g. a sharded collection: name -> kind
    return list(names) if names is not None else None


def _versions() -> dict[str, str]:
    """Versions of the software answering, for bug reports."""
    out = {"mcindex": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for module in ("fastapi", "pydantic", "ray", "duckdb", "pyarrow"):
        mod = sys.modules.get(module)
        if mod is not None:
            out[module] = str(getattr(mod, "__version__", "?"))
    return out
