"""The `carewatch` command. With no database or broker configured everything runs embedded (SQLite, amqtt)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from carewatch.config import Settings, mqtt_endpoint

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


def _settings() -> Settings:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("amqtt", "transitions"):  # the embedded broker logs every state change at INFO
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
    print(f"  MQTT broker {endpoints.mqtt_url}, storage: {platform.store.backend}; Ctrl-C to stop", flush=True)
    print("  demo logins (made up for this run; the demo only):" if logins else "  log in as your users", flush=True)
    for login in logins:
        print(f"    login {login.username} / {login.password}  ({login.role}: {login.sees})", flush=True)
    print(flush=True)
    await _wait_for_stop(duration)
    stop.set()
    await asyncio.to_thread(simulator.join, 10)
    await asyncio.to_thread(publisher.close)
    await platform.stop()


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
    print(f"carewatch serving: dashboard {endpoints.dashboard_url}, MQTT {endpoints.mqtt_url}", flush=True)
    await _wait_for_stop(None)
    await platform.stop()


@app.command()
def simulate(
    mqtt_url: Annotated[str, typer.Option(help="broker to publish to, mqtt://host:port")],
    residents: Annotated[int, typer.Option(min=1, help="simulated residents")] = 30,
    seed: Annotated[int, typer.Option(help="random seed (the same seed gives the same population and readings)")] = 1,
    site: Annotated[str, typer.Option(help="site id of the simulated care station")] = "sim-station",
    duration: Annotated[float, typer.Option(help="simulated seconds to run")] = 600.0,
    speed: Annotated[float, typer.Option(help="1 = real time; 60 = an hour a minute")] = 1.0,
    manifest: Annotated[Path | None, typer.Option(help="write the population's registry manifest (JSON) here")] = None,
    ground_truth: Annotated[Path | None, typer.Option(help="write injected incidents (JSON lines) here")] = None,
    hypoxia_every: Annotated[
        int, typer.Option(help="inject a hypoxia episode into every n-th resident (0: none)")
    ] = 10,
) -> None:
    """Publish simulated residents' vitals over MQTT, exactly as real wearables would (docs/protocol.md).

    Register the population first (`carewatch registry load` with the --manifest file), or ingest dead-letters
    its messages as unknown devices. Runs that would end in the future are placed in the past.
    """
    from simulators.population import make_population
    from simulators.publisher import Publisher
    from simulators.runner import Simulation
    from simulators.scenarios.hypoxia import Hypoxia

    logging.basicConfig(level=logging.INFO)
    population = make_population(residents, seed, site_id=site, site_name=f"Simulated station {site}")
    start = min(time.time(), time.time() - duration) if speed > 1 else time.time()
    scenarios = [
        Hypoxia.at(r.resident_id, start + 60.0 + 7 * i, 240.0)
        for i, r in enumerate(population.residents) if hypoxia_every and i % hypoxia_every == 0
    ]  # fmt: skip
    if manifest is not None:
        manifest.write_text(json.dumps(population.manifest(), indent=2))
    host, port, user, password = mqtt_endpoint(mqtt_url)
    publisher = Publisher(host, port, f"carewatch-sim-{site}-{seed}", user, password)
    simulation = Simulation(population, scenarios, publisher.publish, seed)
    if ground_truth is not None:
        simulation.write_ground_truth(ground_truth)
    sent = simulation.run(start, duration, speed, progress=_progress(duration))
    publisher.close()
    typer.echo(f"\npublished {sent} messages for {residents} residents")


def _progress(duration: float) -> Callable[[float, int], None]:
    last = [0.0]

    def show(elapsed: float, published: int) -> None:
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            typer.echo(f"\r{elapsed / duration:6.1%} simulated, {published} messages", nl=False)

    return show


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
    """Register the sites, residents, devices and contacts of a JSON manifest (upserts: safe to load again)."""
    from carewatch.registry import apply_manifest
    from carewatch.storage import open_store

    store = open_store(_settings())
    try:
        store.init_schema()
        apply_manifest(store, json.loads(manifest.read_text()))
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


async def _wait_for_stop(duration: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):  # the --duration ran out
        await asyncio.wait_for(stop.wait(), duration)
