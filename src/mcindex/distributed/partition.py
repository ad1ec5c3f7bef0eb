"""Which shard each row goes to: by a hash of its id, or by the nearest of a few centroids.

Pure numpy, no Ray: the driver partitions, the shards never see each other's rows.

* **hash** (:func:`hash_ids`, :func:`hash_shards`): shard = ``hash(id) % shards``. The hash is
  fixed by this module, never Python's ``hash()`` (salted per process for str): splitmix64 of
  int64 ids (row numbers when the collection has no ids), the first 8 bytes of a BLAKE2b
  digest of the UTF-8 text of str ids. The same id lands on the same shard in every process,
  run and machine. Shards get near-equal sizes and hold a uniform sample each, so every query
  must ask every shard.
* **cluster** (:func:`kmeans`, :func:`assign`): k-means centroids learnt from a bounded sample
  in the driver; each row goes to its nearest centroid's shard, so a shard holds nearby
  vectors and a query may ask only the shards nearest to it (``probe``). Rows beyond a shard's
  capacity (``balance`` times the mean shard size) go to their next-nearest shard with room,
  so one dense region cannot put most of the data on one machine.

Geometry: squared L2 for ``"l2"`` and ``"ip"``; for ``"cosine"`` rows and centroids are
normalised first (spherical k-means). For ``"ip"`` the nearest centroid by inner product
would send nearly everything to the centroid of largest norm, so ``"ip"`` partitions by
position like ``"l2"``; routing queries (``probe``) is then a heuristic, which is why the
default asks every shard.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["PARTITIONS", "assign", "hash_ids", "hash_shards", "kmeans", "nearest_centroids", "splitmix64",
           "str_digests"]

PARTITIONS = ("hash", "cluster")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: Any) -> np.ndarray:
    """The splitmix64 finaliser of each 64-bit value (int64 or uint64 array): a fixed bijection
    that scatters consecutive ids over all 64 bits."""
    z = np.asarray(x).astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):  # multiplication modulo 2**64 is the point
        z += _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z ^= z >> np.uint64(31)
    return z


def str_digests(ids: Any) -> np.ndarray:
    """``(m, 2)`` uint64: the 128-bit BLAKE2b digest of each str id's UTF-8 text. Column 0 is
    the id's hash (:func:`hash_ids`); both columns together identify the id (duplicate checks)."""
    values = list(ids)
    out = np.empty((len(values), 2), dtype=np.uint64)
    flat = b"".join(hashlib.blake2b(v.encode("utf-8"), digest_size=16).digest() for v in values)
    if values:
        out[:] = np.frombuffer(flat, dtype="<u8").reshape(-1, 2)
    return out


def hash_ids(ids: Any) -> np.ndarray:
    """The 64-bit partition hash of each id: int ids (>= 0) through :func:`splitmix64`, str ids
    through BLAKE2b (:func:`str_digests`)."""
    arr = np.asarray(ids)
    if arr.dtype == object or arr.dtype.kind == "U":
        return str_digests(arr.tolist())[:, 0].copy()
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids to hash must be int or str, got dtype {arr.dtype}")
    return splitmix64(arr.astype(np.int64))


def hash_shards(ids: Any, shards: int) -> np.ndarray:
    """The shard (int64 in ``[0, shards)``) of each id under the hash partition."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    return (hash_ids(ids) % np.uint64(shards)).astype(np.int64)


# ---- cluster partition --------------------------------------------------------------------------
def _geometry(x: np.ndarray, metric: str) -> np.ndarray:
    """Rows as the partition compares them: unit rows for cosine, as given otherwise."""
    x = np.asarray(x, dtype=np.float32)
    if metric != "cosine":
        return x
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _sq_distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(m, c)`` squared L2 distances, in float64 (the expansion cancels badly in float32)."""
    x64 = x.astype(np.float64)
    c64 = centroids.astype(np.float64)
    d = (x64 * x64).sum(1)[:, None] - 2.0 * (x64 @ c64.T) + (c64 * c64).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(sample: Any, clusters: int, metric: str, *, iterations: int = 10, seed: int = 0) -> np.ndarray:
    """``(clusters, dim)`` float32 centroids of ``sample`` (k-means++ seeding, then Lloyd
    iterations), deterministic for a given sample and seed.

    A cluster that empties during the iterations is re-seeded with the sample point farthest
    from its centroid, so every centroid stays in use.

    Raises:
        ValueError: fewer distinct sample rows than ``clusters``.
    """
    x = _geometry(np.asarray(sample, dtype=np.float32), metric)
    m = x.shape[0]
    if clusters < 1:
        raise ValueError(f"clusters must be >= 1, got {clusters}")
    if m < clusters:
        raise ValueError(f"k-means needs at least {clusters} sample rows (one per shard), got {m}")
    rng = np.random.default_rng(seed)
    # k-means++: each next centre drawn with probability proportional to the squared distance
    # to the nearest centre so far (spreads the centres; plain random picks can start two in
    # one cluster and leave another without any).
    centres = np.empty((clusters, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(m)]
    nearest = _sq_distances(x, centres[:1])[:, 0]
    for c in range(1, clusters):
        total = nearest.sum()
        if total <= 0:
            raise ValueError(f"k-means needs at least {clusters} distinct sample rows (one per shard); "
                             f"the sample holds fewer")
        pick = int(rng.choice(m, p=nearest / total))
        centres[c] = x[pick]
        nearest = np.minimum(nearest, _sq_distances(x, centres[c:c + 1])[:, 0])
    for _ in range(iterations):
        d = _sq_distances(x, centres)
        label = d.argmin(1)
        counts = np.bincount(label, minlength=clusters)
        sums = np.zeros((clusters, x.shape[1]), dtype=np.float64)
        np.add.at(sums, label, x.astype(np.float64))
        new = centres.astype(np.float64).copy()
        used = counts > 0
        new[used] = sums[used] / counts[used, None]
        if not used.all():  # re-seed empty clusters with the worst-served points
            far = np.argsort(-d[np.arange(m), label])[: int((~used).sum())]
            new[~used] = x[far]
        if metric == "cosine":
            norms = np.linalg.norm(new, axis=1, keepdims=True)
            new = new / np.where(norms > 0, norms, 1.0)
        new32 = new.astype(np.float32)
        if np.array_equal(new32, centres):
            break
        centres = new32
    return centres


def nearest_centroids(x: Any, centroids: np.ndarray, metric: str, count: int | None = None) -> np.ndarray:
    """``(m, count)`` int64: each row's ``count`` nearest centroids, nearest first (all when None)."""
    d = _sq_distances(_geometry(np.asarray(x, dtype=np.float32), metric), centroids)
    order = np.argsort(d, axis=1, kind="stable")
    return order if count is None else order[:, :count]


def assign(x: Any, centroids: np.ndarray, metric: str, room: np.ndarray | None = None) -> np.ndarray:
    """The shard (int64) of each row of ``x``: its nearest centroid with room left.

    ``room`` (int64 per shard, or None for unlimited) is how many more rows each shard may
    take; it is decreased in place. Rows whose nearest shard is full try their second nearest,
    and so on; within one shard the rows nearest to its centroid are admitted first. There are
    at most ``shards`` vectorised passes, no loop over rows.

    Raises:
        ValueError: the shards together have less room than there are rows.
    """
    d = _sq_distances(_geometry(np.asarray(x, dtype=np.float32), metric), centroids)
    m, shards = d.shape
    if room is None:
        return d.argmin(1).astype(np.int64)
    if int(room.sum()) < m:
        raise ValueError(f"the shards have room for {int(room.sum())} more rows, {m} were given")
    order = np.argsort(d, axis=1, kind="stable")
    out = np.full(m, -1, dtype=np.int64)
    pending = np.arange(m)
    for rank in range(shards):
        if pending.size == 0:
            break
        choice = order[pending, rank]
        by = np.lexsort((d[pending, choice], choice))  # grouped by shard, nearest rows first
        chosen = choice[by]
        rank_in_shard = np.arange(chosen.size) - np.searchsorted(chosen, chosen, side="left")
        ok = rank_in_shard < room[chosen]
        out[pending[by[ok]]] = chosen[ok]
        room -= np.bincount(chosen[ok], minlength=shards).astype(room.dtype)
        pending = pending[by[~ok]]
    return out
