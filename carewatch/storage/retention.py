"""Retention: how long each table keeps its rows, and what applying the policy guarantees.

Guarantee (both backends): after ``Store.apply_retention(policy, now)`` no row older than its table's cutoff
(``now - days``) remains and no younger row is gone. On TimescaleDB the old chunks are dropped whole
(``drop_chunks``: no dead tuples, no vacuum) and the rows of the one chunk that straddles the cutoff are then
deleted, so the cutoff holds to the row and not only to the chunk. Two exceptions keep data safe: raw readings
the 1-minute roll-up has not aggregated yet (and minutes the hour roll-up has not), or has a late mark to
re-aggregate from (``rollup_dirty``, carewatch.storage.rollups), are kept until it has; live alerts are never
deleted, whatever their age. Each run records where it cut each table (``retention_horizons``): history reads the
minute roll-up before the cut of the raw readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

DAY_S = 86_400.0
# The longest a policy keeps rows: 100 years, beyond any record-keeping period (so, for care records, "forever").
# Its cutoff is a time both backends hold; beyond it (inf, 1e300 or 1e6 days) TimescaleDB failed every run with
# "timestamp out of range" while SQLite went on.
MAX_RETENTION_DAYS = 36_525.0

# The time column of each table under a time-based policy. Hypertables on TimescaleDB (drop_chunks) are the first
# five; dead letters are an ordinary table.
TIME_COLUMNS = {
    "accel": "time",
    "readings": "time",
    "events": "time",
    "readings_1m": "bucket",
    "readings_1h": "bucket",
    "dead_letters": "received_at",
}
HYPERTABLES = ("accel", "readings", "events", "readings_1m", "readings_1h")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of row is kept (Settings.retention_*_days)."""

    accel_days: float = 7  # raw accelerometer blocks: the fall detector and a review of the days around a fall
    readings_days: float = 42  # raw vitals: weeks (the 1-minute roll-up keeps the shape after that)
    events_days: float = 365  # door, bed, motion events: small; the behaviour baselines learn from months
    readings_1m_days: float = 400  # minute roll-ups: a year of detailed charts
    readings_1h_days: float = 10 * 365  # hour roll-ups: years (trends, reports)
    dead_letters_days: float = 30
    alerts_days: float = (
        10 * 365
    )  # resolved alerts with their transitions, escalations and deliveries (the legal period)

    def cutoffs(self, now: float) -> dict[str, float]:
        """table -> rows with a time before this are removed ("alerts": resolved before it)."""
        days = {
            "accel": self.accel_days,
            "readings": self.readings_days,
            "events": self.events_days,
            "readings_1m": self.readings_1m_days,
            "readings_1h": self.readings_1h_days,
            "dead_letters": self.dead_letters_days,
            "alerts": self.alerts_days,
        }
        for table, value in days.items():
            if not 0 < value <= MAX_RETENTION_DAYS:  # also refuses nan
                raise ValueError(f"retention of {table} must be above 0 and at most {MAX_RETENTION_DAYS:g} days, not "
                                 f"{value}")  # fmt: skip
        return {table: now - value * DAY_S for table, value in days.items()}


class Purged(NamedTuple):
    chunks: int  # whole chunks dropped (TimescaleDB hypertables)
    rows: int  # rows deleted one by one (SQLite; the boundary chunk; alerts and their audit rows)
