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
        assert c.count(where) == c.count(_not_null(c))
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
