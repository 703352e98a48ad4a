"""How many devices one simulator process drives, and through how many MQTT connections, against a real Mosquitto.

Usage: ``python -m bench.sim_scale [--kind home] [--homes 600] [--residents-per-site 1] [--motion-hz 25]
[--connections 1 8] [--modes threaded inline] [--messages 60000] [--max-seconds 60] [--repeat 3]
[--realtime-seconds 30] [--no-subscriber]``

It starts its own Mosquitto (``/usr/sbin/mosquitto``) on a free loopback port in a temporary directory, builds a
world of ``--homes`` sites of ``--kind`` (homes have 17 devices for one resident: 600 homes = 10,200 devices; a care
site 9 per resident; wearables stream the accelerometer at ``--motion-hz``), and measures, each run bounded by a
message count and a wall-clock limit:

1. generation only: the simulator publishing into a counter (its own ceiling, no MQTT);
2. for each ``--modes`` and ``--connections`` value: the simulation as fast as it goes (speed = inf) through a
   `PublisherPool` (QoS 1, 1,000 unacknowledged publishes per connection; ``threaded``: paho's network thread per
   connection, ``inline``: the simulation's thread does the I/O), every publish acknowledged (flushed) before the
   clock stops, and a QoS 1 subscriber counting what the broker delivers (nothing may be missing); ratios compare
   the configurations; each figure is the median of ``--repeat`` runs;
3. real time: the same world at speed 1 for ``--realtime-seconds`` through the faster configuration; it is
   sustained when the run never falls a tick (1 s) behind.

"Devices sustainable" divides the measured rate by the world's real-time message rate per device. Publisher, broker
and subscriber share the machine's cores (as in shared/MQTT.md), so figures are for the whole path on this box; the
load average is printed first, since other work on the machine moves them.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.services import terminable
from simulators.floorplans import build_world
from simulators.pool import PublisherPool
from simulators.publisher import PublishError
from simulators.reports import Streams
from simulators.runner import Simulation
from simulators.world import World

START = 1_764_410_400.0  # 2025-11-29 10:00 UTC: a busy morning in the simulated homes
WARM_UP_S = 30.0  # simulated seconds before measuring: the first tick reports every sensor's initial state
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
persistence false
log_dest file {dir}/mosquitto.log
"""
DELIVERY_TIMEOUT_S = 60.0
RETRIES = 3


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    published: int
    seconds: float
    simulated_s: float
    received: int | None = None  # by the subscriber; None without one

    @property
    def rate(self) -> float:
        return self.published / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A private Mosquitto on a free loopback port, in a temporary directory."""

    def __init__(self) -> None:
        self._binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(self._binary).exists():
            sys.exit("mosquitto is not installed (scripts/install-services)")
        self._directory = Path(tempfile.mkdtemp(prefix="carewatch-bench-mosquitto-"))
        if os.geteuid() == 0:  # mosquitto drops root privileges to its own user
            shutil.chown(self._directory, "mosquitto")
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.port = free_port()
        conf = self._directory / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, dir=self._directory))
        self._process = subprocess.Popen([self._binary, "-c", str(conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self.alive() and self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._directory, ignore_errors=True)


@contextmanager
def mosquitto() -> Iterator[Broker]:
    with terminable():
        broker = Broker()
        try:
            yield broker
        finally:
            broker.close()


class Subscriber:
    """Counts every message under the simulator's topics at QoS 1, like ingest, in a process of its own (in the
    simulator's process its network thread would compete with the simulator for the GIL)."""

    def __init__(self, port: int) -> None:
        self._count = multiprocessing.Value("q", 0, lock=False)  # one writer: the child's network thread
        self._ready = multiprocessing.Event()
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.Process(target=_count, args=(port, self._count, self._ready, self._stop),
                                                daemon=True)  # fmt: skip
        self._process.start()
        if not self._ready.wait(10):
            self.close()
            raise RuntimeError("the subscriber could not subscribe")

    @property
    def count(self) -> int:
        return int(self._count.value)

    def wait_for(self, count: int) -> int:
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count

    def close(self) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()


def _count(port: int, count: Any, ready: Any, stop: Any) -> None:
    """The subscriber process: count deliveries until told to stop."""

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        count.value += 1

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-counter-{os.getpid()}")
    client.on_connect = lambda c, *_: c.subscribe([("carewatch/v1/#", 1), ("zigbee2mqtt/#", 1)])
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()


def bounded_run(simulation: Simulation, speed: float, messages: int, max_seconds: float,
                start: float = START + WARM_UP_S) -> tuple[int, float, float]:  # fmt: skip
    """Run until ``messages`` were published or ``max_seconds`` passed. Returns (published, wall s, simulated s)."""
    stop = threading.Event()
    began = time.perf_counter()
    simulated = [0.0]

    def check(elapsed: float, published: int) -> None:
        simulated[0] = elapsed
        if published >= messages or time.perf_counter() - began >= max_seconds:
            stop.set()

    published = simulation.run(start, None, speed, stop=stop, progress=check)
    return published, time.perf_counter() - began, simulated[0]


def simulation(world: World, publish: Any, motion_hz: float | None) -> Simulation:
    sim = Simulation(world, [], publish, seed=1, streams=Streams(motion_hz=motion_hz))
    sim.run(START, WARM_UP_S, speed=math.inf)
    return sim


def generation_only(world: World, motion_hz: float | None, messages: int, max_seconds: float) -> Run:
    sink = simulation(world, lambda topic, payload: None, motion_hz)
    published, seconds, simulated = bounded_run(sink, math.inf, messages, max_seconds)
    return Run("generation only (no MQTT)", published, seconds, simulated)


def through_mqtt(broker: Broker, world: World, connections: int, inline: bool, motion_hz: float | None,
                 messages: int, max_seconds: float, subscribe: bool, speed: float = math.inf) -> Run:  # fmt: skip
    """One bounded run; repeated on a fresh broker if this one died meanwhile (killed from outside)."""
    for _ in range(RETRIES):
        try:
            return _through_mqtt(broker.port, world, connections, inline, motion_hz, messages, max_seconds, subscribe,
                                 speed)  # fmt: skip
        except PublishError:
            if broker.alive():
                raise
            print("  (the broker died during the run: restarting it and repeating the run)")
            broker.start()
    raise RuntimeError(f"the broker died in {RETRIES} runs in a row")


def _through_mqtt(port: int, world: World, connections: int, inline: bool, motion_hz: float | None, messages: int,
                  max_seconds: float, subscribe: bool, speed: float) -> Run:  # fmt: skip
    subscriber = Subscriber(port) if subscribe else None
    pool = PublisherPool("127.0.0.1", port, f"bench-sim-{connections}-{time.monotonic_ns()}", connections,
                         inline=inline)  # fmt: skip
    try:
        sim = simulation(world, pool.publish, motion_hz)
        warm = pool.published
        pool.flush()  # the warm-up drains before the clock starts: a backlog in the broker would slow the run
        if subscriber:
            subscriber.wait_for(warm)
        published, seconds, simulated = bounded_run(sim, speed, messages, max_seconds)
        began_flush = time.perf_counter()
        pool.flush()  # count only what the broker acknowledged
        seconds += time.perf_counter() - began_flush
        received = subscriber.wait_for(warm + published) - warm if subscriber else None
        label = f"{connections} connection{'s' if connections > 1 else ''}, {'inline' if inline else 'threaded'}"
        run = Run(label, published, seconds, simulated, received)
        if speed != math.inf:
            verdict = "sustained" if sim.max_lag_s < sim.streams.tick_s else "FELL BEHIND"
            print(
                f"  {len(world.devices):,} devices in real time: {run.published:,} msgs in {run.seconds:.1f} s = "
                f"{run.rate:,.0f} msg/s, {run.received} received; worst lag {sim.max_lag_s:.2f} s: {verdict}"
            )
        return run
    finally:
        pool.close()
        if subscriber:
            subscriber.close()


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def report(run: Run, per_device_rate: float, devices: int) -> None:
    sustainable = run.rate / per_device_rate
    delivered = "" if run.received is None else f", {run.received:,} received ({run.received - run.published:+,})"
    print(f"  {run.label:28s} {run.published:>9,} msgs in {run.seconds:6.2f} s = {run.rate:>8,.0f} msg/s "
          f"({run.simulated_s:,.0f} simulated s, {run.simulated_s * devices / run.seconds:,.0f} device-s/s); "
          f"sustains ~{sustainable:,.0f} devices{delivered}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("home", "community_station", "care_institution"), default="home")
    parser.add_argument("--homes", type=int, default=600, help="sites of that kind")
    parser.add_argument("--residents-per-site", type=int, default=1)
    parser.add_argument("--motion-hz", type=float, default=25.0, help="0: no accelerometer stream")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--modes", nargs="+", choices=("threaded", "inline"), default=["threaded", "inline"])
    parser.add_argument("--messages", type=int, default=60_000, help="bound of each measured run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (the median is reported)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="bound of each measured run")
    parser.add_argument("--realtime-seconds", type=float, default=30.0, help="0: skip the real-time check")
    parser.add_argument("--no-subscriber", action="store_true", help="do not count deliveries")
    args = parser.parse_args()
    motion = args.motion_hz or None
    world = build_world(args.kind, args.homes, args.residents_per_site, seed=1)
    devices = len(world.devices)
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    accelerometer = "off" if motion is None else f"{motion:g} Hz"
    print(f"world: {args.homes} {args.kind} sites, {len(world.residents)} residents, {devices:,} devices; "
          f"accelerometer {accelerometer}; {os.cpu_count()} cores")  # fmt: skip
    baseline = median([generation_only(world, motion, args.messages, args.max_seconds) for _ in range(args.repeat)])
    per_device_rate = baseline.published / baseline.simulated_s / devices  # messages per device-second of life
    print(f"load model: {per_device_rate * devices:,.0f} msg/s in real time for this world "
          f"({per_device_rate * 1000:.1f} msg/s per 1,000 devices)\n")  # fmt: skip
    report(baseline, per_device_rate, devices)
    runs: dict[tuple[bool, int], Run] = {}
    with mosquitto() as broker:
        for inline in (mode == "inline" for mode in args.modes):
            for connections in args.connections:
                runs[inline, connections] = median([
                    through_mqtt(broker, world, connections, inline, motion, args.messages, args.max_seconds,
                                 not args.no_subscriber) for _ in range(args.repeat)
                ])  # fmt: skip
                report(runs[inline, connections], per_device_rate, devices)
        print()
        for (inline, connections), run in runs.items():
            for (other_inline, other_connections), other in runs.items():
                if (inline == other_inline and connections > other_connections) or (
                    inline and not other_inline and connections == other_connections
                ):
                    print(f"  ratio {run.label} / {other.label}: {run.rate / other.rate:.2f}x")
        if args.realtime_seconds:
            inline, best = max(runs, key=lambda key: runs[key].rate)
            print(f"\nreal time, {devices:,} devices, {runs[inline, best].label}, {args.realtime_seconds:g} s:")
            through_mqtt(broker, world, best, inline, motion, sys.maxsize, args.realtime_seconds,
                         not args.no_subscriber, speed=1.0)  # fmt: skip


if __name__ == "__main__":
    main()
