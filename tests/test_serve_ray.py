"""The Ray Serve deployment over real HTTP: a private local Ray instance (2 CPUs), two replicas
on a free loopback port, answers equal to a local search, a bad request refused with a 4xx, a
streamed oversized body refused with 413 through Serve's proxy. About 20-40 s (Ray's start)."""

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
from serve_data import queries, shop  # noqa: E402


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
