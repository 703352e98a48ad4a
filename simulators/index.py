"""Lookups into a World by id and by role, built once, for scenarios (which name residents and devices by id)."""

from __future__ import annotations

import numpy as np

from simulators.state import NO_DEVICE, IntArray
from simulators.world import World


class WorldIndex:
    def __init__(self, world: World) -> None:
        self.world = world
        self.residents = {r.resident_id: i for i, r in enumerate(world.residents)}
        self.devices = {d.device_id: i for i, d in enumerate(world.devices)}
        places: dict[str, list[int]] = {}
        for i, place in enumerate(world.places):
            places.setdefault(place.site_id, []).append(i)
        self._site_places = {site: np.array(p, dtype=np.int64) for site, p in places.items()}
        self._by_site_kind: dict[tuple[str, str], list[int]] = {}
        for i, device in enumerate(world.devices):
            self._by_site_kind.setdefault((device.site_id, device.kind), []).append(i)

    def resident(self, resident_id: str) -> int:
        return self.residents[resident_id]

    def device(self, device_id: str) -> int:
        return self.devices[device_id]

    def device_of(self, resident: int, kind: str) -> int:
        """The device of ``kind`` that serves this resident: their own (wearable, SOS button, bed...), else one in a
        room they use (their home's kitchen smoke detector, their corridor's), else any at their site; or
        NO_DEVICE."""
        r = self.world.residents[resident]
        candidates = self._by_site_kind.get((r.site_id, kind), [])
        for match in (lambda d: d.resident == resident, lambda d: d.place in r.places, lambda d: True):
            for i in candidates:
                if match(self.world.devices[i]):
                    return i
        return NO_DEVICE

    def site_places(self, resident: int) -> IntArray:
        """Every place of the resident's site (a heat wave heats the whole home or care home)."""
        return self._site_places[self.world.residents[resident].site_id]
