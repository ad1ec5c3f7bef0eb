"""The clique enumeration the clique cover is built on, against brute force.

``mcindex._core.maximal_cliques(m, edges)`` runs the build's enumerator (Bron-Kerbosch with
pivoting, degeneracy order at the top level, cpp/cliques/bron_kerbosch.hpp) on a graph of ``m``
vertices and returns every maximal clique, each a sorted list of vertex ids. Checked here:

* completeness and soundness: on small graphs (hypothesis: 0..14 vertices; random, empty,
  complete, stars, disjoint cliques, complete multipartite, with random edits) the result is
  exactly the set a brute-force enumeration of all vertex subsets finds;
* each reported clique is sorted, a clique and maximal, and none is reported twice;
* the same on graphs spread over several 64-bit words (vertex ids up to 511);
* handmade graphs with known answers (Moon-Moser graphs: 3^(m/3) cliques);
* bad input (an edge out of range, a loop, more than 512 vertices) raises ValueError.

Convention: a vertex with no edges is a maximal clique of its own, and the graph with no
vertices has no cliques (not the empty clique).

``MCINDEX_PROPERTY_EXAMPLES=N`` runs N (random, not derandomized) examples per test instead of
the fixed default.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcindex import _core

EXAMPLES = int(os.environ.get("MCINDEX_PROPERTY_EXAMPLES", "0")) or None
PROPERTY = settings(max_examples=EXAMPLES or 300, deadline=None, derandomize=EXAMPLES is None,
                    suppress_health_check=[HealthCheck.too_slow])
MAX_M = 14


# ---- brute force ------------------------------------------------------------------------------
def adjacency(m: int, edges) -> list[int]:
    adj = [0] * m
    for a, b in edges:
        adj[a] |= 1 << b
        adj[b] |= 1 << a
    return adj


def brute_force(m: int, edges) -> set[tuple[int, ...]]:
    """Every maximal clique, by looking at all 2^m vertex subsets (as bit masks, vectorised):
    a clique when each member is linked to every other member; maximal when no vertex outside
    is linked to every member. Non-empty subsets only (see the module docstring)."""
    if m == 0:
        return set()
    adj = np.array(adjacency(m, edges), dtype=np.int64)
    subsets = np.arange(1, 1 << m, dtype=np.int64)
    clique = np.ones(subsets.size, dtype=bool)
    extendable = np.zeros(subsets.size, dtype=bool)
    for v in range(m):
        bit = np.int64(1 << v)
        inside = (subsets & bit) != 0
        linked_to_all_others = (subsets & ~adj[v] & ~bit) == 0
        clique &= ~inside | linked_to_all_others
        extendable |= ~inside & linked_to_all_others
    found = subsets[clique & ~extendable]
    return {tuple(v for v in range(m) if s >> v & 1) for s in found.tolist()}


def enumerate_cliques(m: int, edges) -> list[tuple[int, ...]]:
    """The core's answer, checked for form: lists of ints, each sorted ascending, in range."""
    out = _core.maximal_cliques(m, list(edges))
    assert isinstance(out, list)
    cliques = []
    for c in out:
        assert isinstance(c, list) and all(type(v) is int for v in c), c
        assert c == sorted(c) and len(set(c)) == len(c), f"clique {c} is not sorted or repeats a vertex"
        assert all(0 <= v < m for v in c), f"clique {c} has a vertex out of [0, {m})"
        cliques.append(tuple(c))
    return cliques


def check_cliques(m: int, edges, cliques) -> None:
    """Each reported clique is a clique and maximal; none is reported twice."""
    adj = adjacency(m, edges)
    assert len(set(cliques)) == len(cliques), \
        f"reported twice: {sorted(c for c in set(cliques) if cliques.count(c) > 1)}"
    for c in cliques:
        assert c, "an empty clique was reported"
        for a, b in itertools.combinations(c, 2):
            assert adj[a] >> b & 1, f"{list(c)} is not a clique: {a} and {b} are not linked"
        # Maximal: no vertex is linked to every member (a member is not linked to itself).
        common = adj[c[0]]
        for v in c[1:]:
            common &= adj[v]
        assert common == 0, f"{list(c)} is not maximal: {(common & -common).bit_length() - 1} is linked to every member"


# ---- graphs -------------------------------------------------------------------------------------
def pairs(m: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(m), 2))


@st.composite
def graphs(draw, max_m: int = MAX_M) -> tuple[int, list[tuple[int, int]]]:
    """(m, edge list): a random or structured graph, with random edits, its edges listed in
    random order and direction, some twice."""
    m = draw(st.integers(0, max_m))
    shape = draw(st.sampled_from(["random", "empty", "complete", "stars", "disjoint_cliques", "multipartite"]))
    all_pairs = pairs(m)
    if shape == "random":
        edges = set(draw(st.lists(st.sampled_from(all_pairs), unique=True))) if all_pairs else set()
    elif shape == "empty":
        edges = set()
    elif shape == "complete":
        edges = set(all_pairs)
    else:
        # Vertices into groups: star centres and leaves, cliques, or the parts of a complete
        # multipartite graph (Moon-Moser when every part has 3 vertices).
        group = draw(st.lists(st.integers(0, 4), min_size=m, max_size=m))
        if shape == "stars":
            centre = {g: min(v for v in range(m) if group[v] == g) for g in set(group)}
            edges = {(centre[group[v]], v) for v in range(m) if centre[group[v]] != v}
        elif shape == "disjoint_cliques":
            edges = {(a, b) for a, b in all_pairs if group[a] == group[b]}
        else:
            edges = {(a, b) for a, b in all_pairs if group[a] != group[b]}
    if all_pairs and draw(st.booleans()):  # a few random edits
        for a, b in draw(st.lists(st.sampled_from(all_pairs), max_size=4)):
            edges ^= {(a, b)}
    edges = sorted(edges)
    listed = draw(st.permutations(edges)) if edges else []
    flips = draw(st.lists(st.booleans(), min_size=len(listed), max_size=len(listed)))
    listed = [(b, a) if f else (a, b) for (a, b), f in zip(listed, flips)]
    if listed:
        listed += draw(st.lists(st.sampled_from(listed), max_size=3))  # the same edge twice
    return m, listed


# ---- properties ---------------------------------------------------------------------------------
@PROPERTY
@given(graph=graphs())
def test_maximal_cliques_match_brute_force(graph):
    m, edges = graph
    cliques = enumerate_cliques(m, edges)
    check_cliques(m, edges, cliques)
    expected = brute_force(m, edges)
    got = set(cliques)
    assert got == expected, (f"missing {sorted(expected - got)}, not maximal cliques {sorted(got - expected)}")


@PROPERTY
@given(graph=graphs(max_m=10), size=st.integers(1, 512), data=st.data())
def test_graphs_over_several_words(graph, size, data):
    """A small graph placed on arbitrary ids among ``size`` vertices (up to 512: eight 64-bit
    words per set); every other vertex is isolated, a clique of its own."""
    m, edges = graph
    size = max(size, m)
    place = data.draw(st.lists(st.integers(0, size - 1), min_size=m, max_size=m, unique=True))
    moved = [(place[a], place[b]) for a, b in edges]
    cliques = enumerate_cliques(size, moved)
    check_cliques(size, moved, cliques)
    expected = {tuple(sorted(place[v] for v in c)) for c in brute_force(m, edges)}
    expected |= {(v,) for v in set(range(size)) - set(place)}
    assert set(cliques) == expected


# ---- graphs with known answers ---------------------------------------------------------------------
def multipartite(parts: list[list[int]]) -> list[tuple[int, int]]:
    return [(a, b) for i, p in enumerate(parts) for q in parts[i + 1:] for a in p for b in q]


KNOWN = {
    "no vertices": (0, [], []),
    "one vertex": (1, [], [[0]]),
    "three isolated": (3, [], [[0], [1], [2]]),
    "one edge and an isolated vertex": (3, [(2, 0)], [[0, 2], [1]]),
    "triangle": (3, [(0, 1), (1, 2), (0, 2)], [[0, 1, 2]]),
    "path": (4, [(0, 1), (1, 2), (2, 3)], [[0, 1], [1, 2], [2, 3]]),
    "5-cycle": (5, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], [[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]]),
    "K4 minus an edge": (4, [(0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], [[0, 2, 3], [1, 2, 3]]),
    "star": (5, [(0, 1), (0, 2), (0, 3), (0, 4)], [[0, 1], [0, 2], [0, 3], [0, 4]]),
    "bowtie": (5, [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (2, 4)], [[0, 1, 2], [2, 3, 4]]),
    "K5": (5, pairs(5), [[0, 1, 2, 3, 4]]),
    "K64": (64, pairs(64), [list(range(64))]),
    "K65": (65, pairs(65), [list(range(65))]),
    "two K4 sharing an edge": (6, [p for p in pairs(4)] + [(a, b) for a, b in pairs(6) if {a, b} <= {2, 3, 4, 5}],
                               [[0, 1, 2, 3], [2, 3, 4, 5]]),
    "Moon-Moser 9": (9, multipartite([[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
                     [list(c) for c in itertools.product([0, 1, 2], [3, 4, 5], [6, 7, 8])]),
    # Parts spread over the words of a 200-vertex graph; the other vertices are isolated.
    "Moon-Moser 12 spread": (200, multipartite([[0, 63, 64], [1, 127, 128], [65, 130, 199], [5, 66, 191]]),
                             [sorted(c) for c in itertools.product([0, 63, 64], [1, 127, 128], [65, 130, 199],
                                                                   [5, 66, 191])]
                             + [[v] for v in range(200) if v not in
                                {0, 63, 64, 1, 127, 128, 65, 130, 199, 5, 66, 191}]),
    "512 isolated": (512, [], [[v] for v in range(512)]),
    "disjoint K8 over 512": (512, [(a, b) for a, b in pairs(512) if a // 8 == b // 8],
                             [list(range(s, s + 8)) for s in range(0, 512, 8)]),
    "K512": (512, pairs(512), [list(range(512))]),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_known_graphs(name):
    m, edges, expected = KNOWN[name]
    cliques = enumerate_cliques(m, edges)
    check_cliques(m, edges, cliques)
    assert sorted(cliques) == sorted(tuple(c) for c in expected)


def test_moon_moser_15_has_243_cliques():
    """The complete 5-partite graph with parts of 3 vertices: 3^5 maximal cliques, each taking
    one vertex from every part (the most any 15-vertex graph has)."""
    parts = [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(5)]
    edges = multipartite(parts)
    cliques = enumerate_cliques(15, edges)
    check_cliques(15, edges, cliques)
    assert len(cliques) == 243
    assert set(cliques) == {tuple(sorted(c)) for c in itertools.product(*parts)}


# ---- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("m, edges", [
    (3, [(0, 3)]),             # out of range
    (3, [(7, 1)]),
    (3, [(0, 1), (1, 2), (2, 3)]),
    (0, [(0, 1)]),             # no vertices at all
    (64, [(0, 64)]),           # the first id of the next word
    (3, [(1, 1)]),             # a loop
    (3, [(0, 1), (2, 2)]),
    (513, []),                 # more vertices than the enumerator takes
])
def test_bad_input_raises_value_error(m, edges):
    with pytest.raises(ValueError):
        _core.maximal_cliques(m, edges)


@pytest.mark.parametrize("edge", [(-1, 0), (0, 2**32)])
def test_ids_beyond_uint32_raise_value_error(edge):
    """Ids that do not even fit the core's uint32 are out of range too, and should say so like
    the others (ValueError), not fail the argument conversion (TypeError)."""
    with pytest.raises(ValueError):
        _core.maximal_cliques(3, [edge])
