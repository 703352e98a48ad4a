"""A simulated world: sites, the places in them, residents and their devices. Plain data, no behaviour.

`World.manifest()` describes it in the registry's terms (plain JSON: sites, residents, devices), for
`carewatch registry load` or the demo to register before the devices start publishing. Build worlds with
`simulators.floorplans.build_world` (homes, community stations, care institutions) or the legacy
`simulators.population.make_population` (a station of residents with wearables only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from simulators.profiles import Habits
from simulators.state import NO_DEVICE, Room

HOME = "home"
COMMUNITY_STATION = "community_station"
CARE_INSTITUTION = "care_institution"
SITE_KINDS = (HOME, COMMUNITY_STATION, CARE_INSTITUTION)
DEVICE_KINDS = ("wearable", "sos_button", "motion", "door", "bed", "chair", "bathroom", "environment", "smoke", "gas",
                "water")  # fmt: skip
IDENTIFIER = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # docs/protocol.md: site and device ids in topics


@dataclass(frozen=True, slots=True)
class SimSite:
    site_id: str
    name: str
    kind: str  # one of SITE_KINDS
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Place:
    """A room of a site. ``label`` is the registry's room name ("bedroom" at home, "101/bedroom" in a care home)."""

    site_id: str
    room: Room
    label: str


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    site_id: str
    kind: str  # one of DEVICE_KINDS
    place: int  # index into World.places; NO_DEVICE (-1) for a wearable, which goes where its resident goes
    resident: int  # index into World.residents, or NO_DEVICE for a shared sensor
    label: str | None = None  # the room name, as in Place.label
    friendly_name: str | None = None  # set for home sensors bridged through Zigbee2MQTT
    inside: tuple[int, ...] = ()  # a door: the places on its inner side (crossing the set's edge opens it)


@dataclass(frozen=True, slots=True)
class SimResident:
    resident_id: str
    site_id: str
    name: str
    room: str | None  # the registry's room (a care home's room number); None at home
    wearable_id: str
    spo2_scale: int
    baseline: dict[str, float]  # resting, awake values of simulators.profiles.VITALS
    birth_year: int
    conditions: frozenset[str]
    on_oxygen: bool
    habits: Habits
    places: tuple[int, ...]  # the place this resident uses for each Room (indexed by Room)


@dataclass(frozen=True, slots=True)
class World:
    sites: tuple[SimSite, ...]
    places: tuple[Place, ...]
    residents: tuple[SimResident, ...]
    devices: tuple[SimDevice, ...]

    def __post_init__(self) -> None:
        for what, ids in (("site", [s.site_id for s in self.sites]), ("device", [d.device_id for d in self.devices])):
            bad = [i for i in ids if not IDENTIFIER.fullmatch(i)]
            if bad:
                raise ValueError(f"{what} ids must match {IDENTIFIER.pattern}: {bad[:3]}")
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {what} ids")

    def manifest(self) -> dict[str, Any]:
        """Sites, residents and devices as the registry loads them (carewatch.registry.apply_manifest)."""
        return {
            "sites": [{"site_id": s.site_id, "name": s.name, "kind": s.kind, "timezone": s.timezone}
                      for s in self.sites],
            "residents": [{"resident_id": r.resident_id, "site_id": r.site_id, "name": r.name, "room": r.room,
                           "birth_year": r.birth_year, "spo2_scale": r.spo2_scale} for r in self.residents],
            "devices": [{"device_id": d.device_id, "site_id": d.site_id, "kind": d.kind,
                         "resident_id": self.residents[d.resident].resident_id if d.resident != NO_DEVICE else None,
                         "room": d.label, "friendly_name": d.friendly_name} for d in self.devices],
        }  # fmt: skip

    def site(self, site_id: str) -> SimSite:
        for site in self.sites:
            if site.site_id == site_id:
                return site
        raise KeyError(site_id)

    def resident(self, resident_id: str) -> SimResident:
        for resident in self.residents:
            if resident.resident_id == resident_id:
                return resident
        raise KeyError(resident_id)

    def devices_of(self, resident_id: str) -> list[SimDevice]:
        """The resident's own devices (wearable, SOS button, bed and chair sensors, and their home's sensors if they
        live alone)."""
        index = self.residents.index(self.resident(resident_id))
        return [d for d in self.devices if d.resident == index]

    @classmethod
    def merge(cls, worlds: Sequence[World]) -> World:
        """One world of several (homes, a station and a care home: a district). Ids must not collide."""
        sites: list[SimSite] = []
        places: list[Place] = []
        residents: list[SimResident] = []
        devices: list[SimDevice] = []
        for world in worlds:
            p0, r0 = len(places), len(residents)
            sites.extend(world.sites)
            places.extend(world.places)
            residents.extend(replace(r, places=tuple(p + p0 for p in r.places)) for r in world.residents)
            devices.extend(
                replace(d, place=d.place + p0 if d.place != NO_DEVICE else NO_DEVICE,
                        resident=d.resident + r0 if d.resident != NO_DEVICE else NO_DEVICE,
                        inside=tuple(p + p0 for p in d.inside))
                for d in world.devices
            )  # fmt: skip
        return cls(tuple(sites), tuple(places), tuple(residents), tuple(devices))
