"""The composition root: builds one carewatch process from the settings and runs it on one event loop.

Threads: paho's network thread decodes and fills the batcher; the writer thread commits, acknowledges and runs the
alert core (it alone owns the core's arrays); the event loop serves HTTP and websockets and (embedded mode) the
broker; APScheduler's threads run the timed jobs (escalation, roll-ups, retention) and follow the registry (whose
reread swaps whole dicts: carewatch/registry.py). Crossings: batcher (paho -> writer), call_soon_threadsafe (writer
-> loop). This module and carewatch.cli are the only ones that import every package; no package imports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry

from alerts import checkpoint
from alerts.engine import AlertEngine, Found
from alerts.escalation import Escalator, PolicyDefaults
from alerts.lifecycle import Lifecycle
from alerts.lifecycle_worker import LifecycleWorker
from alerts.metrics import AlertCoreMetrics, EngineStart
from alerts.notify.base import Channel
from alerts.notify.broadcast import BroadcastNotifier
from alerts.notify.dispatch import Dispatcher, RetryPolicy
from alerts.notify.email import EmailChannel
from alerts.notify.mqtt import MqttChannel
from alerts.notify.webhook import WebhookChannel
from alerts.rebuild import rebuild, recover, resume
from alerts.reports import send_weekly_digests
from alerts.routing import Router
from alerts.rules import default_rules
from carewatch.catalog import WORN_LOOKBACK_S
from carewatch.config import Settings, mqtt_endpoint, redacted
from carewatch.model import Batch, Resident, WriteResult
from carewatch.registry import Registry, apply_manifest
from carewatch.shutdown import Shutdown
from carewatch.storage import TransientStorageError, open_store
from carewatch.storage.retention import RetentionPolicy
from dashboard.app import DashboardContext, create_app
from dashboard.auth import AuthConfig
from dashboard.hub import Hub
from ingest.batcher import Batcher
from ingest.broker import HOST as EMBEDDED_HOST
from ingest.broker import EmbeddedBroker
from ingest.catch_up import CatchUp
from ingest.clock import DataClock
from ingest.decode import decode
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttReader
from ingest.partition import partition_of, topic_filters
from ingest.sensor_off import SensorOff
from ingest.validate import MAX_PAST_S
from ingest.writer import Writer

log = logging.getLogger(__name__)

SERVER_START_TIMEOUT_S = 15.0
# How often the registry's generation is read (one row): a device registered while running is known this soon. The
# whole registry is reread only when it changed (at 100,000 residents a reread takes seconds: docs/performance.md).
REGISTRY_POLL_S = 1.0
SUBSCRIBE_TIMEOUT_S = 10.0  # start waits this long for the broker to grant ingest's subscriptions, then serves anyway
SUBSCRIBE_POLL_S = 0.05
# Stopping (see `stop`): open HTTP requests get this long to finish; the writer's flush may take this share of the
# stop's time (what it does not commit the broker redelivers), the lifecycle this share of the rest (a finding it does
# not apply is an alert lost), and the remaining steps what is left.
SERVER_STOP_TIMEOUT_S = 3
WRITER_STOP_SHARE = 0.5
LIFECYCLE_STOP_SHARE = 0.95
OWN_TIMEOUT_SHARE = 0.9  # a later step with a timeout of its own returns, and says what it gave up, before the deadline
# (the scheduled jobs are waited for with this share too, leaving the rest to the store's close)


def _fail(failure: asyncio.Future[str], why: str) -> None:
    if not failure.done():
        failure.set_result(why)


@dataclass(frozen=True, slots=True)
class Endpoints:
    dashboard_url: str
    mqtt_url: str


class Platform:
    """Storage, broker (embedded or external), ingest, the alert core and the dashboard of one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.metrics_registry = CollectorRegistry()
        self.metrics = IngestMetrics(self.metrics_registry)
        self.alert_metrics = AlertCoreMetrics(self.metrics_registry)
        self.registry = Registry()
        self._registry_generation = -1  # the store's registry generation when the registry was last read
        self._next_limits_refresh = 0.0  # wall time of the next reread of the clinicians' limits and NEWS2 escalations
        self.engine = AlertEngine(default_rules())
        self.data_clock: DataClock | None = None  # settings.clock "data": set at start
        # How start readied the alert core's state: "resumed" (as a clean stop saved it), "recovered" (a saved state
        # and the rows stored since) or "rebuilt" (from stored data).
        self.engine_start: EngineStart = "rebuilt"
        self._next_engine_save = math.inf  # monotonic time of the next save while running
        self._engine_view: tuple[object, object] = ({}, {})  # the registry's residents and devices the engine has
        self._engine_started_at: float | None = None  # the engine's time when its state was ready
        self.catch_up: CatchUp | None = None  # after the start: the time-driven rules wait for the broker's backlog
        self._broker: EmbeddedBroker | None = None
        self._notify_mqtt: MqttChannel | None = None
        self._server: _DashboardServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        # Done, with the reason, when the platform cannot go on and the process should stop (the broker refused the
        # credentials: ingest would ingest nothing). Made at start.
        self.failure: asyncio.Future[str] | None = None

    async def start(self) -> Endpoints:
        s = self.settings
        for host, port in (
            (s.http_host, s.http_port),
            (EMBEDDED_HOST, s.embedded_mqtt_port if s.embedded_broker else 0),
        ):
            check_listenable(host, port)  # before anything runs: a taken port is one line, not a failed start's trace
        loop = asyncio.get_running_loop()
        failure = self.failure = loop.create_future()
        await asyncio.to_thread(self.store.init_schema)
        self._read_registry()  # before the reader exists; it subscribes once made
        # The alert core: the state saved last (alerts.checkpoint), if still current; the registry, the clinicians'
        # limits and NEWS2 escalations; then its state made current: taken up as a clean stop left it, or brought
        # up to date from the rows stored since it was saved, else rebuilt from recent data; and the live alerts
        # loaded (the conditions found never alerted are raised, those found ended resolved, on the first tick).
        readying = time.perf_counter()
        saved = await asyncio.to_thread(self._saved_engine) if self.settings.alert_state_kept else None
        self.data_clock = await asyncio.to_thread(self._data_clock)
        started_at = time.time() if self.data_clock is None else self.data_clock.reference(time.time())
        self.engine_start, self._engine_found = await asyncio.to_thread(self._ready_engine, saved, started_at)
        self._engine_started_at = started_at
        self._next_engine_save = time.monotonic()  # the first tick saves: the file taken up is gone
        # On the data clock the ticks' now is the newest committed row: they never run ahead of the backlog.
        self.catch_up = CatchUp(started_at) if self.data_clock is None else None
        self.alert_metrics.start_seconds.set(time.perf_counter() - readying)
        self.alert_metrics.started(self.engine_start)

        self.hub = Hub(loop)
        self.hub.start()
        self.lifecycle = self._start_lifecycle()
        self.lifecycle_worker = LifecycleWorker(self.lifecycle)
        self.lifecycle_worker.start()
        mqtt_url = await self._start_broker()
        host, port, username, password = mqtt_endpoint(mqtt_url)
        self.batcher = Batcher(s.ingest_batch_rows, s.ingest_batch_seconds, s.ingest_max_pending_messages)
        sensor_off = SensorOff(self.registry, self.metrics)
        worn = await asyncio.to_thread(self.store.latest_device_readings, "worn", started_at - WORN_LOOKBACK_S)
        sensor_off.seed(worn)
        decoder = sensor_off.decoding(partial(decode, registry=self.registry))
        self.reader = MqttReader(
            host, port, s.mqtt_client_id, decoder if self.data_clock is None else self.data_clock.decoding(decoder),
            self.batcher, self.metrics, username, password, mqtt5=not s.embedded_broker,
            on_refused=lambda why: loop.call_soon_threadsafe(_fail, failure, why),
        )  # fmt: skip
        self.reader.subscribe(self._topic_filters())
        self.scheduler.add_job(
            self._follow_registry, "interval", seconds=REGISTRY_POLL_S, id="carewatch-registry", coalesce=True,
            max_instances=1,
        )  # fmt: skip
        self.writer = Writer(
            self.store, self.batcher, self.reader.acknowledge, self._on_committed, self.metrics, self._on_tick,
            clock=time.time if self.data_clock is None else self.data_clock.now,
        )  # fmt: skip
        self.writer.start()
        self.reader.start()
        dashboard_url = await self._start_dashboard()
        # Started means subscribed: what is published from now on reaches our session, even one new to the broker
        if not await self._subscribed() and not failure.done():
            log.warning("not subscribed at %s after %.0f s; serving, and subscribing when it answers",
                        redacted(mqtt_url), SUBSCRIBE_TIMEOUT_S)  # fmt: skip
        return Endpoints(dashboard_url, mqtt_url)

    async def _subscribed(self) -> bool:
        """Whether the broker grants ingest's subscriptions within SUBSCRIBE_TIMEOUT_S (no, at once, if it refuses
        the credentials)."""
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT_S
        while not self.reader.subscribed.is_set():
            if self.reader.refused is not None or time.monotonic() > deadline:
                return False
            await asyncio.sleep(SUBSCRIBE_POLL_S)
        return True

    async def stop(self) -> bool:
        """Stop within settings.stop_timeout_seconds (carewatch.shutdown): the dashboard and the reader first, then
        the writer commits what it holds and the lifecycle applies what the rules found. A step still running at the
        deadline is abandoned and logged. Whether every step finished (False: threads of abandoned steps may run on,
        and the process should exit without waiting for them)."""
        shutdown = Shutdown(self.settings.stop_timeout_seconds)
        self.escalator.stop()  # a running escalation ends after its stage in progress; no job starts from now on
        jobs = shutdown.start("the scheduled jobs", partial(self.scheduler.shutdown, wait=True))
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            await shutdown.wait_async("the dashboard server", asyncio.shield(self._server_task))
        await asyncio.to_thread(shutdown.run, "the MQTT reader", self.reader.stop)
        writer = partial(self.writer.stop, shutdown.budget(WRITER_STOP_SHARE))
        await asyncio.to_thread(shutdown.run, "the writer", writer)
        lifecycle = partial(self.lifecycle_worker.stop, shutdown.budget(LIFECYCLE_STOP_SHARE))
        await asyncio.to_thread(shutdown.run, "the alert lifecycle", lifecycle)
        started_at = self._engine_started_at
        if started_at is not None and self.settings.alert_state_kept and shutdown.complete:  # all evaluated, applied
            save = partial(self._save_engine, started_at)
            await asyncio.to_thread(shutdown.run, "saving the alert state", save)
        dispatcher = partial(self.dispatcher.stop, shutdown.budget(OWN_TIMEOUT_SHARE))
        await asyncio.to_thread(shutdown.run, "the dispatcher", dispatcher)
        if self._notify_mqtt is not None:
            await asyncio.to_thread(shutdown.run, "the MQTT notifier", self._notify_mqtt.close)
        await self.hub.stop()
        if self._broker is not None:
            await shutdown.wait_async("the embedded broker", self._broker.stop())
        await asyncio.to_thread(shutdown.wait, "the scheduled jobs", jobs, OWN_TIMEOUT_SHARE)  # the store's close last
        await asyncio.to_thread(shutdown.run, "the store", self.store.close)
        return shutdown.complete

    def register(self, manifest: dict[str, Any]) -> None:
        """Add sites, residents and devices (a JSON manifest); ingest accepts their devices from now on."""
        apply_manifest(self.store, manifest)
        self.reload_registry()

    def reload_registry(self) -> None:
        """Reread sites, residents and devices; subscribe to the topics of sites this worker now owns."""
        self._read_registry()
        self.reader.subscribe(self._topic_filters())

    def _read_registry(self) -> None:
        # The generation before the rows: a write committed in between moves it past the one kept, and the next poll
        # rereads; kept only once the rows are read, so that a reread that fails is tried again
        generation = self.store.registry_generation()
        self.registry.refresh(self.store)
        self._registry_generation = generation

    def _follow_registry(self) -> None:
        """Reread the registry when its generation moved (sites, residents or devices registered by another process
        or the API): one row read every REGISTRY_POLL_S on the wall clock (APScheduler's thread), the whole registry
        only when it changed."""
        try:
            if self.store.registry_generation() != self._registry_generation:
                self.reload_registry()
        except TransientStorageError as exc:  # the database restarting
            log.warning("could not follow the registry (%s); trying again in %g s", exc, REGISTRY_POLL_S)

    def _topic_filters(self) -> list[str]:
        s = self.settings
        return topic_filters(self.registry.site_ids, s.partition, s.partitions, s.mqtt_share_group)

    def _owned_residents(self) -> list[Resident]:
        s = self.settings
        return [r for r in self.registry.residents.values() if partition_of(r.site_id, s.partitions) == s.partition]

    # The writer's thread ------------------------------------------------------------------------------------
    def _on_committed(self, batch: Batch, result: WriteResult) -> None:
        if self.data_clock is not None:
            self.data_clock.committed(batch)
        if self.catch_up is not None:
            self.catch_up.committed(batch)
        view = (self.registry.residents, self.registry.devices)
        if view[0] is not self._engine_view[0] or view[1] is not self._engine_view[1]:  # the registry was reloaded
            self._engine_view = view
            self.engine.add_residents(self._owned_residents(), self.store.sites(), list(view[1].values()))
        frame = self.engine.frame(batch)
        drafts, cleared = self.engine.evaluate(frame)
        self.lifecycle_worker.submit(drafts, cleared)
        if len(frame.readings.ts):
            self.hub.vitals_threadsafe(self.engine.latest(frame))

    def _on_tick(self, now: float) -> None:
        """``now``: the engine's clock (the wall clock, or the newest committed data time on the data clock)."""
        if time.time() >= self._next_limits_refresh:
            self._next_limits_refresh = time.time() + self.settings.registry_refresh_seconds
            self.engine.apply_thresholds(self.store.all_thresholds())  # limits clinicians set through the API
            self.engine.apply_news2_escalations(self.store.all_news2_escalations())  # and NEWS2 escalations
        if self._engine_found != ([], []):  # what the start found never alerted, or ended
            found, self._engine_found = self._engine_found, ([], [])
            self.lifecycle_worker.submit(*found)
        if self.catch_up is None or not self.catch_up.waiting():
            self.lifecycle_worker.submit(*self.engine.tick(now))
        self.lifecycle_worker.tick(now)
        if time.monotonic() >= self._next_engine_save and self.settings.alert_state_kept:
            self._next_engine_save = time.monotonic() + self.settings.alert_state_interval_seconds
            self._save_engine_running()

    # The alert core's state across a restart (alerts.checkpoint) ------------------------------------------------
    def _readied(self, engine: AlertEngine) -> AlertEngine:
        """``engine`` with the registry's residents, sites and devices, and the clinicians' settings."""
        engine.add_residents(self._owned_residents(), self.store.sites(), list(self.registry.devices.values()))
        engine.apply_thresholds(self.store.all_thresholds())
        engine.apply_news2_escalations(self.store.all_news2_escalations())
        self._engine_view = (self.registry.residents, self.registry.devices)
        return engine

    def _ready_engine(self, saved: checkpoint.Saved | None, now: float) -> tuple[EngineStart, Found]:
        """The state taken up as a clean stop saved it, else brought up to date from the rows stored since it was
        saved, else rebuilt (alerts.rebuild); and what the lifecycle is to apply at the first tick."""
        if saved is not None:
            self.engine = self._readied(saved.engine)
            if saved.untouched:
                return "resumed", resume(self.engine, self.store, now)
            found = recover(self.engine, self.store, now, saved.pending)
            if found is not None:
                return "recovered", found
        self.engine = self._readied(AlertEngine(default_rules()))
        return "rebuilt", rebuild(self.engine, self.store, now)

    def _saved_engine(self) -> checkpoint.Saved | None:
        path = self.settings.alert_state_path
        if not path.exists():
            return None
        saved = checkpoint.load(path, self._engine_stamp(self.store.device_last_seen(0.0)), self._state_key())
        if saved is not None:
            log.info("taking up the alert core's state saved %s (%s)",
                     "at the last stop" if saved.untouched else "last, with the rows stored since", path)  # fmt: skip
        return saved

    def _save_engine(self, started_at: float) -> None:
        """At a clean stop: the state as the next start takes it up, unless it missed stored rows (then as saved
        while running: the next start replays them)."""
        stored = self.store.device_last_seen(0.0)
        missed = checkpoint.unseen(self.engine, stored, self._owned_devices(), started_at)
        if missed:
            log.warning("%d devices of this worker have rows stored that its alert core did not evaluate (e.g. %s; "
                        "another worker on this partition?): the next start replays them", len(missed),
                        ", ".join(missed[:3]))  # fmt: skip
        path = self.settings.alert_state_path
        size = checkpoint.save(path, self.engine, self._engine_stamp(stored, clean=not missed), self._state_key())
        log.info("saved the alert core's state for the next start: %s, %.1f MiB", path, size / 2**20)

    def _save_engine_running(self) -> None:
        """On the writer's thread, between batches: the state, with the findings the lifecycle has not yet applied,
        so that a crash costs the next start a replay of the rows stored since rather than a rebuild."""
        saving = time.perf_counter()
        try:
            stamp = self._engine_stamp({})  # the devices' digest serves a clean stop's state only
            path = self.settings.alert_state_path
            size = checkpoint.save(path, self.engine, stamp, self._state_key(), self.lifecycle_worker.unapplied())
        except Exception:  # a full disk, say: the file saved before stays; the next save tries again
            log.exception("could not save the alert core's state")
            return
        self.alert_metrics.saved(time.perf_counter() - saving, size)

    def _engine_stamp(self, stored: dict[str, float], clean: bool = False) -> checkpoint.Stamp:
        s = self.settings
        return checkpoint.stamp(stored, self._owned_devices(), s.partition, s.partitions, clean)

    def _owned_devices(self) -> list[str]:
        s = self.settings
        devices = self.registry.devices.values()
        return [d.device_id for d in devices if partition_of(d.site_id, s.partitions) == s.partition]

    def _state_key(self) -> bytes:
        return self.settings.secret_key.get_secret_value().encode()

    # Start-up helpers ---------------------------------------------------------------------------------------
    def _data_clock(self) -> DataClock | None:
        """On the data clock (settings.clock "data"), one that resumes at the newest stored data time."""
        if self.settings.clock == "wall":
            return None
        stored = self.store.device_last_seen(time.time() - MAX_PAST_S).values()
        return DataClock(max(stored, default=-math.inf))

    def _start_lifecycle(self) -> Lifecycle:
        """The lifecycle with routing, escalation (APScheduler as its clock) and the configured channels."""
        s = self.settings
        dashboard = BroadcastNotifier(self.hub.broadcast_threadsafe)
        self.dispatcher = Dispatcher(
            self.store, [dashboard, *self._channels()], RetryPolicy(max_attempts=s.delivery_max_attempts)
        )
        self.dispatcher.start()
        router = Router(self.store, self.dispatcher)
        defaults = PolicyDefaults(
            s.escalation_on_call_minutes * 60, s.escalation_family_minutes * 60, s.escalation_reminder_minutes * 60,
            s.escalation_reminders,
        )  # fmt: skip
        self.escalator = Escalator(self.store, router, defaults)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.escalator.attach(self.scheduler)
        self._schedule_history_jobs(self.scheduler)
        self.scheduler.add_job(
            lambda: send_weekly_digests(self.store, self.dispatcher, time.time()), "cron", day_of_week="mon", hour=8,
            id="carewatch-family-digest", coalesce=True, max_instances=1,
        )  # fmt: skip
        self.scheduler.start()
        return Lifecycle(
            self.store, [dashboard], router, self.escalator, hold_s=s.alert_hold_seconds,
            flap_window_s=s.alert_flap_window_seconds,
        )  # fmt: skip

    def _schedule_history_jobs(self, scheduler: BackgroundScheduler) -> None:
        """Roll-ups and retention (docs/operations.md): jobs of ours on SQLite and TimescaleDB's Apache edition."""
        s = self.settings
        policy = RetentionPolicy(
            s.retention_accel_days, s.retention_readings_days, s.retention_events_days,
            s.retention_rollup_minutes_days, s.retention_rollup_hours_days, s.retention_dead_letters_days,
            s.retention_alerts_days,
        )  # fmt: skip
        scheduler.add_job(
            lambda: self.store.refresh_rollups(time.time()), "interval", seconds=s.rollup_interval_seconds,
            id="carewatch-rollups", coalesce=True, max_instances=1,
        )  # fmt: skip
        scheduler.add_job(
            lambda: self.store.apply_retention(policy, time.time()), "interval", seconds=s.retention_interval_seconds,
            id="carewatch-retention", coalesce=True, max_instances=1,
        )  # fmt: skip

    def _channels(self) -> list[Channel]:
        s = self.settings
        channels: list[Channel] = []
        if s.webhook_secret is not None:
            channels.append(WebhookChannel(s.webhook_secret.get_secret_value().encode()))
        if s.smtp_host is not None:
            password = s.smtp_password.get_secret_value() if s.smtp_password else None
            channels.append(
                EmailChannel(s.smtp_host, s.smtp_port, s.smtp_sender, s.smtp_username, password, s.smtp_starttls)
            )
        if s.notify_mqtt_url is not None:
            host, port, username, mqtt_password = mqtt_endpoint(s.notify_mqtt_url)
            self._notify_mqtt = MqttChannel(host, port, username, mqtt_password)
            channels.append(self._notify_mqtt)
        return channels

    async def _start_broker(self) -> str:
        if self.settings.mqtt_url is not None:
            return self.settings.mqtt_url
        self._broker = EmbeddedBroker(self.settings.embedded_mqtt_port)
        await self._broker.start()
        return self._broker.url

    async def _start_dashboard(self) -> str:
        s = self.settings
        auth = AuthConfig(
            s.secret_key.get_secret_value().encode(), s.session_ttl_s, s.cookie_secure, s.login_max_failures,
            s.login_window_s,
        )  # fmt: skip
        context = DashboardContext(self.store, self.lifecycle, self.hub, self.metrics_registry, auth)
        config = uvicorn.Config(
            create_app(context), host=self.settings.http_host, port=self.settings.http_port, log_level="warning",
            lifespan="off", ws="websockets-sansio", timeout_graceful_shutdown=SERVER_STOP_TIMEOUT_S,
        )  # fmt: skip
        self._server = _DashboardServer(config)
        self._server_task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self._server.started:
            if self._server_task.done() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the dashboard could not listen on {self.settings.http_host}:{self.settings.http_port}"
                )
            await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.settings.http_host}:{port}/"


def check_listenable(host: str, port: int) -> None:
    """Raise OSError (EADDRINUSE, ...) with the line "cannot listen on host:port: <reason>" if a server could not listen
    on ``host``:``port`` now (bound as uvicorn and amqtt bind: SO_REUSEADDR); port 0 (any free one) always can. A
    check, not a reservation: a port taken between it and the server's own bind still fails that start."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]  # fmt: skip
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {reason}") from None


class _DashboardServer(uvicorn.Server):
    """uvicorn's server without its own signal handling. The process's stop owns SIGINT and SIGTERM
    (carewatch.cli); uvicorn's would, when the server stops early in that stop, put back the handlers it found at its
    start, so that a second signal killed the process (SIGTERM) or interrupted the stop instead of ending it as
    abandoned."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
