"""A sharded collection on a real multi-process Ray cluster on loopback: a head node and a
second node joining it by address (``ray start``), shards placed on both, one shard's process
SIGKILLed in the middle of a query, results checked against exact search.

The cluster runs in a subprocess (this file run as a script) so that it cannot disturb the
local Ray instance of the other tests. Its processes are started in two new sessions and
stopped by killing exactly those sessions' processes: ``ray stop`` would end every Ray process
of the user on the machine, including other people's clusters.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

pytest.importorskip("ray")


def test_sharded_collection_on_a_two_node_loopback_cluster():
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(ray_bin):
        pytest.skip("the ray command is not installed next to this Python")
    # Token authentication with a token of our own, in the environment of every process of the
    # cluster (the nodes inherit it from the script; Ray reads it when imported): nothing is read
    # from or written to ~/.ray.
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "CLUSTER OK" in proc.stdout, proc.stdout[-3000:]


# ---- the script ----------------------------------------------------------------------------------
class PortPicker:
    """Ports for the two nodes, all distinct and all below the kernel's ephemeral range.

    Ray binds some of its own sockets to random ephemeral ports (the GCS, its clients), and a
    worker-port range drawn from that same pool can collide with them, or with the other fixed
    ports: CI once failed with "worker_ports is trying to use a port number ... used by other
    components". Drawing every fixed port and range from below the ephemeral range, never
    twice, and checking each port can be bound, rules both collisions out. The floor of 20000
    stays clear of the ports Ray gives its own workers by default (10002-19999), which any other
    Ray instance on the machine may be using.
    """

    def __init__(self) -> None:
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                self.ephemeral_low = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            self.ephemeral_low = 32768
        self.taken: set[int] = set()
        self.rng = random.Random(secrets.randbits(64))

    @staticmethod
    def bindable(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    def block(self, width: int) -> int:
        """The first port of ``width`` consecutive free ports nobody else was given."""
        for _ in range(500):
            base = self.rng.randrange(20000, max(self.ephemeral_low, 30000) - width)
            ports = range(base, base + width)
            if not self.taken.intersection(ports) and all(self.bindable(p) for p in ports):
                self.taken.update(ports)
                return base
        raise RuntimeError(f"no {width} consecutive free ports below {self.ephemeral_low}")

    def ports(self, count: int) -> list[int]:
        return [self.block(1) for _ in range(count)]


def session_pids(sid: int) -> list[int]:
    """Every live process whose session id is ``sid``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after "pid (comm)": state ppid pgrp session
            out.append(int(name))
    return out


def start_node(args: list[str], sessions: list[int]) -> None:
    p = subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sessions.append(p.pid)
    out, _ = p.communicate(timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out}")


def stop_sessions(sessions: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [pid for sid in sessions for pid in session_pids(sid)]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and any(session_pids(sid) for sid in sessions):
            time.sleep(0.2)


def node_args(ray_bin: str, temp: str, cpus: int, head_port: int | None, picker: PortPicker) -> list[str]:
    ports = picker.ports(8)
    workers = picker.block(201)
    args = [ray_bin, "start", "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--disable-usage-stats",
            "--node-manager-port", str(ports[0]), "--object-manager-port", str(ports[1]),
            "--min-worker-port", str(workers), "--max-worker-port", str(workers + 200),
            "--dashboard-agent-listen-port", str(ports[3]), "--dashboard-agent-grpc-port", str(ports[4]),
            "--metrics-export-port", str(ports[5]), "--runtime-env-agent-port", str(ports[6])]
    if head_port is None:
        return args + ["--head", "--port", str(ports[7]), "--include-dashboard=false", "--temp-dir", temp,
                       "--ray-client-server-port", str(ports[2])]
    return args + ["--address", f"127.0.0.1:{head_port}"]


def main() -> None:
    import ray

    import mcindex
    from mcindex import col
    from mcindex.distributed import ShardedCollection

    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    temp = tempfile.mkdtemp(prefix="mcrc-", dir="/tmp")
    sessions: list[int] = []
    try:
        picker = PortPicker()
        head = node_args(ray_bin, temp, 1, None, picker)
        port = int(head[head.index("--port") + 1])
        start_node(head, sessions)
        start_node(node_args(ray_bin, temp, 1, port, picker), sessions)
        ray.init(address=f"127.0.0.1:{port}", _node_ip_address="127.0.0.1", log_to_driver=False)
        deadline = time.time() + 60
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.time() < deadline, "the second node never joined"
            time.sleep(0.5)

        rng = np.random.default_rng(0)
        n, dim = 2000, 16
        x = rng.standard_normal((n, dim)).astype(np.float32)
        price = rng.uniform(0, 100, n)
        shared = os.path.join(temp, "shop.mcs")  # one machine: every node sees it
        sc = ShardedCollection.build(x, {"price": price}, shards=4, metric="l2", path=shared, progress=False,
                                     calibrate=False, stats_sample=0)
        info = sc.info()
        nodes = {s["node_id"] for s in info["shards"]}
        assert len(nodes) == 2, info
        print("shards on nodes:", [s["node_id"][:8] for s in info["shards"]], flush=True)

        q = np.repeat(x[:50] + 0.01, 200, axis=0)
        where = col("price") < 70
        want_i, want_d = mcindex.exact_search(x, q, k=10, filter=price < 70)
        t0 = time.perf_counter()
        sc.search(q, 10, where, strategy="exact")
        took = time.perf_counter() - t0
        # kill the shard on the second node (the one that is not the driver's head node)
        victim = next(s for s in info["shards"] if s["node_id"] != ray.get_runtime_context().get_node_id())
        result: dict = {}
        th = threading.Thread(target=lambda: result.update(out=sc.search(q, 10, where, strategy="exact")))
        th.start()
        time.sleep(took / 3)
        in_flight = th.is_alive()
        os.kill(victim["pid"], signal.SIGKILL)
        th.join(timeout=180)
        got_i, got_d = result["out"]
        np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)
        untied = np.abs(np.diff(want_d, axis=1)).min() > 1e-5
        if untied:
            assert np.array_equal(got_i, want_i)
        after = sc.info()["shards"][victim["shard"]]
        assert after["pid"] != victim["pid"] and after["n"] == victim["n"], after
        print(f"killed shard {victim['shard']} (pid {victim['pid']}) {'mid-query' if in_flight else 'before'}; "
              f"restarted as pid {after['pid']} on node {after['node_id'][:8]}", flush=True)
        assert in_flight
        sc.close()
        ray.shutdown()
        print("CLUSTER OK", flush=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        stop_sessions(sessions)
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
