"""Summarise an `mcindex bench` JSON as one markdown table per recall target.

Rows: workload x selectivity; columns: each index's best QPS reaching the recall target
("-" when it never did, "*" when measured on a time-budget-cut sample).

    python benchmarks/summarize.py bench-results/bench-glove-50-*.json [--recall 0.95]
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
    args = ap.parse_args()
    args.recall = f"{float(args.recall):.2f}"  # the JSON keys read "0.90", "0.95", "0.99"
    r = json.load(open(args.json))
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


if __name__ == "__main__":
    main()
