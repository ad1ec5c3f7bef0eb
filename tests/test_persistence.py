"""The index file format: round trips, atomic saves, and every kind of damage a file can suffer."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from mcindex import persistence
from mcindex.persistence import IndexFormatError, load_index, save_index, validate_index

SECTIONS = ("vectors", "nav_offsets", "nav_neighbors", "clique_offsets", "clique_members",
            "clique_thresholds", "node_offsets", "node_cliques")


# ---- helpers ---------------------------------------------------------------------------------
def csr(rows, dtype=np.uint32):
    """(offsets uint64, values) from a list of id lists."""
    offsets = np.zeros(len(rows) + 1, dtype=np.uint64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    values = np.array([x for r in rows for x in r], dtype=dtype)
    return offsets, values


def make_index(rng, n=50, dim=10, n_cliques=12, nav_degree=6, metric="l2"):
    """A small random index whose arrays are mutually consistent (as the core would build it)."""
    stride = dim + 2  # version 2: any stride >= dim; padding columns must be zero
    vectors = np.zeros((n, stride), dtype=np.float32)
    vectors[:, :dim] = rng.standard_normal((n, dim))
    if metric == "cosine" and n:
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    nav_rows = [rng.choice(n, size=min(n, int(rng.integers(1, nav_degree + 1))), replace=False)
                for _ in range(n)]
    # membership matrix -> both CSRs, so they agree by construction
    member = rng.random((n, n_cliques)) < 0.2
    node_rows = [np.flatnonzero(member[v]) for v in range(n)]
    clique_rows = [np.flatnonzero(member[:, c]) for c in range(n_cliques)]
    nav_offsets, nav_neighbors = csr(nav_rows)
    clique_offsets, clique_members = csr(clique_rows)
    node_offsets, node_cliques = csr(node_rows)
    header = {"format": "mcindex", "format_version": 2, "metric": metric, "n": n, "dim": dim,
              "stride": stride, "entry_point": int(rng.integers(n)) if n else 0,
              "nav_degree": nav_degree, "build_params": {"clique_rounds": 2, "seed": 7},
              "stats": {"build_seconds": 0.25, "n_cliques": n_cliques}, "mcindex_version": "0.1.0"}
    thresholds = rng.uniform(0.5, 2.0, n_cliques).astype(np.float32)
    if n_cliques:
        thresholds[-1] = np.inf  # a fallback group
    sections = {"vectors": vectors, "nav_offsets": nav_offsets, "nav_neighbors": nav_neighbors,
                "clique_offsets": clique_offsets, "clique_members": clique_members,
                "clique_thresholds": thresholds, "node_offsets": node_offsets, "node_cliques": node_cliques}
    return header, sections


def assert_same(loaded, header, sections):
    got_header, got_sections = loaded
    assert got_header == header
    assert set(got_sections) == set(sections)
    for name, arr in sections.items():
        assert got_sections[name].dtype == arr.dtype, name
        assert got_sections[name].shape == arr.shape, name
        np.testing.assert_array_equal(got_sections[name], arr, err_msg=name)


def layout(path):
    """(raw bytes, parsed JSON header) of a saved file."""
    raw = bytearray(path.read_bytes())
    header_length = struct.unpack_from("<Q", raw, 24)[0]
    return raw, json.loads(raw[64:64 + header_length])


def entry(meta, name):
    return next(e for e in meta["sections"] if e["name"] == name)


def rewrite(path, raw, meta, *, version=2, file_size=None, header_length=None, fix=()):
    """Write `raw` back with `meta` as header and valid preamble/header checksums.

    Sections named in `fix` get their checksums recomputed, so the file is corrupt only in the
    way the test intends (a hostile but well-checksummed file). Payload offsets do not move:
    the header is re-encoded compactly into the space the writer's indented header used.
    """
    for name in fix:
        e = entry(meta, name)
        e["checksum"] = zlib.crc32(bytes(raw[e["offset"]:e["offset"] + e["length"]]))
    blob = json.dumps(meta, separators=(",", ":")).encode()
    data_start = min(e["offset"] for e in layout(path)[1]["sections"])
    assert 64 + len(blob) <= data_start
    raw[64:data_start] = blob + bytes(data_start - 64 - len(blob))
    pre = struct.pack("<8sIIQQI24s", b"MCINDEX\0", version, 0,
                      len(raw) if file_size is None else file_size,
                      len(blob) if header_length is None else header_length,
                      zlib.crc32(blob), bytes(24))
    raw[:64] = pre + struct.pack("<I", zlib.crc32(pre))
    path.write_bytes(bytes(raw))


@pytest.fixture
def saved(tmp_path, rng):
    header, sections = make_index(rng)
    path = tmp_path / "index.mci"
    save_index(path, header, sections)
    return path, header, sections


def load_error(path, match, mmap=False):
    with pytest.raises(IndexFormatError, match=match) as info:
        load_index(path, mmap=mmap)
    assert str(path) in str(info.value)  # every message names the file
    return str(info.value)


# ---- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_round_trip(tmp_path, rng, mmap, metric):
    header, sections = make_index(rng, metric=metric)
    path = tmp_path / "index.mci"
    save_index(path, header, sections)
    loaded = load_index(path, mmap=mmap)
    assert_same(loaded, header, sections)
    for arr in loaded[1].values():
        if mmap:
            assert not arr.flags.writeable and not arr.flags.owndata  # a view of the map
        else:
            assert arr.flags.writeable and arr.flags.c_contiguous
    if mmap:
        assert loaded[1]["vectors"].ctypes.data % 64 == 0  # 64-byte aligned rows


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("n, n_cliques", [(0, 0), (0, 3), (1, 0), (1, 2)])
def test_tiny_indexes(tmp_path, rng, mmap, n, n_cliques):
    header, sections = make_index(rng, n=n, n_cliques=n_cliques)
    path = tmp_path / f"tiny{n}.mci"
    save_index(path, header, sections)
    assert_same(load_index(path, mmap=mmap), header, sections)


def test_pathlike_str_and_overwrite(tmp_path, rng):
    h1, s1 = make_index(rng, n=20)
    h2, s2 = make_index(rng, n=30, dim=33)
    path = str(tmp_path / "index.mci")
    save_index(path, h1, s1)
    save_index(path, h2, s2)
    assert_same(load_index(path), h2, s2)
    assert os.listdir(tmp_path) == ["index.mci"]


def test_save_through_a_symlink_replaces_its_target(tmp_path, rng):
    header, sections = make_index(rng)
    (tmp_path / "real").mkdir()
    link = tmp_path / "link.mci"
    link.symlink_to(tmp_path / "real" / "index.mci")
    save_index(link, header, sections)
    assert link.is_symlink()
    assert_same(load_index(tmp_path / "real" / "index.mci"), header, sections)


def test_mapped_arrays_survive_the_file_being_overwritten(tmp_path, rng):
    h1, s1 = make_index(rng)
    path = tmp_path / "index.mci"
    save_index(path, h1, s1)
    _, mapped = load_index(path, mmap=True)
    save_index(path, *make_index(rng, n=20))  # atomic replace: the old mapping is untouched
    assert_same((h1, mapped), h1, s1)


def test_non_contiguous_and_numpy_scalars_are_written_normalised(tmp_path, rng):
    header, sections = make_index(rng)
    wide = np.zeros((50, 2 * sections["vectors"].shape[1]), dtype=np.float32)
    wide[:, ::2] = sections["vectors"]
    sections["vectors"] = wide[:, ::2]  # strided view
    header["n"] = np.int64(50)
    header["stats"]["recall"] = np.float32(0.5)
    path = tmp_path / "index.mci"
    save_index(path, header, sections)
    got_header, got = load_index(path)
    assert got_header["n"] == 50 and type(got_header["n"]) is int
    assert got_header["stats"]["recall"] == 0.5
    np.testing.assert_array_equal(got["vectors"], sections["vectors"])


def test_file_layout_matches_the_documented_format(saved):
    path, header, sections = saved
    raw, meta = layout(path)
    magic, version, flags, file_size, header_length, header_crc, reserved, pre_crc = \
        struct.unpack_from("<8sIIQQI24sI", raw, 0)
    assert (magic, version, flags, reserved) == (b"MCINDEX\0", 2, 0, bytes(24))
    assert file_size == len(raw) and file_size % 64 == 0
    assert header_crc == zlib.crc32(raw[64:64 + header_length])
    assert pre_crc == zlib.crc32(raw[:60])
    assert meta["header"] == header and meta["checksum"] == "crc32"
    assert [e["name"] for e in meta["sections"]] == list(SECTIONS)
    end = 64 + header_length
    for e in meta["sections"]:
        arr = sections[e["name"]]
        assert e["offset"] % 64 == 0 and e["offset"] >= end
        assert not any(raw[end:e["offset"]])  # zero padding
        assert e["dtype"] == arr.dtype.newbyteorder("<").str
        assert e["shape"] == list(arr.shape) and e["length"] == arr.nbytes
        assert bytes(raw[e["offset"]:e["offset"] + e["length"]]) == arr.tobytes()
        assert e["checksum"] == zlib.crc32(arr.tobytes())
        end = e["offset"] + e["length"]


# Files written by earlier versions must stay readable forever. The current version's fixture
# must also be produced byte for byte by today's writer (otherwise the format has changed: bump
# FORMAT_VERSION and keep the file as the old version's test).
V1_FIXTURE = Path(__file__).parent / "data" / "index_v1.mci"  # mcindex 0.1.0, rows padded to 16
V2_FIXTURE = Path(__file__).parent / "data" / "index_v2.mci"  # rows unpadded


def fixture_index(version=2):
    stride = 16 if version == 1 else 3
    vectors = np.zeros((3, stride), dtype=np.float32)
    vectors[:, :3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, -1.0]]
    nav_offsets, nav_neighbors = csr([[1, 2], [0], [0, 1]])
    clique_offsets, clique_members = csr([[0, 1], [0, 2]])
    node_offsets, node_cliques = csr([[0, 1], [0], [1]])
    header = {"format": "mcindex", "format_version": version, "metric": "l2", "n": 3, "dim": 3,
              "stride": stride, "entry_point": 0, "nav_degree": 2, "build_params": {"k": 2},
              "stats": {"n_cliques": 2}, "mcindex_version": "0.1.0"}
    return header, {"vectors": vectors, "nav_offsets": nav_offsets, "nav_neighbors": nav_neighbors,
                    "clique_offsets": clique_offsets, "clique_members": clique_members,
                    "clique_thresholds": np.array([1.5, np.inf], dtype=np.float32),
                    "node_offsets": node_offsets, "node_cliques": node_cliques}


@pytest.mark.parametrize("mmap", [False, True])
def test_version_1_fixture_still_loads(tmp_path, mmap):
    path = tmp_path / "v1.mci"
    path.write_bytes(V1_FIXTURE.read_bytes())
    header, sections = fixture_index(version=1)
    assert_same(load_index(path, mmap=mmap), header, sections)


def test_version_1_index_resaves_as_the_current_version(tmp_path):
    path = tmp_path / "again.mci"
    save_index(path, *load_index(V1_FIXTURE))
    header, sections = fixture_index(version=1)
    header["format_version"] = 2
    assert_same(load_index(path), header, sections)


def test_writer_still_produces_the_version_2_fixture(tmp_path):
    path = tmp_path / "v2.mci"
    save_index(path, *fixture_index())
    assert path.read_bytes() == V2_FIXTURE.read_bytes()


def test_preamble_and_header_versions_must_agree(saved):
    path, _, _ = saved
    raw, meta = layout(path)
    rewrite(path, raw, meta, version=1)
    load_error(path, r"header\['format_version'\] is 2 but the preamble says version 1")


# ---- damaged files ---------------------------------------------------------------------------
@pytest.mark.parametrize("mmap", [False, True])
def test_truncated(saved, mmap):
    path, _, _ = saved
    raw, meta = layout(path)
    header_end = 64 + struct.unpack_from("<Q", raw, 24)[0]
    vec = entry(meta, "vectors")
    cuts = [4, 12, 40, 63, 64, 100, header_end - 1, header_end + 5,
            vec["offset"] + vec["length"] // 2, len(raw) - 1]
    for cut in cuts:
        path.write_bytes(bytes(raw[:cut]))
        msg = load_error(path, "truncated", mmap=mmap)
        if cut >= 64:
            assert f"expected {len(raw)} bytes, file has {cut}" in msg
        else:
            assert f"file has {cut}" in msg


def test_empty_and_foreign_files(tmp_path):
    path = tmp_path / "x.mci"
    path.write_bytes(b"")
    load_error(path, "not an mcindex file")
    path.write_bytes(b"\x93NUMPY" + bytes(200))
    load_error(path, "not an mcindex file")
    path.write_bytes(b"MCIN")  # a prefix of the magic: a truncated file, not a foreign one
    load_error(path, "truncated")


def test_wrong_magic(saved):
    path, _, _ = saved
    raw, _ = layout(path)
    raw[:8] = b"MCINDEY\0"
    path.write_bytes(bytes(raw))
    load_error(path, "not an mcindex file")


def test_newer_version_names_both_versions(saved):
    path, _, _ = saved
    raw, meta = layout(path)
    rewrite(path, raw, meta, version=4)
    load_error(path, r"format version 4 is newer than this mcindex supports \(version 3\)")


def test_trailing_data(saved):
    path, _, _ = saved
    with open(path, "ab") as f:
        f.write(b"\0" * 64)
    load_error(path, r"file size mismatch: expected \d+ bytes, file has \d+ \(trailing data\)")


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("name", SECTIONS)
def test_flipped_byte_in_each_section(saved, name, mmap):
    path, _, _ = saved
    raw, meta = layout(path)
    e = entry(meta, name)
    assert e["length"] > 0
    raw[e["offset"] + e["length"] // 2] ^= 0x10
    path.write_bytes(bytes(raw))
    load_error(path, f"checksum mismatch in section '{name}'", mmap=mmap)


def test_flipped_byte_in_header_preamble_and_padding(saved):
    path, _, _ = saved
    good, meta = layout(path)
    header_end = 64 + struct.unpack_from("<Q", good, 24)[0]
    for pos, match in [(64 + 20, "checksum mismatch in header"),
                       (header_end - 1, "checksum mismatch in header"),
                       (17, "checksum mismatch in preamble"),   # file_size
                       (25, "checksum mismatch in preamble"),   # header_length
                       (40, "checksum mismatch in preamble"),   # reserved
                       (header_end, "non-zero padding")]:
        raw = bytearray(good)
        raw[pos] ^= 0x01
        path.write_bytes(bytes(raw))
        for mmap in (False, True):
            load_error(path, match, mmap=mmap)


def test_every_single_byte_corruption_is_detected(tmp_path):
    """No byte of the file is unprotected, and no damage escapes as another exception."""
    path = tmp_path / "v1.mci"
    save_index(path, *fixture_index())
    good = path.read_bytes()
    with open(path, "r+b") as f:
        for pos in range(len(good)):
            f.seek(pos)
            f.write(bytes([good[pos] ^ 0x80]))
            f.flush()
            with pytest.raises(IndexFormatError):
                load_index(path, mmap=bool(pos % 2))
            f.seek(pos)
            f.write(good[pos:pos + 1])
            f.flush()
    assert_same(load_index(path), *fixture_index())


def test_header_claiming_a_huge_section(saved):
    path, _, _ = saved
    good, meta = layout(path)
    e = entry(meta, "nav_neighbors")
    e["shape"] = [10**15]
    e["length"] = 4 * 10**15
    rewrite(path, bytearray(good), meta)
    load_error(path, "'nav_neighbors': bytes .* extend past the end of the file")
    # shape and length that disagree are caught before anything is allocated
    _, meta = layout(path)
    entry(meta, "vectors")["shape"] = [10**12, 16]
    rewrite(path, bytearray(good), meta)
    load_error(path, "'vectors': shape .* needs 64000000000000 bytes but its length is")


def test_header_length_beyond_the_file(saved):
    path, _, _ = saved
    raw, meta = layout(path)
    rewrite(path, raw, meta, header_length=2**62)
    load_error(path, "header length 4611686018427387904 does not fit")


@pytest.mark.parametrize("change, match", [
    (lambda m: entry(m, "node_cliques").update(offset=entry(m, "node_offsets")["offset"]),
     "overlap"),
    (lambda m: entry(m, "vectors").update(offset=entry(m, "vectors")["offset"] + 4),
     "not 64-byte aligned"),
    (lambda m: entry(m, "vectors").update(offset=0), "inside the preamble or header"),
    (lambda m: entry(m, "vectors").update(dtype="<f8"), "dtype '<f8', expected '<f4'"),
    (lambda m: entry(m, "nav_offsets").update(shape=[51, 1]), "expected a list of 1"),
    (lambda m: entry(m, "nav_offsets").update(length="8"), "length must be a non-negative int"),
    (lambda m: m["sections"].pop(), "missing section.*node_cliques"),
    (lambda m: m["sections"].append(dict(m["sections"][0])), "appears twice"),
    (lambda m: m["sections"].append(dict(m["sections"][0], name="labels")), "unknown section 'labels'"),
    (lambda m: m.update(checksum="md5"), "unsupported checksum algorithm"),
    (lambda m: m.pop("header"), "needs 'header'"),
    (lambda m: m["header"].update(metric="hamming"), "metric"),
    (lambda m: m["header"].update(n=49), "expected \\(n, stride\\)"),
    (lambda m: m["header"].pop("stride"), "missing required key.*stride"),
])
def test_bad_section_table_or_header(saved, change, match):
    path, _, _ = saved
    raw, meta = layout(path)
    change(meta)
    rewrite(path, raw, meta)
    load_error(path, match)


def test_header_not_json(saved):
    path, _, _ = saved
    raw, meta = layout(path)
    rewrite(path, raw, meta)
    raw, _ = layout(path)
    header_length = struct.unpack_from("<Q", raw, 24)[0]
    raw[64:64 + header_length] = b"{" * header_length  # valid checksum, invalid JSON
    pre = bytes(raw[:32]) + struct.pack("<I", zlib.crc32(raw[64:64 + header_length])) + bytes(24)
    raw[:64] = pre + struct.pack("<I", zlib.crc32(pre))
    path.write_bytes(bytes(raw))
    load_error(path, "header is not valid JSON")


# ---- well-checksummed files holding an invalid index ----------------------------------------
def patch_section(path, name, fn):
    raw, meta = layout(path)
    e = entry(meta, name)
    arr = np.frombuffer(bytes(raw[e["offset"]:e["offset"] + e["length"]]), dtype=e["dtype"]).copy()
    fn(arr)
    raw[e["offset"]:e["offset"] + e["length"]] = arr.tobytes()
    rewrite(path, raw, meta, fix=[name])


def first_row_with(offsets, at_least):
    return int(np.flatnonzero(np.diff(offsets.astype(np.int64)) >= at_least)[0])


@pytest.mark.parametrize("mmap", [False, True])
def test_offsets_not_monotone(saved, mmap):
    path, _, sections = saved
    v = first_row_with(sections["nav_offsets"], 1)

    def bump(a):
        a[v + 1] = a[v + 2] + 1
    patch_section(path, "nav_offsets", bump)
    load_error(path, "nav_offsets is not non-decreasing", mmap=mmap)


@pytest.mark.parametrize("name, bound", [("nav_neighbors", "n = 50"),
                                         ("clique_members", "n = 50"),
                                         ("node_cliques", "the number of cliques C = 12")])
def test_id_out_of_range(saved, name, bound):
    path, _, _ = saved

    def bad(a):
        a[0] = 50 if name != "node_cliques" else 12
    patch_section(path, name, bad)
    load_error(path, rf"{name}\[0\] = \d+ \(row 0\) is out of range: must be < {bound}")


def test_node_cliques_unsorted(saved):
    path, _, sections = saved
    v = first_row_with(sections["node_offsets"], 2)
    start = int(sections["node_offsets"][v])

    def swap(a):
        a[start], a[start + 1] = a[start + 1], a[start]
    patch_section(path, "node_cliques", swap)
    load_error(path, f"node_cliques of point {v} are not sorted strictly increasing")


def test_membership_csrs_disagree(saved):
    """A point lists a clique that does not list it (both CSRs individually well formed)."""
    path, _, sections = saved
    offsets, cliques = sections["node_offsets"], sections["node_cliques"]
    v = first_row_with(offsets, 1)
    row = cliques[int(offsets[v]):int(offsets[v + 1])].tolist()
    upper = row[1] if len(row) > 1 else 12
    replacement = next(c for c in range(upper) if c not in row)  # keeps the row sorted

    def move(a):
        a[int(offsets[v])] = replacement
    patch_section(path, "node_cliques", move)
    load_error(path, "clique_members and node_cliques disagree")


# ---- validate_index on in-memory indexes -----------------------------------------------------
def _set(section, index, value):
    def f(h, s):
        s[section] = s[section].copy()
        s[section][index] = value
    return f


INVALID = [
    ("header not a dict", lambda h, s: h.clear() or h.update(x=1), "missing required key"),
    ("bool n", lambda h, s: h.update(n=True), r"header\['n'\] must be an int"),
    ("float dim", lambda h, s: h.update(dim=10.0), r"header\['dim'\] must be an int"),
    ("stats not dict", lambda h, s: h.update(stats=[]), r"header\['stats'\] must be a dict"),
    ("format", lambda h, s: h.update(format="faiss"), "must be 'mcindex'"),
    ("format_version", lambda h, s: h.update(format_version=4), "format_version'\\] is 4"),
    ("metric", lambda h, s: h.update(metric="L2"), "metric"),
    ("negative dim", lambda h, s: h.update(dim=-1), r"header\[.dim.\] must be an int in \[0, "),
    ("stride < dim", lambda h, s: h.update(dim=17), "smaller than"),
    ("v1 stride not padded", lambda h, s: h.update(format_version=1, stride=24, dim=10), "multiple of 16"),
    ("entry point", lambda h, s: h.update(entry_point=50), "entry_point'\\] = 50 is not < n = 50"),
    ("missing section", lambda h, s: s.pop("nav_neighbors"), "missing section 'nav_neighbors'"),
    ("unknown section", lambda h, s: s.update(labels=np.zeros(3)), "unknown section"),
    ("list section", lambda h, s: s.update(nav_neighbors=[1, 2]), "must be a numpy array"),
    ("float64 vectors", lambda h, s: s.update(vectors=s["vectors"].astype(np.float64)),
     "vectors' has dtype float64, expected float32"),
    ("int32 ids", lambda h, s: s.update(nav_neighbors=s["nav_neighbors"].astype(np.int32)),
     "expected uint32"),
    ("1-D vectors", lambda h, s: s.update(vectors=s["vectors"].ravel()), "must be 2-D"),
    ("vectors rows", lambda h, s: s.update(vectors=s["vectors"][:-1]), "expected \\(n, stride\\)"),
    ("nan vector", _set("vectors", (3, 2), np.nan), "vectors row 3 is not finite"),
    ("huge vector", _set("vectors", (4, 1), 1e30), "vectors row 4 has a coordinate above .* would overflow"),
    ("padding", _set("vectors", (4, 11), 1.0), "vectors row 4 has non-zero padding"),
    ("offsets[0]", _set("nav_offsets", 0, 1), r"nav_offsets\[0\] = 1, must be 0"),
    ("offsets length", lambda h, s: s.update(node_offsets=s["node_offsets"][:-1]),
     "node_offsets has length 50, expected 51"),
    ("offsets last", lambda h, s: s.update(clique_offsets=np.append(s["clique_offsets"][:-1],
                                                                    s["clique_offsets"][-1] + 1)),
     r"clique_offsets\[-1\] = \d+ but clique_members has \d+ entries"),
    ("no clique offsets", lambda h, s: s.update(clique_offsets=np.zeros(0, np.uint64)),
     "at least one entry"),
    ("degree", lambda h, s: h.update(nav_degree=0), "more than header\\['nav_degree'\\] = 0"),
    ("membership totals", lambda h, s: s.update(
        node_offsets=np.zeros(51, np.uint64), node_cliques=np.zeros(0, np.uint32)),
     "clique_members has \\d+ entries but node_cliques has 0"),
]


@pytest.mark.parametrize("label, corrupt, match", INVALID, ids=[c[0] for c in INVALID])
def test_validate_index_rejects(rng, label, corrupt, match):
    header, sections = make_index(rng)
    validate_index(header, sections)
    corrupt(header, sections)
    with pytest.raises(IndexFormatError, match=match):
        validate_index(header, sections)


def test_validate_index_rejects_non_dicts(rng):
    header, sections = make_index(rng)
    with pytest.raises(IndexFormatError, match="header must be a dict"):
        validate_index([], sections)
    with pytest.raises(IndexFormatError, match="sections must be a dict"):
        validate_index(header, None)


def test_index_format_error_is_a_value_error():
    assert issubclass(IndexFormatError, ValueError)


# ---- failed saves ----------------------------------------------------------------------------
def test_failed_replace_keeps_the_old_file_and_no_temp(saved, monkeypatch, rng):
    path, header, sections = saved
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk on fire")
    monkeypatch.setattr(persistence.os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        save_index(path, *make_index(rng, n=20))
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_failed_fsync_keeps_the_old_file_and_no_temp(saved, monkeypatch, rng):
    path, header, sections = saved
    before = path.read_bytes()

    def boom(fd):
        raise OSError("fsync failed")
    monkeypatch.setattr(persistence.os, "fsync", boom)
    with pytest.raises(OSError, match="fsync failed"):
        save_index(path, *make_index(rng, n=20))
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


@pytest.mark.parametrize("corrupt, match", [
    (_set("nav_neighbors", 0, 50), "out of range"),
    (lambda h, s: h["stats"].update(obj=object()), r"header\['stats'\]\['obj'\] must be a number, a string"),
    (lambda h, s: h["stats"].update(ratio=float("nan")), r"header\['stats'\]\['ratio'\] must be a finite number"),
])
def test_invalid_index_is_never_written(saved, rng, corrupt, match):
    path, header, sections = saved
    before = path.read_bytes()
    h, s = make_index(rng)
    corrupt(h, s)
    with pytest.raises(IndexFormatError, match=match):
        save_index(path, h, s)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    with pytest.raises(IndexFormatError):
        save_index(path.parent / "new.mci", h, s)
    assert os.listdir(path.parent) == [path.name]


# ---- special files: never read, never replaced ---------------------------------------------------
def _special_files(tmp_path):
    """A FIFO, a UNIX socket and (when allowed: root in a container) a private copy of /dev/null,
    each with the path a user might pass."""
    import socket
    import stat

    out = {}
    fifo = tmp_path / "fifo.mci"
    os.mkfifo(fifo)
    out["fifo"] = fifo
    sock_path = tmp_path / "sock.mci"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    out["socket"] = sock_path
    try:
        dev = tmp_path / "null.mci"
        os.mknod(dev, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        out["device"] = dev
    except (PermissionError, OSError):
        pass
    return out, sock


def test_loading_a_fifo_device_or_socket_is_refused_without_blocking(tmp_path):
    """Opening a FIFO for reading would wait for a writer forever: the load is refused first.
    Run in a child process so that a regression fails by timeout instead of hanging pytest."""
    import subprocess
    import sys

    files, sock = _special_files(tmp_path)
    with sock:
        for kind, path in [*files.items(), ("/dev/null", Path("/dev/null"))]:
            code = ("import sys\nfrom mcindex.persistence import IndexFormatError, load_index\n"
                    f"try:\n    load_index({str(path)!r})\nexcept IndexFormatError as e:\n    print(e)\n")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert str(path) in out.stdout and "not a regular file" in out.stdout, (kind, out.stdout)


def test_saving_over_a_fifo_device_or_socket_is_refused(tmp_path, rng):
    files, sock = _special_files(tmp_path)
    with sock:
        for kind, path in files.items():
            with pytest.raises(FileExistsError, match="not a regular file; refusing to replace it"):
                save_index(path, *make_index(rng, n=20))
            assert not path.is_file(), kind  # still the special file
        # through a symlink, the target is what a save would replace
        link = tmp_path / "link.mci"
        link.symlink_to(files["fifo"])
        with pytest.raises(FileExistsError):
            save_index(link, *make_index(rng, n=20))
        assert link.is_symlink() and not files["fifo"].is_file()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
