"""The planner: cost table measured at build time, thresholds per ef, and hostile tables."""

import math

import numpy as np
import pytest

from mcindex import Index, planner
from mcindex.persistence import IndexFormatError


def row(s, exact, graph, mci):
    return {"selectivity": s, "exact": exact, "graph": graph, "mci": mci}


# A made-up table: the scan wins while few points are valid, the cliques in the middle, the
# graph when many are valid, and a higher ef makes both traversals dearer.
TABLE = [
    row(0.01, 100.0, [[16, 900.0, 0.96]], [[16, 300.0, 0.97]]),
    row(0.1, 800.0, [[16, 500.0, 0.90], [64, 1600.0, 0.97]], [[16, 400.0, 0.95], [64, 700.0, 0.99]]),
    row(0.3, 2000.0, [[16, 200.0, 0.93], [64, 600.0, 0.98]], [[16, 900.0, 0.96], [64, 2500.0, 0.99]]),
    row(1.0, 5000.0, [[16, 100.0, 0.95], [64, 300.0, 0.99]], [[16, 2000.0, 0.97]]),
]


def test_winners_compare_routes_at_equal_recall():
    # ef 16: graph reaches 0.90 at 0.1 for 500 us; cliques reach it for 400 us -> cliques.
    assert planner.winners(TABLE, 16) == ["exact", "mci", "graph", "graph"]
    # ef 64: graph at 0.1 reaches 0.97 for 1600 us; cliques need ef 64 (700 us) -> cliques.
    assert planner.winners(TABLE, 64) == ["exact", "mci", "graph", "graph"]
    # ef 256: the graph's cost grows with ef beyond the last measured point (300 * 4 = 1200 us
    # unfiltered) but the scan costs 5000 us there: still the graph.
    assert planner.winners(TABLE, 256)[-1] == "graph"


def test_thresholds_sit_between_calibrated_selectivities():
    rule = planner.thresholds(TABLE, 16)
    assert rule["exact_max_fraction"] == pytest.approx(math.sqrt(0.01 * 0.1), rel=1e-3)
    assert rule["graph_min_fraction"] == pytest.approx(math.sqrt(0.1 * 0.3), rel=1e-3)
    only_exact = [row(s, 1.0, [[16, 10.0, 0.99]], []) for s in (0.1, 1.0)]
    rule = planner.thresholds(only_exact, 16)
    assert rule["exact_max_fraction"] == 1.0 and rule["graph_min_fraction"] > 1.0  # never the graph


@pytest.fixture(scope="module")
def calibrated():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3000, 12)).astype(np.float32)
    return Index.build(data, "l2", pool_size=48, min_clique_size=8, progress=False, stats_sample=0)


def test_build_calibrates_and_the_table_survives_save_load(calibrated, tmp_path):
    stored = calibrated._header["planner"]
    sel = [r["selectivity"] for r in stored["table"]]
    assert sel == sorted(sel) and sel[-1] == 1.0 and len(sel) >= 5
    for r in stored["table"]:
        assert r["exact"] > 0 and r["graph"] and r["mci"]
        assert all(0 <= rec <= 1 and us > 0 for _, us, rec in r["graph"] + r["mci"])
    assert calibrated._header["build"]["calibration_seconds"] > 0
    calibrated.save(tmp_path / "c.mci")
    loaded = Index.load(tmp_path / "c.mci")
    assert loaded.plan_rule(32) == calibrated.plan_rule(32)
    assert loaded.planner["table"] == stored["table"]


def test_rule_follows_ef(calibrated):
    table = calibrated.planner["table"]
    for ef in (16, 64, 256):
        rule = calibrated.plan_rule(ef)
        assert rule["exact_max_fraction"] == planner.thresholds(table, ef)["exact_max_fraction"]
        assert rule["exact_max_valid"] == max(rule["exact_min_valid"], int(rule["exact_max_fraction"] * 3000))


def test_uncalibrated_index_uses_the_default_rule():
    data = np.random.default_rng(1).standard_normal((500, 4)).astype(np.float32)
    index = Index.build(data, "l2", pool_size=32, min_clique_size=4, progress=False, stats_sample=0, calibrate=False)
    assert "planner" not in index._header
    assert index.planner["graph_min_fraction"] == planner.DEFAULT["graph_min_fraction"]
    ids, _ = index.search(data[:3], 5)
    assert np.all(ids[:, 0] == [0, 1, 2])


@pytest.mark.parametrize("bad, message", [
    ([], "must be a dict"),
    ({"exact_cost_ratio": float("nan")}, "exact_cost_ratio"),
    ({"exact_min_valid": -1}, "exact_min_valid"),
    ({"table": [{"selectivity": 2.0, "exact": 1.0}]}, "malformed"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[64, 1.0, 0.9], [32, 1.0, 0.9]]}]}, "malformed"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[16, 1.0, 1.5]]}]}, "malformed"),
    ({"table": [{"selectivity": 0.5}]}, "malformed"),
    ({"table": "x"}, "malformed"),
])
def test_hostile_planner_rule_is_rejected(bad, message):
    with pytest.raises(IndexFormatError, match=message):
        planner.check_rule(bad, "header['planner']")


def test_hostile_planner_in_a_file_is_rejected_on_load(calibrated, tmp_path):
    bad = {"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[16, 1.0, 1.5]]}]}
    Index({**calibrated._header, "planner": bad}, calibrated._sections).save(tmp_path / "h.mci")
    with pytest.raises(IndexFormatError, match=r"h.mci: header\['planner'\]\['table'\] is malformed"):
        Index.load(tmp_path / "h.mci")
