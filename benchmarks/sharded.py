"""Sharded collections against one local collection: build time, throughput and recall.

    python benchmarks/sharded.py --n 1000000 --dim 128 --shards 1,2,4 \
        --partition hash --cluster-shards 4 --queries 1000 --data-dir DIR [--local-index FILE]

Data: ``datasets.synthetic(n, dim, clusters=1024)`` with two attribute columns drawn
independently of the vectors: ``category`` (100 labels, uniform) and ``price`` (uniform 0-100).
Filters: none, ``price < 10`` (10%), ``category == 7`` (1%).

Each configuration is the local :class:`mcindex.Collection` (in this process) or a
:class:`mcindex.distributed.ShardedCollection` of S shard actors on a local Ray instance using
every core. Each is built once into ``--data-dir`` (reloaded when already there: the build time
is then the one recorded in the directory's ``build.json``). Every configuration uses the whole
machine: the local collection searches with ``threads = cores``, the shards split the cores
among themselves (the sharded default).

Measured per filter: recall@10 against exact search over the filtered rows and batch QPS (all
queries in one call, best of ``--rounds``) along an ``ef`` sweep; the fastest point reaching
``--target`` recall is reported (shards each search with that ``ef``, so more shards reach a
recall at a smaller one), with one-query-per-call latency p50 / p99 and QPS over ``--single``
queries at the same ``ef``. Cluster-partitioned shards are also measured with ``probe`` (asking only
the nearest shards).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np

import mcindex
from mcindex import datasets, evaluate
from mcindex.collection import Collection, col

FILTERS = {"none": None, "price < 10": col("price") < 10, "category == 7": col("category") == 7}


def make_data(n: int, dim: int, queries: int) -> tuple[Any, dict[str, np.ndarray]]:
    ds = datasets.synthetic(n=n, dim=dim, clusters=1024, n_queries=queries, seed=0)
    rng = np.random.default_rng(1)
    attrs = {"category": rng.integers(0, 100, n), "price": rng.uniform(0, 100, n)}
    return ds, attrs


def time_call(fn: Any, rounds: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(name: str, coll: Any, queries: np.ndarray, truth: dict[str, np.ndarray], args: argparse.Namespace,
            **params: Any) -> list[dict[str, Any]]:
    """Per filter: sweep ``ef`` over the batch, keep the fastest point reaching ``--target``
    recall (else the most accurate one), then time one query per call at that ``ef``."""
    rows = []
    for fname, where in FILTERS.items():
        sweep = []
        for ef in args.ef:
            secs, (ids, _) = time_call(lambda: coll.search(queries, 10, where, ef=ef, **params), args.rounds)
            sweep.append({"ef": ef, "recall": round(evaluate.recall(ids, truth[fname]), 4),
                          "batch_qps": round(len(queries) / secs)})
            if sweep[-1]["recall"] >= 0.999:
                break  # a larger ef only costs time
        reached = [p for p in sweep if p["recall"] >= args.target]
        best = max(reached, key=lambda p: p["batch_qps"]) if reached else max(sweep, key=lambda p: p["recall"])
        lat = []
        for q in queries[: args.single]:
            t0 = time.perf_counter()
            coll.search(q, 10, where, ef=best["ef"], **params)
            lat.append(time.perf_counter() - t0)
        lat_ms = np.array(lat) * 1e3
        row = {"config": name, "filter": fname, **best, "reached_target": bool(reached),
               "single_qps": round(len(lat) / sum(lat)), "p50_ms": round(float(np.percentile(lat_ms, 50)), 2),
               "p99_ms": round(float(np.percentile(lat_ms, 99)), 2), "sweep": sweep, **params}
        rows.append(row)
        mark = "" if reached else f" (max; < {args.target})"
        print(f"| {name} | {fname} | {best['ef']} | {best['recall']:.3f}{mark} | {best['batch_qps']:,} | "
              f"{row['single_qps']:,} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |", flush=True)
    return rows


def configs_of(args: argparse.Namespace) -> list[tuple[str, int]]:
    configs = [(args.partition, int(s)) for s in args.shards.split(",") if s]
    return configs + [("cluster", int(s)) for s in args.cluster_shards.split(",") if s]


def build_sharded(ds: Any, attrs: dict[str, np.ndarray], partition: str, shards: int, path: str) -> Any:
    """Build through the public API into ``path`` and record the wall time (and the load, since
    the machine is shared) in ``path/build.json``."""
    from mcindex.distributed import ShardedCollection

    t0 = time.perf_counter()
    sc = ShardedCollection.build(ds.data, attrs, shards=shards, metric="l2", partition=partition,
                                 path=path, progress=False)
    secs = time.perf_counter() - t0
    with open(os.path.join(path, "build.json"), "w") as f:
        json.dump({"build_seconds": secs, "shard_sizes": sc.shard_sizes, "load_average_1min": os.getloadavg()[0],
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f)
    print(f"built {partition}-{shards} in {secs:,.1f} s, shard sizes {sc.shard_sizes}", flush=True)
    return sc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--shards", default="1,2,4")
    ap.add_argument("--partition", default="hash")
    ap.add_argument("--cluster-shards", default="4", help="shard counts for the cluster partition ('' for none)")
    ap.add_argument("--probe", default="1,2", help="probe values for cluster-partitioned shards")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--single", type=int, default=200, help="queries sent one per call for latency")
    ap.add_argument("--ef", type=lambda v: [int(x) for x in v.split(",")], default=[16, 32, 64, 128, 256, 512, 1024],
                    help="ef values swept per configuration and filter")
    ap.add_argument("--target", type=float, default=0.9, help="recall@10 the reported point must reach")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--local-index", default=None, help="a saved Index over the same data (else built)")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--build-only", action="store_true",
                    help="build the sharded collections missing from --data-dir, then stop (measure later)")
    args = ap.parse_args()

    import ray
    from mcindex.distributed import ShardedCollection

    cores = os.cpu_count() or 1
    ds, attrs = make_data(args.n, args.dim, args.queries)
    queries = ds.queries
    os.makedirs(args.data_dir, exist_ok=True)
    builds: dict[str, float] = {}

    if args.build_only:
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        for partition, shards in configs_of(args):
            path = os.path.join(args.data_dir, f"{partition}-{shards}")
            if not os.path.exists(os.path.join(path, "build.json")):
                build_sharded(ds, attrs, partition, shards, path).close()
        ray.shutdown()
        return

    # Local collection (and the exact ground truth from it).
    t0 = time.perf_counter()
    if args.local_index and os.path.exists(args.local_index):
        index = mcindex.Index.load(args.local_index)
        builds["local"] = float(index.stats()["build_seconds"])
    else:
        index = mcindex.Index.build(ds.data, "l2", threads=cores, progress=True)
        builds["local"] = time.perf_counter() - t0
    local = Collection.from_index(index, attrs)
    truth = {f: local.search(queries, 10, w, strategy="exact", threads=cores)[0] for f, w in FILTERS.items()}

    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    print(f"Best batch QPS at recall@10 >= {args.target} (ef swept over {args.ef}); one query per call at that ef")
    print("| config | filter | ef | recall@10 | batch QPS | 1-query QPS | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = measure("local", local, queries, truth, args, threads=cores)

    for partition, shards in configs_of(args):
        path = os.path.join(args.data_dir, f"{partition}-{shards}")
        record = os.path.join(path, "build.json")
        if os.path.exists(record):
            sc = ShardedCollection.load(path)
            with open(record) as f:
                builds[f"{partition}-{shards}"] = json.load(f)["build_seconds"]
        else:
            sc = build_sharded(ds, attrs, partition, shards, path)
            with open(record) as f:
                builds[f"{partition}-{shards}"] = json.load(f)["build_seconds"]
        name = f"{shards} shard{'s' if shards > 1 else ''} ({partition})"
        rows += measure(name, sc, queries, truth, args)
        if partition == "cluster":
            for p in (int(x) for x in args.probe.split(",") if x):
                if p < shards:
                    rows += measure(f"{name} probe {p}", sc, queries, truth, args, probe=p)
        sc.close()
    ray.shutdown()

    print("\n| config | build s |")
    print("|---|---:|")
    for name, secs in builds.items():
        print(f"| {name} | {secs:,.1f} |")
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, f"shard-throughput-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump({"command": "python benchmarks/sharded.py " + " ".join(
            f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if v is not None and v is not False),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.machine(),
            "cores": cores, "builds": builds, "rows": rows}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
