"""Fuzzing the index file format (hypothesis): whatever the bytes, Index.load either raises a
clear error or returns the very index that was saved, and never reads out of bounds.

Two families of mutations of a small saved index:

* raw damage -- flipped bits, overwritten bytes, truncation, appended or inserted bytes, spliced
  ranges, overwritten length fields: every one must be detected (``IndexFormatError``), or the
  load must give arrays and header identical to the original;
* hostile files with valid checksums -- the JSON header (section offsets, lengths, shapes,
  dtypes, counts, planner rule) or the payloads (ids, offsets, vectors) rewritten by someone who
  recomputes every CRC: the structural checks alone must reject it with ``IndexFormatError`` /
  ``ValueError``, or the index must load, validate and search without crashing.

The default run is a few seconds. ``MCINDEX_FUZZ_EXAMPLES=N`` runs N examples per family (the
figures in RELIABILITY.md come from that mode).
"""

from __future__ import annotations

import copy
import json
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcindex import Index
from mcindex.cli import _index_info
from mcindex.collection.report import format_info
from mcindex.persistence import IndexFormatError

EXAMPLES = int(os.environ.get("MCINDEX_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 300, deadline=None, derandomize=EXAMPLES is None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Original(tuple):
    """(index, file bytes, queries), with a short repr for hypothesis' failure reports."""

    def __repr__(self) -> str:
        return f"<saved index, {len(self[1])} bytes>"


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((120, 6)) * [1, 2, 3, 1, 1, 1]).astype(np.float32)
    index = Index.build(data, "l2", pool_size=16, min_clique_size=4, degree=6, threads=1, progress=False,
                        stats_sample=20)
    path = tmp_path_factory.mktemp("fuzz") / "index.mci"
    index.save(path)
    return Original((index, path.read_bytes(), data[:4] + np.float32(0.1)))


def same_index(a: Index, b: Index) -> bool:
    if a._header != b._header or set(a._sections) != set(b._sections):
        return False
    return all(a._sections[k].dtype == b._sections[k].dtype and np.array_equal(a._sections[k], b._sections[k])
               for k in a._sections)


_counter = iter(range(10**9))
OUTCOMES: dict[str, int] = {}  # "family: outcome" -> loads (two per example: copied and mapped)


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    """With MCINDEX_FUZZ_EXAMPLES set, print how the cases ended (run pytest with -s)."""
    yield
    if EXAMPLES:
        print("\nfuzz outcomes (loads; each example loads its file twice, copied and mapped):")
        for key, count in sorted(OUTCOMES.items()):
            print(f"  {key}: {count}")


def count(key: str) -> None:
    OUTCOMES[key] = OUTCOMES.get(key, 0) + 1


def fresh(tmp_path, data: bytes):
    """A new file per example: a file still mapped by an earlier example is never rewritten."""
    path = tmp_path / f"fuzzed-{next(_counter)}.mci"
    path.write_bytes(data)
    return path


def load_outcome(path, mmap):
    """The loaded index, or None after a clear error. Anything else fails the test."""
    try:
        return Index.load(path, mmap=mmap)
    except IndexFormatError as exc:
        assert str(path) in str(exc)  # every message names the file
        return None


# ---- raw damage -------------------------------------------------------------------------------------
@st.composite
def raw_mutations(draw, size):
    kind = draw(st.sampled_from(["flip", "set", "truncate", "append", "insert", "splice", "length", "zero"]))
    pos = draw(st.integers(0, size - 1))
    if kind == "flip":
        return kind, pos, 1 << draw(st.integers(0, 7))
    if kind == "set":
        return kind, pos, draw(st.binary(min_size=1, max_size=16))
    if kind == "truncate":
        return kind, pos, None
    if kind in ("append", "insert"):
        return kind, pos, draw(st.binary(min_size=1, max_size=64))
    if kind == "splice":
        return kind, pos, (draw(st.integers(0, size - 1)), draw(st.integers(1, 256)))
    if kind == "length":  # a preamble length / size field, or a uint64 anywhere, set to a hostile value
        where = draw(st.sampled_from([16, 24, 32, None]))
        value = draw(st.sampled_from([0, 1, 63, 64, 2**31, 2**32 - 1, 2**32, 2**62, 2**64 - 1])
                     | st.integers(0, 2**64 - 1))
        return kind, (pos // 8) * 8 if where is None else where, value
    return kind, pos, draw(st.integers(1, 512))  # zero a range


def apply_raw(good: bytes, mutation) -> bytes:
    kind, pos, arg = mutation
    raw = bytearray(good)
    if kind == "flip":
        raw[pos] ^= arg
    elif kind == "set":
        raw[pos:pos + len(arg)] = arg[: len(raw) - pos]
    elif kind == "truncate":
        del raw[pos:]
    elif kind == "append":
        raw += arg
    elif kind == "insert":
        raw[pos:pos] = arg
    elif kind == "splice":
        src, length = arg
        chunk = good[src:src + length]
        raw[pos:pos + len(chunk)] = chunk[: len(raw) - pos]
    elif kind == "length":
        width = 4 if pos == 32 else 8
        raw[pos:pos + width] = (arg % 2 ** (8 * width)).to_bytes(width, "little")
    else:
        raw[pos:pos + arg] = bytes(len(raw[pos:pos + arg]))
    return bytes(raw)


@FUZZ
@given(data=st.data())
def test_raw_damage_is_detected_or_harmless(original, tmp_path, data):
    index, good, _ = original
    mutation = data.draw(raw_mutations(len(good)))
    bad = apply_raw(good, mutation)
    path = fresh(tmp_path, bad)
    for mmap in (False, True):
        loaded = load_outcome(path, mmap)
        if loaded is not None:
            assert bad == good or same_index(loaded, index), f"{mutation} loaded as a different index"
        count(f"raw {mutation[0]}: " + ("rejected" if loaded is None else "identical"))


# ---- hostile files with valid checksums -----------------------------------------------------------------
def split(good: bytes):
    header_length = struct.unpack_from("<Q", good, 24)[0]
    return json.loads(good[64:64 + header_length]), header_length


def assemble(good: bytes, meta, payload_edits=()):
    """A file with ``meta`` as its JSON header and every checksum valid.

    Payload offsets are kept (the header is re-encoded compactly into the space the writer left);
    ``payload_edits`` are (section, element index, value) writes applied before checksumming.
    """
    raw = bytearray(good)
    original_meta, header_length = split(good)
    by_name = {e["name"]: e for e in original_meta["sections"]}
    for name, i, value in payload_edits:
        e = by_name[name]
        arr = np.frombuffer(bytes(raw[e["offset"]:e["offset"] + e["length"]]), dtype=e["dtype"]).copy()
        if arr.size:
            flat = arr.reshape(-1)
            if flat.dtype.kind in "ui":  # wrap to the element's width (codes are bytes)
                bits = 8 * flat.dtype.itemsize
                value = np.array(value % (1 << bits), dtype=f"<u{flat.dtype.itemsize}").view(flat.dtype)
            flat[i % flat.size] = value
            raw[e["offset"]:e["offset"] + e["length"]] = arr.tobytes()
    for e, src in zip(meta["sections"], original_meta["sections"], strict=False):  # by position: names may be edited
        if isinstance(e.get("checksum"), int) and not isinstance(e["checksum"], bool):
            e["checksum"] = zlib.crc32(bytes(raw[src["offset"]:src["offset"] + src["length"]]))
    blob = json.dumps(meta, separators=(",", ":")).encode()
    data_start = min(e["offset"] for e in original_meta["sections"])
    if 64 + len(blob) > data_start:
        return None  # does not fit without moving the payloads; not an interesting case
    raw[64:data_start] = blob + bytes(data_start - 64 - len(blob))
    version = struct.unpack_from("<I", good, 8)[0]
    pre = struct.pack("<8sIIQQI24s", b"MCINDEX\0", version, 0, len(raw), len(blob), zlib.crc32(blob), bytes(24))
    raw[:64] = pre + struct.pack("<I", zlib.crc32(pre))
    return bytes(raw)


HOSTILE_VALUES = st.one_of(
    st.sampled_from([-1, 0, 1, 2, 3, 63, 64, 65, 119, 120, 121, 2**31 - 1, 2**32 - 1, 2**32, 2**53, 2**63,
                     -(2**63), 10**30, 0.5, -0.0, 1e308, True, False, None, "", "l2", "cosine", "<u4", "<f8",
                     [], [0], [120, 6], [2**40, 6], {}, {"a": 1}]),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
HEADER_KEYS = ["n", "dim", "stride", "entry_point", "nav_degree", "metric", "format", "format_version",
               "build_params", "stats", "build", "planner", "mcindex_version", "codes", "code_error"]
SECTION_KEYS = ["offset", "length", "shape", "dtype", "name", "checksum"]
SECTIONS = ["vectors", "nav_offsets", "nav_neighbors", "clique_offsets", "clique_members", "clique_thresholds",
            "node_offsets", "node_cliques", "codes", "code_ranges", "code_exceptions"]
# Small ids are mostly valid (the index has 120 points): edits that pass the checks and change the
# graph the searches walk, next to hostile ones.
PAYLOAD_VALUES = st.integers(0, 130) | st.sampled_from([2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)


INFO_FIELDS = {"stats": ["sample", "one_hop_reach_mean", "nn10_one_hop", "nn100_one_hop", "pool_recall", "other"],
               "build": ["seconds", "calibration_seconds", "fallback_cliques", "fallback_groups", "phase_seconds", "rounds", "other"],
               "build_params": ["degree", "alpha", "pool_method", "extend_cliques", "seed", "other"]}


@st.composite
def hostile_edits(draw):
    kind = draw(st.sampled_from(["header", "section", "planner", "planner_row", "info", "payload", "payload",
                                 "drop"]))
    if kind == "planner_row":  # a cell of the cost table: a row's field, or one number of a route's curve
        field = draw(st.sampled_from(["selectivity", "exact", "graph", "mci", "extra"]))
        return kind, (draw(st.integers(0, 20)), field, draw(st.integers(0, 8)), draw(st.integers(0, 3))), \
            draw(HOSTILE_VALUES)
    if kind == "info":
        field = draw(st.sampled_from(sorted(INFO_FIELDS)))
        return kind, (field, draw(st.sampled_from(INFO_FIELDS[field]))), draw(HOSTILE_VALUES)
    if kind == "header":
        return kind, draw(st.sampled_from(HEADER_KEYS)), draw(HOSTILE_VALUES)
    if kind == "section":
        return kind, (draw(st.sampled_from(SECTIONS)), draw(st.sampled_from(SECTION_KEYS))), draw(HOSTILE_VALUES)
    if kind == "planner":
        key = draw(st.sampled_from(["exact_max_fraction", "graph_min_fraction", "exact_cost_ratio",
                                    "exact_min_valid", "table"]))
        return kind, key, draw(HOSTILE_VALUES)
    if kind == "payload":
        name = draw(st.sampled_from(SECTIONS))
        value = draw(st.floats(-1e38, 1e38) if name in ("vectors", "clique_thresholds") else PAYLOAD_VALUES)
        return kind, (name, draw(st.integers(0, 10**6))), value
    return kind, draw(st.sampled_from(HEADER_KEYS + ["sections"])), None


def edit_planner_row(rule, where, value):
    row_i, field, point_i, cell_i = where
    table = rule.get("table") if isinstance(rule, dict) else None
    if not isinstance(table, list) or not table or not isinstance(table[row_i % len(table)], dict):
        return
    row = table[row_i % len(table)]
    curve = row.get(field)
    if field in ("graph", "mci") and isinstance(curve, list) and curve and isinstance(curve[point_i % len(curve)], list):
        point = curve[point_i % len(curve)]
        if cell_i < len(point):
            point[cell_i] = value
        else:
            point.append(value)
    else:
        row[field] = value


def apply_hostile(good: bytes, edits):
    meta, _ = split(good)
    payload = []
    for kind, where, value in edits:
        value = copy.deepcopy(value)  # sampled lists and dicts are shared between examples
        if kind == "header":
            meta["header"][where] = value
        elif kind == "section":
            name, key = where
            i = SECTIONS.index(name)  # by position: an earlier edit may have renamed it
            if i < len(meta["sections"]):
                meta["sections"][i][key] = value
        elif kind == "planner":
            if isinstance(meta["header"].get("planner"), dict):
                meta["header"]["planner"][where] = value
        elif kind == "planner_row":
            edit_planner_row(meta["header"].get("planner"), where, value)
        elif kind == "info":
            if isinstance(meta["header"].get(where[0]), dict):
                meta["header"][where[0]][where[1]] = value
        elif kind == "payload":
            payload.append((where[0], where[1], value))
        elif where == "sections":
            meta["sections"].pop()
        else:
            meta["header"].pop(where, None)
    return assemble(good, meta, payload)


@FUZZ
@given(edits=st.lists(hostile_edits(), min_size=1, max_size=3))
def test_hostile_files_with_valid_checksums_are_rejected_or_safe(original, tmp_path, edits):
    index, good, queries = original
    bad = apply_hostile(good, edits)
    if bad is None:
        count("hostile: header too long to re-encode in place (skipped)")
        return
    path = fresh(tmp_path, bad)
    for mmap in (False, True):
        loaded = load_outcome(path, mmap)
        count("hostile: " + ("rejected" if loaded is None else "identical" if same_index(loaded, index)
                             else "loaded, differs, searched"))
        if loaded is None:
            continue
        # It passed every check: then it is an index the core can search without going astray,
        # whatever its contents (they may differ from the original, the CRCs were recomputed).
        loaded.stats()
        repr(loaded)
        for ef in (1, 10, 64, 300):
            loaded.plan_rule(ef)
        format_info(_index_info(str(path)))  # what `mcindex info` prints
        for strategy in ("auto", "exact", "mci", "graph"):
            ids, dists = loaded.search(queries, 5, strategy=strategy, threads=1)
            assert ids.shape == (4, 5) and np.all((ids >= -1) & (ids < len(loaded)))
            # A real result has a finite distance; inf marks an empty slot only.
            assert np.all(np.isfinite(dists[ids >= 0])) and np.all(np.isinf(dists[ids < 0]))
            ids, _ = loaded.search(queries, 5, np.arange(0, len(loaded), 3), strategy=strategy, threads=1)
            assert np.all((ids == -1) | (ids % 3 == 0))


def test_the_unmodified_file_loads_identically(original, tmp_path):
    """The fuzz tests' reference: the re-assembled file with nothing changed is the same index."""
    index, good, _ = original
    path = tmp_path / "same.mci"
    path.write_bytes(apply_hostile(good, []))
    assert same_index(Index.load(path), index)
