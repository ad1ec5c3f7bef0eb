"""Build-side targets of the clique index, side by side with FAISS HNSW in one run.

Measures, on the same data in one process:
  * FAISS IndexHNSWFlat(M=32, efConstruction=200) build seconds with T threads and its graph
    bytes per point (serialized size minus the vectors);
  * mcindex.Index.build with T threads and with 1 thread (scaling), its graph bytes per point,
    one-hop coverage of each point's exact 10 and 100 nearest neighbours, pool recall.

Usage:
    python benchmarks/mci_build.py --dataset glove-50 --threads 2 [--param min_memberships=2 ...]
    python benchmarks/mci_build.py --dataset glove-50 --no-faiss --no-single-thread --param ...

Prints a markdown table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

import mcindex
from mcindex import datasets


def parse_param(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    if value in ("true", "false"):
        return key, value == "true"
    return key, value


def faiss_build(data: np.ndarray, metric: str, threads: int) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(threads)
    x = data / np.linalg.norm(data, axis=1, keepdims=True) if metric == "cosine" else data
    x = np.ascontiguousarray(x, dtype=np.float32)
    kind = faiss.METRIC_INNER_PRODUCT if metric in ("cosine", "ip") else faiss.METRIC_L2
    index = faiss.IndexHNSWFlat(x.shape[1], 32, kind)
    index.hnsw.efConstruction = 200
    t0 = time.perf_counter()
    index.add(x)
    seconds = time.perf_counter() - t0
    total = faiss.serialize_index(index).nbytes
    graph = total - x.nbytes
    return {"index": "faiss-hnsw M=32 efC=200", "threads": threads, "build_seconds": seconds,
            "graph_bytes_per_point": graph / x.shape[0], "index_bytes": int(total)}


def mci_build(data: np.ndarray, metric: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    index = mcindex.Index.build(data, metric, threads=threads, progress=False, **params)
    seconds = time.perf_counter() - t0
    st = index.stats()
    build_seconds = st["build_seconds"]  # excludes the post-build sampling of statistics
    return {"index": "mcindex mci", "threads": threads, "build_seconds": build_seconds,
            "wall_seconds_with_stats": seconds, "graph_bytes_per_point": st["graph_bytes_per_point"],
            "clique_bytes_per_point": st["clique_bytes_per_point"], "nn10_one_hop": st.get("nn10_one_hop"),
            "nn100_one_hop": st.get("nn100_one_hop"), "pool_recall": st.get("pool_recall"),
            "one_hop_reach_mean": st.get("one_hop_reach_mean"), "cliques": st["cliques"],
            "clique_size_mean": st["clique_size_mean"], "memberships_mean": st["memberships_mean"],
            "nav_degree_mean": st["nav_degree_mean"], "phase_seconds": st["build_phase_seconds"],
            "rounds": len(st["densification_rounds"]), "params": st["build_params"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="glove-50")
    ap.add_argument("--n", type=int, default=0, help="use the first N base vectors (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--param", action="append", default=[], help="Index.build parameter, key=value")
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--no-single-thread", action="store_true")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()

    ds = datasets.load(args.dataset, n_queries=1)
    data = ds.data[: args.n] if args.n else ds.data
    params = dict(parse_param(p) for p in args.param)
    rows = []
    if not args.no_faiss:
        rows.append(faiss_build(data, ds.metric, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    rows.append(mci_build(data, ds.metric, args.threads, params))
    print(json.dumps(rows[-1]), flush=True)
    if not args.no_single_thread:
        rows.append(mci_build(data, ds.metric, 1, params))
        print(json.dumps(rows[-1]), flush=True)

    print(f"\n{ds.name}: {data.shape[0]:,} x {data.shape[1]} ({ds.metric}), simd {mcindex.simd_level()}\n")
    print("| index | threads | build s | graph B/pt | 10-NN one hop | 100-NN one hop | pool recall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f = lambda k: "-" if r.get(k) is None else f"{r[k]:.3f}"  # noqa: E731
        print(f"| {r['index']} | {r['threads']} | {r['build_seconds']:.1f} | {r['graph_bytes_per_point']:.1f} "
              f"| {f('nn10_one_hop')} | {f('nn100_one_hop')} | {f('pool_recall')} |")
    mci = [r for r in rows if r["index"] == "mcindex mci"]
    fa = [r for r in rows if r["index"].startswith("faiss")]
    if fa:
        print(f"\nbuild time mci/faiss ({args.threads} threads): {mci[0]['build_seconds'] / fa[0]['build_seconds']:.2f}x"
              f"; graph bytes mci/faiss: {mci[0]['graph_bytes_per_point'] / fa[0]['graph_bytes_per_point']:.2f}")
    if len(mci) == 2:
        print(f"mci speed-up {args.threads} threads vs 1: {mci[1]['build_seconds'] / mci[0]['build_seconds']:.2f}x")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"mci-build-{ds.name}-{stamp}.json"
    path.write_text(json.dumps({"date": stamp, "machine": platform.processor() or platform.machine(),
                                "cpus": os.cpu_count(), "simd": mcindex.simd_level(), "rows": rows,
                                "command": " ".join(os.sys.argv)}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
