"""Fuzzing collection and sharded-collection directories (hypothesis): whatever the files hold,
loading either raises ``CollectionFormatError`` naming the directory, or gives a collection that
works; nothing else escapes, nothing crashes or hangs.

Two small directories are built once, with every column kind (numeric int, float and timestamp;
categorical str and int; boolean; multi_label; keywords; missing values in each) and str ids:
a collection saved with Arrow and with npz attributes, and a sharded collection of two shards
(one of each format) written with the library's own storage functions, no Ray. Sharded
directories are loaded the way the driver and the shard actors do: ``read_manifest``,
``verify_shard_manifests``, then ``Collection.load`` per shard.

Two families of damage per directory kind:

* raw damage -- flipped bits, overwritten, truncated, inserted, appended, spliced or zeroed
  bytes in one file (manifests included), checksums left as they were: every change must be
  rejected, or the load must give exactly the saved collection(s);
* hostile content with recomputed checksums -- an attacker edits content and recomputes every
  size and SHA-256 (the manifests' own, and each shard's ``manifest_sha256``): manifest keys set
  to hostile values (wrong types, huge or negative ints, deep nesting, huge strings, unknown
  kinds, copied or removed entries), Arrow buffers (offsets, validity, data, invalid UTF-8),
  Arrow metadata (row counts, null counts, buffer offsets and lengths), the Arrow schema (names,
  types, columns, rows, dictionaries, compression), ``.npz`` members (wrong dtype, shape or
  values, unsorted labels, out-of-range offsets and codes, dropped, added or duplicated members,
  npy headers, compressed or damaged zip structure), the index (another valid index, damage),
  files replaced by symlinks or directories, shard entries. Each must be rejected, or load and
  then answer ``info()``, ``attributes()``, ``count`` and ``search`` (no filter, a predicate over
  every column, a SQL filter when DuckDB is installed) with no other exception.

Each example writes its directory into a fresh temporary directory and deletes it after, so a
long run keeps memory and disk flat. The default run takes a few tens of seconds;
``MCINDEX_FUZZ_EXAMPLES=N`` runs N examples per test, and ``pytest -s`` then prints how the
examples ended (the figures in RELIABILITY.md come from that mode).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcindex import Collection, Index, col
from mcindex.collection import CollectionFormatError
from mcindex.collection._arrowfile import _BLOCK, _FlatBuffer
from mcindex.collection.storage import SELF_CHECKSUM, manifest_digest, write_manifest
from mcindex.distributed.storage import MAX_MANIFEST_BYTES as SHARDED_MAX_BYTES
from mcindex.distributed.storage import make_manifest, read_manifest, verify_shard_manifests
from test_file_fuzz import apply_raw, raw_mutations, same_index

pa = pytest.importorskip("pyarrow")
try:
    import duckdb  # noqa: F401
    HAVE_SQL = True
except ImportError:  # pragma: no cover - the sql extra is installed in CI
    HAVE_SQL = False

EXAMPLES = int(os.environ.get("MCINDEX_FUZZ_EXAMPLES", "0")) or None


def fuzz(default: int):
    return settings(max_examples=EXAMPLES or default, deadline=None, derandomize=EXAMPLES is None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


FAST = dict(pool_size=16, min_clique_size=4, degree=6, threads=1, progress=False, stats_sample=20, calibrate=False)
N, DIM = 80, 6
KINDS = {"code": "categorical", "notes": "keywords"}
OUTCOMES: dict[str, int] = {}


def count(key: str) -> None:
    OUTCOMES[key] = OUTCOMES.get(key, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    """With MCINDEX_FUZZ_EXAMPLES set, print how the examples ended (run pytest with -s)."""
    yield
    if EXAMPLES:
        print("\ncollection fuzz outcomes (examples):")
        for key, n in sorted(OUTCOMES.items()):
            print(f"  {key}: {n}")


# ---- the original directories ----------------------------------------------------------------------
def attributes(rows: np.ndarray) -> dict[str, object]:
    """Every column kind, with missing values, for the given row numbers."""
    r = [int(i) for i in rows]
    when = np.array([np.datetime64("2024-01-01T00:00", "us") + np.timedelta64(i * 3_600_000_001, "us")
                     for i in r], dtype="datetime64[us]")
    when[[k for k, i in enumerate(r) if i % 13 == 0]] = np.datetime64("NaT")
    return {
        "price": np.array([np.nan if i % 9 == 0 else 1.5 * i - 20 for i in r]),
        "qty": np.array([None if i % 11 == 0 else 3 * i - 40 for i in r], dtype=object),
        "when": when,
        "shop": np.array([None if i % 7 == 0 else f"shop-{i % 5}" for i in r], dtype=object),
        "code": np.array([None if i % 10 == 3 else (i % 4) * 100 for i in r], dtype=object),
        "in_stock": np.array([None if i % 8 == 1 else bool(i % 3) for i in r], dtype=object),
        "tags": [None if i % 12 == 5 else [] if i % 12 == 6 else [f"t{(i * j) % 7}" for j in range(1, 1 + i % 3)]
                 for i in r],
        "notes": [None if i % 9 == 4 else f"Item {i}: {'great' if i % 2 else 'fine'} SALE, ünïcode" for i in r],
    }


def read_tree(root: str) -> dict[str, bytes]:
    out = {}
    for base, _, names in os.walk(root):
        for name in names:
            full = os.path.join(base, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, root)] = f.read()
    return out


def write_tree(root: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(c: Collection) -> tuple:
    """Everything a loaded collection holds, to compare two loads byte for byte."""
    columns = {name: sorted((k, v.dtype.str, v.shape, v.tobytes()) for k, v in c.column(name).to_npz().items())
               for name in c.column_names}
    return list(c.ids) if c.ids is not None else None, c.kinds, columns


class Original:
    """The saved files of the fixtures, their collections and the queries."""

    def __init__(self, base: str):
        rng = np.random.default_rng(0)
        vectors = (rng.standard_normal((N, DIM)) * [1, 2, 3, 1, 1, 1]).astype(np.float32)
        ids = [f"item-{i:03d}" for i in range(N)]
        self.queries = vectors[:3] + np.float32(0.05)
        self.collection = Collection.build(vectors, attributes(np.arange(N)), metric="l2", ids=ids, kinds=KINDS,
                                           **FAST)
        self.files: dict[str, dict[str, bytes]] = {}
        for fmt in ("arrow", "npz"):
            path = os.path.join(base, fmt)
            self.collection.save(path, attributes_format=fmt)
            self.files[fmt] = read_tree(path)
        # other valid index files, for swapping in
        self.indexes = []
        for data, metric in ((vectors[:-1], "l2"), (vectors, "cosine"), (vectors[:, :4], "l2")):
            path = os.path.join(base, f"other-{len(self.indexes)}.mci")
            Index.build(data, metric, **FAST).save(path)
            with open(path, "rb") as f:
                self.indexes.append(f.read())
        # a sharded directory: two shards split by the nearest of two centroids
        centroids = np.stack([vectors[: N // 2].mean(0), vectors[N // 2:].mean(0)])
        shard_of = ((vectors[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
        root = os.path.join(base, "sharded")
        os.mkdir(root)
        entries, self.shards = [], []
        for s, fmt in enumerate(("arrow", "npz")):
            rows = np.flatnonzero(shard_of == s)
            shard = Collection.build(vectors[rows], attributes(rows), metric="l2", ids=[ids[i] for i in rows],
                                     kinds=KINDS, **FAST)
            shard.save(os.path.join(root, f"shard-{s:04d}"), attributes_format=fmt)
            self.shards.append(shard)
            with open(os.path.join(root, f"shard-{s:04d}", "manifest.json"), "rb") as f:
                entries.append({"dir": f"shard-{s:04d}", "n": int(rows.size), "manifest_sha256": sha(f.read())})
        manifest = make_manifest(
            version="0.1.0", n=N, dim=DIM, metric="l2", ids="str",
            columns=[[name, kind] for name, kind in self.collection.kinds.items()],
            partition={"kind": "cluster", "balance": 2.0, "seed": 0, "centroids": centroids.tolist()}, shards=entries)
        write_manifest(root, manifest, max_bytes=SHARDED_MAX_BYTES)
        self.sharded = read_tree(root)
        self.sharded_manifest = json.loads(self.sharded["manifest.json"])
        self.prints = {fmt: fingerprint(self.collection) for fmt in self.files}
        self.shard_prints = [fingerprint(s) for s in self.shards]

    def __repr__(self) -> str:
        return "<fixture directories>"


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return Original(str(tmp_path_factory.mktemp("originals")))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return str(tmp_path_factory.mktemp("examples"))


@contextlib.contextmanager
def example_dir(scratch: str):
    """A fresh directory for one example, deleted after it."""
    path = tempfile.mkdtemp(prefix="ex-", dir=scratch)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- loading and using ---------------------------------------------------------------------------------
def load_or_reject(path: str, mmap: bool) -> Collection | None:
    """The loaded collection, or None after a CollectionFormatError naming it."""
    try:
        return Collection.load(path, mmap=mmap)
    except CollectionFormatError as exc:
        assert path in str(exc), f"the message does not name {path}: {exc}"
        assert "\n" not in str(exc)
        return None


def load_sharded_or_reject(root: str, mmap: bool) -> tuple[dict, list[Collection]] | None:
    """What ShardedCollection.load reads, without Ray: the checked manifest and each shard."""
    try:
        manifest = read_manifest(root)
        verify_shard_manifests(root, manifest)
        shards = [Collection.load(os.path.join(root, s["dir"]), mmap=mmap) for s in manifest["shards"]]
    except CollectionFormatError as exc:
        assert root in str(exc), f"the message does not name {root}: {exc}"
        return None
    # what the driver then relies on
    assert [len(c) for c in shards] == [s["n"] for s in manifest["shards"]]
    assert all(c.dim == manifest["dim"] and c.metric == manifest["metric"] for c in shards)
    assert all([[n, k] for n, k in c.kinds.items()] == manifest["columns"] for c in shards)
    return manifest, shards


def predicate(c: Collection, name: str):
    """A predicate valid for the kind and values of column ``name`` as loaded."""
    column = c.column(name)
    kind = column.kind
    if kind == "numeric":
        return col(name) >= (column.values[column.order[len(column.order) // 2]] if column.order.size else 0)
    if kind == "boolean":
        return col(name)
    if kind == "categorical":
        return col(name).isin(column.labels[:2].tolist()) | col(name).is_null()
    labels = [x for x in column.labels[:3].tolist() if kind == "multi_label" or x.isalnum()]
    return col(name).contains_any(labels) if labels else col(name).not_null()


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def exercise(c: Collection, queries: np.ndarray) -> None:
    """Everything a user does with a loaded collection: none of it may raise."""
    k = 5
    info = c.info()
    assert info["n"] == len(c) and len(info["columns"]) == len(c.column_names)
    repr(c)
    table = c.attributes(format="numpy")
    assert all(len(v) == len(c) for v in table.values())
    c.attributes(np.array([0, -1, len(c) - 1]), format="arrow")
    assert c.count(None) == len(c)
    for where in [None] + ([_any(c)] if c.column_names else []):
        matched = c.count(where) if where is not None else len(c)
        ids, dists, rows = c.search(queries, k, where=where, threads=1, return_attributes="numpy")
        assert ids.shape == (len(queries), k) and dists.shape == (len(queries), k)
        found = sum(x is not None for x in ids[0]) if ids.dtype == object else int((ids[0] >= 0).sum())
        assert found <= min(k, matched)
        assert all(len(v) == len(queries) * k for v in rows.values())
    if HAVE_SQL and c.column_names:
        where = " OR ".join(f"{quoted(name)} IS NOT NULL" for name in c.column_names)
        try:
            matched = c.count(where)
        except ValueError:
            # DuckDB cannot bind some names (one holding a NUL), however the collection was made:
            # the same data built afresh must refuse the filter too, or loading is at fault.
            fresh = Collection.from_index(c.index, c.attributes(format="arrow"), kinds=c.kinds)
            with pytest.raises(ValueError):
                fresh.count(where)
            count("SQL filter refused for a column name, as for the same data built afresh")
        else:
            assert matched == c.count(_not_null(c))
            c.search(queries, k, where=where, threads=1)


def _any(c: Collection):
    out = None
    for name in c.column_names:
        p = predicate(c, name)
        out = p if out is None else out | p
    return out


def _not_null(c: Collection):
    out = None
    for name in c.column_names:
        p = col(name).not_null()
        out = p if out is None else out | p
    return out


# ---- raw damage ------------------------------------------------------------------------------------
COLLECTION_FILES = ["manifest.json", "index.mci", "ids.npz", "attributes.arrow", "attributes.npz"]
SHARD_FORMAT = {"attributes.arrow": 0, "attributes.npz": 1}  # shard 0 saves Arrow, shard 1 npz


def formats_holding(name: str) -> list[str]:
    return {"attributes.arrow": ["arrow"], "attributes.npz": ["npz"]}.get(name, ["arrow", "npz"])


def sharded_files() -> list[str]:
    """Each kind of file of a sharded directory once (the top manifest, then a shard's files)."""
    return ["manifest.json"] + [f"shard-{SHARD_FORMAT.get(name, i % 2):04d}/{name}"
                                for i, name in enumerate(COLLECTION_FILES)]


@fuzz(150)
@given(data=st.data())
def test_raw_damage_to_a_collection_is_detected_or_harmless(original, scratch, data):
    name = data.draw(st.sampled_from(COLLECTION_FILES), label="file")
    fmt = data.draw(st.sampled_from(formats_holding(name)), label="format")
    files = dict(original.files[fmt])
    mutation = data.draw(raw_mutations(len(files[name])), label="mutation")
    mmap = data.draw(st.booleans(), label="mmap")
    files[name] = apply_raw(files[name], mutation)
    with example_dir(scratch) as d:
        path = os.path.join(d, "c")
        write_tree(path, files)
        loaded = load_or_reject(path, mmap)
        if loaded is not None:
            assert same_index(loaded.index, original.collection.index), f"{name} {mutation}: another index"
            assert fingerprint(loaded) == original.prints[fmt], f"{name} {mutation}: loaded other content"
        outcome = "rejected" if loaded is None else "identical"
        del loaded
    count(f"collection raw {name}: {outcome}")


@fuzz(150)
@given(data=st.data())
def test_raw_damage_to_a_sharded_collection_is_detected_or_harmless(original, scratch, data):
    files = dict(original.sharded)
    name = data.draw(st.sampled_from(sharded_files()), label="file")
    mutation = data.draw(raw_mutations(len(files[name])), label="mutation")
    mmap = data.draw(st.booleans(), label="mmap")
    files[name] = apply_raw(files[name], mutation)
    with example_dir(scratch) as d:
        write_tree(d, files)
        loaded = load_sharded_or_reject(d, mmap)
        if loaded is not None:
            manifest, shards = loaded
            assert manifest == original.sharded_manifest, f"{name} {mutation}: loaded another manifest"
            for s, c in enumerate(shards):
                assert same_index(c.index, original.shards[s].index), f"{name} {mutation}: shard {s} index"
                assert fingerprint(c) == original.shard_prints[s], f"{name} {mutation}: shard {s} content"
        outcome = "rejected" if loaded is None else "identical"
        del loaded
    count(f"sharded raw {'shard ' if '/' in name else 'top '}{os.path.basename(name)}: {outcome}")


# ---- hostile content with recomputed checksums ----------------------------------------------------------
class Deep(str):
    """A JSON value nested ``depth`` levels deep (written into the text; json.dumps would recurse)."""

    def __new__(cls, depth: int):
        obj = super().__new__(cls, f"@@deep-{depth}@@")
        obj.depth = depth
        return obj


class Huge(str):
    """A string of ``size`` characters, written into the text only: hypothesis keeps the values it
    draws, and 65 MiB strings would grow the test's memory by that much per example."""

    def __new__(cls, size: int):
        obj = super().__new__(cls, f"@@huge-{size}@@")
        obj.size = size
        return obj


DEEP_DIGEST_MAX = 400  # nesting the test can still serialise to compute a valid self checksum
HUGE_DIGEST_MAX = 16 << 20  # beyond it, no valid self checksum either (the size cap refuses the file first)
JSON_VALUES = st.one_of(
    st.sampled_from([None, True, False, 0, 1, -1, 2, 40, 79, 80, 81, 2**31 - 1, 2**32, 2**53 + 1, 2**63, -(2**63),
                     10**30, 0.5, -0.0, 1e308, "", "x", "numeric", "categorical", "boolean", "multi_label",
                     "keywords", "str", "int64", "float64", "text", "list<str>", "timestamp[us]", "bool", "arrow",
                     "npz", "l2", "ip", "cosine", "sha256", "hash", "cluster", "mcindex-collection",
                     "mcindex-sharded-collection", "index.mci", "ids.npz", "attributes.arrow", "attributes.npz",
                     "manifest.json", "../index.mci", "/etc/passwd", "shard-0000", "shard-0001", ".", "..",
                     "a\x00b", "__mcindex_row__", "0" * 64, [], [0], [[0.0] * DIM], ["x", "numeric"], {},
                     {"name": "x", "kind": "numeric", "dtype": "int64"}, {"bytes": 0, "sha256": "0" * 64},
                     {"dir": "shard-0000", "n": 1, "manifest_sha256": "0" * 64}]),
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from([31, 32, 33, 1000, 100_000]).map(Deep),
    st.sampled_from([1 << 10, 1 << 20, 9 << 20, 65 << 20]).map(Huge),
)


def json_paths(value, prefix=()):
    """The path of every value in a JSON document (containers included)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, v in value.items():
            out += json_paths(v, prefix + (key,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, prefix + (i,))
    return out


def materialise(value):
    """The document with Deep and Huge markers replaced by what they stand for."""
    if isinstance(value, Huge):
        return "x" * value.size
    if isinstance(value, Deep):
        nested: list = []
        for _ in range(value.depth - 1):
            nested = [nested]
        return nested
    if isinstance(value, dict):
        return {k: materialise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialise(v) for v in value]
    return value


def markers_in(value) -> list[Deep | Huge]:
    if isinstance(value, (Deep, Huge)):
        return [value]
    if isinstance(value, dict):
        return [m for v in value.values() for m in markers_in(v)]
    if isinstance(value, list):
        return [m for v in value for m in markers_in(v)]
    return []


def dump_manifest(m) -> bytes:
    """The manifest as an attacker writes it: its own checksum recomputed (where the test can
    serialise the document), markers expanded into deep nesting and huge strings."""
    markers = markers_in(m)
    if isinstance(m, dict):
        m = {k: v for k, v in m.items() if k != SELF_CHECKSUM}
        if all(x.depth <= DEEP_DIGEST_MAX if isinstance(x, Deep) else x.size <= HUGE_DIGEST_MAX for x in markers):
            m[SELF_CHECKSUM] = manifest_digest(materialise(m))
    text = json.dumps(m, indent=1)
    for x in markers:
        text = text.replace(json.dumps(str(x)), "[" * x.depth + "]" * x.depth if isinstance(x, Deep)
                            else '"' + "x" * x.size + '"')
    return text.encode()


def resolve(doc, path):
    """(container, key) of ``path`` in ``doc``, or None where it no longer exists."""
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict) and key in node or isinstance(node, list) and isinstance(key, int) \
                and key < len(node):
            node = node[key]
        else:
            return None
    return node, path[-1]


def edit_json(raw: bytes, op: str, path: tuple, value) -> bytes:
    doc = json.loads(raw)
    if not path:
        doc = value if op == "set" else doc
        return dump_manifest(doc)
    where = resolve(doc, path)
    if where is not None:
        node, key = where
        if op == "copy":
            source = resolve(doc, value)
            value = json.loads(json.dumps(source[0][source[1]])) if source is not None and \
                _has(source[0], source[1]) else None
        if isinstance(node, dict):
            if op == "delete":
                node.pop(key, None)
            else:
                node[key] = value
        elif isinstance(node, list) and isinstance(key, int):
            if op == "delete" and key < len(node):
                del node[key]
            elif op != "delete":
                node[key:key + 1] = [value]
    return dump_manifest(doc)


def _has(node, key) -> bool:
    return key in node if isinstance(node, dict) else isinstance(key, int) and key < len(node)


@st.composite
def manifest_edits(draw, doc, target: str):
    paths = json_paths(doc)
    op = draw(st.sampled_from(["set", "set", "set", "delete", "copy"]))
    path = draw(st.sampled_from(paths[1:]) | st.sampled_from([("unknown",), ("columns", 99), ("files", "extra"),
                                                              ("shards", 5), ("partition", "extra")]))
    value = draw(st.sampled_from(paths[1:])) if op == "copy" else draw(JSON_VALUES)
    return "manifest", (target, op, path, value)


# Arrow files: where the writer put each buffer and metadata field, found by walking the footer and
# the record batch message with the same bounds-checked reader the loader uses.
class ArrowLayout:
    def __init__(self, raw: bytes):
        from mcindex.collection._arrowfile import _blocks

        view = memoryview(raw)
        footer_length = struct.unpack_from("<i", raw, len(raw) - 10)[0]
        footer = _FlatBuffer(view[len(raw) - 10 - footer_length:len(raw) - 10])
        (offset, meta_length, _), = _blocks(footer, 3)
        start = offset + (8 if struct.unpack_from("<i", raw, offset)[0] == -1 else 4)
        msg = _FlatBuffer(view[start:offset + meta_length])
        header = msg.target(msg.field(msg.root(), 2))
        self.fields = {"batch_length": [start + msg.field(header, 0)]}
        nodes, n_nodes = msg.vector(msg.field(header, 1), 16)
        self.fields["node_length"] = [start + nodes + 16 * i for i in range(n_nodes)]
        self.fields["node_nulls"] = [p + 8 for p in self.fields["node_length"]]
        buffers, n_buffers = msg.vector(msg.field(header, 2), 16)
        self.fields["buffer_offset"] = [start + buffers + 16 * i for i in range(n_buffers)]
        self.fields["buffer_length"] = [p + 8 for p in self.fields["buffer_offset"]]
        body = offset + meta_length
        spans = [struct.unpack_from("<qq", raw, p) for p in self.fields["buffer_offset"]]
        self.buffers = [(body + o, length) for o, length in spans if length > 0]
        assert struct.unpack_from("<q", raw, self.fields["batch_length"][0])[0] > 0


_LAYOUTS: dict[str, ArrowLayout] = {}


def layout_of(raw: bytes) -> ArrowLayout:
    key = sha(raw)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = ArrowLayout(raw)
    return _LAYOUTS[key]


def write_arrow(table, **options) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(**options)) as writer:
        writer.write_table(table, max_chunksize=options.pop("chunk", None) if "chunk" in options else None)
    return sink.getvalue()


CASTS = [pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.string(), pa.large_string(), pa.binary(),
         pa.timestamp("ns"), pa.timestamp("us", tz="UTC"), pa.date32(), pa.bool_(), pa.list_(pa.string()),
         pa.large_list(pa.string()), pa.list_(pa.int64()), pa.string_view()]
SCHEMA_OPS = ["rename_both", "rename", "cast", "drop", "duplicate", "reverse", "head", "append_row", "all_null",
              "dictionary", "chunked", "compressed", "no_batches"]


def arrow_schema_edit(files: dict[str, bytes], prefix: str, op: str, i: int, arg: int, text: str) -> None:
    path = prefix + "attributes.arrow"
    t = pa.ipc.open_file(pa.BufferReader(files[path])).read_all()
    i %= t.num_columns
    name = t.column_names[i]
    chunk = None
    options: dict = {}
    if op in ("rename", "rename_both"):
        t = t.rename_columns([text or "x" if j == i else c for j, c in enumerate(t.column_names)])
        if op == "rename_both":
            m = json.loads(files[prefix + "manifest.json"])
            m["columns"][i]["name"] = text or "x"
            files[prefix + "manifest.json"] = dump_manifest(m)
    elif op == "cast":
        t = t.set_column(i, name, t.column(i).cast(CASTS[arg % len(CASTS)], safe=False))
    elif op == "drop":
        t = t.remove_column(i)
    elif op == "duplicate":
        t = t.append_column(name, t.column(i))
    elif op == "reverse":
        t = t.select(list(reversed(range(t.num_columns))))
    elif op == "head":
        t = t.slice(0, arg % t.num_rows)
    elif op == "append_row":
        t = pa.concat_tables([t, t.slice(arg % t.num_rows, 1)])
    elif op == "all_null":
        t = t.set_column(i, name, pa.nulls(t.num_rows, t.column(i).type))
    elif op == "dictionary":
        t = t.set_column(i, name, t.column(i).dictionary_encode())
    elif op == "chunked":  # the same rows in several record batches: a valid file
        chunk = 1 + arg % t.num_rows
    elif op == "compressed":
        options["compression"] = ["zstd", "lz4"][arg % 2]
    elif op == "no_batches":
        t = t.slice(0, 0)
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, t.schema, options=pa.ipc.IpcWriteOptions(**options)) as writer:
        if op != "no_batches":
            writer.write_table(t, max_chunksize=chunk)
    files[path] = sink.getvalue()


def arrow_byte_edit(files, prefix, which: str, i: int, pos: int, width: int, value: int) -> None:
    path = prefix + "attributes.arrow"
    raw = bytearray(files[path])
    layout = layout_of(files[path])
    if which == "buffer":
        start, length = layout.buffers[i % len(layout.buffers)]
        width = min(width, length)
        at = start + (pos * width) % (length - width + 1)
    else:
        places = layout.fields[which]
        at, width = places[i % len(places)], 8
    raw[at:at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    files[path] = bytes(raw)


ALT_DTYPES = [np.int32, np.int64, np.uint64, np.float64, np.bool_, np.uint8, np.int8, "datetime64[us]",
              "datetime64[ns]", object]
NPZ_VALUES = st.sampled_from([-2, -1, 0, 1, 2, 3, 7, 40, 79, 80, 81, 255, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1,
                              -(2**63)]) | st.integers(-(2**63), 2**63 - 1)


def read_npz_trusted(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_npz(arrays: dict[str, np.ndarray]) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def npz_array_edit(files, path: str, op: str, k: int, index: int, value: int, alt: int) -> None:
    arrays = read_npz_trusted(files[path])
    keys = sorted(arrays)
    key = keys[k % len(keys)]
    arr = arrays[key]
    if op == "element" and arr.size:
        arr = arr.copy()
        flat = arr.reshape(-1)
        if arr.dtype.kind == "M":
            flat.view(np.int64)[index % flat.size] = value
        elif arr.dtype == np.bool_:
            flat[index % flat.size] = bool(value % 2)
        else:
            flat[index % flat.size] = np.array(value).astype(arr.dtype, casting="unsafe")
    elif op == "dtype":
        with np.errstate(invalid="ignore"):  # NaN to an integer type: whatever value, it is the point
            arr = arr.astype(ALT_DTYPES[alt % len(ALT_DTYPES)]) if arr.dtype.kind != "M" or alt % 3 else \
                arr.view(np.int64)
    elif op == "truncate":
        arr = arr[:-1 - index % 3]
    elif op == "extend":
        arr = np.concatenate([arr, arr[:1 + index % 3]]) if arr.size else np.zeros(1, arr.dtype)
    elif op == "2d":
        arr = np.stack([arr, arr])
    elif op == "empty":
        arr = arr[:0]
    elif op == "reverse":
        arr = arr[::-1].copy()
    elif op == "utf8" and arr.dtype == np.uint8 and arr.size:  # a string blob: invalid UTF-8
        arr = arr.copy()
        seq = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"][alt % 5]
        at = index % arr.size
        arr[at:at + len(seq)] = np.frombuffer(seq, np.uint8)[: arr.size - at]
    if op == "drop":
        del arrays[key]
    elif op == "add":
        arrays[["c99.values", "junk", key.split(".")[0] + ".extra", "c0.valid"][alt % 4]] = np.zeros(3, np.int64)
    elif op == "swap":
        other = keys[(k + 1 + index) % len(keys)]
        arrays[key], arrays[other] = arrays[other], arrays[key]
    else:
        arrays[key] = arr
    files[path] = write_npz(arrays)


def npz_zip_edit(files, path: str, op: str, arg: int) -> None:
    arrays = read_npz_trusted(files[path])
    out = io.BytesIO()
    method = {"deflate": zipfile.ZIP_DEFLATED, "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}.get(op,
                                                                                                       zipfile.ZIP_STORED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, which is the point
        with zipfile.ZipFile(out, "w", compression=method) as z:
            names = sorted(arrays)
            for name in names:
                buf = io.BytesIO()
                np.save(buf, arrays[name])
                z.writestr(name + ".npy", buf.getvalue())
            if op == "duplicate":
                name = names[arg % len(names)]
                buf = io.BytesIO()
                np.save(buf, arrays[names[(arg + 1) % len(names)]])
                z.writestr(name + ".npy", buf.getvalue())
            if op == "comment":
                z.comment = b"x" * (arg % 65535)
    files[path] = out.getvalue()


NPY_HEADERS = [
    "{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000,), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (-1,), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (18446744073709551616,), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
    "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }",
    "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '<U8', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '|V8', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '>i8', 'fortran_order': False, 'shape': (SAME), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (SAME), }",
    "{'descr': '<i4', 'fortran_order': False, 'shape': (SAME), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': " + "(" * 3000 + ")" * 3000 + ", }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (" + "-" * 5000 + "1,), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
    "{'shape': (3,), 'descr': '<i8', 'fortran_order': False, }",
    "not a dict at all",
    "{'descr': '\xff\xfe', 'fortran_order': False, 'shape': (3,), }",
]


def npz_header_edit(files, path: str, k: int, h: int, version: int, length: int | None) -> None:
    arrays = read_npz_trusted(files[path])
    keys = sorted(arrays)
    key = keys[k % len(keys)]
    arr = np.ascontiguousarray(arrays[key])
    header = NPY_HEADERS[h % len(NPY_HEADERS)].replace("SAME", ", ".join(map(str, arr.shape)) + ",")
    encoded = header.encode("latin-1") + b" \n"
    size = struct.pack("<H" if version == 1 else "<I", (len(encoded) if length is None else length) %
                       (2**16 if version == 1 else 2**32))
    member = b"\x93NUMPY" + bytes([version, 0]) + size + encoded + arr.tobytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in keys:
            if name == key:
                z.writestr(name + ".npy", member)
            else:
                buf = io.BytesIO()
                np.save(buf, arrays[name])
                z.writestr(name + ".npy", buf.getvalue())
    files[path] = out.getvalue()


@st.composite
def content_edits(draw, original: Original, files: dict[str, bytes], prefix: str):
    """One edit of the files of the collection directory at ``prefix`` (checksums recomputed after)."""
    npz = [p for p in (prefix + "attributes.npz", prefix + "ids.npz") if p in files]
    kinds = ["arrow_buffer", "arrow_meta", "arrow_schema"] if prefix + "attributes.arrow" in files else []
    kind = draw(st.sampled_from(kinds + ["npz_array", "npz_array", "npz_zip", "npz_header", "index", "disk", "raw"]))
    if kind == "arrow_buffer":
        width = draw(st.sampled_from([1, 4, 8]))
        value = draw(st.sampled_from([0, 1, 3, 0x7F, 0x80, 0xC0, 0xED, 0xFF, 2**31 - 1, 2**31, 2**32 - 1, 2**64 - 1])
                     | st.integers(0, 2**64 - 1))
        return kind, (prefix, "buffer", draw(st.integers(0, 40)), draw(st.integers(0, 10**6)), width, value)
    if kind == "arrow_meta":
        which = draw(st.sampled_from(["batch_length", "node_length", "node_nulls", "buffer_offset", "buffer_length"]))
        value = draw(st.sampled_from([0, 1, N - 1, N, N + 1, 2 * N, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, -1,
                                      -(2**63)]) | st.integers(-(2**63), 2**63 - 1))
        return kind, (prefix, which, draw(st.integers(0, 40)), 0, 8, value)
    if kind == "arrow_schema":
        return kind, (prefix, draw(st.sampled_from(SCHEMA_OPS)), draw(st.integers(0, 20)), draw(st.integers(0, 10**4)),
                      draw(st.text(max_size=10)))
    if kind == "npz_array":
        op = draw(st.sampled_from(["element", "element", "element", "dtype", "truncate", "extend", "2d", "empty",
                                   "reverse", "utf8", "drop", "add", "swap"]))
        return kind, (draw(st.sampled_from(npz)), op, draw(st.integers(0, 30)), draw(st.integers(0, 10**4)),
                      draw(NPZ_VALUES), draw(st.integers(0, 20)))
    if kind == "npz_zip":
        return kind, (draw(st.sampled_from(npz)), draw(st.sampled_from(["deflate", "bzip2", "lzma", "duplicate",
                                                                          "comment"])), draw(st.integers(0, 10**5)))
    if kind == "npz_header":
        return kind, (draw(st.sampled_from(npz)), draw(st.integers(0, 30)), draw(st.integers(0, len(NPY_HEADERS) - 1)),
                      draw(st.sampled_from([1, 2, 3, 9])), draw(st.none() | st.integers(0, 2**32 - 1)))
    if kind == "index":
        return kind, (prefix, draw(st.sampled_from(["swap", "raw", "empty"])), draw(st.integers(0, 2)),
                      draw(raw_mutations(len(files[prefix + "index.mci"]))))
    if kind == "disk":
        return kind, (prefix + draw(st.sampled_from(sorted(os.path.basename(p) for p in files
                                                            if p.startswith(prefix) and "/" not in p[len(prefix):]))),
                      draw(st.sampled_from(["symlink", "directory", "missing"])))
    name = draw(st.sampled_from(sorted(p for p in files if p.startswith(prefix) and "/" not in p[len(prefix):]
                                       and not p.endswith("manifest.json"))))
    return kind, (name, draw(raw_mutations(len(files[name]))))


def apply_content(original: Original, files: dict[str, bytes], edit) -> None:
    kind, args = edit
    if kind == "arrow_buffer" or kind == "arrow_meta":
        arrow_byte_edit(files, *args)
    elif kind == "arrow_schema":
        arrow_schema_edit(files, *args)
    elif kind == "npz_array":
        npz_array_edit(files, *args)
    elif kind == "npz_zip":
        npz_zip_edit(files, *args)
    elif kind == "npz_header":
        npz_header_edit(files, *args)
    elif kind == "index":
        prefix, op, which, mutation = args
        path = prefix + "index.mci"
        files[path] = {"swap": lambda: original.indexes[which], "empty": lambda: b"",
                       "raw": lambda: apply_raw(files[path], mutation)}[op]()
    elif kind == "raw":
        name, mutation = args
        files[name] = apply_raw(files[name], mutation)
    # "disk" edits are made once the files are written (apply_disk)


def apply_disk(root: str, outside: str, edits) -> None:
    """Replace a file by a symlink to an identical copy outside the directory, by a directory,
    or remove it (after the checksums were recomputed: only the file's type is wrong)."""
    for kind, args in edits:
        if kind != "disk":
            continue
        rel, op = args
        full = os.path.join(root, rel)
        if op == "symlink":
            copy = os.path.join(outside, f"copy-{len(os.listdir(outside))}")
            shutil.copyfile(full, copy)
            os.remove(full)
            os.symlink(copy, full)
        elif op == "directory":
            os.remove(full)
            os.mkdir(full)
        else:
            os.remove(full)


def recompute_collection(files: dict[str, bytes], prefix: str) -> None:
    """What an attacker does after editing: every listed file's size and SHA-256, then the
    manifest's own checksum."""
    mpath = prefix + "manifest.json"
    m = json.loads(files[mpath])
    for name, entry in m["files"].items():
        if prefix + name in files:
            entry["bytes"], entry["sha256"] = len(files[prefix + name]), sha(files[prefix + name])
    files[mpath] = dump_manifest(m)


def recompute_sharded(files: dict[str, bytes]) -> None:
    m = json.loads(files["manifest.json"])
    for s in m["shards"]:
        path = f"{s['dir']}/manifest.json"
        if path in files:
            s["manifest_sha256"] = sha(files[path])
    files["manifest.json"] = dump_manifest(m)


def without_checksums(manifest: dict) -> dict:
    """A sharded manifest without the checksums an attacker recomputes (the content they cover is
    compared separately)."""
    out = {k: v for k, v in manifest.items() if k != SELF_CHECKSUM}
    out["shards"] = [{k: v for k, v in s.items() if k != "manifest_sha256"} for s in manifest["shards"]]
    return out


def outcome_of(loaded, same: bool) -> str:
    return "rejected" if loaded is None else "identical" if same else "loaded, differs, used"


@fuzz(150)
@given(data=st.data())
def test_hostile_collection_files_are_rejected_or_safe(original, scratch, data):
    fmt = data.draw(st.sampled_from(["arrow", "npz"]), label="format")
    files = dict(original.files[fmt])
    manifest = json.loads(files["manifest.json"])
    # at most one edit of the content (each is made on the saved file) and one of the manifest
    edits = data.draw(edit_pairs(content_edits(original, files, ""), manifest_edits(manifest, "manifest.json")),
                      label="edits")
    mmap = data.draw(st.booleans(), label="mmap")
    try:
        for edit in edits:
            if edit[0] != "manifest":
                apply_content(original, files, edit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        count("collection hostile: an Arrow edit pyarrow cannot write (skipped)")
        return
    recompute_collection(files, "")
    for kind, args in edits:
        if kind == "manifest":
            files["manifest.json"] = edit_json(files["manifest.json"], *args[1:])
    with example_dir(scratch) as d:
        path = os.path.join(d, "c")
        write_tree(path, files)
        apply_disk(path, d, edits)
        loaded = load_or_reject(path, mmap)
        same = loaded is not None and same_index(loaded.index, original.collection.index) and \
            fingerprint(loaded) == original.prints[fmt]
        if loaded is not None:
            exercise(loaded, original.queries)
        count(f"collection hostile {edits[0][0]}: {outcome_of(loaded, same)}")
        del loaded


def edit_pairs(content, manifest):
    """One content edit, one manifest edit, or both (content first)."""
    return st.one_of(content.map(lambda e: [e]), manifest.map(lambda e: [e]), st.tuples(content, manifest).map(list))


@st.composite
def sharded_edits(draw, original: Original, content: bool):
    files = original.sharded
    kind = draw(st.sampled_from(["shard files", "shard files", "shard dir"] if content else
                                ["top", "top", "shard manifest"]))
    if kind == "top":
        return draw(manifest_edits(original.sharded_manifest, "manifest.json"))
    s = draw(st.integers(0, len(original.shards) - 1))
    prefix = f"shard-{s:04d}/"
    if kind == "shard manifest":
        return draw(manifest_edits(json.loads(files[prefix + "manifest.json"]), prefix + "manifest.json"))
    if kind == "shard dir":
        return "shard dir", (prefix[:-1], draw(st.sampled_from(["symlink", "file", "missing", "swap"])))
    return draw(content_edits(original, files, prefix))


def apply_shard_dir(root: str, outside: str, edits) -> None:
    for kind, args in edits:
        if kind != "shard dir":
            continue
        name, op = args
        full = os.path.join(root, name)
        if op == "symlink":  # an identical copy outside the directory
            copy = os.path.join(outside, f"copy-{name}")
            shutil.copytree(full, copy)
            shutil.rmtree(full)
            os.symlink(copy, full)
        elif op == "file":
            shutil.rmtree(full)
            with open(full, "wb") as f:
                f.write(b"x")
        elif op == "missing":
            shutil.rmtree(full)
        else:  # the two shards exchange places
            other = os.path.join(root, "shard-0001" if name == "shard-0000" else "shard-0000")
            os.rename(full, full + ".tmp")
            os.rename(other, full)
            os.rename(full + ".tmp", other)


@fuzz(150)
@given(data=st.data())
def test_hostile_sharded_directories_are_rejected_or_safe(original, scratch, data):
    files = dict(original.sharded)
    edits = data.draw(edit_pairs(sharded_edits(original, content=True), sharded_edits(original, content=False)),
                      label="edits")
    mmap = data.draw(st.booleans(), label="mmap")
    try:
        for edit in edits:
            if edit[0] not in ("manifest", "shard dir"):
                apply_content(original, files, edit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        count("sharded hostile: an Arrow edit pyarrow cannot write (skipped)")
        return
    for s in range(len(original.shards)):
        recompute_collection(files, f"shard-{s:04d}/")
    for kind, args in edits:  # shard manifests first: the top manifest's checksums of them follow
        if kind == "manifest" and args[0] != "manifest.json":
            files[args[0]] = edit_json(files[args[0]], *args[1:])
    recompute_sharded(files)
    for kind, args in edits:
        if kind == "manifest" and args[0] == "manifest.json":
            files["manifest.json"] = edit_json(files["manifest.json"], *args[1:])
    with example_dir(scratch) as d:
        root = os.path.join(d, "s")
        write_tree(root, files)
        apply_disk(root, d, edits)
        apply_shard_dir(root, d, edits)
        loaded = load_sharded_or_reject(root, mmap)
        same = loaded is not None and without_checksums(loaded[0]) == without_checksums(original.sharded_manifest) and all(
            same_index(c.index, o.index) and fingerprint(c) == p
            for c, o, p in zip(loaded[1], original.shards, original.shard_prints))
        if loaded is not None:
            for c in loaded[1]:
                exercise(c, original.queries)
        kind = edits[0][0] if edits[0][0] != "manifest" else "top manifest" if edits[0][1][0] == "manifest.json" \
            else "shard manifest"
        count(f"sharded hostile {kind}: {outcome_of(loaded, same)}")
        del loaded


def test_the_unmodified_directories_load_identically(original, scratch):
    """The fuzz tests' reference: the directories as written, and after recomputing every checksum
    with nothing changed, load as the saved collections; the Arrow layout finder agrees with the
    file."""
    for fmt in ("arrow", "npz"):
        files = dict(original.files[fmt])
        recompute_collection(files, "")
        with example_dir(scratch) as d:
            write_tree(d, files)
            loaded = Collection.load(d)
            assert fingerprint(loaded) == original.prints[fmt] and same_index(loaded.index, original.collection.index)
            exercise(loaded, original.queries)
    files = dict(original.sharded)
    for s in range(len(original.shards)):
        recompute_collection(files, f"shard-{s:04d}/")
    recompute_sharded(files)
    with example_dir(scratch) as d:
        write_tree(d, files)
        manifest, shards = load_sharded_or_reject(d, mmap=True)
        assert without_checksums(manifest) == without_checksums(original.sharded_manifest)
        assert [fingerprint(c) for c in shards] == original.shard_prints
    layout = layout_of(original.files["arrow"]["attributes.arrow"])
    raw = original.files["arrow"]["attributes.arrow"]
    assert struct.unpack_from("<q", raw, layout.fields["batch_length"][0])[0] == N
    assert [struct.unpack_from("<q", raw, p)[0] for p in layout.fields["node_length"]][:2] == [N, N]
    table = pa.ipc.open_file(pa.BufferReader(raw)).read_all()
    shop = table.column("shop").chunk(0).buffers()[2]  # the string data of a column
    assert any(raw[a:a + n] == shop.to_pybytes()[:n] for a, n in layout.buffers)
