"""The arithmetic of SCALING.md: memory, nodes and build time for N vectors, from measured runs.

    python benchmarks/capacity_plan.py --build-rate bench-results/build-rate-128d-*.json \
        bench-results/build-rate-768d-*.json [--n 1000000000] [--node-ram-gib 512] [--node-cores 64] \
        [--shard-sizes 10000000,50000000,125000000,250000000]

Inputs are measurements, not guesses: the bytes per vector of the graph and the groups, and the
power-law fit ``wall seconds = a * n^b`` on ``threads`` cores, both from
``benchmarks/build_rate.py``'s JSON. What is assumed is printed with the result:

* graph bytes per vector at N: the largest measured in any run (they do not depend on the
  dimension; the groups grow with n on clustered data, bounded by ``hub_cap``; see SCALING.md),
  vectors ``4 * dim`` bytes;
* build peak per vector: ``2 * 4 * dim`` (the input batches the shard holds plus the index's own
  copy) ``+ 4 * pool_size`` (the kNN pool) ``+ 4 * degree`` (graph rows), the terms
  RELIABILITY.md measured at 1M x 128;
* build time of a shard of m vectors on a node's cores: ``a * m^b * threads / (cores * efficiency)``
  with the efficiency given (thread scaling measured 0.98-1.18 per core at 2 threads; more
  cores will do worse), and shards on a node built one after another, nodes in parallel.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

GIB = 1 << 30


def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-rate", required=True, nargs="+",
                    help="JSON written by benchmarks/build_rate.py, one per dimension to plan for")
    ap.add_argument("--shape-from", default=None,
                    help="a build_rate JSON whose fitted exponent every run uses (the one measured over the widest "
                         "range of n); each run then only sets the scale, from its largest measured point")
    ap.add_argument("--n", type=float, default=1e9)
    ap.add_argument("--node-ram-gib", type=float, default=512)
    ap.add_argument("--node-cores", type=int, default=64)
    ap.add_argument("--ram-use", type=float, default=0.7, help="share of a node's RAM the index may take")
    ap.add_argument("--efficiency", type=float, default=0.7, help="parallel efficiency per core at node scale")
    ap.add_argument("--shard-sizes", default="10000000,50000000,125000000,250000000")
    ap.add_argument("--pool-size", type=int, default=200)
    ap.add_argument("--degree", type=int, default=32)
    args = ap.parse_args()

    print(f"node: {args.node_ram_gib:g} GiB RAM ({args.ram_use:.0%} for the index), {args.node_cores} cores "
          f"at {args.efficiency:.0%} efficiency\n")
    n = args.n
    runs = [load(p) for p in args.build_rate]
    # Graph and group bytes do not depend on the dimension but grow with n: take the largest
    # measured over every run (the largest n).
    graph_bpv = max(r["bytes_per_vector"] - 4 * r["dim"] for run in runs for r in run["rows"])
    shape = None
    if args.shape_from:
        ref = load(args.shape_from)
        shape = (ref["fit"]["wall"] if "wall" in ref["fit"] else ref["fit"])["b"]
    for run in runs:
        fit = run["fit"]["wall"] if "wall" in run["fit"] else run["fit"]
        a, b, threads = fit["a"], fit["b"], run["threads"]
        if shape is not None and abs(shape - b) > 1e-9:
            # Keep the reference exponent; pass through this run's largest point.
            top = max(run["rows"], key=lambda r: r["n"])
            a, b = top["build_seconds"] / top["n"] ** shape, shape
        dim = run["rows"][0]["dim"]
        serve_bpv = 4 * dim + graph_bpv
        build_bpv = 2 * 4 * dim + 4 * args.pool_size + 4 * args.degree
        total = n * serve_bpv
        nodes_ram = math.ceil(total / (args.node_ram_gib * GIB * args.ram_use))
        print(f"## {n:,.0f} x {dim}")
        print(f"measured: {run['command']}  ({run['date']})")
        print(f"fit: wall seconds = {a:.3g} * n^{b:.3f} on {threads} threads"
              + (f" (exponent from {args.shape_from})" if shape is not None else ""))
        print(f"{serve_bpv:,.0f} B/vector served ({4 * dim} vectors + {graph_bpv:.0f} graph and groups, the largest "
              f"measured), {total / 2**40:,.2f} TiB; build peak {build_bpv:,} B/vector")
        print(f"nodes to hold it: {nodes_ram} (one copy; double for a replica)\n")
        print("| shard size | shards | shards/node | build peak/shard GiB | build h/shard | build h total "
              "(nodes in parallel) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for m in (int(s) for s in args.shard_sizes.split(",")):
            shards = math.ceil(n / m)
            per_node = math.ceil(shards / nodes_ram)
            peak = m * build_bpv / GIB
            fits = "" if peak <= args.node_ram_gib * args.ram_use else " (over the node's RAM)"
            hours = a * m**b * threads / (args.node_cores * args.efficiency) / 3600
            print(f"| {m:,} | {shards:,} | {per_node} | {peak:,.0f}{fits} | {hours:,.1f} | {hours * per_node:,.1f} |")
        print()

if __name__ == "__main__":
    main()
