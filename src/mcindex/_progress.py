"""A tiny progress bar on stderr, with no dependency.

The bar stays invisible for short tasks: nothing is drawn until the task has run for
``delay`` seconds (1 s by default), and nothing at all is drawn when the stream is not a
terminal (logs and captured output stay clean) unless ``force=True``. ``silent=True``
turns it off entirely.

Usage::

    with Progress(total=len(items), desc="searching") as bar:
        for item in items:
            work(item)
            bar.update()
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 24  # characters of the bar itself
_REDRAW_SECONDS = 0.1  # at most this often


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Progress of a task of ``total`` steps (``total=None``: unknown length, a counter).

    Args:
        total: number of steps, or None when unknown.
        desc: a short label drawn before the bar.
        silent: never draw anything.
        stream: where to draw (default: ``sys.stderr`` at the time of the call).
        delay: seconds the task must have run before the bar first appears.
        force: draw even when ``stream`` is not a terminal (used by tests).
    """

    def __init__(
        self,
        total: int | None = None,
        desc: str = "",
        *,
        silent: bool = False,
        stream: TextIO | None = None,
        delay: float = 1.0,
        force: bool = False,
    ) -> None:
        self.total = total
        self.desc = desc
        self.count = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = not silent and (force or _is_tty(self._stream))
        self._delay = delay
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False
        self._last_width = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the bar was created."""
        return time.perf_counter() - self._start

    def update(self, steps: int = 1, *, desc: str | None = None) -> None:
        """Advance by ``steps`` and redraw if the bar is visible (throttled)."""
        self.count += steps
        if desc is not None:
            self.desc = desc
        if not self._enabled:
            return
        now = time.perf_counter()
        if now - self._start < self._delay or now - self._last_draw < _REDRAW_SECONDS:
            return
        self._draw(now)

    def set_description(self, desc: str) -> None:
        """Change the label without advancing."""
        self.update(0, desc=desc)

    def _render(self, now: float) -> str:
        elapsed = now - self._start
        label = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(1.0, self.count / self.total)
            filled = int(frac * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            eta = elapsed / frac * (1.0 - frac) if frac > 0 else 0.0
            return f"{label}[{bar}] {self.count}/{self.total} {_fmt_seconds(elapsed)}<{_fmt_seconds(eta)}"
        return f"{label}{self.count} {_fmt_seconds(elapsed)}"

    def _draw(self, now: float) -> None:
        text = self._render(now)
        pad = " " * max(0, self._last_width - len(text))
        self._stream.write("\r" + text + pad)
        self._stream.flush()
        self._last_width = len(text)
        self._last_draw = now
        self._drawn = True

    def clear(self) -> None:
        """Erase the bar if it is drawn, e.g. before printing a message; the next update redraws it."""
        if self._drawn:
            self._stream.write("\r" + " " * self._last_width + "\r")
            self._stream.flush()
            self._drawn = False
            self._last_width = 0

    def close(self) -> None:
        """Erase the bar if it was drawn (the line is left clean for normal output)."""
        self.clear()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
