"""Structural validation of an index in memory: :func:`validate_index`.

An index is a header dict (checked by :mod:`mcindex.index_header`) plus the eight numpy arrays
of :data:`SECTION_DTYPES` (and the two of :data:`CODE_SECTIONS` when it holds 8-bit codes). The C++ core trusts these arrays when it searches, so every index that
is saved (:func:`mcindex.persistence.save_index`) or loaded (:func:`mcindex.persistence.load_index`,
after the file's own checks) passes through :func:`validate_index` first: shapes, CSR offsets,
every id in range, finite vectors with zero padding, and the two membership CSRs agreeing.
Problems are reported as :class:`~mcindex.file_fields.IndexFormatError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._checks import max_magnitude
from .file_fields import IndexFormatError
from .index_header import MAX_ID as _MAX_ID
from .index_header import validate_header

__all__ = ["CODE_SECTIONS", "SECTION_DTYPES", "section_dtypes", "validate_index"]

#: The sections of an index, in the order they are written: name -> (dtype, ndim).
SECTION_DTYPES: dict[str, tuple[str, int]] = {
    "vectors": ("<f4", 2),
    "nav_offsets": ("<u8", 1),
    "nav_neighbors": ("<u4", 1),
    "clique_offsets": ("<u8", 1),
    "clique_members": ("<u4", 1),
    "clique_thresholds": ("<f4", 1),
    "node_offsets": ("<u8", 1),
    "node_cliques": ("<u4", 1),
}

#: The sections of an index with 8-bit codes (header "codes": "sq8"), after the eight above:
#: the codes (one uint8 per coordinate), their ranges (row 0 the offset, row 1 the step of each
#: dimension: a coordinate is offset + step * code) and the bitset of the vectors the codes
#: misplace (outliers beyond the ranges), which searches score with their float rows.
CODE_SECTIONS: dict[str, tuple[str, int]] = {
    "codes": ("<u1", 2),
    "code_ranges": ("<f4", 2),
    "code_exceptions": ("<u8", 1),  # bitset: vectors the codes misplace, scored with their floats
}

_VALIDATE_ROWS = 1 << 16  # vectors are checked this many rows at a time (bounded temporaries)


def section_dtypes(header: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """The sections an index with this header holds: name -> (dtype, ndim), in file order."""
    if header.get("codes", "none") == "sq8":
        return {**SECTION_DTYPES, **CODE_SECTIONS}
    return dict(SECTION_DTYPES)


def _check_sections(sections: Any, expected: Mapping[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    if not isinstance(sections, Mapping):
        raise IndexFormatError(f"sections must be a dict of arrays, got {type(sections).__name__}")
    unknown = sorted(set(sections) - set(expected), key=str)
    if unknown:
        raise IndexFormatError(f"unknown section(s): {', '.join(map(repr, unknown))} (for header['codes'] = "
                               f"{'sq8' if 'codes' in expected else 'none'})")
    out: dict[str, np.ndarray] = {}
    for name, (dtype_str, ndim) in expected.items():
        if name not in sections:
            raise IndexFormatError(f"missing section {name!r}")
        arr = sections[name]
        if not isinstance(arr, np.ndarray):
            raise IndexFormatError(f"section {name!r} must be a numpy array, got {type(arr).__name__}")
        want = np.dtype(dtype_str)
        if arr.dtype.kind != want.kind or arr.dtype.itemsize != want.itemsize:
            raise IndexFormatError(
                f"section {name!r} has dtype {arr.dtype}, expected {want.newbyteorder('=')}")
        if arr.ndim != ndim:
            raise IndexFormatError(f"section {name!r} must be {ndim}-D, got shape {arr.shape}")
        out[name] = arr
    return out


def _check_csr(off_name: str, offsets: np.ndarray, val_name: str, values: np.ndarray,
               rows: int | None, bound: int, bound_desc: str) -> np.ndarray:
    """Check one CSR pair; return the row lengths (uint64)."""
    if rows is not None and offsets.shape[0] != rows + 1:
        raise IndexFormatError(f"{off_name} has length {offsets.shape[0]}, expected {rows + 1}")
    if offsets.shape[0] < 1:
        raise IndexFormatError(f"{off_name} must have at least one entry (offsets[0] = 0)")
    if offsets[0] != 0:
        raise IndexFormatError(f"{off_name}[0] = {int(offsets[0])}, must be 0")
    bad = np.flatnonzero(offsets[1:] < offsets[:-1])
    if bad.size:
        i = int(bad[0])
        raise IndexFormatError(
            f"{off_name} is not non-decreasing: {off_name}[{i}] = {int(offsets[i])} > "
            f"{off_name}[{i + 1}] = {int(offsets[i + 1])}")
    if int(offsets[-1]) != values.shape[0]:
        raise IndexFormatError(
            f"{off_name}[-1] = {int(offsets[-1])} but {val_name} has {values.shape[0]} entries")
    if values.size:
        top = int(values.max())
        if top >= bound:
            i = int(np.argmax(values >= bound))
            row = int(np.searchsorted(offsets, i, side="right")) - 1
            raise IndexFormatError(
                f"{val_name}[{i}] = {int(values[i])} (row {row}) is out of range: must be < "
                f"{bound_desc} = {bound}")
    return np.diff(offsets).astype(np.int64)


def _check_vectors(vectors: np.ndarray, n: int, dim: int, stride: int) -> None:
    if vectors.shape != (n, stride):
        raise IndexFormatError(f"vectors has shape {vectors.shape}, expected (n, stride) = {(n, stride)}")
    limit = max_magnitude(dim)
    for start in range(0, n, _VALIDATE_ROWS):
        block = vectors[start:start + _VALIDATE_ROWS]
        # The bound a build enforces: larger coordinates give inf distances, which read as padding.
        finite = (np.abs(block[:, :dim]) <= limit).all(axis=1)
        if not finite.all():
            row = start + int(np.argmin(finite))
            what = "is not finite" if not np.isfinite(vectors[row, :dim]).all() else \
                f"has a coordinate above {limit:.3g} (its distances would overflow float32)"
            raise IndexFormatError(f"vectors row {row} {what}")
        if stride > dim:
            padded = block[:, dim:].any(axis=1)
            if padded.any():
                raise IndexFormatError(
                    f"vectors row {start + int(np.argmax(padded))} has non-zero padding "
                    f"in columns [{dim}, {stride})")


def _check_codes(codes: np.ndarray, ranges: np.ndarray, n: int, dim: int) -> None:
    if codes.shape != (n, dim):
        raise IndexFormatError(f"codes has shape {codes.shape}, expected (n, dim) = {(n, dim)}")
    if ranges.shape != (2, dim):
        raise IndexFormatError(f"code_ranges has shape {ranges.shape}, expected (2, dim) = {(2, dim)}")
    if not np.isfinite(ranges).all():
        raise IndexFormatError("code_ranges holds a value that is not finite")
    limit = max_magnitude(dim)
    # Every reconstruction (offset + step * code, code <= 255) within the bound a build enforces
    # on vectors: a code distance never overflows.
    if (ranges[1] <= 0).any() or (np.abs(ranges[0]) + 255.0 * ranges[1] > limit).any():
        bad = int(np.flatnonzero((ranges[1] <= 0) | (np.abs(ranges[0]) + 255.0 * ranges[1] > limit))[0])
        raise IndexFormatError(f"code_ranges of dimension {bad} (offset {ranges[0, bad]}, step {ranges[1, bad]}) "
                               f"must have a positive step and stay within {limit:.3g}")


def validate_index(header: Mapping[str, Any], sections: Mapping[str, np.ndarray]) -> None:
    """Check that ``header`` and ``sections`` form a structurally valid index.

    Checks the header (required keys and types, format, metric, ``n``/``dim``/``stride``,
    ``entry_point``), that exactly the sections of :func:`section_dtypes` are present with the
    right dtype kind and rank, ``vectors`` of shape ``(n, stride)`` with finite values and zero
    padding, codes of shape ``(n, dim)`` with ranges whose reconstructions stay in bounds, each CSR (offsets start at 0, are non-decreasing and end at the length of the
    values), every id in range (``nav_neighbors``/``clique_members`` < n, ``node_cliques`` < C),
    out-degree <= ``nav_degree``, ``node_cliques`` strictly increasing within each point, and that
    the two membership CSRs agree exactly (point v lists clique c iff clique c lists v).
    Vectorised; O(n + E + M log M). Raises :class:`IndexFormatError` on the first problem.
    """
    validate_header(header)
    arrays = _check_sections(sections, section_dtypes(header))
    n, dim, stride = int(header["n"]), int(header["dim"]), int(header["stride"])

    _check_vectors(arrays["vectors"], n, dim, stride)
    if "codes" in arrays:
        _check_codes(arrays["codes"], arrays["code_ranges"], n, dim)
        words = arrays["code_exceptions"]
        if words.shape != ((n + 63) // 64,) or (n % 64 and words.size and int(words[-1]) >> (n % 64)):
            raise IndexFormatError(f"code_exceptions must be a bitset of {(n + 63) // 64} words over n = {n} points")

    degrees = _check_csr("nav_offsets", arrays["nav_offsets"], "nav_neighbors",
                         arrays["nav_neighbors"], n, n, "n")
    nav_degree = int(header["nav_degree"])
    if degrees.size and int(degrees.max()) > nav_degree:
        v = int(np.argmax(degrees))
        raise IndexFormatError(
            f"point {v} has {int(degrees[v])} navigation neighbours, more than "
            f"header['nav_degree'] = {nav_degree}")

    clique_offsets = arrays["clique_offsets"]
    if clique_offsets.shape[0] < 1:
        raise IndexFormatError("clique_offsets must have at least one entry (offsets[0] = 0)")
    n_cliques = clique_offsets.shape[0] - 1
    if n_cliques > _MAX_ID:
        raise IndexFormatError(f"{n_cliques} cliques exceed the uint32 id space")
    members = arrays["clique_members"]
    thresholds = arrays["clique_thresholds"]
    if thresholds.shape != (n_cliques,):
        raise IndexFormatError(
            f"clique_thresholds has shape {thresholds.shape}, expected ({n_cliques},) (one per clique)")
    if np.isnan(thresholds).any() or (thresholds < 0).any():
        bad = int(np.flatnonzero(np.isnan(thresholds) | (thresholds < 0))[0])
        raise IndexFormatError(f"clique_thresholds[{bad}] = {thresholds[bad]} is not a distance (>= 0 or inf)")
    node_cliques = arrays["node_cliques"]
    sizes = _check_csr("clique_offsets", clique_offsets, "clique_members", members, None, n, "n")
    node_offsets = arrays["node_offsets"]
    counts = _check_csr("node_offsets", node_offsets, "node_cliques", node_cliques, n, n_cliques,
                        "the number of cliques C")
    if members.shape[0] != node_cliques.shape[0]:
        raise IndexFormatError(
            f"clique_members has {members.shape[0]} entries but node_cliques has "
            f"{node_cliques.shape[0]}; they must list the same memberships")

    # node_cliques strictly increasing within each point: a pair (i, i+1) may only fail to
    # increase where i+1 starts a new point.
    if node_cliques.shape[0] > 1:
        bad = node_cliques[1:] <= node_cliques[:-1]
        starts = node_offsets[1:-1].astype(np.int64)
        starts = starts[(starts > 0) & (starts < node_cliques.shape[0])]
        bad[starts - 1] = False
        if bad.any():
            i = int(np.argmax(bad)) + 1
            point = int(np.searchsorted(node_offsets, i, side="right")) - 1
            raise IndexFormatError(
                f"node_cliques of point {point} are not sorted strictly increasing "
                f"(node_cliques[{i - 1}] = {int(node_cliques[i - 1])}, "
                f"node_cliques[{i}] = {int(node_cliques[i])})")

    # The two CSRs are views of one membership relation: compare the sorted (point, clique)
    # pairs of both. The node side is already sorted (checked above).
    if members.shape[0]:
        width = np.uint64(max(n_cliques, 1))
        node_keys = np.repeat(np.arange(n, dtype=np.uint64), counts) * width
        node_keys += node_cliques.astype(np.uint64)
        clique_keys = members.astype(np.uint64) * width
        clique_keys += np.repeat(np.arange(n_cliques, dtype=np.uint64), sizes)
        clique_keys.sort()
        diff = np.flatnonzero(node_keys != clique_keys)
        if diff.size:
            i = int(diff[0])
            if clique_keys[i] < node_keys[i]:
                v, c = divmod(int(clique_keys[i]), int(width))
                what = f"clique {c} lists point {v} but node_cliques of point {v} do not list clique {c}"
            else:
                v, c = divmod(int(node_keys[i]), int(width))
                what = f"node_cliques of point {v} list clique {c} but clique {c} does not list point {v}"
            raise IndexFormatError(f"clique_members and node_cliques disagree: {what}")
