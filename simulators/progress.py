"""A one-line progress display for long runs (a simulated day, a large replay)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

PRINT_EVERY_S = 1.0  # redraw at most this often: a display, not a log


def _hms(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressLine:
    """``progress(elapsed_s, published)`` callback for `Simulation.run` and the replays: simulated time done (of
    ``duration_s`` when known), messages published, their rate and the time left, redrawn in place."""

    def __init__(self, duration_s: float | None = None, stream: TextIO | None = None,
                 every_s: float = PRINT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        # sys.stderr as it is now (default), not as it was at import: a caller may have replaced it since
        self._duration, self._stream, self._every, self._clock = duration_s, stream or sys.stderr, every_s, clock
        self._first = self._last = -1.0
        self._line = ""

    def __call__(self, elapsed_s: float, published: int) -> None:
        now = self._clock()
        if self._first < 0:
            self._first = now
        if now - self._last < self._every:
            return
        self._last = now
        self._draw(elapsed_s, published, now - self._first)

    def close(self) -> None:
        """End the line (after the run)."""
        if self._line:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, elapsed_s: float, published: int, wall_s: float) -> None:
        rate = published / wall_s if wall_s > 0 else 0.0
        parts = [f"simulated {_hms(elapsed_s)}"]
        if self._duration:
            done = min(1.0, elapsed_s / self._duration)
            left = wall_s * (1.0 - done) / done if done > 0 else float("nan")
            parts = [f"{done:6.1%}", f"simulated {_hms(elapsed_s)} of {_hms(self._duration)}"]
            parts.append("" if math.isnan(left) else f"{_hms(left)} left")
        parts += [f"{published:,} messages", f"{rate:,.0f} msg/s"]
        self._line = " | ".join(p for p in parts if p)
        self._stream.write("\r" + self._line.ljust(100))
        self._stream.flush()
