"""The Ray Serve deployment over real HTTP: a private local Ray instance (2 CPUs), two replicas
on a free loopback port, answers equal to a local search, a bad request refused with a 4xx, a
streamed oversized body refused with 413 through Serve's proxy. Then a sharded collection served
the way `mcindex serve` does it (opened once, the replicas sharing its shard actors): answers
equal to exact search, and 503 once a shard is down for good. About 30-50 s (Ray's start)."""

import http.client
import json
import shutil
import socket
import tempfile

import numpy as np
import pytest

pytest.importorskip("fastapi")
ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from mcindex import col  # noqa: E402
from mcindex.serve.deployment import APP_NAME, application  # noqa: E402
from serve_data import BUILD, queries, shop, shop_data  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "shop.mcc"
    shop().save(path)
    # A session directory of our own (short: Ray's socket paths must stay under ~107 bytes), and
    # address="local": never join another Ray cluster running on the machine.
    temp_dir = tempfile.mkdtemp(prefix="mcray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False,
             logging_level="WARNING")
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(application(str(path), replicas=2, num_cpus=0.5, app_options={"max_body_bytes": 50_000}),
                  name=APP_NAME, route_prefix="/")
        yield port
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def request(port, method, path, body=None, headers=None, chunks=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if chunks is not None:  # no Content-Length: Transfer-Encoding: chunked
            conn.request(method, path, body=iter(chunks), headers=headers or {}, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def post_json(port, body):
    return request(port, "POST", "/search", json.dumps(body).encode(), {"content-type": "application/json"})


def test_serve_over_http(server):
    port = server
    assert request(port, "GET", "/health") == (200, {"status": "ok"})
    status, info = request(port, "GET", "/info")
    assert status == 200 and info["n"] == len(shop()) and info["versions"]["ray"] == ray.__version__

    q = queries(4)
    where = (col("price") < 120) & col("tags").contains("sale")
    ids, dists = shop().search(q, 7, where, ef=48, threads=1)
    for _ in range(4):  # several requests, so that both replicas answer
        status, data = post_json(port, {"queries": q.tolist(), "k": 7, "ef": 48, "where": {"and": [
            {"col": "price", "op": "<", "value": 120}, {"col": "tags", "op": "contains", "value": "sale"}]}})
        assert status == 200
        assert data["ids"] == ids.tolist()
        np.testing.assert_array_equal(np.array(data["distances"], dtype=np.float32), dists)

    status, data = post_json(port, {"queries": [[0.5, 0.5]], "k": 3})
    assert status == 422 and "this collection's vectors have 12" in data["detail"]
    status, data = post_json(port, {"queries": q.tolist(), "where": {"col": "colour", "op": "==", "value": 1}})
    assert status == 400 and "unknown column 'colour'" in data["detail"]

    status, data = request(port, "POST", "/search", headers={"content-type": "application/json"},
                           chunks=(b"0," * 1000 for _ in range(100)))
    assert status == 413 and "more than 50,000 bytes" in data["detail"]
    assert request(port, "GET", "/health")[0] == 200  # still serving


@pytest.fixture(scope="module")
def sharded_server(server, tmp_path_factory):
    """Serve's second application, at /sharded: a 3-shard collection of the same rows."""
    from mcindex.distributed import ShardedCollection

    path = tmp_path_factory.mktemp("serve") / "shop.mcs"
    vectors, items, ids = shop_data()
    ShardedCollection.build(vectors, items, shards=3, metric="cosine", ids=ids, path=str(path),
                            **{**BUILD, "threads": 1}).close()
    opened = ShardedCollection.load(str(path))  # as run() does: once, in the driver
    try:
        serve.run(application(str(path), replicas=2, num_cpus=0.25, servable=opened,
                              app_options={"search_threads": None}), name="sharded", route_prefix="/sharded")
        yield server, opened
    finally:
        serve.delete("sharded")
        opened.close()


def test_serve_a_sharded_collection(sharded_server):
    port, opened = sharded_server
    assert request(port, "GET", "/sharded/health") == (200, {"status": "ok"})
    status, info = request(port, "GET", "/sharded/info")
    assert status == 200 and info["n"] == len(shop())
    q = queries(4)
    ids, dists = shop().search(q, 7, col("stock") >= 10, strategy="exact", threads=1)
    for _ in range(4):  # both replicas, each a client of the same three shard actors
        status, data = request(port, "POST", "/sharded/search", json.dumps(
            {"queries": q.tolist(), "k": 7, "strategy": "exact",
             "where": {"col": "stock", "op": ">=", "value": 10}}).encode(), {"content-type": "application/json"})
        assert status == 200
        assert data["ids"] == ids.tolist()
        np.testing.assert_allclose(np.array(data["distances"], dtype=np.float32), dists, rtol=1e-5, atol=1e-6)
    status, data = request(port, "POST", "/sharded/search", json.dumps({"queries": q.tolist(), "k": 0}).encode(),
                           {"content-type": "application/json"})
    assert status == 422

    # A shard down for good: the service is unavailable (503 naming the shard), never partial.
    ray.kill(opened.actors[1], no_restart=True)
    status, data = request(port, "POST", "/sharded/search", json.dumps({"queries": q.tolist(), "k": 7}).encode(),
                           {"content-type": "application/json"})
    assert status == 503 and "shard 1" in data["detail"], data
    assert request(port, "GET", "/sharded/health")[0] == 503
