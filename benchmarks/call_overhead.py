"""What one search call costs beyond the search, side by side with hnswlib and FAISS HNSW.

Four measurements, each printed as a table (and all of them as JSON with --json):

* ``fixed``: one query per call on a 2,000 x 64 index (k=10, ef=10, single thread), for mcindex's
  graph strategy with no filter and with filters in every form that allow every point (a bool
  mask, a Bitmap, an id array: the same search work, so the difference is the cost of the
  form), against hnswlib (M=16) and FAISS HNSW (M=32) unfiltered. Each row also gives the time
  per query in one 200-query call and the difference, the fixed cost of a call.
* ``ids``: an id array against the same set as a Bitmap, 50% of 64,000 points valid (the
  384-d set, graph strategy, one query per call).
* ``graph384``: 64,000 x 384 (pypi-minilm), one query per call, mcindex's graph strategy against
  FAISS HNSW M=32 (efConstruction 200) over an ef sweep: recall@10 and QPS, and the best QPS
  reaching recall 0.90 / 0.95.
* ``uncalibrated``: an index built with calibrate=False, random filters from 0.2% to 100% valid,
  the automatic strategy against every forced one: best QPS at recall 0.95 (GloVe-400k with
  --glove, and the 384-d set).

    python benchmarks/call_overhead.py --pypi ../shared/data/pypi-minilm --glove --json out.json

Timings are the best of ``--repeats`` runs, the candidates interleaved within each run (the
machine may be shared). Needs the ``bench`` extra (hnswlib, faiss-cpu).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any, Callable

import numpy as np

import mcindex
from mcindex import Bitmap

K = 10


def best_time(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Seconds of each callable, the best of ``repeats`` interleaved runs."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a[a >= 0].tolist()) & set(b[b >= 0].tolist())) / max(1, int((b >= 0).sum()))
            for a, b in zip(found, truth)]
    return float(np.mean(hits))


# ---- fixed cost -------------------------------------------------------------------------------------
def fixed_cost(repeats: int) -> list[dict[str, Any]]:
    import faiss
    import hnswlib

    rng = np.random.default_rng(0)
    data = rng.standard_normal((2000, 64)).astype(np.float32)
    queries = (data[:200] + 0.01).astype(np.float32)
    index = mcindex.Index.build(data, "l2", threads=2, progress=False)
    hnsw = hnswlib.Index(space="l2", dim=64)
    hnsw.init_index(2000, M=16, ef_construction=200)
    hnsw.add_items(data)
    hnsw.set_ef(10)
    hnsw.set_num_threads(1)
    fx = faiss.IndexHNSWFlat(64, 32)
    fx.hnsw.efConstruction = 200
    fx.add(data)
    fx.hnsw.efSearch = 10
    faiss.omp_set_num_threads(1)
    forms = {"no filter": None, "bool mask": np.ones(2000, bool), "Bitmap": Bitmap.all(2000),
             "id array": np.arange(2000)}
    one: dict[str, Callable[[], Any]] = {
        "hnswlib M=16": lambda: [hnsw.knn_query(q, K) for q in queries],
        "FAISS HNSW M=32": lambda: [fx.search(q[None], K) for q in queries],
    }
    batch: dict[str, Callable[[], Any]] = {
        "hnswlib M=16": lambda: hnsw.knn_query(queries, K),
        "FAISS HNSW M=32": lambda: fx.search(queries, K),
    }
    for name, f in forms.items():
        one[f"mcindex, {name}"] = lambda f=f: [index.search(q, K, f, ef=10, strategy="graph", threads=1)
                                               for q in queries]
        batch[f"mcindex, {name}"] = lambda f=f: index.search(queries, K, f, ef=10, strategy="graph", threads=1)
    t1, tb = best_time(one, repeats), best_time(batch, repeats)
    base = t1["hnswlib M=16"]
    rows = []
    for name in one:
        us1, usb = 1e6 * t1[name] / len(queries), 1e6 * tb[name] / len(queries)
        rows.append({"index": name, "one_query_us": round(us1, 2), "batch_us_per_query": round(usb, 2),
                     "fixed_us": round(us1 - usb, 2), "one_query_vs_hnswlib": round(t1[name] / base, 2)})
    return rows


# ---- the 384-d set ---------------------------------------------------------------------------------------
def load_pypi(path: str, n: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    base = np.load(os.path.join(path, "base.f16.npy")).astype(np.float32)[:n]
    queries = np.load(os.path.join(path, "queries.f16.npy")).astype(np.float32)[:nq]
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return base, queries


def id_array_vs_bitmap(index: mcindex.Index, queries: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    n = len(index)
    mask = np.random.default_rng(5).random(n) < 0.5
    forms = {"Bitmap": Bitmap.from_mask(mask), "id array": np.flatnonzero(mask), "bool mask": mask}
    times = best_time({name: (lambda f=f: [index.search(q, K, f, ef=32, strategy="graph", threads=1)
                                           for q in queries]) for name, f in forms.items()}, repeats)
    return [{"form": name, "us_per_query": round(1e6 * t / len(queries), 1),
             "vs_bitmap": round(t / times["Bitmap"], 3)} for name, t in times.items()]


def graph_vs_faiss(base: np.ndarray, index: mcindex.Index, queries: np.ndarray, repeats: int) -> dict[str, Any]:
    import faiss

    truth, _ = mcindex.exact_search(base, queries, K, metric="cosine")
    t0 = time.perf_counter()
    fx = faiss.IndexHNSWFlat(base.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    fx.hnsw.efConstruction = 200
    faiss.omp_set_num_threads(2)
    fx.add(base)
    faiss_build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    rows = []
    for ef in (16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128, 192):
        def run_faiss(ef: int = ef) -> list[Any]:
            fx.hnsw.efSearch = ef
            return [fx.search(q[None], K)[1][0] for q in queries]

        def run_mci(ef: int = ef) -> list[Any]:
            return [index.search(q, K, ef=ef, strategy="graph", threads=1)[0][0] for q in queries]

        times = best_time({"faiss": run_faiss, "mcindex": run_mci}, repeats)
        for name, fn in (("faiss", run_faiss), ("mcindex", run_mci)):
            rows.append({"index": name, "ef": ef, "recall": round(recall(np.array(fn()), truth), 4),
                         "qps": round(len(queries) / times[name], 1)})
    best = {}
    for name in ("faiss", "mcindex"):
        for target in (0.90, 0.95):
            ok = [r["qps"] for r in rows if r["index"] == name and r["recall"] >= target]
            best[f"{name}@{target}"] = max(ok) if ok else None
    return {"rows": rows, "best": best, "faiss_build_s": round(faiss_build, 1)}


def uncalibrated(name: str, base: np.ndarray, queries: np.ndarray, metric: str, repeats: int) -> list[dict[str, Any]]:
    index = mcindex.Index.build(base, metric, threads=2, progress=False, calibrate=False, stats_sample=0)
    n, rng, out = len(base), np.random.default_rng(3), []
    for s in (0.002, 0.01, 0.03, 0.1, 0.3, 1.0):
        f = None if s >= 1 else Bitmap.from_mask(rng.random(n) < s)
        truth, _ = mcindex.exact_search(base, queries, K, metric=metric, filter=f)
        best: dict[str, tuple[float, int]] = {}
        for strategy in ("auto", "exact", "mci", "graph"):
            for ef in ((10,) if strategy == "exact" else (16, 32, 64, 128, 256, 512)):
                t = best_time({"x": lambda: [index.search(q, K, f, ef=ef, strategy=strategy, threads=1)
                                             for q in queries]}, repeats)["x"]
                ids, _ = index.search(queries, K, f, ef=ef, strategy=strategy, threads=1)
                r = recall(ids, truth)
                if r >= 0.95 and len(queries) / t > best.get(strategy, (0.0, 0))[0]:
                    best[strategy] = (len(queries) / t, ef)
                if r >= 0.995:
                    break
        forced = max((v[0] for k, v in best.items() if k != "auto"), default=0.0)
        auto = best.get("auto", (0.0, 0))[0]
        out.append({"data": name, "selectivity": s, "auto_qps": round(auto, 1),
                    **{f"{k}_qps": round(v[0], 1) for k, v in best.items() if k != "auto"},
                    "best_forced_over_auto": round(forced / auto, 2) if auto else None})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pypi", help="the pypi-minilm folder (../shared/data/pypi-minilm)")
    parser.add_argument("--glove", action="store_true", help="also the uncalibrated run on GloVe-400k")
    parser.add_argument("--queries", type=int, default=300, help="queries of the 384-d runs (default 300)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma list of parts to skip: fixed, ids, graph384, uncalibrated")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
                           "cpus": os.cpu_count(), "simd": mcindex.simd_level()}
    if "fixed" not in skip:
        out["fixed"] = fixed_cost(args.repeats)
        print("## one call, 2,000 x 64, k=10, ef=10, single thread\n" + table(out["fixed"]), flush=True)
    if args.pypi and not {"ids", "graph384", "uncalibrated"} <= skip:
        base, queries = load_pypi(args.pypi, 64_000, args.queries)
        t0 = time.perf_counter()
        index = mcindex.Index.build(base, "cosine", threads=2, progress=False)
        out["mcindex_build_384_s"] = round(time.perf_counter() - t0, 1)
        if "ids" not in skip:
            out["ids"] = id_array_vs_bitmap(index, queries, args.repeats)
            print("\n## 50% of 64,000 x 384 valid, graph strategy, one query per call\n" + table(out["ids"]), flush=True)
        if "graph384" not in skip:
            out["graph384"] = graph_vs_faiss(base, index, queries, args.repeats)
            print("\n## 64,000 x 384, one query per call\n" + table(out["graph384"]["rows"]), flush=True)
            print(json.dumps(out["graph384"]["best"]), flush=True)
        if "uncalibrated" not in skip:
            out["uncalibrated"] = uncalibrated("pypi-minilm 64k", base, queries[:200], "cosine", args.repeats)
    if args.glove and "uncalibrated" not in skip:
        import mcindex.datasets as datasets

        ds = datasets.load("glove-50")
        out.setdefault("uncalibrated", []).extend(uncalibrated("glove-50", ds.data, ds.queries[:200], "cosine",
                                                               args.repeats))
    if out.get("uncalibrated"):
        print("\n## built with calibrate=False: best QPS at recall 0.95\n" + table(out["uncalibrated"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
