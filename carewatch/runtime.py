"""The composition root: builds one carewatch process from the settings and runs it on one event loop.

Threads: paho's network thread decodes and fills the batcher; the writer thread commits, acknowledges and runs the
alert core (it alone owns the core's arrays); the event loop serves HTTP and websockets and (embedded mode) the
broker. Crossings: batcher (paho -> writer), call_soon_threadsafe (writer -> loop). This module and carewatch.cli
are the only ones that import every package; no package imports them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from alerts.engine import AlertEngine
from alerts.lifecycle import Lifecycle
from alerts.notify.broadcast import BroadcastNotifier
from alerts.rules import default_rules
from carewatch.config import Settings, mqtt_endpoint
from carewatch.model import Batch, WriteResult
from carewatch.registry import Registry, apply_manifest
from carewatch.storage import open_store
from dashboard.app import DashboardContext, create_app
from dashboard.hub import Hub
from ingest.batcher import Batcher
from ingest.broker import EmbeddedBroker
from ingest.decode import decode
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttReader
from ingest.writer import Writer

log = logging.getLogger(__name__)

SERVER_START_TIMEOUT_S = 15.0


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
        self.registry = Registry()
        self.engine = AlertEngine(default_rules())
        self._broker: EmbeddedBroker | None = None
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None

    async def start(self) -> Endpoints:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.store.init_schema)
        self.reload_registry()
        self.engine.mark_live(self.store.alerts(live_only=True, limit=100_000))

        self.hub = Hub(loop)
        self.hub.start()
        self.lifecycle = Lifecycle(self.store, [BroadcastNotifier(self.hub.broadcast_threadsafe)])
        mqtt_url = await self._start_broker()
        host, port, username, password = mqtt_endpoint(mqtt_url)
        s = self.settings
        self.batcher = Batcher(s.ingest_batch_rows, s.ingest_batch_seconds, s.ingest_max_pending_messages)
        self.reader = MqttReader(
            host, port, s.mqtt_client_id, partial(decode, registry=self.registry), self.batcher, self.metrics,
            username, password, mqtt5=not s.embedded_broker, share_group=s.mqtt_share_group,
        )  # fmt: skip
        self.writer = Writer(self.store, self.batcher, self.reader.acknowledge, self._on_committed, self.metrics)
        self.writer.start()
        self.reader.start()
        dashboard_url = await self._start_dashboard()
        return Endpoints(dashboard_url, mqtt_url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                await self._server_task
        await asyncio.to_thread(self.reader.stop)
        await asyncio.to_thread(self.writer.stop)
        await self.hub.stop()
        if self._broker is not None:
            await self._broker.stop()
        self.store.close()

    def register(self, manifest: dict[str, Any]) -> None:
        """Add sites, residents and devices (a JSON manifest); ingest accepts their devices from now on."""
        apply_manifest(self.store, manifest)
        self.reload_registry()

    def reload_registry(self) -> None:
        self.registry.refresh(self.store)

    # The writer's thread ------------------------------------------------------------------------------------
    def _on_committed(self, batch: Batch, result: WriteResult) -> None:
        if len(self.registry.residents) != len(self.engine.index):
            self.engine.add_residents(list(self.registry.residents.values()))
        frame = self.engine.frame(batch.readings)
        drafts, cleared = self.engine.evaluate(frame)
        self.lifecycle.apply(drafts, cleared)
        if len(frame.ts):
            self.hub.vitals_threadsafe(self.engine.latest(frame))

    # Start-up helpers ---------------------------------------------------------------------------------------
    async def _start_broker(self) -> str:
        if self.settings.mqtt_url is not None:
            return self.settings.mqtt_url
        self._broker = EmbeddedBroker(self.settings.embedded_mqtt_port)
        await self._broker.start()
        return self._broker.url

    async def _start_dashboard(self) -> str:
        context = DashboardContext(self.store, self.lifecycle, self.hub, self.metrics_registry)
        config = uvicorn.Config(
            create_app(context), host=self.settings.http_host, port=self.settings.http_port, log_level="warning",
            lifespan="off", ws="websockets-sansio",
        )  # fmt: skip
        self._server = uvicorn.Server(config)
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
