"""Floor plans: which rooms a home or a care site has, and which sensors sit where. `build_world` makes many.

A home has a bedroom, bathroom, kitchen, living room and a hall with the front door; every resident has a wearable,
an SOS pendant, a bed sensor and a chair sensor, and the home has a PIR motion sensor per room, a front-door contact,
a bathroom presence sensor, temperature/humidity sensors, smoke and gas detectors in the kitchen and a water sensor
in the bathroom (17 devices for one resident). A community station or care institution gives every resident a room
(bedroom and en-suite bathroom, 9 devices with the wearable) along corridors of ``ROOMS_PER_FLOOR`` rooms, plus a
lounge, a dining room and an entrance door shared by all.

Ids: sites ``<prefix>-h00001`` (homes), ``<prefix>-cs001``, ``<prefix>-ci001``; devices ``<site>-<room>-<kind>``;
residents ``<site>-r1`` at home and ``<site>-r<room number>`` in care. With ``zigbee=True`` every room sensor also gets
a Zigbee2MQTT friendly name ``<site>/<room>_<kind>`` and publishes as a Zigbee2MQTT bridge would.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulators.profiles import draw_birth_year, draw_name, draw_profile
from simulators.state import NO_DEVICE, Room
from simulators.world import (
    CARE_INSTITUTION,
    COMMUNITY_STATION,
    HOME,
    SITE_KINDS,
    Place,
    SimDevice,
    SimResident,
    SimSite,
    World,
)

ROOMS_PER_FLOOR = 20  # a corridor (with its motion sensor and smoke detector) serves this many rooms
HOME_ROOMS = (Room.BEDROOM, Room.BATHROOM, Room.KITCHEN, Room.LIVING_ROOM, Room.HALL)
HOME_SHARED_SENSORS = (
    (Room.BEDROOM, "motion"), (Room.BATHROOM, "motion"), (Room.KITCHEN, "motion"), (Room.LIVING_ROOM, "motion"),
    (Room.HALL, "motion"), (Room.BATHROOM, "bathroom"), (Room.BEDROOM, "environment"),
    (Room.LIVING_ROOM, "environment"), (Room.BATHROOM, "environment"), (Room.KITCHEN, "smoke"), (Room.KITCHEN, "gas"),
    (Room.BATHROOM, "water"),
)  # fmt: skip
PERSONAL_SENSORS = ((Room.BEDROOM, "bed"), (Room.LIVING_ROOM, "chair"), (Room.BEDROOM, "sos_button"))
CARE_ROOM_SENSORS = (
    (Room.BEDROOM, "motion"), (Room.BATHROOM, "bathroom"), (Room.BEDROOM, "bed"), (Room.BEDROOM, "chair"),
    (Room.BEDROOM, "environment"), (Room.BATHROOM, "water"), (Room.BATHROOM, "sos_button"),
)  # fmt: skip
HOME_MAX_RESIDENTS = 2  # a single resident or a couple: a home's rooms and sensors are laid out for no more
SITE_PREFIX = {HOME: "h", COMMUNITY_STATION: "cs", CARE_INSTITUTION: "ci"}
SITE_DIGITS = {HOME: 5, COMMUNITY_STATION: 3, CARE_INSTITUTION: 3}


class Builder:
    """Accumulates sites, places, residents and devices, keeping indices and ids consistent."""

    def __init__(self, zigbee: bool = False) -> None:
        self.sites: list[SimSite] = []
        self.places: list[Place] = []
        self.residents: list[SimResident] = []
        self.devices: list[SimDevice] = []
        self._zigbee = zigbee
        self._taken: set[str] = set()

    def world(self) -> World:
        return World(tuple(self.sites), tuple(self.places), tuple(self.residents), tuple(self.devices))

    def place(self, site_id: str, room: Room, label: str) -> int:
        self.places.append(Place(site_id, room, label))
        return len(self.places) - 1

    def resident(self, rng: np.random.Generator, site_id: str, site_kind: str, suffix: str, room: str | None,
                 places: dict[Room, int]) -> int:  # fmt: skip
        """A resident with their wearable; ``places`` maps every Room to the place they use for it."""
        profile = draw_profile(rng, site_kind)
        resident_id = f"{site_id}-r{suffix}"
        self.residents.append(SimResident(
            resident_id, site_id, draw_name(rng), room, f"{resident_id}-wearable", profile.spo2_scale,
            profile.baseline, draw_birth_year(rng), profile.conditions, profile.on_oxygen, profile.habits,
            tuple(places[r] for r in Room),
        ))  # fmt: skip
        index = len(self.residents) - 1
        self.devices.append(SimDevice(f"{resident_id}-wearable", site_id, "wearable", NO_DEVICE, index))
        return index

    def sensor(self, kind: str, place: int, resident: int = NO_DEVICE, inside: tuple[int, ...] = ()) -> int:
        site_id, label = self.places[place].site_id, self.places[place].label
        device_id = self._unique(f"{site_id}-{label.replace('/', '-')}-{kind}")
        friendly = self._unique(f"{site_id}/{label}_{kind}") if self._zigbee else None
        self.devices.append(SimDevice(device_id, site_id, kind, place, resident, label, friendly, inside))
        return len(self.devices) - 1

    def _unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{name}-{n}" if "/" not in name else f"{name}_{n}"
        self._taken.add(candidate)
        return candidate


def build_world(kind: str, homes: int, residents_per_site: int = 1, seed: int = 1, *, zigbee: bool = False,
                prefix: str = "sim", timezone: str = "UTC") -> World:  # fmt: skip
    """``homes`` sites of one ``kind`` (home, community_station, care_institution), ``residents_per_site`` each.

    Deterministic: the same arguments give the same world, and site ``i`` does not depend on how many follow it.
    """
    if kind not in SITE_KINDS:
        raise ValueError(f"kind must be one of {SITE_KINDS}, got {kind!r}")
    if homes < 0 or residents_per_site < 1:
        raise ValueError("homes must be >= 0 and residents_per_site >= 1")
    if kind == HOME and residents_per_site > HOME_MAX_RESIDENTS:
        raise ValueError(f"a home has 1 or {HOME_MAX_RESIDENTS} residents (a couple), not {residents_per_site}")
    builder = Builder(zigbee)
    add = add_home if kind == HOME else add_care_site
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(homes)):
        site_id = f"{prefix}-{SITE_PREFIX[kind]}{i + 1:0{SITE_DIGITS[kind]}d}"
        add(builder, np.random.default_rng(child), site_id, kind, residents_per_site, timezone)
    return builder.world()


def add_home(builder: Builder, rng: np.random.Generator, site_id: str, kind: str, count: int, timezone: str) -> None:
    """A home: five rooms, ``count`` residents (a couple shares the home's sensors, which then name no resident)."""
    places = {room: builder.place(site_id, room, room.name.lower()) for room in HOME_ROOMS}
    places[Room.OUTSIDE] = builder.place(site_id, Room.OUTSIDE, "outside")
    residents = [builder.resident(rng, site_id, kind, str(k + 1), None, places) for k in range(count)]
    builder.sites.append(SimSite(site_id, f"Home of {builder.residents[residents[0]].name}", kind, timezone))
    for r in residents:
        for room, sensor in PERSONAL_SENSORS:
            builder.sensor(sensor, places[room], r)
    owner = residents[0] if count == 1 else NO_DEVICE
    indoors = tuple(places[room] for room in HOME_ROOMS)
    builder.sensor("door", places[Room.HALL], owner, inside=indoors)
    for room, sensor in HOME_SHARED_SENSORS:
        builder.sensor(sensor, places[room], owner)


def add_care_site(builder: Builder, rng: np.random.Generator, site_id: str, kind: str, count: int,
                  timezone: str) -> None:  # fmt: skip
    """A community station or care institution: a room per resident, corridors, a lounge and a dining room."""
    title = "Community station" if kind == COMMUNITY_STATION else "Care home"
    builder.sites.append(SimSite(site_id, f"{title} {site_id}", kind, timezone))
    first = len(builder.places)
    lounge = builder.place(site_id, Room.LIVING_ROOM, "lounge")
    dining = builder.place(site_id, Room.KITCHEN, "dining")
    entrance = builder.place(site_id, Room.HALL, "entrance")
    outside = builder.place(site_id, Room.OUTSIDE, "outside")
    corridors: list[int] = []
    for i in range(count):
        floor, number = divmod(i, ROOMS_PER_FLOOR)
        if number == 0:
            corridors.append(builder.place(site_id, Room.HALL, f"corridor-{floor + 1}"))
        room_no = f"{floor + 1}{number + 1:02d}"
        bedroom = builder.place(site_id, Room.BEDROOM, f"{room_no}/bedroom")
        bathroom = builder.place(site_id, Room.BATHROOM, f"{room_no}/bathroom")
        places = {Room.BEDROOM: bedroom, Room.BATHROOM: bathroom, Room.KITCHEN: dining, Room.LIVING_ROOM: bedroom,
                  Room.HALL: corridors[-1], Room.OUTSIDE: outside}  # fmt: skip
        r = builder.resident(rng, site_id, kind, room_no, room_no, places)
        if builder.residents[r].habits.social:  # sits in the lounge rather than in their room
            resident = builder.residents[r]
            builder.residents[r] = replace(resident, places=_with(resident.places, Room.LIVING_ROOM, lounge))
        for room, sensor in CARE_ROOM_SENSORS:
            builder.sensor(sensor, places[room], r)
        builder.sensor("door", bedroom, r, inside=(bedroom, bathroom))
    for corridor in corridors:
        builder.sensor("motion", corridor)
        builder.sensor("smoke", corridor)
    for place, sensors in ((lounge, ("motion", "environment", "smoke")), (dining, ("motion", "smoke", "gas"))):
        for sensor in sensors:
            builder.sensor(sensor, place)
    builder.sensor("door", entrance, inside=tuple(p for p in range(first, len(builder.places)) if p != outside))


def _with(places: tuple[int, ...], room: Room, place: int) -> tuple[int, ...]:
    return tuple(place if i == room else p for i, p in enumerate(places))
