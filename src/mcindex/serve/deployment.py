"""Ray Serve: the deployment behind ``mcindex serve`` and :func:`run`.

Each replica is a Ray actor that loads the collection itself (memory-mapped, so replicas on one
machine share the index pages through the page cache) and runs the FastAPI app of
:mod:`.api`; Serve's HTTP proxy spreads requests over the replicas. A sharded collection is
opened once, by :func:`run`, and every replica gets a client of the same shard actors (a
``ShardedCollection`` pickles as one): the shards hold the data, the replicas only fan out and
merge.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from .loading import check_servable, load_servable

__all__ = ["APP_NAME", "application", "check_port", "is_loopback", "replica_cpus", "run"]

APP_NAME = "mcindex"
MAX_ONGOING_REQUESTS = 32  # per replica


def replica_cpus(replicas: int, cluster_cpus: float) -> float:
    """CPUs reserved per replica: one each while they fit, else an equal share, so that every
    replica is placed (Ray does not start an actor whose reservation does not fit)."""
    return max(0.01, min(1.0, cluster_cpus / max(replicas, 1)))


def application(path: str, *, replicas: int = 1, num_cpus: float = 1.0, app_options: dict[str, Any] | None = None,
                servable: Any = None) -> Any:
    """The Serve application (``Deployment.bind()``) serving ``path`` with ``replicas`` replicas
    of ``num_cpus`` CPUs each; ``app_options`` go to :func:`~.api.make_app`. ``servable``: an
    object already opened (a ``ShardedCollection`` client) that replicas serve instead of loading
    ``path`` themselves."""
    from ray import serve

    path = os.path.abspath(path)  # replicas may start in another working directory
    options = dict(app_options or {})

    def build_app() -> Any:
        # Runs in each replica when it starts: load there, so nothing large goes through Ray.
        from .api import make_app

        return make_app(servable if servable is not None else load_servable(path), **options)

    deployment = serve.deployment(
        name="Collection", num_replicas=replicas, ray_actor_options={"num_cpus": num_cpus},
        # Searches run in worker threads and release the GIL, so a replica overlaps many
        # requests; Serve's default (5) would queue them at the proxy instead.
        max_ongoing_requests=MAX_ONGOING_REQUESTS,
        # One access-log line per request costs the replica more than a search does.
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )(serve.ingress(build_app)())
    return deployment.bind()


def check_port(host: str, port: int) -> None:
    """Fail now, with a clear message, when ``host:port`` cannot be listened on."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, port))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


RAY_PORTS_WARNING = ("note: Ray {version} opens its own cluster ports on every interface, whatever the node "
                     "address (its token authentication is on); a collection or an index file served without "
                     "--ray listens on {host}:{port} alone")


def run(path: str, *, host: str = "127.0.0.1", port: int = 8000, replicas: int = 1,
        app_options: dict[str, Any] | None = None, ray_address: str | None = None, num_cpus: int | None = None,
        ray_temp_dir: str | None = None, announce: Callable[[str], None] | None = None) -> None:
    """Serve the collection at ``path`` over HTTP until Ctrl-C (or SIGTERM), then shut down.

    Args:
        path: a collection directory or an index file (see :mod:`.loading`).
        host, port: where Serve's HTTP proxy listens.
        replicas: replicas of the deployment, each with the whole collection.
        app_options: limits for :func:`~.api.make_app` (``max_queries``, ``max_k``, ...).
        ray_address: an existing Ray cluster to join; None starts a private local one
            (``ray.init(address="local")``), stopped again on exit.
        num_cpus: CPUs of that local instance (default: every core).
        ray_temp_dir: its session directory (default: Ray's).
        announce: called with the "serving ..." line once requests are answered (default:
            print it).
    """
    import ray
    from ray import serve

    # Check what can be checked before starting Ray: the path loads (checksums verified), the
    # port is free. A replica that fails to load would otherwise be retried by Serve, and the
    # error would surface as a long traceback from deep inside Ray.
    kind = check_servable(path)
    check_port(host, port)
    options = dict(app_options or {})
    if kind == "sharded" and options.get("search_threads") == 1:
        # Each shard is one actor answering one call at a time; let it use its share of the
        # node's cores (the sharded default) instead of one.
        options["search_threads"] = None

    started = False
    if not ray.is_initialized():
        init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}
        if ray_address:
            init["address"] = ray_address
        else:
            init.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1)
            if is_loopback(host):  # the node advertises loopback: nothing is meant to reach it from outside
                init["_node_ip_address"] = "127.0.0.1"
            if ray_temp_dir:
                init["_temp_dir"] = ray_temp_dir
            print(RAY_PORTS_WARNING.format(version=ray.__version__, host=host, port=port), file=sys.stderr,
                  flush=True)
        ray.init(**init)
        started = True
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill PID` stops as cleanly as Ctrl-C
    shared = None
    try:
        if kind == "sharded":
            shared = load_servable(path)  # the shard actors live as long as this driver
        cpus = replica_cpus(replicas, float(ray.cluster_resources().get("CPU", 1.0)))
        serve.start(http_options={"host": host, "port": port})
        serve.run(application(path, replicas=replicas, num_cpus=cpus, app_options=options, servable=shared),
                  name=APP_NAME, route_prefix="/")
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        (announce or _print)(f"serving {path} at {url} ({replicas} replica{'s' if replicas != 1 else ''}, "
                             f"{cpus:g} CPU each); API docs at {url}/docs; Ctrl-C to stop")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            serve.shutdown()
            if shared is not None:
                shared.close()
        finally:
            if started:
                ray.shutdown()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print(line: str) -> None:
    print(line, flush=True)
    sys.stdout.flush()
