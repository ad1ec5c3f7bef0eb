"""Memory: RSS stays flat over many build/search/save/load/free cycles (no leak), and a build's
memory goes back to the system after ``del index``. CI-sized runs of benchmarks/memory.py, which
measures each in a fresh process; the full-size figures (1M x 128) are in RELIABILITY.md.
Linux only; skipped under AddressSanitizer, whose shadow memory and quarantine change RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "memory.py"

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc/self/status (Linux)"),
    pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="RSS is meaningless under ASan"),
    pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/memory.py is not next to the tests"),
]


def measure(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), *argv, "--json"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_leak_over_build_search_save_load_free_cycles():
    """60 cycles after 20 of warm-up. Each builds a 1,000 x 32 index (~350 kB of arrays, 128 kB
    of kNN pool), searches it 200 queries at a time by every route, saves and loads it: leaking
    any one of those per cycle would grow RSS by 7 MB or more; measured growth is ~0.2 MB."""
    out = measure("leak", "--cycles", "80", "--warmup", "20")
    assert out["growth_mb"] < 6.0, out


def test_build_memory_is_released_after_del():
    """A 60,000 x 64 build (15 MB of vectors): the peak stays within the documented bound, and
    after ``del index`` every byte is free: RSS is back at the baseline once the allocator's free
    lists are returned (mcindex.release_memory; without it they are kept for reuse)."""
    out = measure("build", "--n", "60000", "--dim", "64", "--param", "pool_size=32", "--param", "calibrate=0",
                  "--param", "stats_sample=0")
    assert out["peak_over_baseline_per_raw"] < 4.0, out
    assert out["after_del_mb"] < out["built_mb"], out
    if out["retained_after_trim_mb"] is not None:
        assert out["retained_after_trim_mb"] < 4.0, out
