"""The ``mcindex`` command line: help, version, errors, ``demo`` and a small ``bench`` run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mcindex
from mcindex.cli import main


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "bench" in out and "demo" in out and "--version" in out


@pytest.mark.parametrize("command", ["bench", "demo"])
def test_command_help_has_examples(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"mcindex {command}" in out


def test_bench_help_lists_registered_indexes(capsys):
    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("exact", "faiss-flat", "faiss-hnsw", "hnsw-postfilter", "hnswlib"):
        assert f"  {name} " in out
    assert "knob efSearch" in out and "--max-seconds-per-point" in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mcindex {mcindex.__version__}"


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["bench", "--selectivity", "2"],
    ["bench", "--selectivity", "abc"],
    ["bench", "--queries", "0"],
    ["bench", "--index", "no-such-index"],
    ["bench", "--workload", "no-such-workload"],
    ["bench", "--knob", "faiss-hnsw"],
    ["bench", "--recall-stop", "1.5"],
    ["bench", "--unknown-flag"],
    ["demo", "--dataset", "nope"],
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcindex: error: ")
    assert "Traceback" not in captured.err


def test_missing_dataset_file_is_exit_2(capsys, tmp_path):
    missing = tmp_path / "missing.npy"
    assert main(["bench", "--quiet", "--dataset", str(missing), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.npy" in err[0]


def test_debug_shows_the_traceback(capsys):
    assert main(["--debug", "bench", "--index", "no-such-index"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "unknown index" in err
    assert main(["bench", "--index", "no-such-index", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_console_entry_point_exit_code_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from mcindex.cli import main; sys.exit(main())", "bench", "--k", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mcindex:")]
    assert len(errors) == 1 and "--k" in errors[0]
    assert "Traceback" not in proc.stderr


def test_demo_quick_prints_a_table(capsys):
    assert main(["demo", "--quick", "--quiet"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| workload"))
    assert "recall@10" in lines[header] and "exact QPS" in lines[header]
    rows = [line for line in lines[header + 2:] if line.startswith("|")]
    assert [r.split("|")[1].strip() for r in rows] == ["label", "label", "range", "range", "range"]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        routes = dict(part.rsplit(" ", 1) for part in cells[5].split(", "))
        assert set(routes) <= {"exact", "mci", "graph"} and sum(map(int, routes.values())) == 50
        if set(routes) == {"exact"}:
            assert cells[2] == "1.000"  # the scan is exact
        assert float(cells[2]) >= 0.9
        assert float(cells[3].replace(",", "")) > 0 and float(cells[4].replace(",", "")) > 0


def test_bench_writes_table_and_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MCINDEX_CACHE", str(tmp_path / "cache"))
    out_dir = tmp_path / "results"
    rc = main(["bench", "--quiet", "--dataset", "synthetic", "--queries", "20", "--selectivity", "0.1,1",
               "--index", "exact", "--workload", "random,range", "--no-plot", "--out", str(out_dir)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "## workload=random selectivity=0.1" in out and "## workload=range selectivity=1" in out
    (path,) = out_dir.glob("bench-synthetic-*.json")
    assert f"wrote {path}" in out
    record = json.loads(path.read_text())
    assert record["command"].startswith("mcindex bench --quiet --dataset synthetic")
    assert record["config"]["workloads"] == ["random", "range"]
    assert [r["points"][0]["recall"] for r in record["results"]] == [1.0] * 4
    assert not list(out_dir.glob("*.png"))


def test_fifo_arguments_are_refused_without_blocking(tmp_path):
    """`mcindex info/search/build` on a FIFO: one line and exit 2 at once, never a read that waits
    for a writer (each command runs in a child process with a timeout)."""
    import os

    fifo = tmp_path / "data.npy"
    os.mkfifo(fifo)
    good = tmp_path / "q.npy"
    import numpy as np

    np.save(good, np.zeros((2, 4), dtype=np.float32))
    for argv in (["info", str(fifo)], ["search", str(fifo), "--queries", str(good)],
                 ["build", str(fifo), "-o", str(tmp_path / "out.mci")]):
        out = subprocess.run([sys.executable, "-m", "mcindex.cli", *argv], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 2, (argv, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mcindex: error: ") and str(fifo) in lines[0], argv
