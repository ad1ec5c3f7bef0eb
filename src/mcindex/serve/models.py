"""Request and response models of the HTTP API (pydantic), with the bounds of one server.

The search request model is built per application (:func:`search_request_model`) because its
bounds - the collection's dimension, the largest ``k``, the most queries per request - belong
to the served collection and the server's settings; they appear in the OpenAPI description
(``/openapi.json``) as ``minItems`` / ``maximum`` and are enforced before any search runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, create_model

from .where_json import OPS

__all__ = ["ErrorResponse", "HealthResponse", "SearchResponse", "search_request_model"]

# JSON numbers only ("1.5" and true are refused rather than converted), and finite: Python's
# JSON decoder accepts the non-standard NaN / Infinity literals, and 1e999 decodes to inf.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _as_rows(value: Any) -> Any:
    """One query given as a flat list of numbers becomes a batch of one."""
    if isinstance(value, list) and value and not isinstance(value[0], list):
        return [value]
    return value


def _where_type(value: Any) -> Any:
    """Refuse anything but null, a string or an object, with one message instead of one per
    alternative of the union."""
    if value is None or isinstance(value, (str, dict)):
        return value
    raise ValueError("where must be null, a SQL expression (a string) or a JSON filter (an object), "
                     f"got {type(value).__name__}")


_LEAF_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Condition",
    "description": "A test of one column. 'value' is a string, number or boolean; [low, high] for 'between'; "
                   "a list for 'in', 'contains_any', 'contains_all'; absent for 'is_null' / 'not_null'.",
    "properties": {"col": {"type": "string", "minLength": 1}, "op": {"type": "string", "enum": list(OPS)},
                   "value": {}},
    "required": ["col", "op"], "additionalProperties": False,
}
_WHERE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {"type": "string", "title": "SQL", "description": "one SQL expression over the columns (needs DuckDB "
                                                          "on the server: the 'sql' extra)"},
        _LEAF_SCHEMA,
        {"type": "object", "title": "And", "properties": {"and": {"type": "array", "minItems": 1,
                                                                  "items": {"type": "object"}}},
         "required": ["and"], "additionalProperties": False},
        {"type": "object", "title": "Or", "properties": {"or": {"type": "array", "minItems": 1,
                                                                "items": {"type": "object"}}},
         "required": ["or"], "additionalProperties": False},
        {"type": "object", "title": "Not", "properties": {"not": {"type": "object"}},
         "required": ["not"], "additionalProperties": False},
    ],
    "description": "The filter: null (none), a SQL expression string, or a JSON filter: a condition "
                   "{\"col\", \"op\", \"value\"} or {\"and\": [...]}, {\"or\": [...]}, {\"not\": {...}}.",
    "examples": [None, "price < 50 AND category = 'shoes'", {"col": "price", "op": "<", "value": 50},
                 {"and": [{"col": "tags", "op": "contains_any", "value": ["sale", "new"]},
                          {"not": {"col": "price", "op": "is_null"}}]}],
}


def search_request_model(*, dim: int, max_queries: int, max_k: int, max_ef: int,
                         max_where_chars: int) -> type[BaseModel]:
    """The ``POST /search`` body model for a collection of dimension ``dim`` and these bounds."""
    row_schema = {"type": "array", "items": {"type": "number"}, "minItems": dim, "maxItems": dim}
    queries_schema = {
        "anyOf": [{"type": "array", "items": row_schema, "minItems": 1, "maxItems": max_queries}, row_schema],
        "examples": [[[0.1] * dim]],
    }
    def check_dim(rows: list[list[float]]) -> list[list[float]]:
        for i, row in enumerate(rows):
            if len(row) != dim:
                raise ValueError(f"query {i} has {len(row)} numbers; this collection's vectors have {dim}")
        return rows

    def check_where_length(where: Any) -> Any:
        if isinstance(where, str) and len(where) > max_where_chars:
            raise ValueError(f"the where string has {len(where):,} characters; at most {max_where_chars:,} allowed")
        return where

    queries_type = Annotated[list[list[Number]], BeforeValidator(_as_rows), Field(min_length=1, max_length=max_queries),
                             AfterValidator(check_dim), WithJsonSchema(queries_schema)]
    where_type = Annotated[str | dict[str, Any] | None, BeforeValidator(_where_type),
                           AfterValidator(check_where_length), WithJsonSchema(_WHERE_SCHEMA)]

    return create_model(
        "SearchRequest",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [
            {"queries": [[0.1] * dim], "k": 10, "where": {"col": "price", "op": "<", "value": 50}},
        ]}),
        __doc__="A batch of nearest-neighbour queries under one filter.",
        queries=(queries_type, Field(description=f"query vectors: a list of 1 to {max_queries} vectors, or one "
                                                 f"vector; each has {dim} finite numbers")),
        k=(Annotated[int, Field(strict=True, ge=1, le=max_k)],
           Field(default=min(10, max_k), description=f"neighbours per query, 1 to {max_k}")),
        where=(where_type, Field(default=None)),
        ef=(Annotated[int, Field(strict=True, ge=1, le=max_ef)] | None,
            Field(default=None, description="candidate list size, the recall/speed knob (default: the library's, "
                                            "64); raised to k when smaller")),
        strategy=(Literal["auto", "mci", "graph", "exact"] | None,
                  Field(default=None, description="search strategy: auto (the planner, default), mci, graph, or exact "
                                                  "(exact search under the filter)")),
        return_attributes=(bool, Field(default=False, strict=True,
                                       description="also return each result's attribute values")),
        return_stats=(bool, Field(default=False, strict=True,
                                  description="also return per-query search statistics (strategy, valid count, ...)")),
    )


class SearchResponse(BaseModel):
    """Results, one row per query, nearest first."""

    ids: list[list[int | str | None]] = Field(description="external ids (or row numbers); null in empty slots "
                                                          "(fewer than k rows pass the filter)")
    distances: list[list[float | None]] = Field(description="smaller is closer: squared L2, negative inner product "
                                                           "or 1 - cosine similarity; null in empty slots")
    attributes: list[list[dict[str, Any] | None]] | None = Field(
        default=None, description="with return_attributes: each result's column values; null in empty slots")
    stats: dict[str, Any] | None = Field(default=None, description="with return_stats: per-query lists")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"ids": [["sku-7", "sku-12", None]], "distances": [[0.013, 0.021, None]]}]})


class ErrorResponse(BaseModel):
    """Why a request was refused."""

    detail: str = Field(description="a one-line message naming the problem")
    errors: list[dict[str, Any]] | None = Field(default=None, description="request validation: each problem found")


class HealthResponse(BaseModel):
    """Whether the collection answers a one-vector search."""

    status: Literal["ok", "unavailable"]
    detail: str | None = None
