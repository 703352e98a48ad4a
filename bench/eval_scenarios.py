"""The detection evaluation: a simulated population with injected incidents runs through the whole platform (real
Mosquitto, real TimescaleDB, ``carewatch serve`` on the data clock), and every alert is matched against the ground
truth. Method and figures: docs/detection.md.

    python -m bench.eval_scenarios [--residents 36] [--days 2] [--seed 1] [--per-scenario 1] [--start UNIX_S]

The simulation starts at the wall clock's now (or at ``--start``: the same seed and start plan the same incidents
at the same times, to run a printed run again on other code) and runs accelerated into the future; the platform
runs with ``CAREWATCH_CLOCK=data``, so validation and the time-driven rules follow the data's time. With ``--speed
inf`` the simulation goes as fast as the platform commits: it waits whenever it is more than ``LEAD_S`` of
simulated time ahead of the newest committed reading (a bounded backlog, and every resident's data close to the
engine's clock).
The evaluation plays the operator: alerts that only an operator resolves (falls, SOS, smoke, gas, wandering) are
resolved ``OPERATOR_S`` after they open, as a care station would, so that a later incident can raise them again.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path

import psycopg

from alerts.review import LimitReview
from bench.eval_scoring import Opening, Score, on_residents, report, score
from bench.eval_world import CLINICIAN, DAY_S, HISTORY_DAYS, cohorts, merged, probe, settle_in, streams, write_history
from bench.eval_world import plan as plan_incidents
from bench.services import free_port, mosquitto, postgres
from carewatch.config import mqtt_endpoint
from carewatch.registry import apply_manifest
from carewatch.storage.timescale import TimescaleStore
from simulators.pool import PublisherPool
from simulators.progress import ProgressLine
from simulators.runner import Simulation
from simulators.scenarios.base import GroundTruth, Incident
from simulators.scenarios.library import SCENARIOS
from simulators.world import World

LEAD_S = 600.0  # simulated seconds the simulation may run ahead of the newest committed reading
POLL_S = 0.2  # wall seconds between looks at the database while pacing or draining
OPERATOR_S = 1800.0  # an operator resolves a fall, SOS, smoke, gas or wandering alert this long after it opened
OPERATOR_RULES = ("fall", "fall_long_lie", "sos", "night_wandering", "smoke", "gas")
SERVE_START_S = 60.0
DRAIN_S = 180.0  # wall seconds to wait for ingest to store the last published data
DRAIN_NEWEST_S = 10.0  # drained when a reading this close to the end is stored (vitals come every 5 s)...
DRAIN_SETTLE_S = 3.0  # ...the row count stood still for a second, and then this long for the lifecycle
SECRET = "eval-secret-0123456789abcdef"  # a private throwaway database
CONNECTIONS = 2
EXPLANATION_CHARS = 240  # of an unmatched alert's explanation, printed under it


@dataclass(frozen=True, slots=True)
class Plan:
    residents: int = 36
    days: float = 2.0  # a run from the afternoon needs a second day for the heat wave (a morning, 8-14 hours)
    speed: float = math.inf
    seed: int = 1
    per_scenario: int = 1
    scenarios: tuple[str, ...] = SCENARIOS
    history: bool = True  # store HISTORY_DAYS for every resident before the scored days
    review: bool = True  # the settling-in review of that week, every suggestion accepted (eval_world.settle_in)
    probe: bool = False  # instead of the cohorts' incidents, vital-sign ones on every resident the review changed
    max_wall_s: float = 40 * 60.0  # stop the simulation after this long; the run is scored as far as it got
    start: float | None = None  # where the simulation starts (None: now); at most HISTORY_DAYS in the past


@dataclass(frozen=True, slots=True)
class Result:
    score: Score
    world: World
    start: float
    end: float
    residents: int
    incidents: list[GroundTruth]
    planned: list[Incident]  # the incidents as planned (their parameters: a hypoxia's nadir, a bradycardia's rate)
    truths: list[GroundTruth]
    openings: list[Opening]
    published: int
    stored_rows: int
    dead_letters: dict[str, int]
    history_rows: int
    reviews: list[LimitReview]  # the settling-in review of every resident (empty: not run)
    wall_s: dict[str, float]  # by phase


def evaluate(plan: Plan, mqtt_url: str, database_url: str, log_dir: Path) -> Result:
    """Run the evaluation against a broker and an empty database; ``carewatch serve``'s log, the ground truth and
    the alert openings are left in ``log_dir``."""
    if plan.probe and not plan.review:
        raise ValueError("the probe plans its incidents on the residents the review changed: it needs the review")
    began = time.monotonic()
    start = float(math.floor(time.time() if plan.start is None else plan.start))
    parts = cohorts(plan.residents, plan.seed, plan.scenarios)
    world = merged(parts)
    store = TimescaleStore(database_url)
    try:
        store.init_schema()
        apply_manifest(store, world.manifest())
        history, reviews = 0, []
        if plan.history:
            history = write_history(store, world, start - HISTORY_DAYS * DAY_S, start, plan.seed)
        phases = {"history": time.monotonic() - began}
        if plan.review:
            reviews = settle_in(store, world, start - HISTORY_DAYS * DAY_S, start)
            phases["review"] = time.monotonic() - began - sum(phases.values())
        duration = plan.days * DAY_S
        if plan.probe:
            incidents = probe(world, reviews, start, duration, plan.seed)
        else:
            incidents = plan_incidents(parts, start, duration, plan.seed, plan.per_scenario)
        host, port, user, password = mqtt_endpoint(mqtt_url)
        with serving(mqtt_url, database_url, log_dir):
            pool = PublisherPool(host, port, f"eval-sim-{time.monotonic_ns()}", CONNECTIONS, user, password,
                                 inline=True)  # fmt: skip
            simulation = Simulation(world, incidents, pool.publish, plan.seed, streams=streams(parts))
            pacer = _Pacer(database_url, store, pool, start, began + plan.max_wall_s)
            try:
                try:
                    end = _run(simulation, pacer, start, duration, plan.speed)
                finally:
                    pool.close()
                phases["simulation"] = time.monotonic() - began - sum(phases.values())
                _drain(database_url, end)
                pacer.operate(end)  # what fell due after its last look (it looks once a wall second)
            finally:
                pacer.close()
            phases["drain"] = time.monotonic() - began - sum(phases.values())
        openings = _openings(database_url)
        stored, dead = _counts(database_url)
    finally:
        store.close()
    truths = simulation.ground_truth()
    simulation.write_ground_truth(log_dir / "truth.jsonl")
    (log_dir / "openings.jsonl").write_text(
        "".join(json.dumps(asdict(o) | {"until": o.until if math.isfinite(o.until) else None}) + "\n" for o in openings)
    )
    residents = [r.resident_id for r in world.residents]
    result = score(openings, truths, residents, start, end)
    return Result(result, world, start, end, len(residents), [t for t in truths if not t.background], incidents,
                  truths, openings, simulation.published, stored, dead, history, reviews, phases)  # fmt: skip


@contextmanager
def serving(mqtt_url: str, database_url: str, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``carewatch serve`` on the data clock, stopped gracefully (it commits and evaluates what it holds)."""
    env = {**os.environ, "CAREWATCH_MQTT_URL": mqtt_url, "CAREWATCH_DATABASE_URL": database_url,
           "CAREWATCH_SECRET_KEY": SECRET, "CAREWATCH_HTTP_PORT": str(free_port()), "CAREWATCH_CLOCK": "data",
           "CAREWATCH_MQTT_CLIENT_ID": f"eval-ingest-{time.monotonic_ns()}",
           "CAREWATCH_DATA_DIR": str(log_dir / "data")}  # fmt: skip
    log = log_dir / "serve.log"
    with log.open("w") as out:  # a file, not a pipe: nobody has to keep reading it
        proc = subprocess.Popen([sys.executable, "-m", "carewatch", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + SERVE_START_S
        while "carewatch serving" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("carewatch serve did not start:\n" + log.read_text()[-3000:])
            time.sleep(POLL_S)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Pacer:
    """Called after every simulated tick: holds the simulation within LEAD_S of the committed data, plays the
    operator once a wall second, and stops the run at the wall-time limit."""

    def __init__(self, database_url: str, store: TimescaleStore, pool: PublisherPool, start: float,
                 deadline: float) -> None:  # fmt: skip
        self._conn = psycopg.connect(database_url, autocommit=True)
        self._store, self._pool, self._start, self._deadline = store, pool, start, deadline
        self.stop = threading.Event()
        self.committed = -math.inf
        self._operated = 0.0

    def __call__(self, elapsed_s: float, published: int) -> None:
        now = self._start + elapsed_s
        if time.monotonic() - self._operated >= 1.0:
            self._operated = time.monotonic()
            self.operate(self._look())
        if now - self.committed > LEAD_S:
            self._pool.flush()
            while now - self._look() > LEAD_S and not self._over():
                time.sleep(POLL_S)
        self._over()

    def _over(self) -> bool:
        if time.monotonic() > self._deadline:
            self.stop.set()
        return self.stop.is_set()

    def _look(self) -> float:
        row = self._conn.execute("SELECT extract(epoch FROM max(time)) FROM readings").fetchone()
        if row is not None and row[0] is not None:
            self.committed = max(self.committed, float(row[0]))
        return self.committed

    def operate(self, now: float) -> None:
        """Resolve, as of ``now``, the operator's alerts open ``OPERATOR_S`` by then."""
        for alert in self._store.alerts(live_only=True, limit=10_000):
            if alert.rule in OPERATOR_RULES and alert.opened_at + OPERATOR_S <= now:
                self._store.resolve_alert(alert.alert_id, "eval-operator", alert.opened_at + OPERATOR_S)

    def close(self) -> None:
        self._conn.close()


def _run(simulation: Simulation, pacer: _Pacer, start: float, duration: float, speed: float) -> float:
    """Run the simulation, paced; returns the simulated time it reached."""
    progress = ProgressLine(duration)
    reached = [start]

    def step(elapsed_s: float, published: int) -> None:
        reached[0] = start + elapsed_s
        progress(elapsed_s, published)
        pacer(elapsed_s, published)

    try:
        simulation.run(start, duration, speed, stop=pacer.stop, progress=step)
    finally:
        progress.close()
    return reached[0]


def _drain(database_url: str, end: float) -> None:
    """Wait until ingest has stored the data up to ``end`` and the row count stands still."""
    deadline = time.monotonic() + DRAIN_S
    last = -1
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT extract(epoch FROM max(time)), (SELECT count(*) FROM readings) + (SELECT count(*) FROM events)"
                " FROM readings"
            ).fetchone()
            newest, rows = (float(row[0]), int(row[1])) if row is not None and row[0] is not None else (-math.inf, 0)
            if newest >= end - DRAIN_NEWEST_S and rows == last:
                time.sleep(DRAIN_SETTLE_S)  # the lifecycle thread stores the last findings
                return
            last = rows
            time.sleep(1.0)
    raise RuntimeError(f"ingest did not catch up within {DRAIN_S:.0f} s")


def _openings(database_url: str) -> list[Opening]:
    """Every alert's opening, and every reopening of an automatically resolved alert (the flap window), each with
    when it was next resolved."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "WITH opened AS (SELECT alert_id, opened_at AS at FROM alerts"
            " UNION ALL SELECT alert_id, at FROM alert_transitions WHERE from_state = 'resolved' AND to_state = 'open')"
            " SELECT o.alert_id, a.resident_id, a.rule, extract(epoch FROM o.at), a.explanation,"
            " (SELECT extract(epoch FROM min(t.at)) FROM alert_transitions t"
            "  WHERE t.alert_id = o.alert_id AND t.to_state = 'resolved' AND t.at >= o.at)"
            " FROM opened o JOIN alerts a USING (alert_id)"
        ).fetchall()
    return sorted(
        Opening(int(a), r, rule, float(at), text, math.inf if until is None else float(until))
        for a, r, rule, at, text, until in rows
    )


def _counts(database_url: str) -> tuple[int, dict[str, int]]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM readings) + (SELECT count(*) FROM events) + (SELECT count(*) FROM accel)"
        ).fetchone()
        dead = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
    return (int(row[0]) if row else 0), {str(reason): int(n) for reason, n in dead}


# Printing -----------------------------------------------------------------------------------------------------------


def _hms(seconds: float) -> str:
    return time.strftime("%H:%M", time.gmtime(seconds))


def _describe(truth: GroundTruth, start: float) -> str:
    day = (truth.start - start) / DAY_S
    return (f"{truth.resident_id} {truth.scenario} (expects {truth.expected_rule}) day {day:.2f}"
            f" {_hms(truth.start)}-{_hms(truth.end)} UTC")  # fmt: skip


def _parameters(incident: Incident) -> str:
    """What an incident was, beyond its ground truth: `` (nadir 78.0)``."""
    if not is_dataclass(incident):
        return ""
    shown = [f"{f.name} {getattr(incident, f.name):.4g}" for f in fields(incident)
             if f.name not in ("truth", "seed") and type(getattr(incident, f.name)) in (int, float)]  # fmt: skip
    return f" ({', '.join(shown)})" if shown else ""


def _context(o: Opening, truths: Sequence[GroundTruth], world: World) -> str:
    """Who the resident is and what was going on: conditions, overlapping incidents and background episodes."""
    near = [t.scenario for t in truths if t.resident_id == o.resident_id and t.start - 600 <= o.at <= t.end + 600]
    resident = world.resident(o.resident_id)
    conditions = "+".join(sorted(resident.conditions)) + (" (SpO2 scale 2)" if resident.spo2_scale == 2 else "")
    return f"{conditions or 'no chronic condition'}; {', '.join(sorted(set(near))) or 'ordinary life'}"


def _print_reviews(reviews: Sequence[LimitReview]) -> None:
    if not reviews:
        print("  settling-in review: not run (every resident on the default limits and the RCP's NEWS2 levels)")
        return
    changed = [v for v in reviews if v.changes]
    print(f"  settling-in review of the {HISTORY_DAYS:.0f} days before the start, every suggestion accepted by"
          f" {CLINICIAN}: {len(changed)} of {len(reviews)} residents changed")  # fmt: skip
    for v in changed:
        print(f"    {v.resident_id}: {v.describe()}")
    for v in reviews:
        if v.notes and not v.changes:
            print(f"    {v.resident_id} (unchanged): {'; '.join(v.notes)}")


def print_result(r: Result, plan: Plan) -> None:
    days = (r.end - r.start) / DAY_S
    print(f"detection evaluation: {r.residents} residents (homes, one resident each) x {days:.2f} simulated days ="
          f" {r.residents * days:.1f} resident-days; seed {plan.seed}")  # fmt: skip
    print(f"  {len(r.incidents)} incidents injected ({r.score.unscored} still open at the end); history of"
          f" {HISTORY_DAYS:.0f} days stored for every resident: {r.history_rows:,} rows")  # fmt: skip
    _print_reviews(r.reviews)
    walls = ", ".join(f"{phase} {s:.0f} s" for phase, s in r.wall_s.items())
    print(f"  published {r.published:,} messages ({r.published / r.wall_s['simulation']:,.0f}/s), stored"
          f" {r.stored_rows:,} rows, dead letters: {r.dead_letters or 'none'}; wall time {walls}")  # fmt: skip
    print()
    print(report(r.score))
    if r.reviews:
        changed = {v.resident_id for v in r.reviews if v.changes}
        found = on_residents(r.truths, r.score.missed, changed, r.end)
        parameters = {i.truth: _parameters(i) for i in r.planned}
        print(f"incidents on residents whose limits the review changed: {sum(hit for _, hit in found)} of"
              f" {len(found)} found")  # fmt: skip
        for t, hit in found:
            print(f"  {_describe(t, r.start)}{parameters.get(t, '')}: {'found' if hit else 'MISSED'}")
    if r.score.missed:
        print("\nmissed:")
        for t in r.score.missed:
            print(f"  {_describe(t, r.start)}")
    if r.score.false_alerts:
        print("\nunmatched alerts (time; what was going on):")
        for o in r.score.false_alerts:
            print(f"  {o.resident_id} {o.rule} day {(o.at - r.start) / DAY_S:.2f} {_hms(o.at)} UTC;"
                  f" {_context(o, r.truths, r.world)}")  # fmt: skip
            print(f"    {o.explanation[:EXPLANATION_CHARS]}")


def parse_plan(argv: Sequence[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_scenarios", description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=Plan().residents, help="homes, one resident each")
    parser.add_argument("--days", type=float, default=Plan().days, help="simulated days of the live run")
    parser.add_argument("--speed", type=float, default=0.0, help="simulated seconds per wall second; 0 = as fast "
                        "as the platform commits")  # fmt: skip
    parser.add_argument("--seed", type=int, default=Plan().seed)
    parser.add_argument("--start", type=float, default=None, help="where the simulation starts, in Unix seconds"
                        " (default: now); with --seed, runs again the run that printed '(start N; ...)'")  # fmt: skip
    parser.add_argument("--per-scenario", type=int, default=Plan().per_scenario, help="incidents of each scenario")
    parser.add_argument("--max-minutes", type=float, default=Plan().max_wall_s / 60, help="stop the run after this")
    parser.add_argument("--no-review", action="store_true", help="no settling-in review: every resident on the"
                        " default limits and the RCP's NEWS2 levels")  # fmt: skip
    parser.add_argument("--probe-reviewed", action="store_true", help="instead of the cohorts' incidents, one of"
                        " each vital-sign scenario on every resident the review changed (what their limits still"
                        " find); the false-alert figure then covers the unchanged residents only")  # fmt: skip
    args = parser.parse_args(argv)
    return Plan(residents=args.residents, days=args.days, speed=args.speed or math.inf, seed=args.seed,
                per_scenario=args.per_scenario, max_wall_s=args.max_minutes * 60,
                review=not args.no_review, probe=args.probe_reviewed, start=args.start)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_plan(argv)
    with mosquitto() as broker, postgres() as server:
        log_dir = Path(tempfile.mkdtemp(prefix="carewatch-eval-"))
        result = evaluate(plan, f"mqtt://127.0.0.1:{broker.port}", server.create_database(), log_dir)
        print("\n" * 2, end="")
    print_result(result, plan)
    print(f"\n(start {result.start:.0f}; in {log_dir}: carewatch serve's log, truth.jsonl, openings.jsonl)")
    return 0 if result.score.goals_met else 1


if __name__ == "__main__":
    sys.exit(main())
