"""The `carewatch` command. With no database or broker configured everything runs embedded (SQLite, amqtt)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carewatch.config import Settings, mqtt_endpoint, redacted

if TYPE_CHECKING:
    from carewatch.runtime import Platform

app = typer.Typer(
    help="carewatch: elderly-care monitoring (MQTT ingest, alert core, live dashboard).", no_args_is_help=True
)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
registry_app = typer.Typer(help="Sites, residents and devices.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(registry_app, name="registry")
user_app = typer.Typer(help="Dashboard users (the first admin; then the admin page or POST /api/users).")
app.add_typer(user_app, name="user")

DEMO_INCIDENT_LEAD_S = 80.0  # the demo's first hypoxia began this long before start-up: it alerts at once
DEMO_BACKFILL_S = 90.0  # simulated history published at start-up, so the board is not empty
EXIT_ABANDONED = 1  # the stop had to abandon a step (logged): a supervisor sees a stop that was not clean
EXIT_FAILED = 2  # the platform could not go on (the broker refused the credentials): stopped, and says why
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _settings() -> Settings:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The embedded broker logs every state change at INFO, APScheduler every job run (the escalator's every 5 s):
    # their warnings and errors (a job that failed or missed its time) still reach the log.
    for chatty in ("amqtt", "transitions", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return Settings()


@app.command()
def demo(
    residents: Annotated[int, typer.Option(min=1, max=2000, help="simulated residents")] = 30,
    seed: Annotated[int, typer.Option(help="random seed of the simulated population")] = 1,
    duration: Annotated[
        float | None, typer.Option(help="stop after this many seconds (default: run until Ctrl-C)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="dashboard port (default: CAREWATCH_HTTP_PORT or 8000)")] = None,
) -> None:
    """Run the whole platform with simulated residents: embedded broker and SQLite unless configured otherwise.

    Residents wear simulated wearables publishing vitals every 5 s over MQTT; a scripted hypoxia episode alerts within
    the first minute, and another begins two minutes in. Open the printed URL to watch the live board.
    """
    settings = _settings()
    if port is not None:
        settings = settings.model_copy(update={"http_port": port})
    asyncio.run(_demo(settings, residents, seed, duration))


async def _demo(settings: Settings, count: int, seed: int, duration: float | None) -> None:
    from carewatch.runtime import Platform
    from dashboard.demo import seed_demo_users
    from simulators.population import make_population
    from simulators.publisher import Publisher
    from simulators.runner import Simulation
    from simulators.scenarios.hypoxia import Hypoxia

    platform = Platform(settings)
    endpoints = await platform.start()
    population = make_population(count, seed)
    platform.register(population.manifest())
    now = time.time()
    first, second = population.residents[min(2, count - 1)], population.residents[min(7, count - 1)]
    registered = await asyncio.to_thread(platform.store.residents)
    relative = next(r for r in registered if r.resident_id == first.resident_id)
    logins = []  # demo users with printed passwords only in an embedded store, never in a configured database
    if settings.database_url is None:
        logins = await asyncio.to_thread(seed_demo_users, platform.store, registered, relative)
    scenarios = [Hypoxia.at(first.resident_id, now - DEMO_INCIDENT_LEAD_S, 600.0)]
    if second is not first:
        scenarios.append(Hypoxia.at(second.resident_id, now + 120.0, 300.0))
    host, mqtt_port, user, password = mqtt_endpoint(endpoints.mqtt_url)
    # Off the event loop: in embedded mode the broker runs on this loop and must answer the connection.
    publisher = await asyncio.to_thread(Publisher, host, mqtt_port, f"carewatch-demo-sim-{seed}", user, password)
    simulation = Simulation(population, scenarios, publisher.publish, seed)
    stop = threading.Event()

    def simulate() -> None:
        simulation.run(now - DEMO_BACKFILL_S, DEMO_BACKFILL_S, speed=1000.0, stop=stop)  # recent history, at once
        simulation.run(now, None, speed=1.0, stop=stop)

    simulator = threading.Thread(target=simulate, name="carewatch-demo-simulator", daemon=True)
    simulator.start()
    print(f"\ncarewatch demo: {count} simulated residents, dashboard at {endpoints.dashboard_url}", flush=True)
    broker = redacted(endpoints.mqtt_url)
    print(f"  MQTT broker {broker}, storage: {platform.store.backend}; Ctrl-C to stop", flush=True)
    print("  demo logins (made up for this run; the demo only):" if logins else "  log in as your users", flush=True)
    for login in logins:
        print(f"    login {login.username} / {login.password}  ({login.role}: {login.sees})", flush=True)
    print(flush=True)
    failure = await _wait_for_stop(duration, platform.failure)
    stop.set()
    await asyncio.to_thread(simulator.join, 10)
    await asyncio.to_thread(publisher.close)
    await _stop(platform, failure)


@app.command()
def serve() -> None:
    """Run the platform (ingest, alert core, dashboard) against the configured broker and database, until stopped.

    Configure with CAREWATCH_MQTT_URL, CAREWATCH_DATABASE_URL, CAREWATCH_SECRET_KEY (see docs/deploy.md).
    """
    asyncio.run(_serve(_settings()))


async def _serve(settings: Settings) -> None:
    from carewatch.runtime import Platform

    platform = Platform(settings)
    endpoints = await platform.start()
    if platform.failure is None or not platform.failure.done():
        broker = redacted(endpoints.mqtt_url)
        print(f"carewatch serving: dashboard {endpoints.dashboard_url}, MQTT {broker}", flush=True)
    await _stop(platform, await _wait_for_stop(None, platform.failure))


@app.command()
def simulate(
    mqtt_url: Annotated[str, typer.Option(help="broker to publish to, mqtt://user:password@host:port")],
    kind: Annotated[str, typer.Option(help="site kind: home, community_station or care_institution")] = "home",
    sites: Annotated[int, typer.Option(min=1, help="number of simulated sites")] = 20,
    residents_per_site: Annotated[int, typer.Option(min=1, help="residents per site (a home: 1 or 2)")] = 1,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same world and messages")] = 1,
    duration: Annotated[float, typer.Option(help="simulated seconds to run")] = 600.0,
    speed: Annotated[float, typer.Option(help="1 = real time; 60 = an hour a minute; 0 = as fast as possible")] = 1.0,
    start: Annotated[
        float | None,
        typer.Option(
            help="simulated start, epoch seconds (default: now in real time, "
            "the duration ago when accelerated); not in the future"
        ),
    ] = None,
    incidents: Annotated[int | None, typer.Option(help="incidents to inject (default: one of each scenario)")] = None,
    accelerometer_hz: Annotated[float | None, typer.Option(help="wearables stream 25 or 50 Hz blocks")] = None,
    zigbee: Annotated[bool, typer.Option(help="home sensors publish as a Zigbee2MQTT bridge")] = False,
    connections: Annotated[int, typer.Option(min=1, help="MQTT connections, like home gateways")] = 4,
    manifest: Annotated[Path | None, typer.Option(help="write the world's registry manifest (JSON) here")] = None,
    ground_truth: Annotated[Path | None, typer.Option(help="write the injected incidents (JSON lines) here")] = None,
) -> None:
    """Publish simulated residents and homes over MQTT, exactly as real wearables and home sensors would.

    Every resident has a daily routine, physiology and devices (wearable, SOS button, motion, door, bed, bathroom,
    climate, smoke, gas, water sensors); incidents from the scenario library (falls, hypoxia, fever, wandering, SOS,
    device offline, ...) are injected with ground truth. Register the world first (`carewatch registry load` with
    the --manifest file), or ingest dead-letters its messages as unknown devices. Accelerated runs are placed in the
    past, so that no timestamp runs ahead of the clock.
    """
    from simulators.clock import placed_start
    from simulators.floorplans import build_world
    from simulators.pool import PublisherPool
    from simulators.progress import ProgressLine
    from simulators.reports import Streams
    from simulators.runner import Simulation
    from simulators.scenarios.library import plan_incidents

    logging.basicConfig(level=logging.INFO)
    pace = math.inf if speed == 0 else speed
    world = build_world(kind, sites, residents_per_site, seed, zigbee=zigbee)
    now = time.time()
    if start is None:
        start = placed_start(duration, pace, now)
    elif start > now or (pace > 1.0 and start + duration > now):
        raise typer.BadParameter("the run would publish timestamps ahead of the clock (ingest rejects the future)",
                                 param_hint="--start")  # fmt: skip
    planned = plan_incidents(world, start, duration, seed, count=incidents)
    if manifest is not None:
        manifest.write_text(json.dumps(world.manifest(), indent=2))
    host, port, user, password = mqtt_endpoint(mqtt_url)
    pool = PublisherPool(host, port, f"carewatch-sim-{seed}", connections, user, password)
    simulation = Simulation(world, planned, pool.publish, seed, streams=Streams(motion_hz=accelerometer_hz))
    progress = ProgressLine(duration)
    try:
        sent = simulation.run(start, duration, pace, progress=progress)
    finally:
        progress.close()
        pool.close()
    if ground_truth is not None:
        simulation.write_ground_truth(ground_truth)
    typer.echo(f"published {sent} messages for {len(world.residents)} residents, {len(planned)} incidents")


@app.command()
def replay(
    mqtt_url: Annotated[str, typer.Option(help="broker to publish to, mqtt://user:password@host:port")],
    csv: Annotated[
        Path | None, typer.Option(exists=True, help="a replay CSV (docs/protocol.md): ts,device,metric,value")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(exists=True, help="registry manifest: the sites of the CSV's devices")
    ] = None,
    sisfall: Annotated[
        Path | None, typer.Option(exists=True, help="a SisFall trial file, replayed as a wearable")
    ] = None,
    site: Annotated[str | None, typer.Option(help="site of the devices (SisFall, or CSV without a manifest)")] = None,
    device: Annotated[str | None, typer.Option(help="the wearable that replays the SisFall trial")] = None,
    speed: Annotated[float, typer.Option(help="1 = as recorded; 0 = as fast as possible")] = 1.0,
) -> None:
    """Publish recorded data through the wire protocol, so real recordings take the same path as live data."""
    from simulators.pool import PublisherPool
    from simulators.progress import ProgressLine
    from simulators.replay import replay_csv, replay_sisfall, sites_of

    if (csv is None) == (sisfall is None):
        raise typer.BadParameter("give either --csv or --sisfall")
    pace = math.inf if speed == 0 else speed
    host, port, user, password = mqtt_endpoint(mqtt_url)
    pool = PublisherPool(host, port, f"carewatch-replay-{time.monotonic_ns()}", 1, user, password)
    progress = ProgressLine()
    try:
        if csv is not None:
            device_sites = sites_of(json.loads(manifest.read_text())) if manifest is not None else None
            sent = replay_csv(csv, pool.publish, pace, sites=device_sites, default_site=site, progress=progress)
        else:
            if site is None or device is None:
                raise typer.BadParameter("--sisfall needs --site and --device")
            assert sisfall is not None
            sent = replay_sisfall(sisfall, pool.publish, site, device, speed=pace, progress=progress)
    finally:
        progress.close()
        pool.close()
    typer.echo(f"published {sent} messages")


@db_app.command("init")
def db_init() -> None:
    """Create or update the schema (idempotent). Checks that TimescaleDB is installed when a database is configured."""
    from carewatch.storage import open_store

    settings = _settings()
    store = open_store(settings)
    try:
        store.init_schema()
        where = "TimescaleDB" if settings.database_url else f"SQLite {settings.sqlite_path}"
        typer.echo(f"schema ready ({where})")
    finally:
        store.close()


@registry_app.command("load")
def registry_load(manifest: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Register the sites, residents, devices and contacts of a JSON manifest, with the contacts' channels and
    preferences and the sites' own contacts (upserts: safe to load again; README, "Running for real")."""
    from carewatch.registry import ManifestError, apply_manifest
    from carewatch.storage import open_store

    store = open_store(_settings())
    try:
        store.init_schema()
        try:
            apply_manifest(store, json.loads(manifest.read_text()))
        except ManifestError as exc:
            raise typer.BadParameter(str(exc), param_hint="MANIFEST") from None
        typer.echo(f"registered {len(store.residents())} residents, {len(store.devices())} devices in all")
    finally:
        store.close()


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="admin, operator, clinician or family")] = "admin",
    name: Annotated[str | None, typer.Option(help="display name (default: the username)")] = None,
    site: Annotated[list[str] | None, typer.Option(help="operator, clinician: a site they work for (repeat)")] = None,
    resident: Annotated[list[str] | None, typer.Option(help="family: a resident they are linked to (repeat)")] = None,
) -> None:
    """Create or update a dashboard user; the password is asked for (at least 10 characters)."""
    from carewatch.storage import open_store
    from carewatch.storage.base import Role, User
    from dashboard.auth import hash_password

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise typer.BadParameter("use at least 10 characters")
    user = User(username, name or username, Role(role), tuple(site or ()), tuple(resident or ()))
    store = open_store(_settings())
    try:
        store.init_schema()
        store.save_user(user, hash_password(password))
        typer.echo(f"user {username} ({role}) saved")
    finally:
        store.close()


async def _stop(platform: Platform, failure: str | None = None) -> None:
    """Stop the platform; if it had to abandon a step, exit at once: the interpreter's own exit would wait, without a
    limit, for the abandoned threads (a scheduled job's worker thread is joined at exit). Stopped for a ``failure``,
    exit with EXIT_FAILED and the reason."""
    if not await platform.stop():
        _exit_at_once("exiting without waiting for the abandoned steps")
    if failure is not None:
        print(f"carewatch stopped: {failure}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_FAILED)


def _exit_at_once(why: str) -> None:
    logging.getLogger(__name__).error(why)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(EXIT_ABANDONED)


async def _wait_for_stop(duration: float | None, failure: asyncio.Future[str] | None = None) -> str | None:
    """Until SIGINT or SIGTERM, the ``duration`` runs out, or the platform fails (``failure``: then its reason is
    returned). From then on the stop is under way, and another of those signals ends the process at once: an
    operator's second Ctrl-C, or a supervisor's second TERM, is not kept waiting for the stop's deadline."""
    received: list[signal.Signals] = []
    stop = asyncio.Event()

    def stopping(sig: signal.Signals) -> None:
        received.append(sig)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopping, sig)
    if failure is not None:
        failure.add_done_callback(lambda _: stop.set())
    with contextlib.suppress(TimeoutError):  # the --duration ran out
        await asyncio.wait_for(stop.wait(), duration)
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _exit_at_once, f"{sig.name} during the stop: exiting at once, not finishing it")
    failed = failure.result() if failure is not None and failure.done() else None
    why = received[0].name if received else failed or "the --duration ran out"
    logging.getLogger(__name__).info("stopping (%s); another SIGINT or SIGTERM exits at once", why)
    return failed
