"""Placement: which node each shard actor runs on, and how many threads it then uses.

Unless the caller gives a ``scheduling_strategy`` in ``actor_options``, every alive node with
CPUs takes shards in proportion to its CPUs (:func:`plan_nodes`), and each shard is pinned to
its node with a strict node affinity (:func:`actor_options`). Ray's own choices do not do this:

* ``SPREAD`` is best effort and blind to capacity for actors that reserve no CPU (the default,
  ``num_cpus=0``): on a live two-node cluster it put all four shards on one node in about one
  build in ten, and it puts shards on a head node started with ``--num-cpus 0`` to keep it free.
* A soft affinity does not hold: on the two-node test cluster Ray started some shard off its
  planned node in 18 of 20 builds, and in 3 a shard was still off after four more starts.

With a strict pin, a shard whose process dies restarts on its node, from its checkpoint; a shard
whose node is gone cannot be scheduled, which a search reports as unavailable, naming it
(``ShardedCollection.load`` places the shards again, on the nodes alive then).

A shard's work is parallel over ``threads``, which defaults to its node's CPUs divided among the
shards placed there (:func:`default_threads`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

__all__ = ["actor_options", "default_threads", "describe", "plan_nodes"]


def plan_nodes(shards: int) -> list[str] | None:
    """A node for each shard: every alive node with CPUs takes shards in proportion to its CPUs
    (the next shard goes where shards per CPU stays lowest; on a tie, to the node holding fewer
    shards, then the one with more CPUs, then by id). None when no node reports CPUs."""
    cpus = {n["NodeID"]: float(n.get("Resources", {}).get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")}
    order = sorted((node for node, c in cpus.items() if c > 0), key=lambda node: (-cpus[node], node))
    if not order:
        return None
    placed = dict.fromkeys(order, 0)
    plan = []
    for _ in range(shards):
        node = min(order, key=lambda nd: ((placed[nd] + 1) / cpus[nd], placed[nd]))
        placed[node] += 1
        plan.append(node)
    return plan


def actor_options(options: Mapping[str, Any], shards: int) -> list[dict[str, Any]]:
    """The Ray options of each shard's actor: ``options`` plus, unless they name a
    ``scheduling_strategy``, a strict affinity to the node :func:`plan_nodes` chose (``SPREAD``
    when no node reports CPUs)."""
    plan = None if "scheduling_strategy" in options else plan_nodes(shards)
    if plan is None:
        return [{"scheduling_strategy": "SPREAD", **options} for _ in range(shards)]
    return [{**options, "scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)} for node in plan]


def describe(nodes: Sequence[str]) -> list[tuple[str, float, int]]:
    """Per shard, given the node each one runs on: (node id, the node's CPUs as Ray knows them,
    shards on that node)."""
    cpus = {n["NodeID"]: n.get("Resources", {}).get("CPU", 1.0) for n in ray.nodes() if n.get("Alive", True)}
    count: dict[str, int] = {}
    for node in nodes:
        count[node] = count.get(node, 0) + 1
    return [(node, float(cpus.get(node, os.cpu_count() or 1)), count[node]) for node in nodes]


def default_threads(placed: tuple[str, float, int]) -> int:
    """Threads for a shard placed as ``placed`` (an entry of :func:`describe`): its node's CPUs
    divided among the shards on that node, at least 1."""
    _, cpus, on_node = placed
    return max(1, int(cpus) // max(1, on_node))
