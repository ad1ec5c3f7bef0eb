"""Index.search against brute force (hypothesis), for every route, metric and filter form.

Small random datasets (n 1..300, dim 1..16; gaussian, clustered, duplicate-heavy and
integer-grid data, the last two full of exact distance ties), small indexes, random k, ef and
filters from empty to all. The reference is :func:`mcindex.exact_search` run on the filtered
subset alone (``data[allowed]``), so it shares no filter code with the index; exact_search
itself is checked against numpy in test_properties.py. Distances are also checked against a
float64 numpy computation.

What must hold for every route (``strategy`` auto, exact, mci, graph):

* shapes ``(nq, k)``, int64 / float32; rows sorted by distance; no id twice; every id allowed by
  its query's filter; every distance the true one (squared L2, -dot, 1 - cosine);
* padding: id -1 and +inf exactly in the slots after the found ones, never inf for a real id;
* stats: ``found`` is the number of real slots, ``valid`` the filter's count, ``strategy`` a
  route (the forced one for a forced route, which never falls back), ``early_stop`` whenever a
  forced traversal found fewer than ``min(k, valid)``;
* a filter allowing at most ``k`` ids gets all of them back;
* every form of the same set (mask, ids of any int dtype in any order with duplicates, Bitmap,
  callable, per-query list, 2-D mask) gives identical results.

And: ``strategy="exact"`` is brute force exactly (ids, ties by id, and distances);
``strategy="graph"`` with ``ef >= n`` keeps every valid point it reaches, so it is brute force
too. The planner (auto) is also driven with injected rules that send queries down every route
and make planned traversals fall back (a query the exact scan answers is brute force exactly).
Two fixed cases complete the random ones: a filter of isolated points (one per far-apart
cluster, k = their number) that every route must return whole, and planned traversals that
overrun their budget or meet no valid point near the query.

``MCINDEX_PROPERTY_EXAMPLES=N`` runs N (random, not derandomized) examples per test instead of
the small fixed default.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mcindex import Bitmap, Index, exact_search

EXAMPLES = int(os.environ.get("MCINDEX_PROPERTY_EXAMPLES", "0")) or None
PROPERTY = settings(max_examples=EXAMPLES or 100, deadline=None, derandomize=EXAMPLES is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

METRICS = ("l2", "ip", "cosine")
ROUTES = ("auto", "exact", "mci", "graph")
KINDS = ("gaussian", "clustered", "duplicates", "grid")
# The forms one filter may take (a per-query list mixes them, plus None and shared objects).
FORMS = ("mask", "ids64", "ids_other", "bitmap", "bitmap_ids", "callable")
# How many ids a drawn filter allows.
SIZES = ("empty", "at_most_k", "density", "all_but_few", "all", "far")
INT_DTYPES = (np.int32, np.uint32, np.int16, np.uint16, np.uint64, np.int8, np.uint8)
BUILD = dict(pool_size=16, min_clique_size=4, degree=8, threads=1, progress=False, stats_sample=0,
             calibrate=False)


# ---- data and indexes ------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def dataset(n: int, dim: int, kind: str, metric: str, seed: int) -> tuple[np.ndarray, Index]:
    """(data, index) for these parameters, built once (hypothesis replays examples while it
    shrinks, and the filter-form tests search one index many times)."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        data = rng.standard_normal((n, dim))
    elif kind == "clustered":
        centres = rng.standard_normal((int(rng.integers(1, 41)), dim)) * 10
        data = centres[rng.integers(0, len(centres), n)] + 0.05 * rng.standard_normal((n, dim))
    elif kind == "duplicates":  # a few distinct rows, each repeated many times
        distinct = rng.standard_normal((int(rng.integers(1, max(2, n // 8) + 1)), dim))
        data = distinct[rng.integers(0, len(distinct), n)]
    else:  # small integers: exact distances in float32, many exact ties
        data = rng.integers(-2, 3, (n, dim)).astype(np.float64)
    data = data.astype(np.float32)
    if metric == "cosine":
        data[~data.any(axis=1), 0] = 1.0  # cosine is undefined for zero rows
    index = Index.build(data, metric, **BUILD)
    return data, index


def make_queries(data: np.ndarray, nq: int, kind: str, metric: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, dim = data.shape
    if kind == "rows":  # queries equal to data points: distance-0 hits and ties
        q = data[rng.integers(0, n, nq)].copy()
    elif kind == "near":
        q = data[rng.integers(0, n, nq)] + 0.1 * rng.standard_normal((nq, dim))
    else:
        q = 2 * rng.standard_normal((nq, dim))
    q = q.astype(np.float32)
    if metric == "cosine":
        q[~q.any(axis=1), 0] = 1.0
    return q


def allowed_set(n: int, k: int, size: str, amount: float, rng: np.random.Generator,
                far_from: np.ndarray | None = None) -> np.ndarray:
    """A bool mask over n ids with the drawn kind of size (amount in [0, 1] picks within it).
    "far": the share ``amount`` of points with the largest ``far_from`` (their squared distances
    to the query): a filter anti-correlated with the query, where planned traversals hand their
    query over to the exact scan."""
    mask = np.zeros(n, dtype=bool)
    if size == "far":
        mask[np.argsort(-far_from, kind="stable")[: int(round(amount * n))]] = True
        return mask
    if size == "empty":
        return mask
    if size == "all":
        return ~mask
    if size == "at_most_k":
        count = int(round(amount * min(k, n)))
    elif size == "all_but_few":
        count = n - int(round(amount * min(3, n)))
    else:
        count = int(round(amount * n))
    mask[rng.choice(n, size=count, replace=False)] = True
    return mask


def filter_object(form: str, mask: np.ndarray, rng: np.random.Generator):
    """``mask`` as a filter of the given form (ids: shuffled, some repeated)."""
    n = mask.size
    if form == "mask":
        return mask.copy()
    if form == "bitmap":
        return Bitmap.from_mask(mask)
    if form == "callable":
        return lambda ids, m=mask.copy(): m[ids]
    ids = np.flatnonzero(mask)
    if ids.size:
        ids = rng.permutation(np.concatenate([ids, rng.choice(ids, size=int(rng.integers(0, ids.size + 1)))]))
    if form == "bitmap_ids":
        return Bitmap.from_ids(ids, n)
    if form == "ids64":
        return ids.astype(np.int64)
    assert form == "ids_other"
    fits = [dt for dt in INT_DTYPES if np.iinfo(dt).max >= n - 1]
    return ids.astype(fits[int(rng.integers(0, len(fits)))])


@dataclasses.dataclass
class Case:
    """One drawn search: its repr is the recipe (seeds and sizes), which is enough to rebuild it."""

    n: int
    dim: int
    kind: str
    metric: str
    seed: int
    nq: int
    query_kind: str
    k: int
    ef: int
    # "none", "one:<form>", "list" or "2d", and one (size, amount, form) per distinct filter.
    layout: str
    specs: list

    def build(self):
        """(data, index, queries, filter argument, per-query masks with None for "all")."""
        data, index = dataset(self.n, self.dim, self.kind, self.metric, self.seed)
        queries = make_queries(data, self.nq, self.query_kind, self.metric, self.seed + 1)
        rng = np.random.default_rng(self.seed + 2)
        gap = ((data[None, :, :] - queries[:, None, :]) ** 2).sum(-1)  # for "far" filters
        if self.layout == "none":
            return data, index, queries, None, [None] * self.nq
        if self.layout.startswith("one:"):
            size, amount = self.specs[0][:2]
            mask = allowed_set(self.n, self.k, size, amount, rng, gap[0])
            return data, index, queries, filter_object(self.layout[4:], mask, rng), [mask] * self.nq
        if self.layout == "2d":
            masks = [allowed_set(self.n, self.k, size, amount, rng, gap[q])
                     for q, (size, amount, _) in enumerate(self.specs)]
            return data, index, queries, np.array(masks, dtype=bool).reshape(self.nq, self.n), masks
        # A per-query list: None entries, every form, and objects shared by several queries.
        filters, masks = [], []
        for q, (size, amount, form) in enumerate(self.specs):
            if form == "none":
                filters.append(None)
                masks.append(None)
            elif form.startswith("shared") and q > 0:
                j = int(form[6:]) % q  # the same object as an earlier query's
                filters.append(filters[j])
                masks.append(masks[j])
            else:
                mask = allowed_set(self.n, self.k, size, amount, rng, gap[q])
                filters.append(filter_object(form if form in FORMS else "mask", mask, rng))
                masks.append(mask)
        return data, index, queries, filters, masks


@st.composite
def cases(draw, layouts=("none", "one", "list", "2d"), sizes=SIZES) -> Case:
    filter_spec = st.tuples(st.sampled_from(sizes), st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
    n = draw(st.integers(1, 300))
    dim = draw(st.integers(1, 16))
    kind = draw(st.sampled_from(KINDS))
    metric = draw(st.sampled_from(METRICS))
    seed = draw(st.integers(0, 2**20))
    nq = draw(st.integers(1, 5))
    query_kind = draw(st.sampled_from(("rows", "near", "random")))
    k = draw(st.integers(1, n + 5))
    ef = draw(st.one_of(st.integers(1, 64), st.integers(1, 2 * n + 10)))
    layout = draw(st.sampled_from(layouts))
    if layout == "none":
        specs = []
    elif layout == "one":
        layout = "one:" + draw(st.sampled_from(FORMS))
        specs = [(*draw(filter_spec), "")]
    elif layout == "2d":
        specs = [(*draw(filter_spec), "") for _ in range(nq)]
    else:
        entry = st.sampled_from(FORMS + ("none", "shared0", "shared1", "shared2"))
        specs = [(*draw(filter_spec), draw(entry)) for _ in range(nq)]
    return Case(n, dim, kind, metric, seed, nq, query_kind, k, ef, layout, specs)


# ---- references ------------------------------------------------------------------------------
def brute_force(data, queries, k, metric, masks):
    """exact_search over each query's allowed subset alone, ids mapped back (ascending subset:
    ties stay broken by id)."""
    nq, n = len(queries), len(data)
    ids = np.full((nq, k), -1, dtype=np.int64)
    dists = np.full((nq, k), np.inf, dtype=np.float32)
    for q in range(nq):
        sub = np.arange(n) if masks[q] is None else np.flatnonzero(masks[q])
        if sub.size == 0:
            continue
        i, d = exact_search(data[sub], queries[q], k, metric=metric, threads=1)
        ids[q] = np.where(i >= 0, sub[np.maximum(i, 0)], -1)
        dists[q] = d
    return ids, dists


def separated_clusters(clusters=40, per=10, dim=8, seed=0):
    """Tight clusters far apart, as (data, one id per cluster)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)) * 100
    data = (np.repeat(centres, per, axis=0) + rng.standard_normal((clusters * per, dim))).astype(np.float32)
    return data, np.arange(0, clusters * per, per)


def true_distances(data, query, ids, metric):
    """float64 distances from query to data[ids] in the metric's convention, and a tolerance
    for float32 arithmetic on vectors of these magnitudes."""
    x = data[ids].astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        return ((x - q) ** 2).sum(1), 1e-4 * (1 + (x * x).sum(1) + q @ q)
    if metric == "ip":
        return -(x @ q), 1e-4 * (1 + np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    q = q / np.linalg.norm(q)
    return 1 - x @ q, np.full(len(ids), 1e-4)


def search(index, queries, k, flt, **kw):
    with warnings.catch_warnings():
        # An id array of length n holding only 0 and 1 (drawn by chance) is read as ids, with a
        # warning saying it might be a mask: right for these tests.
        warnings.filterwarnings("ignore", message=".*holding only 0 and 1", category=UserWarning)
        return index.search(queries, k, flt, threads=1, return_stats=True, **kw)


def check_results(case, data, queries, masks, ids, dists, stats, strategy):
    """The properties every route's answer has, whatever its recall."""
    nq, k, n = case.nq, case.k, case.n
    assert ids.shape == (nq, k) and dists.shape == (nq, k)
    assert ids.dtype == np.int64 and dists.dtype == np.float32
    found = (ids >= 0).sum(axis=1)
    for q in range(nq):
        f = int(found[q])
        row, drow = ids[q], dists[q]
        # Padding exactly after the found slots; real ids in range with finite distances.
        assert np.all(row[:f] >= 0) and np.all(row[f:] == -1), f"query {q}: padding not at the end: {row}"
        assert np.all(np.isposinf(drow[f:])), f"query {q}: padded slots without inf: {drow}"
        assert np.all(np.isfinite(drow[:f])), f"query {q}: a real id with a non-finite distance: {drow}"
        assert np.all(row[:f] < n)
        got = row[:f]
        assert np.unique(got).size == f, f"query {q}: an id returned twice: {got}"
        if masks[q] is not None:
            assert masks[q][got].all(), f"query {q}: ids {got[~masks[q][got]]} are not allowed by the filter"
        assert np.all(np.diff(drow[:f]) >= 0), f"query {q}: row not sorted by distance: {drow[:f]}"
        want, tol = true_distances(data, queries[q], got, case.metric)
        bad = np.abs(drow[:f] - want) > tol
        assert not bad.any(), f"query {q}: ids {got[bad]} have distances {drow[:f][bad]}, true {want[bad]}"
        valid = n if masks[q] is None else int(masks[q].sum())
        assert f <= min(k, valid)
    # Stats.
    assert set(stats["strategy"]) <= {"exact", "mci", "graph"}
    np.testing.assert_array_equal(stats["found"], found)
    np.testing.assert_array_equal(stats["valid"], [n if m is None else int(m.sum()) for m in masks])
    if strategy != "auto":
        assert not stats["fallback"].any(), "a forced route fell back"
        assert np.all(stats["strategy"] == strategy), stats["strategy"]
    else:
        assert np.all(stats["strategy"][stats["fallback"]] == "exact")
    short = found < np.minimum(k, stats["valid"])
    exact = stats["strategy"] == "exact"
    assert not short[exact].any(), "the exact scan returned fewer than min(k, valid)"
    assert not stats["early_stop"][exact].any()
    if strategy != "auto":
        # A forced traversal says when its answer may miss neighbours.
        assert stats["early_stop"][short].all(), \
            f"found {found} < min(k, valid) without early_stop ({stats['early_stop_reason']})"


# ---- the properties ---------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ROUTES)
@PROPERTY
@given(case=cases())
def test_results_are_true_allowed_neighbours(strategy, case):
    data, index, queries, flt, masks = case.build()
    ids, dists, stats = search(index, queries, case.k, flt, ef=case.ef, strategy=strategy)
    check_results(case, data, queries, masks, ids, dists, stats, strategy)
    # Asking for stats changes nothing in the answer.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*holding only 0 and 1", category=UserWarning)
        plain = index.search(queries, case.k, flt, ef=case.ef, strategy=strategy, threads=1)
    assert len(plain) == 2
    np.testing.assert_array_equal(plain[0], ids)
    np.testing.assert_array_equal(plain[1], dists)


@pytest.mark.parametrize("strategy", ROUTES)
@PROPERTY
@given(case=cases(layouts=("one", "list", "2d"), sizes=("at_most_k", "at_most_k", "empty", "density")))
def test_small_filters_return_every_allowed_id(strategy, case):
    """A filter that allows at most k ids: all of them come back, whatever the route."""
    data, index, queries, flt, masks = case.build()
    ids, dists, stats = search(index, queries, case.k, flt, ef=case.ef, strategy=strategy)
    for q in range(case.nq):
        allowed = np.arange(case.n) if masks[q] is None else np.flatnonzero(masks[q])
        if allowed.size <= case.k:
            got = np.sort(ids[q][ids[q] >= 0])
            assert got.tolist() == allowed.tolist(), (
                f"query {q}: {allowed.size} ids allowed, k={case.k}, {strategy} returned {got.size}: "
                f"missing {sorted(set(allowed.tolist()) - set(got.tolist()))} "
                f"(stats strategy={stats['strategy'][q]}, early_stop={stats['early_stop_reason'][q]!r})")


@PROPERTY
@given(case=cases())
def test_exact_route_is_brute_force(case):
    data, index, queries, flt, masks = case.build()
    ref_ids, ref_d = brute_force(data, queries, case.k, case.metric, masks)
    ids, dists, stats = search(index, queries, case.k, flt, ef=case.ef, strategy="exact")
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(dists, ref_d)
    # auto at these sizes is the exact scan (the default rule scans up to 2000 valid points).
    ids, dists, stats = search(index, queries, case.k, flt, ef=case.ef, strategy="auto")
    assert np.all(stats["strategy"] == "exact")
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(dists, ref_d)


@PROPERTY
@given(case=cases(), extra=st.integers(0, 50))
def test_graph_route_with_full_list_is_brute_force(case, extra):
    """With ef >= n the walk's result list never fills before it has met every valid point it can
    reach, so it answers exactly (given every point is reachable from the entry point)."""
    data, index, queries, flt, masks = case.build()
    ref_ids, ref_d = brute_force(data, queries, case.k, case.metric, masks)
    ids, dists, stats = search(index, queries, case.k, flt, ef=case.n + extra, strategy="graph")
    check_results(case, data, queries, masks, ids, dists, stats, "graph")
    for q in range(case.nq):
        assert ids[q].tolist() == ref_ids[q].tolist(), (
            f"query {q}: graph (ef={case.n + extra}) {ids[q].tolist()} != brute force {ref_ids[q].tolist()}; "
            f"missing {sorted(set(ref_ids[q].tolist()) - set(ids[q].tolist()))}, "
            f"valid={stats['valid'][q]}, early_stop={stats['early_stop_reason'][q]!r}")
    np.testing.assert_array_equal(dists, ref_d)


@pytest.mark.parametrize("strategy", ROUTES)
@PROPERTY
@given(case=cases(layouts=("one",)))
def test_filter_forms_of_one_set_agree(strategy, case):
    """Every way to say "these ids" gives the same answer, bit for bit."""
    data, index, queries, _, masks = case.build()
    mask = masks[0]
    rng = np.random.default_rng(case.seed + 3)
    forms = {form: filter_object(form, mask, rng) for form in FORMS}
    forms["ids_other_2"] = filter_object("ids_other", mask, rng)  # another order, dtype, repeats
    forms["list"] = [forms["mask"]] * case.nq                       # one shared object per query
    forms["list_mixed"] = [filter_object(FORMS[q % len(FORMS)], mask, rng) for q in range(case.nq)]
    forms["2d"] = np.tile(mask, (case.nq, 1))
    if mask.all():
        forms["none"] = None
        forms["bitmap_all"] = Bitmap.all(case.n)
    if not mask.any():
        forms["bitmap_none"] = Bitmap.none(case.n)
    ids0, d0, st0 = search(index, queries, case.k, forms["mask"], ef=case.ef, strategy=strategy)
    for name, flt in forms.items():
        ids, d, st = search(index, queries, case.k, flt, ef=case.ef, strategy=strategy)
        assert ids.tolist() == ids0.tolist(), f"{name}: {ids.tolist()} != mask: {ids0.tolist()}"
        np.testing.assert_array_equal(d, d0, err_msg=name)
        assert st["strategy"].tolist() == st0["strategy"].tolist(), name


def planned_route(rule, n, valid):
    if valid <= rule["exact_max_valid"]:
        return "exact"
    return "graph" if valid >= rule["graph_min_fraction"] * n else "mci"


@PROPERTY
@given(case=cases(),
       exact_fraction=st.sampled_from([0.0, 0.05, 0.3]),
       graph_fraction=st.sampled_from([0.0, 0.2, 0.6, 1.01, 1.01]),
       cost_ratio=st.sampled_from([0.0, 0.01, 1.0, 100.0, 1e6]),
       full_list=st.booleans())
def test_planner_routes_and_fallbacks(case, exact_fraction, graph_fraction, cost_ratio, full_list):
    """auto under planner rules that send queries down every route, with budgets from none to
    tiny (planned traversals then hand their query to the exact scan)."""
    data, built, queries, flt, masks = case.build()
    rule = {"exact_max_fraction": exact_fraction, "exact_min_valid": 0,
            "graph_min_fraction": max(graph_fraction, exact_fraction), "exact_cost_ratio": cost_ratio}
    index = Index(dict(built._header, planner=rule), built._sections)  # as Index.load would make it
    ef = case.n if full_list else case.ef  # long lists spend the budget of small indexes
    ids, dists, stats = search(index, queries, case.k, flt, ef=ef, strategy="auto")
    check_results(case, data, queries, masks, ids, dists, stats, "auto")
    applied = index.plan_rule(min(max(ef, min(case.k, case.n)), case.n))
    for q in range(case.nq):
        event(f"route {stats['strategy'][q]}, fallback {stats['fallback_reason'][q] or '-'}")
        planned = planned_route(applied, case.n, int(stats["valid"][q]))
        if "codes" in built._sections and stats["valid"][q] <= min(max(4 * case.k, ef), case.n):
            planned = "exact"  # codes: a filter within the re-rank list is scanned with the floats
        assert stats["strategy"][q] == ("exact" if stats["fallback"][q] else planned)
        assert not (stats["fallback"][q] and planned == "exact")
    # A query answered by the exact scan (planned or fallen back) is brute force exactly.
    ref_ids, ref_d = brute_force(data, queries, case.k, case.metric, masks)
    exact = stats["strategy"] == "exact"
    np.testing.assert_array_equal(ids[exact], ref_ids[exact])
    np.testing.assert_array_equal(dists[exact], ref_d[exact])


@pytest.mark.parametrize("strategy", ROUTES)
@pytest.mark.parametrize("ef", [1, 64, 10_000])
def test_small_filter_of_isolated_points_returns_all(strategy, ef):
    """40 tight clusters far apart, a filter allowing one point of each, k = 40: every route
    must return all 40. (The clique traversal only moves through valid points, so a valid point
    whose cliques and graph neighbours are all filtered out is found only if it is seeded.)"""
    data, allowed = separated_clusters()
    index = Index.build(data, "l2", **BUILD)
    queries = data[[0, 55, 201]] + np.float32(0.01)
    ids, dists, stats = search(index, queries, allowed.size, allowed, ef=ef, strategy=strategy)
    for q in range(len(queries)):
        missing = sorted(set(allowed.tolist()) - set(ids[q].tolist()))
        assert not missing, (f"query {q}: {strategy} (ef={ef}) missed {len(missing)} of {allowed.size} allowed ids "
                             f"with k={allowed.size}; early_stop={stats['early_stop_reason'][q]!r}")


@pytest.mark.parametrize("metric", METRICS)
def test_planned_traversals_that_overrun_are_answered_exactly(metric):
    """The fallbacks the random planner rules rarely reach on small indexes: a tiny distance
    budget (a full-length list on 300 points) and a filter that excludes the query's
    neighbourhood. Whatever happens, the answer is brute force exactly."""
    data, built = dataset(300, 8, "gaussian", metric, 7)
    queries = make_queries(data, 4, "near", metric, 8)
    gap = ((data[None] - queries[:, None]) ** 2).sum(-1)
    far = [np.argsort(-g)[:60] for g in gap]  # each query's 60 farthest points (20%)
    reasons = set()
    for graph_fraction, flt, masks in [(0.0, None, [None] * 4),
                                       (1.01, far, [np.isin(np.arange(300), f) for f in far])]:
        rule = {"exact_max_fraction": 0.0, "exact_min_valid": 0, "graph_min_fraction": graph_fraction,
                "exact_cost_ratio": 1e6}
        # Float vectors only: with codes a 300-long list is the whole index, scanned at once.
        header = {k: v for k, v in built._header.items() if k not in ("codes", "code_error")}
        sections = {k: v for k, v in built._sections.items() if not k.startswith("code")}
        index = Index(dict(header, planner=rule), sections)
        ids, dists, stats = search(index, queries, 10, flt, ef=300, strategy="auto")
        case = Case(300, 8, "gaussian", metric, 7, 4, "near", 10, 300, "list", [])
        check_results(case, data, queries, masks, ids, dists, stats, "auto")
        assert stats["fallback"].all() and np.all(stats["strategy"] == "exact")
        reasons |= set(stats["fallback_reason"])
        ref_ids, ref_d = brute_force(data, queries, 10, metric, masks)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(dists, ref_d)
    assert {"distance budget", "no valid point near the query"} <= reasons, reasons
