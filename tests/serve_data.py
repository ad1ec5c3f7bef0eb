"""A small collection shared by the tests of mcindex.serve (built once per test session)."""

from __future__ import annotations

import functools

import numpy as np

from mcindex import Collection

N, DIM = 1500, 12


@functools.lru_cache(maxsize=None)
def shop_data() -> tuple[np.ndarray, dict, list[str]]:
    """The vectors, attribute columns and str ids of :func:`shop`."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    price = rng.uniform(1, 200, N).round(2)
    price[::40] = np.nan
    items = {
        "price": price,
        "category": rng.choice(["shoes", "hats", "bags"], N),
        "tags": [list(rng.choice(["sale", "new", "eco"], rng.integers(0, 3), replace=False)) for _ in range(N)],
        "in_stock": rng.random(N) < 0.8,
        "added": np.datetime64("2024-01-01") + rng.integers(0, 365, N).astype("timedelta64[D]"),
        "stock": rng.integers(0, 50, N),
    }
    return vectors, items, [f"sku-{i}" for i in range(N)]


# calibrate=False: the planner's cost table takes seconds to measure and no test here needs it.
BUILD = {"threads": 2, "progress": False, "seed": 0, "calibrate": False, "stats_sample": 0}


@functools.lru_cache(maxsize=None)
def shop() -> Collection:
    """1,500 vectors with str ids and every column kind, with missing values."""
    vectors, items, ids = shop_data()
    return Collection.build(vectors, items, metric="cosine", ids=ids, **BUILD)


def queries(count: int = 3, seed: int = 1) -> np.ndarray:
    """Queries near stored vectors, so that their nearest neighbours are well separated."""
    rng = np.random.default_rng(seed)
    base = np.asarray(shop().index.vectors[:count])
    return (base + 0.05 * rng.standard_normal(base.shape)).astype(np.float32)
