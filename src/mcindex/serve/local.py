"""One process, no Ray: the API of :mod:`.api` under uvicorn, the default of ``mcindex serve``.

The collection is loaded once (memory-mapped) and searched in worker threads; the core
releases the GIL, so one process uses every core. Only ``host:port`` is listened on: nothing
else opens a socket (a local Ray instance would open a dozen ports on every interface).
Ctrl-C or SIGTERM stops accepting connections and lets requests in flight finish.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from .loading import check_servable, load_servable

__all__ = ["run_local"]

GRACEFUL_SHUTDOWN_SECONDS = 10


def run_local(path: str, *, host: str = "127.0.0.1", port: int = 8000, app_options: dict[str, Any] | None = None,
              announce: Callable[[str], None] | None = None) -> None:
    """Serve the collection or index file at ``path`` on ``host:port`` until Ctrl-C / SIGTERM.

    Args:
        path: a collection directory or an index file (a sharded collection needs Ray:
            :func:`mcindex.serve.deployment.run`).
        host, port: where to listen.
        app_options: limits for :func:`~.api.make_app`.
        announce: called with the "serving ..." line once the socket listens (default: print).

    Raises:
        ValueError: ``path`` is a sharded collection, or not servable (see :mod:`.loading`).
        OSError: ``host:port`` cannot be listened on.
    """
    import uvicorn

    from .api import make_app
    from .deployment import check_port

    if check_servable(path) == "sharded":
        raise ValueError(f"{path}: a sharded collection is served with Ray (mcindex serve --ray)")
    check_port(host, port)
    app = make_app(load_servable(path), **(app_options or {}))
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    line = f"serving {path} at {url} (one process, no Ray); API docs at {url}/docs; Ctrl-C to stop"

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                (announce or _print)(line)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, server_header=False)
    server = Server(config)
    # uvicorn shuts down gracefully on SIGINT / SIGTERM, then raises the signal again for the
    # handlers it found; quiet ones make a requested stop a normal exit (code 0).
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:  # uvicorn logs why and returns (e.g. the port was taken meanwhile)
        raise OSError(f"cannot listen on {host}:{port}")


def _stopped(signum: int, frame: Any) -> None:
    """The stop was handled (uvicorn finished the requests in flight)."""


def _print(line: str) -> None:
    print(line, flush=True)
    sys.stdout.flush()
