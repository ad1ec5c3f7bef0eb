"""Optional dependencies (pyarrow, pandas, duckdb): imported on first use, with one clear error.

numpy is the only hard dependency of mcindex. Collections read and write pandas DataFrames and
Arrow tables, and evaluate SQL ``where`` strings with DuckDB, when those packages are installed;
each error names the pip extra that brings the missing package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

__all__ = ["available", "require"]

#: module -> the extra of ``mcindex`` that installs it
EXTRAS = {"pyarrow": "data", "pandas": "pandas", "duckdb": "sql", "ray": "distributed", "fastapi": "serve",
          "uvicorn": "serve"}


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None: import blocked (as tests do to simulate absence)
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise ImportError saying that ``what`` needs it and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module)
        hint = f'pip install "mcindex[{extra}]"' if extra else f"pip install {module}"
        raise ImportError(f"{what} needs {module}; install it with: {hint}") from exc
