"""Summarise an `mcindex bench` JSON as one markdown table per recall target.

Rows: workload x selectivity; columns: each index's best QPS reaching the recall target
("-" when it never did, "*" when measured on a time-budget-cut sample).

    python benchmarks/summarize.py bench-results/bench-glove-50-*.json [--recall 0.95]
    python benchmarks/summarize.py bench-results/bench-glove-50-*.json --targets

``--targets`` prints the issue-4 scorecard instead: per workload x selectivity, mcindex's planner
(index ``mci``) against the best peer at recall 0.95, the ratio, the target it must meet (>= 1x;
>= 2x from 1% to 10% and on the correlated workload; >= 0.8x FAISS HNSW unfiltered), the
stretch goal (>= 3x from 1% to 30%), whether recall 0.99 was reached and the worst query's
recall at the 0.95 point.
"""

from __future__ import annotations

import argparse
import json


def fmt(q: float | None) -> str:
    if q is None:
        return "-"
    return f"{q:,.0f}" if q >= 100 else f"{q:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("json")
    ap.add_argument("--recall", default="0.95", help="one of the run's recall targets (default 0.95)")
    ap.add_argument("--targets", action="store_true", help="print the issue-4 scorecard")
    args = ap.parse_args()
    args.recall = f"{float(args.recall):.2f}"  # the JSON keys read "0.90", "0.95", "0.99"
    r = json.load(open(args.json))
    if args.targets:
        scorecard(r)
        return
    indexes = [i["name"] for i in r["indexes"] if any(c["index"] == i["name"] for c in r["results"])]
    cells: dict[tuple[str, float], dict[str, str]] = {}
    for c in r["results"]:
        q = c["best_qps"].get(args.recall)
        cut = q is not None and any(not p["complete"] for p in c["points"])
        cells.setdefault((c["workload"], c["selectivity"]), {})[c["index"]] = fmt(q) + ("*" if cut else "")
    print(f"Best QPS at recall@{r['config']['k']} >= {args.recall} "
          f"({r['dataset']['name']}, {r['dataset']['n_queries']} queries, {r['config']['threads']} thread)\n")
    print("| workload | selectivity | " + " | ".join(indexes) + " |")
    print("|---|---:|" + "---:|" * len(indexes))
    for (w, s), row in cells.items():
        print(f"| {w} | {s:g} | " + " | ".join(row.get(i, "-") for i in indexes) + " |")


PEERS = ("faiss-flat", "faiss-hnsw", "hnsw-postfilter", "hnswlib")


def _best(curve: dict, target: str) -> tuple[float | None, dict | None]:
    ok = [p for p in curve["points"] if p["recall"] >= float(target)]
    if not ok:
        return None, None
    top = max(ok, key=lambda p: p["qps"])
    return top["qps"], top


def scorecard(r: dict) -> None:
    curves: dict[tuple[str, float], dict[str, dict]] = {}
    for c in r["results"]:
        curves.setdefault((c["workload"], c["selectivity"]), {})[c["index"]] = c
    print(f"mcindex (planner) vs the best peer at recall@{r['config']['k']} >= 0.95 "
          f"({r['dataset']['name']}, {r['dataset']['n_queries']} queries, {r['config']['threads']} thread)\n")
    print("| workload | selectivity | mcindex QPS | best peer | peer QPS | ratio | target | met | stretch 3x | "
          "recall 0.99 | worst query @0.95 |")
    print("|---|---:|---:|---|---:|---:|---:|---|---|---|---:|")
    for (w, s), by_index in curves.items():
        ours, point = _best(by_index["mci"], "0.95") if "mci" in by_index else (None, None)
        peers = {name: _best(by_index[name], "0.95")[0] for name in PEERS if name in by_index}
        peers = {k: v for k, v in peers.items() if v is not None}
        if s >= 1.0:
            peer_name, peer_qps, need = "faiss-hnsw", peers.get("faiss-hnsw"), 0.8
        else:
            peer_name = max(peers, key=peers.get) if peers else "-"
            peer_qps = peers.get(peer_name)
            need = 2.0 if (0.01 <= s <= 0.1 or w == "correlated") else 1.0
        ratio = None if ours is None or not peer_qps else ours / peer_qps
        met = "yes" if ours is not None and (peer_qps is None or ratio >= need) else "NO"
        stretch = "-" if not 0.01 <= s <= 0.3 else ("yes" if ours and (peer_qps is None or ratio >= 3) else "no")
        r99 = "yes" if "mci" in by_index and any(p["recall"] >= 0.99 for p in by_index["mci"]["points"]) else "NO"
        worst = "-" if point is None else f"{point.get('worst_recall', float('nan')):.2f}"
        print(f"| {w} | {s:g} | {fmt(ours)} | {peer_name} | {fmt(peer_qps)} | "
              f"{'-' if ratio is None else f'{ratio:.2f}x'} | {need:g}x | {met} | {stretch} | {r99} | {worst} |")


if __name__ == "__main__":
    main()
