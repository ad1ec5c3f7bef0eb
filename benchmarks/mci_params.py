"""Settle the clique index's open build choices by experiment (ALGORITHM.md, "Open choices").

Builds the index on the first N GloVe vectors once per parameter set and appends one JSON line
per build: group count and size, memberships, bytes per point, one-hop reach, the share of each
point's exact 10 and 100 nearest neighbours one hop away, pool recall, seconds per phase.

    python benchmarks/mci_params.py --n 100000 --out grid.jsonl '{}' '{"min_memberships": 2}' \\
        '{"extend_cliques": false}' '{"pool_size": 128}' ...
"""

from __future__ import annotations

import argparse
import json
import time

import mcindex
from mcindex import datasets

KEYS = ["cliques", "clique_size_mean", "memberships_mean", "memberships_max", "nav_degree_mean", "graph_bytes_per_point",
        "clique_bytes_per_point", "one_hop_reach_mean", "nn10_one_hop", "nn100_one_hop", "pool_recall",
        "build_phase_seconds", "fallback_groups"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("params", nargs="+", help="JSON objects of Index.build keyword arguments")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=500, help="points sampled for the one-hop statistics")
    ap.add_argument("--out", default="mci-params.jsonl")
    args = ap.parse_args()
    data = datasets.load("glove-50", n_queries=10).data[: args.n]
    for text in args.params:
        kw = json.loads(text)
        t0 = time.perf_counter()
        index = mcindex.Index.build(data, "cosine", threads=args.threads, progress=False,
                                    stats_sample=args.sample, **kw)
        st = index.stats()
        rec = {"n": args.n, "params": kw, "wall": time.perf_counter() - t0, "rounds": len(st["densification_rounds"])}
        rec.update({k: st.get(k) for k in KEYS})
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
