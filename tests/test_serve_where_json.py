"""JSON filters (mcindex.serve.where_json): each shape selects what the same mcindex.col
predicate selects; every malformed node is refused with its path. Needs no FastAPI or Ray."""

import pytest

from mcindex import col
from mcindex.serve import where_json
from mcindex.serve.where_json import WhereError, predicate_from_json
from serve_data import shop

CASES = [
    ({"col": "price", "op": "<", "value": 50}, col("price") < 50),
    ({"col": "price", "op": "<=", "value": 50.5}, col("price") <= 50.5),
    ({"col": "price", "op": ">", "value": 150}, col("price") > 150),
    ({"col": "stock", "op": ">=", "value": 10}, col("stock") >= 10),
    ({"col": "category", "op": "==", "value": "shoes"}, col("category") == "shoes"),
    ({"col": "category", "op": "=", "value": "hats"}, col("category") == "hats"),
    ({"col": "category", "op": "!=", "value": "hats"}, col("category") != "hats"),
    ({"col": "in_stock", "op": "==", "value": True}, col("in_stock") == True),  # noqa: E712
    ({"col": "price", "op": "between", "value": [10, 60]}, col("price").between(10, 60)),
    ({"col": "added", "op": ">=", "value": "2024-06-01"}, col("added") >= "2024-06-01"),
    ({"col": "category", "op": "in", "value": ["shoes", "bags"]}, col("category").isin(["shoes", "bags"])),
    ({"col": "tags", "op": "contains", "value": "sale"}, col("tags").contains("sale")),
    ({"col": "tags", "op": "contains_any", "value": ["sale", "eco"]}, col("tags").contains_any(["sale", "eco"])),
    ({"col": "tags", "op": "contains_all", "value": ["sale", "eco"]}, col("tags").contains_all(["sale", "eco"])),
    ({"col": "price", "op": "is_null"}, col("price").is_null()),
    ({"col": "price", "op": "not_null"}, col("price").not_null()),
    ({"and": [{"col": "price", "op": "<", "value": 100}, {"col": "category", "op": "==", "value": "shoes"},
              {"col": "tags", "op": "contains", "value": "new"}]},
     (col("price") < 100) & (col("category") == "shoes") & col("tags").contains("new")),
    ({"or": [{"col": "price", "op": "<", "value": 20}, {"not": {"col": "in_stock", "op": "==", "value": True}}]},
     (col("price") < 20) | ~(col("in_stock") == True)),  # noqa: E712
    ({"not": {"col": "price", "op": ">", "value": 100}}, ~(col("price") > 100)),  # NULL prices stay out
]


@pytest.mark.parametrize(("node", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_json_filter_selects_what_the_predicate_selects(node, expected):
    c = shop()
    predicate = predicate_from_json(node, c.column_names)
    assert predicate == expected
    assert c.compile(predicate) == c.compile(expected)
    assert 0 < c.count(predicate) < len(c) or node.get("op") == "is_null"


BAD = [
    (5, "where: expected an object"),
    ([], "where: expected an object"),
    ({}, "where.col: expected a column name"),
    ({"col": "price"}, "where.op: unknown op"),
    ({"col": "", "op": "<", "value": 1}, "where.col: expected a column name"),
    ({"col": 3, "op": "<", "value": 1}, "where.col: expected a column name .* got a number"),
    ({"col": "colour", "op": "==", "value": "red"}, "where.col: unknown column 'colour'; available columns: price"),
    ({"col": "price", "op": "like", "value": 1}, "where.op: unknown op 'like'; ops: <"),
    ({"col": "price", "op": ["<"], "value": 1}, "where.op: unknown op an array"),
    ({"col": "price", "op": "<"}, "where.value: '<' needs a value"),
    ({"col": "price", "op": "<", "value": None}, "where.value: null matches nothing; use"),
    ({"col": "price", "op": "<", "value": float("nan")}, "where.value: nan is not a usable literal"),
    ({"col": "price", "op": "<", "value": [1]}, "where.value: expected a string, a number or a boolean"),
    ({"col": "price", "op": "<", "value": {"a": 1}}, "where.value: expected a string, a number or a boolean"),
    ({"col": "price", "op": "is_null", "value": 1}, "where.value: 'is_null' takes no value"),
    ({"col": "price", "op": "between", "value": [1]}, "where.value: 'between' takes \\[low, high\\]"),
    ({"col": "price", "op": "between", "value": [1, None]}, r"where.value\[1\]: null"),
    ({"col": "tags", "op": "contains_any", "value": "sale"}, "where.value: 'contains_any' takes a list"),
    ({"col": "tags", "op": "in", "value": ["a", ["b"]]}, r"where.value\[1\]: expected a string"),
    ({"col": "price", "op": "<", "value": 1, "extra": 2}, "where: unknown key\\(s\\) 'extra'"),
    ({"and": []}, "where.and: expected a non-empty list"),
    ({"and": {"col": "price"}}, "where.and: expected a non-empty list"),
    ({"and": [{"col": "price", "op": "<", "value": 1}], "or": []}, "where: an 'and' node has no other keys"),
    ({"or": [{"col": "price", "op": "<", "value": 1}, 7]}, r"where.or\[1\]: expected an object"),
    ({"not": [{"col": "price", "op": "is_null"}]}, "where.not: expected an object"),
]


@pytest.mark.parametrize(("node", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_malformed_filters_name_the_node(node, message):
    with pytest.raises(WhereError, match=message):
        predicate_from_json(node, shop().column_names)


def test_size_bounds():
    deep = {"col": "price", "op": "is_null"}
    for _ in range(where_json.MAX_DEPTH + 1):
        deep = {"not": deep}
    with pytest.raises(WhereError, match="nested more than"):
        predicate_from_json(deep)
    wide = {"or": [{"col": "price", "op": "is_null"}] * (where_json.MAX_NODES + 1)}
    with pytest.raises(WhereError, match="more than 512 nodes"):
        predicate_from_json(wide)
    many = {"col": "category", "op": "in", "value": ["x"] * (where_json.MAX_VALUES + 1)}
    with pytest.raises(WhereError, match="more than 10000 values"):
        predicate_from_json(many)
    # at the bounds: fine
    deep = {"col": "price", "op": "is_null"}
    for _ in range(where_json.MAX_DEPTH):
        deep = {"not": deep}
    expected = col("price").is_null() if where_json.MAX_DEPTH % 2 == 0 else col("price").not_null()
    assert shop().count(predicate_from_json(deep)) == shop().count(expected)


def test_kind_errors_come_from_the_collection():
    # Well-formed but unsupported by the column's kind: the collection's own TypeError.
    predicate = predicate_from_json({"col": "tags", "op": "<", "value": 3})
    with pytest.raises(TypeError, match="multi_label"):
        shop().compile(predicate)
