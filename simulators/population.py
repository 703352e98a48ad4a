"""A simulated population: sites, residents and their wearables, deterministic from a seed.

`manifest()` describes it in the registry's terms (plain JSON), for `carewatch registry load` or the demo to
register before the devices start publishing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu")
GIVEN = ("Fang", "Wei", "Min", "Jing", "Lei", "Jun", "Yan", "Hua", "Ping", "Qiang", "Xia", "Lan", "Hong", "Gang")


@dataclass(frozen=True, slots=True)
class SimResident:
    resident_id: str
    site_id: str
    name: str
    room: str
    wearable_id: str
    spo2_scale: int
    baseline: dict[str, float]  # resting values of this person's vitals


@dataclass(frozen=True, slots=True)
class Population:
    site_id: str
    site_name: str
    residents: tuple[SimResident, ...]

    def manifest(self) -> dict[str, Any]:
        return {
            "sites": [{"site_id": self.site_id, "name": self.site_name, "kind": "community_station"}],
            "residents": [
                {"resident_id": r.resident_id, "site_id": r.site_id, "name": r.name, "room": r.room,
                 "spo2_scale": r.spo2_scale}
                for r in self.residents
            ],
            "devices": [
                {"device_id": r.wearable_id, "site_id": r.site_id, "kind": "wearable", "resident_id": r.resident_id}
                for r in self.residents
            ],
        }  # fmt: skip


def make_population(count: int, seed: int = 1, site_id: str = "demo-station", site_name: str = "Demo Care Station") -> Population:
    rng = np.random.default_rng(seed)
    residents = []
    for i in range(count):
        name = f"{SURNAMES[rng.integers(len(SURNAMES))]} {GIVEN[rng.integers(len(GIVEN))]}"
        copd = rng.random() < 0.1  # about one in ten has COPD and a clinician's SpO2 scale 2
        baseline = {
            "hr": float(rng.normal(72, 8)),
            "spo2": float(rng.normal(90, 1) if copd else min(99.0, rng.normal(96.5, 1))),
            "rr": float(rng.normal(16, 2)),
            "sbp": float(rng.normal(132, 12)),
            "dbp": float(rng.normal(80, 7)),
            "temp": float(rng.normal(36.6, 0.2)),
        }
        residents.append(
            SimResident(f"{site_id}-r{i:04d}", site_id, name, f"{100 + i // 2 + 1}", f"{site_id}-w{i:04d}",
                        2 if copd else 1, baseline)
        )  # fmt: skip
    return Population(site_id, site_name, tuple(residents))
