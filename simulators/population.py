"""The simplest world: one care station whose residents wear wearables and have no room sensors (the demo's).

`make_population` keeps the original entry point; `Population` is the `World` it returns. For homes with room
sensors, community stations and care institutions use `simulators.floorplans.build_world`.
"""

from __future__ import annotations

import numpy as np

from simulators.floorplans import Builder
from simulators.state import Room
from simulators.world import COMMUNITY_STATION, SimResident, SimSite, World

__all__ = ["Population", "SimResident", "make_population"]

Population = World


def make_population(count: int, seed: int = 1, site_id: str = "demo-station", site_name: str = "Demo Care Station",
                    kind: str = COMMUNITY_STATION) -> World:  # fmt: skip
    """``count`` residents of one site, each with a wearable only; deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    builder = Builder()
    builder.sites.append(SimSite(site_id, site_name, kind))
    places = {room: builder.place(site_id, room, room.name.lower()) for room in Room}  # shared, without sensors
    for i in range(count):
        builder.resident(rng, site_id, kind, f"{i:04d}", f"{100 + i // 2 + 1}", places)
    return builder.world()
