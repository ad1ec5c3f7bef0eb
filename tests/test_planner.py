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


def test_uncalibrated_index_uses_the_model_rule():
    """Without a cost table the scan and the graph walk meet at s* = sqrt(560 * 2.3 / n); the
    clique traversal gets [s*, 2.5 s*] up to 128 dimensions, nothing above."""
    data = np.random.default_rng(1).standard_normal((500, 4)).astype(np.float32)
    index = Index.build(data, "l2", pool_size=32, min_clique_size=4, progress=False, stats_sample=0, calibrate=False)
    assert "planner" not in index._header
    assert index.planner["graph_min_fraction"] == 1.01 and index.planner["exact_max_fraction"] == 1.0
    low = planner.uncalibrated(400_000, 50)
    assert low["exact_max_fraction"] == pytest.approx(0.0567, abs=1e-3)
    assert low["graph_min_fraction"] == pytest.approx(2.5 * low["exact_max_fraction"], abs=1e-4)
    high = planner.uncalibrated(64_000, 384)
    assert high["exact_max_fraction"] == high["graph_min_fraction"] == pytest.approx(0.1419, abs=1e-3)
    assert planner.rule_for({}, 64, 400_000, 50)["exact_cost_ratio"] == planner.SCAN_RATIO
    ids, _ = index.search(data[:3], 5)
    assert np.all(ids[:, 0] == [0, 1, 2])


@pytest.mark.parametrize("bad, message", [
    ([], "must be a dict"),
    ({"exact_cost_ratio": float("nan")}, r"\['exact_cost_ratio'\] must be a finite number"),
    ({"exact_cost_ratio": "3"}, r"\['exact_cost_ratio'\] must be a finite number"),
    ({"exact_max_fraction": 10**400}, r"\['exact_max_fraction'\] must be a finite number"),
    ({"exact_min_valid": -1}, r"\['exact_min_valid'\] must be an int"),
    ({"exact_min_valid": 2.5}, r"\['exact_min_valid'\] must be an int"),
    ({"surprise": 1}, "unknown key"),
    ({"table": [{"selectivity": 2.0, "exact": 1.0}]}, r"\['selectivity'\] must be a finite number in \[0, 1\]"),
    ({"table": [{"selectivity": 0.5, "exact": "12.5"}]}, r"\['exact'\] must be a finite number"),
    ({"table": [{"selectivity": 0.5, "exact": 10**400}]}, r"\['exact'\] must be a finite number"),
    ({"table": [{"selectivity": 0.5, "exact": True}]}, r"\['exact'\] must be a finite number"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[64, 1.0, 0.9], [32, 1.0, 0.9]]}]}, "must be above"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[16, 1.0, 1.5]]}]}, r"\(recall\) must be"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[10**30, 1.0, 0.5]]}]}, r"\(ef\) must be an int"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[16.0, 1.0, 0.5]]}]}, r"\(ef\) must be an int"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "mci": [[16, "1", 0.5]]}]}, r"\(microseconds\) must be"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "mci": [[16, 1.0]]}]}, r"must be \[ef, microseconds, recall\]"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "mci": {}}]}, r"\['mci'\] must be a list"),
    ({"table": [{"selectivity": 0.5}]}, "must be a dict with 'selectivity' and 'exact'"),
    ({"table": [{"selectivity": 0.5, "exact": 1.0, "junk": 1}]}, "unknown key"),
    ({"table": "x"}, r"\['table'\] must be a list"),
])
def test_hostile_planner_rule_is_rejected(bad, message):
    with pytest.raises(IndexFormatError, match=message):
        planner.check_rule(bad, "header['planner']")


def test_hostile_planner_in_a_file_is_rejected_on_load(calibrated, tmp_path, monkeypatch):
    """A crafted file with valid checksums (written with the save-time check switched off, as an
    attacker's own writer would) is refused on load, naming the file and the field."""
    from mcindex import persistence

    path = tmp_path / "h.mci"
    for bad, field in [({"table": [{"selectivity": 0.5, "exact": 1.0, "graph": [[16, 1.0, 1.5]]}]}, "recall"),
                       ({"table": [{"selectivity": 0.5, "exact": "12"}]}, "exact"),
                       ({"exact_cost_ratio": 10**400}, "exact_cost_ratio"),
                       ({"table": [{"selectivity": 0.5, "exact": 1.0, "mci": [[2**70, 1.0, 0.5]]}]}, "ef")]:
        with monkeypatch.context() as m:
            m.setattr(persistence, "validate_index", lambda header, sections: None)
            Index({**calibrated._header, "planner": bad}, calibrated._sections).save(path)
        with pytest.raises(IndexFormatError, match=rf"h.mci: header\['planner'\].*{field}"):
            Index.load(path)


@pytest.mark.parametrize("field, value", [
    ("stats", {"nn10_one_hop": "0.9"}), ("stats", {"nn10_one_hop": 2.0}), ("stats", {"sample": -1}),
    ("stats", {"junk": [1, 2]}), ("stats", {"junk": {"a": 1}}), ("build", {"seconds": "1"}),
    ("build", {"rounds": [{"alpha": "x"}]}), ("build", {"rounds": "x"}), ("build", {"phase_seconds": {"graph": None}}),
    ("build_params", {"degree": 2**40}), ("build_params", {"pool_method": "other"}),
    ("build_params", {"extend_cliques": 1}), ("mcindex_version", "x" * 5000), ("n_extra", 1),
])
def test_every_header_field_is_typed(calibrated, tmp_path, monkeypatch, field, value):
    """Informational header fields are read by stats() and `mcindex info`: a wrong type or range
    is refused at load, not met later as a TypeError."""
    from mcindex import persistence

    header = dict(calibrated._header)
    header[field] = {**header.get(field, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "h.mci"
    with monkeypatch.context() as m:
        m.setattr(persistence, "validate_index", lambda header, sections: None)
        Index(header, calibrated._sections).save(path)
    with pytest.raises(IndexFormatError, match=r"h.mci: header"):
        Index.load(path)
