"""Benchmarking mcindex against its peers: recall-vs-QPS sweeps under filters.

* :mod:`.indexes` -- the engines, behind one adapter interface, found by name
  (``exact``, ``mci``, ``faiss-flat``, ``faiss-sq8``, ``faiss-hnsw``, ``faiss-hnsw-m16``,
  ``faiss-hnsw-m48``, ``faiss-hnsw-sq8``, ``hnsw-postfilter``, ``hnswlib``; see
  :func:`.indexes.available`);
* :mod:`.harness` -- builds each index once and sweeps its search knob for every
  (workload, selectivity), measuring recall@k and QPS under a time budget;
* :mod:`.report` -- text tables, the JSON record and recall-vs-QPS PNGs.

The command line front end is ``mcindex bench`` (:mod:`mcindex.cli`). FAISS, hnswlib and
matplotlib come with the ``bench`` extra: ``pip install "mcindex[bench]"``.
"""

from __future__ import annotations

from .harness import RECALL_TARGETS, BenchConfig, BenchResult, Curve, IndexReport, Point, run_bench
from .indexes import IndexAdapter, MissingDependency, available, create, register

__all__ = [
    "RECALL_TARGETS",
    "BenchConfig",
    "BenchResult",
    "Curve",
    "IndexAdapter",
    "IndexReport",
    "MissingDependency",
    "Point",
    "available",
    "create",
    "register",
    "run_bench",
]
