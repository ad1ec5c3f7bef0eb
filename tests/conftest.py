import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def brute_force(data, queries, k, metric="l2", masks=None):
    """numpy reference: (ids, dists) of the k nearest allowed points, padded with -1 / inf.

    masks: None, one bool[n] mask for all queries, or a list of bool[n] (None = all).
    Ties are broken by id, as the core does.
    """
    data = np.asarray(data, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    if metric == "cosine":
        data = data / np.linalg.norm(data, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    if metric == "l2":
        d = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(-1)
    elif metric == "ip":
        d = -(queries @ data.T)
    else:
        d = 1.0 - queries @ data.T
    nq, n = d.shape
    ids = np.full((nq, k), -1, dtype=np.int64)
    dists = np.full((nq, k), np.inf, dtype=np.float64)
    for q in range(nq):
        m = masks if masks is None or isinstance(masks, np.ndarray) else masks[q]
        allowed = np.arange(n) if m is None else np.flatnonzero(m)
        order = np.lexsort((allowed, d[q, allowed]))[:k]
        ids[q, : order.size] = allowed[order]
        dists[q, : order.size] = d[q, allowed[order]]
    return ids, dists
