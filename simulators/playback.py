"""Publishing timestamped messages when the clock reaches their time, at real or accelerated speed (replays)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulators.clock import Clock

Publish = Callable[[str, bytes], None]
Progress = Callable[[float, int], None]


@dataclass(frozen=True, slots=True)
class Message:
    ts: float
    topic: str
    payload: bytes


def play(messages: Iterable[Message], publish: Publish, speed: float = 1.0, stop: threading.Event | None = None,
         progress: Progress | None = None) -> int:  # fmt: skip
    """Publish messages (in ``ts`` order) when the clock reaches their ``ts``, paced at ``speed``."""
    stop = stop or threading.Event()
    clock: Clock | None = None
    sent = 0
    for message in messages:
        clock = clock or Clock(message.ts, speed, time.time())
        if stop.wait(max(0.0, clock.wall_at(message.ts) - time.time())):
            break
        publish(message.topic, message.payload)
        sent += 1
        if progress is not None:
            progress(message.ts - clock.start, sent)
    return sent
