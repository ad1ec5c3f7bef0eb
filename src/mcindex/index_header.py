"""The header of an index: every field typed and range-checked before anything reads it.

A header comes from a file, and a file's checksums prove integrity, not trust: whoever edits
a file can recompute them. So every field the library reads later (``Index.stats()``, the
planner, ``mcindex info``) is checked here for its type and range, and anything else is refused
with :class:`IndexFormatError`; a header that passes can be used without further checks.

Required keys (``_REQUIRED``): the format, the shape of the index and its metric; no key outside
these and the optional ones is accepted. Optional
informational dicts: ``build_params`` (the arguments of the build), ``build`` (seconds, rounds),
``stats`` (sampled structure figures) and ``planner`` (the cost table of the planner, checked by
:func:`mcindex.planner.check_rule`). Keys this version knows must have their type; keys it does
not know (files written by older versions hold a few) must be plain JSON scalars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .file_fields import (MAX_ITEMS, IndexFormatError, dict_field, int_field, is_int, real_field, scalar_field, short,
                          text_field)
from ._checks import METRICS
from .planner import check_rule

__all__ = ["IndexFormatError", "validate_header"]


FORMAT = "mcindex"
READABLE_VERSIONS = (1, 2, 3)
MAX_ID = 2**32  # ids are uint32, so n and the number of cliques must not exceed this
_INT64 = 2**63

# required keys -> expected kind
_REQUIRED: dict[str, str] = {
    "format": "str", "format_version": "int", "metric": "str", "n": "int", "dim": "int", "stride": "int",
    "entry_point": "int", "nav_degree": "int", "build_params": "dict", "stats": "dict",
    "mcindex_version": "str",
}

# Known fields of the informational dicts: name -> (kind, low, high). Kinds: "int", "real",
# "bool", "str", or a tuple of allowed strings.
_BUILD_PARAMS: dict[str, tuple[Any, float, float]] = {
    "pool_size": ("int", 1, MAX_ID), "min_clique_size": ("int", 1, MAX_ID), "alpha": ("real", 1, 1e30),
    "degree": ("int", 1, MAX_ID), "build_list": ("int", 1, MAX_ID), "min_memberships": ("int", 1, MAX_ID),
    "hub_cap": ("int", 1, MAX_ID), "clique_quota": ("int", 1, MAX_ID), "extend_cliques": ("bool", 0, 1),
    "alpha_max": ("real", 1, 1e30), "fallback_size": ("int", 1, MAX_ID),
    "pool_method": (("search", "two_hop"), 0, 0), "pool_search_list": ("int", 1, MAX_ID),
    "seed": ("int", 0, 2**64), "deterministic": ("bool", 0, 1), "threads": ("int", 1, MAX_ID),
    "codes": (("none", "sq8"), 0, 0),
}
_BUILD: dict[str, tuple[Any, float, float]] = {
    "seconds": ("real", 0, 1e12), "calibration_seconds": ("real", 0, 1e12),
    "fallback_cliques": ("int", 0, MAX_ID), "fallback_groups": ("int", 0, MAX_ID),  # the older name
}
_ROUND: dict[str, tuple[Any, float, float]] = {
    "alpha": ("real", 0, 1e30), "uncovered_before": ("int", 0, MAX_ID), "cliques_added": ("int", 0, MAX_ID),
    "groups_added": ("int", 0, MAX_ID),  # the older name
    "newly_covered": ("int", 0, MAX_ID),
}
_STATS: dict[str, tuple[Any, float, float]] = {
    "sample": ("int", 0, MAX_ID), "one_hop_reach_mean": ("real", 0, MAX_ID), "nn10_one_hop": ("real", 0, 1),
    "nn100_one_hop": ("real", 0, 1), "pool_recall": ("real", 0, 1),
}


def _check_fields(value: Any, where: str, schema: Mapping[str, tuple[Any, float, float]]) -> None:
    """Known keys typed by ``schema``; unknown keys plain scalars."""
    for key, item in dict_field(value, where).items():
        at = f"{where}[{key!r}]"
        if key not in schema:
            scalar_field(item, at)
            continue
        kind, low, high = schema[key]
        if kind == "int":
            int_field(item, at, low, high)
        elif kind == "real":
            real_field(item, at, low, high)
        elif kind == "bool":
            if not isinstance(item, bool):
                raise IndexFormatError(f"{at} must be true or false, got {short(item)}")
        elif item not in kind:
            raise IndexFormatError(f"{at} must be one of {kind}, got {short(item)}")


def _check_build(build: Any) -> None:
    where = "header['build']"
    _check_fields({k: v for k, v in dict_field(build, where).items() if k not in ("phase_seconds", "rounds")},
                  where, _BUILD)
    if "phase_seconds" in build:
        for name, secs in dict_field(build["phase_seconds"], f"{where}['phase_seconds']").items():
            real_field(secs, f"{where}['phase_seconds'][{name!r}]", 0, 1e12)
    if "rounds" in build:
        rounds = build["rounds"]
        if not isinstance(rounds, list) or len(rounds) > MAX_ITEMS:
            raise IndexFormatError(f"{where}['rounds'] must be a list of at most {MAX_ITEMS} dicts, "
                                   f"got {short(rounds)}")
        for i, r in enumerate(rounds):
            _check_fields(r, f"{where}['rounds'][{i}]", _ROUND)


def validate_header(header: Any) -> None:
    """Raise :class:`IndexFormatError` unless every field of ``header`` has its type and range
    (see the module docstring); the shape fields are checked against each other too."""
    if not isinstance(header, Mapping):
        raise IndexFormatError(f"header must be a dict, got {type(header).__name__}")
    missing = [k for k in _REQUIRED if k not in header]
    if missing:
        raise IndexFormatError(f"header is missing required key(s): {', '.join(missing)}")
    for key, kind in _REQUIRED.items():
        value = header[key]
        ok = {"int": is_int(value), "str": isinstance(value, str), "dict": isinstance(value, Mapping)}[kind]
        if not ok:
            raise IndexFormatError(f"header[{key!r}] must be {'an' if kind == 'int' else 'a'} {kind}, "
                                   f"got {type(value).__name__} {short(value)}")
    if header["format"] != FORMAT:
        raise IndexFormatError(f"header['format'] must be {FORMAT!r}, got {short(header['format'])}")
    if header["format_version"] not in READABLE_VERSIONS:
        raise IndexFormatError(
            f"header['format_version'] is {header['format_version']}, expected one of {READABLE_VERSIONS}")
    if header["metric"] not in METRICS:
        raise IndexFormatError(f"header['metric'] must be one of {METRICS}, got {short(header['metric'])}")
    text_field(header["mcindex_version"], "header['mcindex_version']")
    n = int_field(header["n"], "header['n']", 0, MAX_ID)
    dim = int_field(header["dim"], "header['dim']", 0, _INT64 - 1)
    stride = int_field(header["stride"], "header['stride']", 0, _INT64 - 1)
    int_field(header["nav_degree"], "header['nav_degree']", 0, MAX_ID)
    entry = int_field(header["entry_point"], "header['entry_point']", 0, MAX_ID)
    if stride < dim:
        raise IndexFormatError(f"header['stride'] = {stride} is smaller than header['dim'] = {dim}")
    if header["format_version"] == 1 and stride % 16:
        raise IndexFormatError(
            f"header['stride'] = {stride} is not a multiple of 16 (version-1 rows are 64-byte padded)")
    if n > 0 and entry >= n:
        raise IndexFormatError(f"header['entry_point'] = {entry} is not < n = {n}")
    if n == 0 and entry != 0:
        raise IndexFormatError(f"header['entry_point'] must be 0 for an empty index, got {entry}")
    if header.get("codes", "none") not in ("none", "sq8"):
        raise IndexFormatError(f"header['codes'] must be 'none' or 'sq8', got {short(header.get('codes'))}")
    if header.get("codes", "none") == "sq8" and header["format_version"] < 3:
        raise IndexFormatError(f"header['codes'] = 'sq8' needs format version 3, got {header['format_version']}")
    if header.get("codes", "none") == "sq8":
        error = header.get("code_error")
        if not isinstance(error, (int, float)) or isinstance(error, bool) or not 0 <= error < 1e30:
            raise IndexFormatError(f"header['code_error'] must be a finite number >= 0 with codes, got {short(error)}")
    elif "code_error" in header:
        raise IndexFormatError("header['code_error'] is only allowed with header['codes'] = 'sq8'")
    unknown = sorted(set(header) - set(_REQUIRED) - {"build", "planner", "codes", "code_error"}, key=str)
    if unknown:
        raise IndexFormatError(f"header has unknown key(s): {', '.join(short(k) for k in unknown[:5])}")
    _check_fields(header["build_params"], "header['build_params']", _BUILD_PARAMS)
    _check_fields(header["stats"], "header['stats']", _STATS)
    if "build" in header:
        _check_build(header["build"])
    if "planner" in header:
        check_rule(header["planner"], "header['planner']")
