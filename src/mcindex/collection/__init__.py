"""Collections: vectors plus attributes, searched under filters on those attributes.

* :class:`Collection` -- build, search, save, load (``collection.py``);
* :func:`col` -- predicates such as ``(col("price") < 50) & col("tags").contains("sale")``
  (``predicates.py``, with the missing-value rules);
* column kinds and their indexes (``columns.py``, ``numeric.py``, ``categorical.py``,
  ``multilabel.py``); input and output tables (``table.py``); SQL ``where`` strings through
  DuckDB, with their limits (``sql.py``); external ids (``ids.py``); the directory format (``storage.py``).
"""

from __future__ import annotations

from .collection import Collection
from .columns import KINDS, Column
from .predicates import Col, Predicate, col
from .sql import FilterLimitError, SqlLimits
from .storage import CollectionFormatError

__all__ = ["KINDS", "Col", "Collection", "CollectionFormatError", "Column", "FilterLimitError", "Predicate",
           "SqlLimits", "col"]
