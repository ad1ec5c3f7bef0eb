"""Serve a collection over HTTP: a JSON API (FastAPI) run by uvicorn or Ray Serve (``mcindex serve``).

* :func:`make_app` (``api.py``) - the FastAPI application around any collection; runs without
  Ray (tests use FastAPI's TestClient); request and response models in ``models.py``;
* ``where_json.py`` - filters written as JSON objects, translated into predicates;
* ``body_limit.py`` - the request size limit (413), including streamed bodies;
* ``loading.py`` - what a path holds (a collection directory, an index file) and loading it;
* ``local.py`` - one process under uvicorn, listening on the given host only: ``mcindex serve``;
* ``deployment.py`` - the Ray Serve deployment and :func:`run`, behind ``mcindex serve --ray``
  and for sharded collections.

Needs the ``serve`` extra (FastAPI, uvicorn), and the ``distributed`` extra for Ray Serve.
Nothing here is imported by ``import mcindex``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["make_app", "run"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `mcindex.serve.where_json` works without FastAPI or Ray.
    if name == "make_app":
        from .api import make_app

        return make_app
    if name == "run":
        from .deployment import run

        return run
    raise AttributeError(f"module 'mcindex.serve' has no attribute {name!r}")
