"""The HTTP API (mcindex.serve.make_app) through FastAPI's TestClient, without Ray: results equal
Collection.search, every filter form works, and every class of bad request gets the right 4xx
with a message that names the problem."""

import re
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
try:
    from fastapi.testclient import TestClient
except (ImportError, RuntimeError) as exc:  # Starlette's test client needs httpx (or httpx2)
    pytest.skip(f"no FastAPI test client: {exc}", allow_module_level=True)

from conftest import brute_force
from mcindex import Collection, col
from mcindex.serve import make_app
from serve_data import DIM, N, queries, shop

K = 5


@pytest.fixture(scope="module")
def client():
    app = make_app(shop(), max_queries=8, max_k=50, max_body_bytes=20_000)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post(client, **body):
    return client.post("/search", json=body)


def assert_same(response, ids, dists):
    assert response.status_code == 200, response.text
    data = response.json()
    expected_ids = [[None if i is None else str(i) for i in row] for row in np.asarray(ids, dtype=object).tolist()]
    assert data["ids"] == expected_ids
    got = np.array([[np.inf if d is None else d for d in row] for row in data["distances"]], dtype=np.float32)
    np.testing.assert_array_equal(got, dists)


# ---- results ----------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", [None, "exact", "graph", "mci"])
def test_search_equals_collection_search(client, strategy):
    q = queries(4)
    params = {} if strategy is None else {"strategy": strategy}
    ids, dists = shop().search(q, K, ef=32, threads=1, **params)
    assert_same(post(client, queries=q.tolist(), k=K, ef=32, **params), ids, dists)


def test_exact_strategy_is_the_exact_answer(client):
    q = queries(3, seed=5)
    mask = np.asarray(shop().compile(col("price") < 80).to_mask())
    ref_ids, _ = brute_force(np.asarray(shop().index.vectors), q, K, "cosine", masks=mask)
    r = post(client, queries=q.tolist(), k=K, strategy="exact", where={"col": "price", "op": "<", "value": 80})
    assert r.json()["ids"] == [[f"sku-{i}" for i in row] for row in ref_ids]


def test_one_vector_is_a_batch_of_one(client):
    q = queries(1)
    ids, dists = shop().search(q[0], K, threads=1)
    assert_same(post(client, queries=q[0].tolist(), k=K), ids, dists)


def test_json_and_sql_filters(client):
    q = queries(3)
    where = (col("price") < 100) & col("tags").contains_any(["sale", "eco"]) & ~col("category").isin(["hats"])
    ids, dists = shop().search(q, K, where, strategy="exact")
    json_where = {"and": [{"col": "price", "op": "<", "value": 100},
                          {"col": "tags", "op": "contains_any", "value": ["sale", "eco"]},
                          {"not": {"col": "category", "op": "in", "value": ["hats"]}}]}
    assert_same(post(client, queries=q.tolist(), k=K, strategy="exact", where=json_where), ids, dists)
    pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    sql = "price < 100 AND list_has_any(tags, ['sale', 'eco']) AND NOT category IN ('hats')"
    assert_same(post(client, queries=q.tolist(), k=K, strategy="exact", where=sql), ids, dists)


def test_empty_slots_are_null_and_attributes_follow_the_ids(client):
    c = shop()
    k = 50
    r = post(client, queries=queries(2).tolist(), k=k, where={"col": "stock", "op": "==", "value": 7},
             return_attributes=True)
    assert r.status_code == 200, r.text
    data = r.json()
    selected = c.count(col("stock") == 7)
    assert 0 < selected < k  # so some slots are empty
    for q_ids, q_dists, q_rows in zip(data["ids"], data["distances"], data["attributes"], strict=True):
        assert q_ids[selected:] == [None] * (k - selected) and q_dists[selected:] == [None] * (k - selected)
        assert q_rows[selected:] == [None] * (k - selected)
        for ident, row in zip(q_ids[:selected], q_rows[:selected], strict=True):
            expected = c.attributes(c.rows_of([ident]), format="numpy")
            assert row["stock"] == 7 and row["category"] == expected["category"][0]
            assert row["tags"] == list(expected["tags"][0])
            assert row["price"] is None if np.isnan(expected["price"][0]) else row["price"] == expected["price"][0]
            assert row["added"].startswith(str(expected["added"][0])[:10])


def test_int_ids_and_row_numbers():
    index = shop().index
    q = queries(2)
    for ids in (np.arange(N) * 10 + 3, None):
        c = Collection.from_index(index, {"x": np.arange(N) % 7}, ids=ids)
        with TestClient(make_app(c)) as cl:
            r = cl.post("/search", json={"queries": q.tolist(), "k": K, "where": {"col": "x", "op": "==", "value": 3}})
        expected, _ = c.search(q, K, col("x") == 3, threads=1)
        assert r.status_code == 200 and r.json()["ids"] == expected.tolist()
        assert all(isinstance(i, int) for row in r.json()["ids"] for i in row)


def test_stats(client):
    r = post(client, queries=queries(2).tolist(), k=K, strategy="exact", return_stats=True)
    stats = r.json()["stats"]
    assert r.status_code == 200 and len(stats["valid"]) == 2 and stats["valid"][0] == N


# ---- info, health, OpenAPI --------------------------------------------------------------------------
def test_info(client):
    info = client.get("/info").json()
    assert info["n"] == N and info["dim"] == DIM and info["metric"] == "cosine" and info["ids"] == "str"
    assert [c["name"] for c in info["columns"]] == shop().column_names
    assert {c["kind"] for c in info["columns"]} == {"numeric", "categorical", "multi_label", "boolean"}
    assert info["limits"]["max_k"] == 50 and info["versions"]["mcindex"] and info["versions"]["fastapi"]
    assert info["index"]["n"] == N


class FakeCollection:
    """Searches like a collection, but fails or stalls on demand."""

    dim, metric, column_names = 4, "l2", []

    def __init__(self, error=None, delay=0.0):
        self.error, self.delay, self.threads = error, delay, []

    def __len__(self):
        return 10

    def info(self):
        return {"n": 10}

    def search(self, q, k, where=None, **params):
        self.threads.append(threading.current_thread())
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return np.zeros((len(q), k), dtype=np.int64), np.zeros((len(q), k), dtype=np.float32)


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    with TestClient(make_app(FakeCollection(RuntimeError("disk gone")))) as cl:
        r = cl.get("/health")
    assert r.status_code == 503 and r.json() == {"status": "unavailable", "detail": "disk gone"}
    with TestClient(make_app(FakeCollection(delay=1.0), health_timeout=0.1)) as cl:
        r = cl.get("/health")
    assert r.status_code == 503 and "no answer within 0.1 s" in r.json()["detail"]


def test_searches_run_off_the_event_loop_thread():
    fake = FakeCollection()
    with TestClient(make_app(fake)) as cl:
        assert cl.post("/search", json={"queries": [[1, 2, 3, 4]], "k": 2}).json()["ids"] == [[0, 0]]
    assert fake.threads and fake.threads[0] is not threading.main_thread()
    assert "worker" in fake.threads[0].name.lower() or fake.threads[0].name.startswith("ThreadPool")


def test_unexpected_errors_are_500_without_internals():
    with TestClient(make_app(FakeCollection(RuntimeError("secret internals"))), raise_server_exceptions=False) as cl:
        r = cl.post("/search", json={"queries": [[1, 2, 3, 4]], "k": 2})
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text
    with TestClient(make_app(FakeCollection(TimeoutError("shard 3 slow")))) as cl:
        r = cl.post("/search", json={"queries": [[1, 2, 3, 4]], "k": 2})
    assert r.status_code == 504 and "timed out" in r.json()["detail"]


def test_openapi(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "mcindex"
    assert set(spec["paths"]) >= {"/search", "/info", "/health"}
    search = spec["paths"]["/search"]["post"]
    assert {"200", "400", "413", "422"} <= set(search["responses"])
    ref = search["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    body = spec["components"]["schemas"][ref]
    assert body["properties"]["k"]["maximum"] == 50 and body["examples"]
    batch = body["properties"]["queries"]["anyOf"][0]
    assert batch["maxItems"] == 8 and batch["items"]["minItems"] == batch["items"]["maxItems"] == DIM
    assert "description" in body["properties"]["where"] and body["properties"]["where"]["examples"]
    assert client.get("/docs").status_code == 200


def test_bad_limits():
    with pytest.raises(ValueError, match="max_k must be a positive int"):
        make_app(shop(), max_k=0)


# ---- bad requests -------------------------------------------------------------------------------
Q = [[0.1] * DIM]

BAD_REQUESTS = [
    # (body, status, message)
    ({"queries": [[0.1] * (DIM - 1)]}, 422, f"query 0 has {DIM - 1} numbers; this collection's vectors have {DIM}"),
    ({"queries": Q + [[0.1] * (DIM + 1)]}, 422, "query 1 has"),
    ({"queries": Q, "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"queries": Q, "k": 51}, 422, "k: Input should be less than or equal to 50"),
    ({"queries": Q, "k": "5"}, 422, "k: Input should be a valid integer"),
    ({"queries": Q, "k": 2.5}, 422, "k: Input should be a valid integer"),
    ({"queries": Q * 9}, 422, "queries: .*at most 8 items"),
    ({"queries": []}, 422, "queries: .*at least 1 item"),
    ({"queries": [[]]}, 422, "query 0 has 0 numbers"),
    ({"k": 3}, 422, "queries: Field required"),
    ({"queries": "1,2,3"}, 422, "queries"),
    ({"queries": [["a"] * DIM]}, 422, r"queries\[0\]\[0\]: Input should be a valid number"),
    ({"queries": [[True] * DIM]}, 422, r"queries\[0\]\[0\]: Input should be a valid number"),
    ({"queries": [[1e300] * DIM]}, 400, "too large|magnitude|overflow"),
    ({"queries": Q, "ef": 0}, 422, "ef: Input should be greater than or equal to 1"),
    ({"queries": Q, "strategy": "fast"}, 422, "strategy: Input should be 'auto', 'mci', 'graph' or 'exact'"),
    ({"queries": Q, "return_attributes": "yes"}, 422, "return_attributes: Input should be a valid boolean"),
    ({"queries": Q, "kk": 3}, 422, "kk: Extra inputs are not permitted"),
    ({"queries": Q, "where": 5}, 422, "where must be null, a SQL expression"),
    ({"queries": Q, "where": "x" * 10_001}, 422, "at most 10,000 allowed"),
    ({"queries": Q, "where": {"col": "colour", "op": "==", "value": "red"}}, 400,
     "where.col: unknown column 'colour'; available columns: price, category"),
    ({"queries": Q, "where": {"col": "price", "op": "~", "value": 1}}, 400, "where.op: unknown op '~'; ops:"),
    ({"queries": Q, "where": {"col": "tags", "op": "<", "value": 1}}, 400, "column 'tags' is multi_label"),
    ({"queries": Q, "where": {"col": "category", "op": "==", "value": 3}}, 400, "category"),
    ({"queries": Q, "where": {"col": "price", "op": "between", "value": [1]}}, 400, r"takes \[low, high\]"),
    ({"queries": Q, "where": {"and": []}}, 400, "where.and: expected a non-empty list"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_REQUESTS, ids=[str(i) for i in range(len(BAD_REQUESTS))])
def test_bad_requests(client, body, status, message):
    r = client.post("/search", json=body)
    assert r.status_code == status, r.text
    assert re.search(message, r.json()["detail"]), r.json()["detail"]


@pytest.mark.parametrize(("where", "message"), [
    ("colour = 'red'", "colour"),
    ("price < AND 3", "syntax error"),
    ("price < 3; DROP TABLE t", "';' at position 9 is not allowed"),
    ("read_csv('/etc/passwd') IS NOT NULL", ".+"),
])
def test_bad_sql(client, where, message):
    pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    r = post(client, queries=Q, where=where)
    assert r.status_code == 400 and r.json()["detail"] and re.search(message, r.json()["detail"])


def test_sql_without_duckdb_names_the_extra(monkeypatch):
    c = Collection.from_index(shop().index, {"x": np.arange(N)})  # fresh: no DuckDB connection yet
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with TestClient(make_app(c)) as cl:
        r = cl.post("/search", json={"queries": Q, "where": "x < 3"})
        assert r.status_code == 400 and 'pip install "mcindex[sql]"' in r.json()["detail"]
        assert cl.post("/search", json={"queries": Q, "where": {"col": "x", "op": "<", "value": 3}}).status_code == 200


RAW = [
    (b'{"queries": [[NaN' + b", 0" * (DIM - 1) + b"]]}", 422, r"queries\[0\]\[0\]: Input should be a finite number"),
    (b'{"queries": [[Infinity' + b", 0" * (DIM - 1) + b"]]}", 422, "finite number"),
    (b'{"queries": [[1e999' + b", 0" * (DIM - 1) + b"]]}", 422, "finite number"),
    (b'{"queries": [[0.1', 400, "malformed JSON body at character 17: Expecting"),
    (b"", 422, "Field required"),
    (b"[1, 2]", 422, "body: Input should be a valid dictionary"),
    (b'"text"', 422, "valid dictionary"),
    (b"\xff\xfe", 400, "malformed JSON|unreadable JSON"),
    (b"[" * 5000 + b"]" * 5000, 400, "unreadable JSON body: maximum recursion depth"),
    (b'{"queries": [[1' + b"0" * 5000 + b"]]}", 400, "unreadable JSON body: Exceeds the limit"),
]


@pytest.mark.parametrize(("raw", "status", "message"), RAW, ids=[str(i) for i in range(len(RAW))])
def test_malformed_bodies(client, raw, status, message):
    r = client.post("/search", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert re.search(message, r.json()["detail"]), r.json()["detail"]


def test_oversized_bodies(client):
    big = b'{"queries": [' + b"0," * 15_000 + b"0]}"
    r = client.post("/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"] == (
        f"request body too large: {len(big):,} bytes; this server accepts at most 20,000 bytes")

    sent = []

    def chunks():  # no Content-Length: the limit is enforced on the bytes as they arrive
        for _ in range(1000):
            sent.append(1)
            yield b"0," * 500

    r = client.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.request.headers.get("content-length") is None and r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413 and "more than 20,000 bytes" in r.json()["detail"]
    r = client.post("/search", content=b"{}", headers={"content-type": "application/json", "content-length": "x"})
    assert r.status_code == 400
    # just under the limit is fine
    ok = {"queries": Q * 8, "k": 3}
    assert client.post("/search", json=ok).status_code == 200


def test_unknown_routes_and_methods(client):
    assert client.get("/nope").status_code == 404 and client.get("/nope").json()["detail"] == "Not Found"
    assert client.get("/search").status_code == 405
    assert client.post("/search", content=b"x=1", headers={"content-type": "text/plain"}).status_code in (400, 422)
