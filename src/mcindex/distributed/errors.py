"""Errors of sharded collections.

Every failure of a shard reaches the caller as one of these (or, for bad arguments, the same
``ValueError`` / ``TypeError`` that :meth:`mcindex.Collection.search` raises): a query never
returns fewer shards' answers than it asked for without saying so.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ShardError", "ShardTimeoutError", "ShardUnavailableError"]


class ShardError(RuntimeError):
    """A shard could not do what was asked (lost rows during a build, no built collection, ...)."""

    #: What ``mcindex serve`` answers when a search raises this: the service, not the request,
    #: is at fault, and the message (which shard, why) is safe to show.
    http_status = 503


class ShardUnavailableError(ShardError):
    """One or more shards are dead and could not be restarted from their checkpoints.

    ``shards`` lists their numbers, ``causes`` Ray's reason for each (same order).
    """

    def __init__(self, message: str, shards: Sequence[int] = (), causes: Sequence[str] = ()):
        super().__init__(message)
        self.shards = list(shards)
        self.causes = list(causes)


class ShardTimeoutError(ShardError, TimeoutError):
    """Shards did not answer within the ``timeout`` of a search; ``shards`` lists them."""

    def __init__(self, message: str, shards: Sequence[int] = ()):
        super().__init__(message)
        self.shards = list(shards)
