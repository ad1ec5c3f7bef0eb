"""``mcindex build / search / info`` end to end on small files, checked against the Python API."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import mcindex
from mcindex import Collection, col
from mcindex.cli import main

N, DIM = 300, 8
FAST = ["--threads", "1", "--quiet", "--param", "calibrate=false", "--param", "stats_sample=0"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    price = np.round(rng.uniform(0, 100, N), 2)
    category = [None if i % 10 == 0 else str(rng.choice(["shoes", "hats", "bags"])) for i in range(N)]
    tags = [[str(t) for t in rng.choice(["sale", "new", "eco"], rng.integers(0, 3), replace=False)] for _ in range(N)]
    sku = [f"sku-{i:04d}" for i in range(N)]
    np.save(d / "vectors.npy", vectors)
    np.save(d / "queries.npy", queries)
    mcindex.datasets.write_fvecs(d / "vectors.fvecs", vectors)
    table = pa.table({"sku": sku, "price": price, "category": category, "tags": tags})
    pq.write_table(table, d / "attrs.parquet")
    pq.write_table(pa.table({"embedding": pa.array(list(vectors), type=pa.list_(pa.float32())), "price": price,
                             "category": category}), d / "items.parquet")
    with open(d / "attrs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "price", "category", "tags"])
        for i in range(N):
            w.writerow([sku[i], price[i], category[i] or "", ";".join(tags[i])])
    with open(d / "attrs.jsonl", "w") as f:
        for i in range(N):
            f.write(json.dumps({"price": price[i], "category": category[i], "tags": tags[i]}) + "\n")
    return {"dir": d, "vectors": vectors, "queries": queries, "price": price, "category": category, "tags": tags,
            "sku": sku}


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _table_rows(out: str) -> list[list[str]]:
    lines = out.strip().splitlines()
    return [line.split() for line in lines[2:]]


@pytest.fixture(scope="module")
def built(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("built") / "shop"
    code = main(["build", str(files["dir"] / "vectors.npy"), "--attributes", str(files["dir"] / "attrs.parquet"),
                 "--ids-column", "sku", "-o", str(path), *FAST])
    assert code == 0
    return path


def test_build_then_search_matches_the_python_api(files, built, capsys):
    c = Collection.load(built)
    assert c.kinds == {"price": "numeric", "category": "categorical", "tags": "multi_label"}
    assert list(c.ids) == files["sku"]
    where = "price < 50 AND list_contains(tags, 'sale')"
    code, out, err = run(capsys, ["search", built, "--queries", files["dir"] / "queries.npy", "-k", "5",
                                  "--where", where, "--strategy", "exact", "--threads", "1"])
    assert code == 0, err
    rows = _table_rows(out)
    ids, dists = c.search(files["queries"], 5, where=(col("price") < 50) & col("tags").contains("sale"),
                          strategy="exact", threads=1)
    assert [r[2] for r in rows] == list(ids.ravel())
    assert [int(r[0]) for r in rows] == [q for q in range(4) for _ in range(5)]
    assert [int(r[1]) for r in rows] == [1, 2, 3, 4, 5] * 4
    np.testing.assert_allclose([float(r[3]) for r in rows], dists.ravel(), rtol=1e-5)


def test_search_json_and_csv_with_attributes(files, built, capsys):
    code, out, _ = run(capsys, ["search", built, "--queries", files["dir"] / "queries.npy", "-k", "3",
                                "--where", "category = 'hats'", "--format", "json", "--attributes", "--threads", "1"])
    assert code == 0
    results = json.loads(out)
    assert [r["query"] for r in results] == [0, 1, 2, 3]
    for r in results:
        assert len(r["results"]) == 3
        for hit in r["results"]:
            i = files["sku"].index(hit["id"])
            assert hit["attributes"] == {"price": files["price"][i], "category": "hats", "tags": files["tags"][i]}
    code, out, _ = run(capsys, ["search", built, "--queries", files["dir"] / "queries.npy", "-k", "2",
                                "--format", "csv", "--attributes", "--threads", "1"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8 and list(rows[0]) == ["query", "rank", "id", "distance", "price", "category", "tags"]
    for row in rows:
        i = files["sku"].index(row["id"])
        assert float(row["price"]) == files["price"][i] and row["tags"] == ";".join(files["tags"][i])


def test_a_filter_matching_fewer_rows_than_k_prints_fewer_lines(files, built, capsys):
    code, out, _ = run(capsys, ["search", built, "--queries", files["dir"] / "queries.npy", "-k", "5",
                                "--where", "price > 1000", "--threads", "1"])
    assert code == 0 and "no results" in out
    code, out, _ = run(capsys, ["search", built, "--queries", files["dir"] / "queries.npy", "-k", "5",
                                "--where", "price > 1000", "--format", "json", "--threads", "1"])
    assert json.loads(out) == [{"query": q, "results": []} for q in range(4)]


def test_build_from_parquet_vectors_with_their_attributes(files, tmp_path, capsys):
    out_dir = tmp_path / "items"
    code, out, err = run(capsys, ["build", files["dir"] / "items.parquet", "--vector-column", "embedding",
                                  "--metric", "cosine", "-o", out_dir, *FAST])
    assert code == 0, err
    assert "300 vectors x 8 (cosine)" in out and "price (numeric), category (categorical)" in out
    c = Collection.load(out_dir)
    np.testing.assert_allclose(c.index.vectors, files["vectors"] / np.linalg.norm(files["vectors"], axis=1,
                                                                                 keepdims=True), rtol=1e-5)
    assert c.count(col("category").is_null()) == 30


@pytest.mark.parametrize("vectors, attrs, extra", [
    ("vectors.fvecs", "attrs.csv", ["--kind", "tags=multi_label", "--ids-column", "sku"]),
    ("vectors.npy", "attrs.jsonl", ["--attributes-format", "npz"]),
])
def test_build_from_csv_and_jsonl(files, tmp_path, capsys, vectors, attrs, extra):
    out_dir = tmp_path / "c"
    code, _, err = run(capsys, ["build", files["dir"] / vectors, "--attributes", files["dir"] / attrs,
                                "-o", out_dir, *extra, *FAST])
    assert code == 0, err
    c = Collection.load(out_dir)
    assert c.kinds["tags"] == "multi_label" and c.kinds["price"] == "numeric"
    want = np.array(["sale" in t for t in files["tags"]])
    assert np.array_equal(c.compile(col("tags").contains("sale")).to_mask(), want)
    assert np.array_equal(c.compile(col("category") == "hats").to_mask(),
                          np.array([x == "hats" for x in files["category"]]))
    if attrs.endswith("csv"):
        assert list(c.ids) == files["sku"]


def test_build_from_hdf5_and_search_its_test_queries(files, tmp_path, capsys):
    pytest.importorskip("h5py")
    h5 = tmp_path / "ann.hdf5"
    mcindex.datasets.write_hdf5(h5, files["vectors"], files["queries"], metric="l2")
    out_dir = tmp_path / "c"
    assert run(capsys, ["build", h5, "-o", out_dir, *FAST])[0] == 0
    code, out, _ = run(capsys, ["search", out_dir, "--queries", h5, "-k", "1", "--strategy", "exact", "--threads", "1"])
    assert code == 0
    want, _ = mcindex.exact_search(files["vectors"], files["queries"], 1, threads=1)
    assert [int(r[2]) for r in _table_rows(out)] == list(want.ravel())


def test_info_of_a_collection_and_of_an_index_file(files, built, capsys):
    code, out, _ = run(capsys, ["info", built])
    assert code == 0
    for text in ("mcindex-collection v1", "300 x 8, metric l2", f"simd        {mcindex.simd_level()}",
                 "ids         str", "price     numeric", "multi_label", "cliques  ", "SHA-256 verified",
                 "build parameters"):
        assert text in out, text
    code, out, _ = run(capsys, ["info", built, "--json"])
    info = json.loads(out)
    assert info["n"] == N and info["format_version"] == 1 and info["simd"] == mcindex.simd_level()
    assert [c["name"] for c in info["columns"]] == ["price", "category", "tags"]
    assert info["index"]["cliques"] == Collection.load(built).index.stats()["cliques"]
    code, out, _ = run(capsys, ["info", built / "index.mci"])
    assert code == 0 and "index file v3" in out and "300 x 8" in out


def test_help_has_examples(capsys):
    for command in ("build", "search", "info"):
        code, out, _ = run(capsys, [command, "--help"])
        assert code == 0 and "examples:" in out and f"mcindex {command} " in out


@pytest.fixture()
def one_line_error(capsys):
    def check(argv, *fragments):
        code, out, err = run(capsys, argv)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mcindex: error: "), err
        assert "Traceback" not in err
        for fragment in fragments:
            assert fragment in lines[0], lines[0]
        return lines[0]

    return check


def test_bad_paths_exit_2_with_one_line(files, built, tmp_path, one_line_error):
    d = files["dir"]
    one_line_error(["build", tmp_path / "missing.npy", "-o", tmp_path / "x"], "missing.npy")
    one_line_error(["build", d / "vectors.npy", "--attributes", tmp_path / "nope.csv", "-o", tmp_path / "x"], "nope.csv")
    one_line_error(["build", d / "vectors.npy", "--attributes", d / "queries.npy", "-o", tmp_path / "x"],
                   "unknown attribute file extension")
    one_line_error(["build", d / "attrs.csv", "-o", tmp_path / "x"], "unknown vector file extension")
    one_line_error(["search", tmp_path / "nothing", "--queries", d / "queries.npy"], "nothing")
    one_line_error(["search", built, "--queries", tmp_path / "q.npy"], "q.npy")
    one_line_error(["info", tmp_path / "nothing"], "nothing")
    one_line_error(["build", d / "vectors.npy", "-o", tmp_path / "no" / "such" / "dir", *FAST], "no/such")
    assert not (tmp_path / "x").exists()


def test_bad_input_exits_2_with_one_line(files, built, tmp_path, one_line_error):
    d = files["dir"]
    q = d / "queries.npy"
    one_line_error(["search", built, "--queries", q, "--where", "pricee < 5"], "pricee", "not found")
    one_line_error(["search", built, "--queries", q, "--where", "price < AND 5"], "syntax error",
                   "at position 8 of the where string")
    one_line_error(["search", built, "--queries", q, "--where", "price < 5; DROP TABLE t"], "';'")
    one_line_error(["search", built, "--queries", d / "vectors.fvecs", "-k", "0"], "-k")
    np.save(tmp_path / "q16.npy", np.ones((2, 16), np.float32))
    one_line_error(["search", built, "--queries", tmp_path / "q16.npy"], "dim 8")
    one_line_error(["build", d / "vectors.npy", "--attributes", d / "attrs.parquet", "--ids-column", "nope",
                    "-o", tmp_path / "x"], "--ids-column 'nope'", "sku, price")
    one_line_error(["build", d / "vectors.npy", "--param", "degre=3", "-o", tmp_path / "x"], "unknown --param degre")
    one_line_error(["build", d / "vectors.npy", "--param", "degree=2.5", "-o", tmp_path / "x", *FAST], "degree")
    one_line_error(["build", d / "vectors.npy", "--kind", "tags=list", "-o", tmp_path / "x"], "COLUMN=KIND")
    one_line_error(["build", d / "vectors.npy", "--attributes", d / "attrs.parquet", "--kind", "sku=numeric",
                    "-o", tmp_path / "x", *FAST], "sku")
    np.save(tmp_path / "short.npy", np.ones((10, DIM), np.float32))
    one_line_error(["build", tmp_path / "short.npy", "--attributes", d / "attrs.parquet", "-o", tmp_path / "x", *FAST],
                   "has 300 rows but there are 10 vectors")
    one_line_error(["build", d / "vectors.npy", "--ids-column", "sku", "-o", tmp_path / "x"], "needs an attribute table")
    one_line_error(["build", d / "items.parquet", "--vector-column", "nope", "-o", tmp_path / "x"],
                   "no column 'nope'", "list columns: embedding")
    one_line_error(["build", d / "attrs.parquet", "-o", tmp_path / "x"], "--vector-column", "list columns: tags")
    one_line_error(["build", d / "attrs.parquet", "--vector-column", "tags", "-o", tmp_path / "x"],
                   "must hold numbers")
    assert not (tmp_path / "x").exists()


def test_a_bad_output_path_fails_before_the_build(files, built, tmp_path, one_line_error, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("the index was built before the output path was checked")

    monkeypatch.setattr(Collection, "build", no_build)
    d = files["dir"]
    one_line_error(["build", d / "vectors.npy", "-o", built / "index.mci", *FAST],
                   "index.mci exists and is not a collection")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    one_line_error(["build", d / "vectors.npy", "-o", tmp_path / "mine", *FAST], "not a collection")
    one_line_error(["build", d / "vectors.npy", "-o", tmp_path / "no" / "dir", *FAST], "No such directory", "no")
    one_line_error(["search", built, "--queries", d], "Is a directory", str(d))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_long_batches_are_searched_in_chunks_with_the_same_results(files, built, capsys, monkeypatch):
    import mcindex.cli as cli

    argv = ["search", built, "--queries", files["dir"] / "vectors.fvecs", "-k", "3", "--where", "price < 60",
            "--format", "json", "--attributes", "--strategy", "exact", "--threads", "1"]
    code, whole, _ = run(capsys, argv)
    assert code == 0
    monkeypatch.setattr(cli, "_SEARCH_CHUNK", 7)  # 300 queries: 43 chunks, the last one short
    code, chunked, _ = run(capsys, argv + ["--quiet"])
    assert code == 0 and chunked == whole
    results = json.loads(chunked)
    assert len(results) == N and all(len(r["results"]) == 3 for r in results)
    assert all(hit["attributes"]["price"] < 60 for r in results for hit in r["results"])


def test_a_corrupted_collection_is_reported(built, tmp_path, one_line_error):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    raw = bytearray((copy / "attributes.arrow").read_bytes())
    raw[-100] ^= 0xFF
    (copy / "attributes.arrow").write_bytes(bytes(raw))
    one_line_error(["info", copy], "attributes.arrow: checksum mismatch")


def test_console_script_end_to_end(files, built):
    proc = subprocess.run([sys.executable, "-m", "mcindex.cli", "search", str(built), "--queries",
                           str(files["dir"] / "queries.npy"), "-k", "2", "--where", "colour = 'red'"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().startswith("mcindex: error: where \"colour = 'red'\"") and "colour" in proc.stderr


def test_vectors_only_with_numpy_only(tmp_path, capsys):
    """No attributes, no where: works without pyarrow, pandas or duckdb (the .npz fallback)."""
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((200, 6)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    np.save(tmp_path / "q.npy", vectors[:2])
    code, out, err = run(capsys, ["build", tmp_path / "v.npy", "--attributes-format", "npz", "-o", tmp_path / "c", *FAST])
    assert code == 0, err
    code, out, err = run(capsys, ["search", tmp_path / "c", "--queries", tmp_path / "q.npy", "-k", "1",
                                  "--format", "csv", "--strategy", "exact", "--threads", "1"])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["query"], r["rank"], r["id"]) for r in rows] == [("0", "1", "0"), ("1", "1", "1")]
    assert run(capsys, ["info", tmp_path / "c"])[0] == 0
