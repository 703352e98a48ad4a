"""The `carewatch` command. With no database or broker configured everything runs embedded (SQLite, amqtt)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec

import pydantic
import typer

from carewatch.config import Settings, mqtt_endpoint, redacted

if TYPE_CHECKING:
    from carewatch.runtime import Platform
    from simulators.scenarios.base import GroundTruth

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
# What the user gave is wrong or cannot be used (an option, a setting, an input file, a broker or database that cannot
# be reached): one line, `carewatch <command>: <message>`, on stderr. 2, as click's own usage errors and a refused
# broker: something to fix before running again. A bug keeps its traceback (and Python's status 1).
EXIT_USER_ERROR = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
ACCELEROMETER_RATES_HZ = (25.0, 50.0)  # the wearables' accelerometer rates that the fall detector reads
P = ParamSpec("P")


def _user_errors() -> tuple[type[Exception], ...]:
    """What a command's user can cause and fix: bad values (settings, options, files), files that cannot be read or
    written, a broker or database that cannot be reached or refuses, a database that is not fit (no TimescaleDB)."""
    from carewatch.storage.base import StorageError, TransientStorageError
    from simulators.publisher import PublishError

    return ValueError, OSError, StorageError, TransientStorageError, PublishError


def _manifest_errors() -> tuple[type[Exception], ...]:
    """A manifest's bad entry, whatever registry.py raises for it (a missing or mistyped field, or an entry the
    database refuses: a device of a site that does not exist)."""
    import psycopg

    return KeyError, TypeError, sqlite3.IntegrityError, psycopg.IntegrityError


def reports_user_errors(
    command_name: str, also: Callable[[], tuple[type[Exception], ...]] = tuple
) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """The boundary of `carewatch <command_name>`: a user error (`_user_errors`, and ``also()`` for this command) ends
    it with one line on stderr and EXIT_USER_ERROR instead of a traceback; anything else propagates as it is."""

    def decorate(command: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(command)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                command(*args, **kwargs)
            except Exception as exc:
                if not isinstance(exc, (*_user_errors(), *also())):
                    raise
                logging.getLogger(__name__).debug("carewatch %s failed", command_name, exc_info=exc)
                print(f"carewatch {command_name}: {_one_line(exc)}", file=sys.stderr, flush=True)
                raise SystemExit(EXIT_USER_ERROR) from None

        return run

    return decorate


def _one_line(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        text = f"missing {exc}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _settings() -> Settings:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The embedded broker logs every state change at INFO, APScheduler every job run (the escalator's every 5 s):
    # their warnings and errors (a job that failed or missed its time) still reach the log.
    for chatty in ("amqtt", "transitions", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:  # one line per setting, named as it is set
        raise ValueError("; ".join(_setting_error(error) for error in exc.errors())) from None
    logging.getLogger().setLevel(settings.log_level)
    return settings


def _setting_error(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"CAREWATCH_{str(error['loc'][0]).upper()}: {message}" if error["loc"] else message


@app.command()
@reports_user_errors("demo")
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
@reports_user_errors("serve")
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
@reports_user_errors("simulate")
def simulate(
    mqtt_url: Annotated[str, typer.Option(help="broker to publish to, mqtt://user:password@host:port")],
    kind: Annotated[str, typer.Option(help="site kind: home, community_station or care_institution")] = "home",
    sites: Annotated[int, typer.Option(min=1, help="number of simulated sites")] = 20,
    residents_per_site: Annotated[int, typer.Option(min=1, help="residents per site (a home: 1 or 2)")] = 1,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same world and messages")] = 1,
    duration: Annotated[float, typer.Option(help="simulated seconds to run (more than 0)")] = 600.0,
    speed: Annotated[
        float, typer.Option(min=0, help="1 = real time; 60 = an hour a minute; 0 = as fast as possible")
    ] = 1.0,
    start: Annotated[
        float | None,
        typer.Option(
            help="simulated start, epoch seconds (default: now in real time, the duration ago when accelerated); "
            "not in the future, nor more than 7 days ago (ingest rejects both)"
        ),
    ] = None,
    incidents: Annotated[
        int | None, typer.Option(min=0, help="incidents to inject (default: one of each scenario chosen)")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option(help="a scenario to inject (repeat; default: the whole library)")
    ] = None,
    accelerometer_hz: Annotated[
        float | None, typer.Option(help="wearables stream 25 or 50 Hz accelerometer blocks (falls need them)")
    ] = None,
    zigbee: Annotated[bool, typer.Option(help="home sensors publish as a Zigbee2MQTT bridge")] = False,
    connections: Annotated[int, typer.Option(min=1, help="MQTT connections, like home gateways")] = 4,
    manifest: Annotated[Path | None, typer.Option(help="write the world's registry manifest (JSON) here")] = None,
    ground_truth: Annotated[
        Path | None, typer.Option(help="write the injected incidents (JSON lines, docs/protocol.md) here")
    ] = None,
) -> None:
    """Publish simulated residents and homes over MQTT, exactly as real wearables and home sensors would.

    Every resident has a daily routine, physiology and devices (wearable, SOS button, motion, door, bed, bathroom,
    climate, smoke, gas, water sensors); incidents from the scenario library (falls, hypoxia, fever, wandering, SOS,
    device offline, ...) are injected with ground truth. Register the world first (`carewatch registry load` with
    the --manifest file): a running `carewatch serve` knows the new devices within about a second; a message sent
    before then is dead-lettered as from an unknown device.
    Accelerated runs are placed in the past, so that no timestamp runs ahead of the clock.
    """
    from ingest.validate import MAX_PAST_S
    from simulators.clock import placed_start
    from simulators.floorplans import build_world
    from simulators.pool import PublisherPool
    from simulators.progress import ProgressLine
    from simulators.reports import Streams
    from simulators.runner import Simulation
    from simulators.scenarios.library import SCENARIOS, mark_unobservable, plan_incidents

    logging.basicConfig(level=logging.INFO)
    if not duration > 0:
        raise typer.BadParameter(f"must be more than 0, not {duration}", param_hint="--duration")
    if accelerometer_hz is not None and accelerometer_hz not in ACCELEROMETER_RATES_HZ:
        raise typer.BadParameter(f"25 or 50, not {accelerometer_hz:g}", param_hint="--accelerometer-hz")
    unknown = sorted(set(scenario or ()) - set(SCENARIOS))
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; the library has {', '.join(SCENARIOS)}", param_hint="--scenario")
    pace = math.inf if speed == 0 else speed
    world = build_world(kind, sites, residents_per_site, seed, zigbee=zigbee)
    now = time.time()
    if start is None:
        start = placed_start(duration, pace, now)
    elif start > now or (pace > 1.0 and start + duration > now):
        raise typer.BadParameter("the run would publish timestamps ahead of the clock (ingest rejects the future)",
                                 param_hint="--start")  # fmt: skip
    if start < now - MAX_PAST_S:
        raise typer.BadParameter(f"the run would start {(now - start) / 86_400:.1f} days ago: ingest rejects "
                                 "timestamps more than 7 days old", param_hint="--start or --duration")  # fmt: skip
    names = tuple(scenario) if scenario else SCENARIOS
    planned = plan_incidents(world, start, duration, seed, count=incidents, names=names)
    planned = mark_unobservable(planned, start, accelerometer=accelerometer_hz is not None)
    streams = Streams(motion_hz=accelerometer_hz)
    with contextlib.ExitStack() as files:  # opened before the run: a path that cannot be written loses nothing
        truth_file = files.enter_context(ground_truth.open("w", encoding="utf-8")) if ground_truth else None
        if manifest is not None:
            manifest.write_text(json.dumps(world.manifest(), indent=2))
        host, port, user, password = mqtt_endpoint(mqtt_url)
        pool = PublisherPool(host, port, f"carewatch-sim-{seed}", connections, user, password)
        simulation = Simulation(world, planned, pool.publish, seed, streams=streams)
        progress = ProgressLine(duration)
        try:
            sent = simulation.run(start, duration, pace, progress=progress)
        finally:
            progress.close()
            pool.close()
        truth = simulation.ground_truth(until=start + duration)
        if truth_file is not None:
            truth_file.writelines(json.dumps(t.as_json()) + "\n" for t in truth)
    typer.echo(f"published {sent} messages for {len(world.residents)} residents; {_truth_summary(truth)}")


def _truth_summary(truth: list[GroundTruth]) -> str:
    """How many incidents (and how many of them this run can show an alert for), and background episodes."""
    injected = [t for t in truth if not t.background]
    unseen = [t for t in injected if t.unobservable]
    shown = f" ({len(unseen)} that this run cannot alert on: {_reasons(unseen)})" if unseen else ""
    return f"{len(injected)} incidents{shown}, {len(truth) - len(injected)} background episodes"


def _reasons(truth: list[GroundTruth]) -> str:
    counts = Counter(f"{t.scenario}: {t.unobservable}" for t in truth)
    return "; ".join(f"{n} {what}" for what, n in sorted(counts.items()))


@app.command()
@reports_user_errors("replay")
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
    speed: Annotated[float, typer.Option(min=0, help="1 = as recorded; 0 = as fast as possible")] = 1.0,
    start: Annotated[
        float | None,
        typer.Option(help="epoch seconds: shift the recording so that its first row is then (default: as recorded)"),
    ] = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="shift the recording to the present: it starts now in real time, ends now when accelerated"
        ),
    ] = False,
) -> None:
    """Publish recorded data through the wire protocol, so real recordings take the same path as live data.

    Ingest rejects timestamps more than 7 days old or a minute ahead: replay an older recording with --now or
    --start. A SisFall trial (no recorded time) is placed as with --now unless --start is given.
    """
    from simulators.pool import PublisherPool
    from simulators.progress import ProgressLine
    from simulators.replay import csv_span, replay_csv, replay_sisfall, sisfall_span, sites_of

    if (csv is None) == (sisfall is None):
        raise typer.BadParameter("give either --csv or --sisfall")
    if sisfall is not None and (site is None or device is None):
        raise typer.BadParameter("--sisfall needs --site and --device")
    if now and start is not None:
        raise typer.BadParameter("give --now or --start, not both")
    pace = math.inf if speed == 0 else speed
    first, last = csv_span(csv) if csv is not None else (0.0, sisfall_span(sisfall) if sisfall else 0.0)
    start = _replay_start(start, now or (sisfall is not None and start is None), first, last - first, pace)
    device_sites = sites_of(_read_manifest(manifest)) if manifest is not None else None
    host, port, user, password = mqtt_endpoint(mqtt_url)
    pool = PublisherPool(host, port, f"carewatch-replay-{time.monotonic_ns()}", 1, user, password)
    progress = ProgressLine()
    try:
        if csv is not None:
            sent = replay_csv(csv, pool.publish, pace, start=start, sites=device_sites, default_site=site,
                              progress=progress)  # fmt: skip
        else:
            assert sisfall is not None and site is not None and device is not None
            sent = replay_sisfall(sisfall, pool.publish, site, device, speed=pace, start=start, progress=progress)
    finally:
        progress.close()
        pool.close()
    typer.echo(f"published {sent} messages")


def _replay_start(start: float | None, place: bool, first: float, span_s: float, pace: float) -> float | None:
    """Where a replay's first row goes (None: as recorded); refused when ingest would reject its times."""
    from ingest.validate import MAX_FUTURE_S, MAX_PAST_S
    from simulators.clock import placed_start

    wall = time.time()
    if place:
        return placed_start(span_s, pace, wall)
    at = first if start is None else start
    hint = "--start" if start is not None else "--now or --start"
    if at < wall - MAX_PAST_S:
        raise typer.BadParameter(f"the replay would begin {(wall - at) / 86_400:.1f} days ago: ingest rejects "
                                 "timestamps more than 7 days old", param_hint=hint)  # fmt: skip
    if at > wall + MAX_FUTURE_S or (pace > 1.0 and at + span_s > wall + MAX_FUTURE_S):
        raise typer.BadParameter("the replay would publish timestamps ahead of the clock (ingest rejects the "
                                 "future)", param_hint=hint)  # fmt: skip
    return start


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} holds a JSON {type(manifest).__name__}, not an object with sites, residents, ...")
    return manifest


@db_app.command("init")
@reports_user_errors("db init")
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
@reports_user_errors("registry load", also=_manifest_errors)
def registry_load(manifest: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Register the sites, residents, devices and contacts of a JSON manifest, with the contacts' channels and
    preferences and the sites' own contacts (upserts: safe to load again; README, "Running for real")."""
    from carewatch.registry import apply_manifest
    from carewatch.storage import open_store

    settings = _settings()
    store = open_store(settings)
    try:
        store.init_schema()
        apply_manifest(store, _read_manifest(manifest))
        typer.echo(
            f"registered {len(store.residents())} residents, {len(store.devices())} devices in all; a "
            "running serve knows them within about a second"
        )
    finally:
        store.close()


@user_app.command("add")
@reports_user_errors("user add")
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
