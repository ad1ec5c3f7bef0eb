"""Column kinds by name: which :class:`~.columns.Column` subclass holds a kind, and building a
column of a kind from raw values. A module of its own so that the base module
(:mod:`.columns`) never imports its subclasses."""

from __future__ import annotations

from .categorical import BooleanColumn, CategoricalColumn
from .columns import KINDS, Column, RawColumn, infer_kind
from .multilabel import KeywordsColumn, MultiLabelColumn
from .numeric import NumericColumn

__all__ = ["build_column", "column_class"]

_CLASSES: dict[str, type[Column]] = {
    "numeric": NumericColumn, "categorical": CategoricalColumn, "boolean": BooleanColumn,
    "multi_label": MultiLabelColumn, "keywords": KeywordsColumn,
}


def column_class(kind: str) -> type[Column]:
    """The :class:`Column` subclass of ``kind`` (one of :data:`~.columns.KINDS`; KeyError otherwise)."""
    return _CLASSES[kind]


def build_column(raw: RawColumn, kind: str | None = None) -> Column:
    """The column of ``kind`` (inferred when None) built from ``raw``, with its index."""
    if kind is None:
        kind = infer_kind(raw)
    if kind not in KINDS:
        raise ValueError(f"column {raw.name!r}: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return column_class(kind).from_raw(raw)
