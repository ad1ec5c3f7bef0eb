"""Sharded collections on a local Ray: build time, search QPS and recall for 1, 2, 4 shards,
hash vs cluster partition (and ``probe`` for cluster), against one exact search of the union.

    python benchmarks/sharded.py --n 50000 --dim 32 --shards 1,2,4 --queries 1000

Small data only (the machine is shared): the point is the overhead and the scaling shape of
fan-out + merge, not absolute speed. Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

import numpy as np
import ray

import mcindex
from mcindex import col
from mcindex.distributed import ShardedCollection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--shards", default="1,2,4")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((64, args.dim)) * 2
    x = (centres[rng.integers(0, 64, args.n)] + rng.standard_normal((args.n, args.dim))).astype(np.float32)
    price = rng.uniform(0, 100, args.n)
    q = x[rng.choice(args.n, args.queries, replace=False)] + 0.05
    where = col("price") < 30
    true_i, _ = mcindex.exact_search(x, q, k=10, filter=price < 30)

    tmp = tempfile.mkdtemp(prefix="mcbench-", dir="/tmp")
    ray.init(num_cpus=args.cpus, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
    try:
        for partition in ("hash", "cluster"):
            for shards in map(int, args.shards.split(",")):
                t0 = time.perf_counter()
                sc = ShardedCollection.build(x, {"price": price}, shards=shards, metric="l2", partition=partition,
                                             progress=False)
                build = time.perf_counter() - t0
                runs = [("exact", {"strategy": "exact"}), ("auto", {})]
                if partition == "cluster" and shards > 1:
                    runs.append(("auto probe=1", {"probe": 1}))
                for name, params in runs:
                    sc.search(q[:50], 10, where, **params)  # warm
                    t0 = time.perf_counter()
                    ids, _ = sc.search(q, 10, where, **params)
                    secs = time.perf_counter() - t0
                    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, true_i, strict=True)]))
                    print(json.dumps({"partition": partition, "shards": shards, "build_s": round(build, 2),
                                      "search": name, "qps": round(args.queries / secs), "recall@10": round(recall, 4),
                                      "sizes": sc.shard_sizes}), flush=True)
                sc.close()
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
