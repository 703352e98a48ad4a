"""Dense indexing: every per-resident array in the alert core is indexed by a resident's position here, every
per-device array by a device's position. `Population` adds what the rules need to know about them as arrays: each
resident's UTC offset (their site's time zone) and, for each device, the residents it speaks for."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from carewatch.model import Device, DeviceKind, Resident, Site, SiteKind

log = logging.getLogger(__name__)

MISSING = -1
# A sensor that belongs to no resident (a hall motion sensor, a kitchen smoke detector) speaks for the residents of
# its room, or, in a home, for the household; never for more than this many (a care home's corridor speaks for
# nobody: the care home watches its shared spaces itself).
MAX_SHARED_RESIDENTS = 4
DEVICE_KINDS: tuple[DeviceKind, ...] = tuple(DeviceKind)
# A door contact in a room so named is the way in and out of the home: its front door ("hall" at home, where the
# simulators and most installers put it; "entrance", "entry", "front door"). A care room's own door is not one.
ENTRANCE_WORDS = ("hall", "entrance", "entry", "front")


class ResidentIndex:
    def __init__(self) -> None:
        self._position: dict[str, int] = {}
        self.residents: list[Resident] = []

    def __len__(self) -> int:
        return len(self.residents)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "residents": _field_tuples(Resident, self.residents)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, residents=[Resident(*row) for row in state["residents"]])

    def add(self, residents: Iterable[Resident]) -> list[int]:
        """Index new residents (known ones keep their position and take the new details). Returns new positions."""
        return self.update(residents)[0]

    def update(self, residents: Iterable[Resident]) -> tuple[list[int], bool]:
        """As `add`; also says whether any known resident's details changed."""
        added, changed = [], False
        for resident in residents:  # registration, not the batch path
            position = self._position.get(resident.resident_id)
            if position is None:
                position = self._position[resident.resident_id] = len(self.residents)
                self.residents.append(resident)
                added.append(position)
            elif self.residents[position] != resident:
                self.residents[position] = resident
                changed = True
        return added, changed

    def position(self, resident_id: str) -> int:
        return self._position.get(resident_id, MISSING)

    def positions(self, resident_ids: Iterable[str | None]) -> np.ndarray:
        """(n,) int64 positions; MISSING for unknown or absent residents (a C-level map, no Python loop per id)."""
        get: Callable[[str | None, int], int] = self._position.get  # type: ignore[assignment]
        return np.fromiter(map(get, resident_ids, repeat(MISSING)), dtype=np.int64)


class Population:
    """Residents, sites and devices as the rules see them.

    - ``utc_offset`` (R,) float64 seconds: local time = UTC + offset, from the resident's site time zone, refreshed
      by `refresh_offsets` (hourly, so daylight saving is followed).
    - ``device_kind`` (D,) int8 index into ``DEVICE_KINDS``; ``device_ids`` (D,) names.
    - ``speaks_ptr`` (D + 1,) int64 and ``speaks_for`` (E,) int64: device ``d`` speaks for residents
      ``speaks_for[speaks_ptr[d]:speaks_ptr[d + 1]]`` (CSR): a personal device for its resident; a shared one for
      the residents of its room, else (in a home) the household, at most ``MAX_SHARED_RESIDENTS``, else nobody.
    """

    def __init__(self) -> None:
        self.index = ResidentIndex()
        self.sites: dict[str, Site] = {}
        self.utc_offset = np.empty(0)
        self.device_ids: list[str] = []
        self._device_position: dict[str, int] = {}
        self.device_kind = np.empty(0, np.int8)
        self.speaks_ptr = np.zeros(1, np.int64)
        self.speaks_for = np.empty(0, np.int64)
        self._devices: list[Device] = []
        self.owner = np.full(1, MISSING, np.int64)  # (D + 1,) each device's registered resident, MISSING if shared
        self.device_bedroom = np.zeros(1, bool)  # (D + 1,) the device is in a bedroom (a bed sensor always is)
        self.device_entrance = np.zeros(1, bool)  # (D + 1,) the device is a front door's contact
        self.owner_id = np.array([None], dtype=object)
        self._offset_hour = -1
        self._offset_now: float | None = None  # the time offsets were last computed for

    def __getstate__(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "sites": _field_tuples(Site, self.sites.values()),
            "_devices": _field_tuples(Device, self._devices),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        sites = (Site(*row) for row in state["sites"])
        devices = [Device(*row) for row in state["_devices"]]
        self.__dict__.update(state, sites={site.site_id: site for site in sites}, _devices=devices)

    @property
    def residents(self) -> list[Resident]:
        return self.index.residents

    def __len__(self) -> int:
        return len(self.index)

    @property
    def devices(self) -> list[Device]:
        """The registry's devices by position."""
        return self._devices

    @property
    def device_count(self) -> int:
        return len(self.device_ids)

    def update(
        self, residents: Sequence[Resident], sites: Sequence[Site] = (), devices: Sequence[Device] = ()
    ) -> list[int]:
        """Add or update residents, sites and devices (devices are only ever added: positions are stable). The
        arrays are rebuilt only when something changed: the runtime calls this at every registry refresh."""
        changed = False
        for site in sites:
            if self.sites.get(site.site_id) != site:
                self.sites[site.site_id] = site
                changed = True
        added, moved = self.index.update(residents)
        changed |= bool(added) or moved
        for device in devices:
            position = self._device_position.get(device.device_id)
            if position is None:
                self._device_position[device.device_id] = len(self.device_ids)
                self.device_ids.append(device.device_id)
                self._devices.append(device)
                changed = True
            elif self._devices[position] != device:
                self._devices[position] = device
                changed = True
        if changed:
            self.device_kind = np.array([DEVICE_KINDS.index(d.kind) for d in self._devices], np.int8)
            self._link_devices()
            self._offset_hour = -1  # time zones may have changed
            # Until a tick says what time it is, offsets are those of the wall clock (registration is no rule).
            self.refresh_offsets(self._offset_now if self._offset_now is not None else datetime.now(UTC).timestamp())
        return added

    def device_positions(self, device_ids: Iterable[str]) -> np.ndarray:
        """(n,) int64 device positions; MISSING for unknown devices."""
        return np.fromiter(map(self._device_position.get, device_ids, repeat(MISSING)), dtype=np.int64)

    def devices_of(self, position: int) -> np.ndarray:
        """Positions of the devices that speak for resident ``position``."""
        owner = np.repeat(np.arange(self.device_count), np.diff(self.speaks_ptr))
        found: np.ndarray = owner[self.speaks_for == position]
        return found

    @property
    def now(self) -> float | None:
        """The engine's clock at its latest tick (None before the first): the "today" of the explanations' times."""
        return self._offset_now

    def refresh_offsets(self, now: float) -> None:
        """Recompute every resident's UTC offset at ``now`` once per hour (one zoneinfo lookup per time zone)."""
        self._offset_now = now
        hour = int(now // 3600)
        if hour == self._offset_hour and len(self.utc_offset) == len(self.index):
            return
        self._offset_hour = hour
        zones = [self._zone(r.site_id) for r in self.index.residents]
        at = datetime.fromtimestamp(now, UTC)
        offset_of = {z: _offset(z, at) for z in set(zones)}
        self.utc_offset = np.fromiter(map(offset_of.__getitem__, zones), np.float64, len(zones))

    def _zone(self, site_id: str) -> str:
        site = self.sites.get(site_id)
        return site.timezone if site is not None else "UTC"

    def residents_of_devices(self, device: np.ndarray, named: np.ndarray) -> np.ndarray:
        """Positions (n,) of the residents that rows (n,) name (``named`` (n,) object: ids or None), MISSING where
        unknown or unnamed. A row's device is looked up already; a row naming its device's registered owner (nearly
        all) takes the owner's position after a C-level comparison of the ids, so only the others cost a second
        dictionary lookup."""
        owner = self.owner[device]  # MISSING device: the sentinel at the end
        same = (self.owner_id[device] == named).nonzero()[0]
        resident = np.full(device.shape[0], MISSING, np.int64)
        resident[same] = owner[same]
        other = np.ones(device.shape[0], bool)
        other[same] = False
        if other.any():
            rest = other.nonzero()[0]
            resident[rest] = self.index.positions(named[rest].tolist())
        return resident

    def _link_devices(self) -> None:
        by_site: dict[str, list[int]] = {}
        by_room: dict[tuple[str, str], list[int]] = {}
        for p, r in enumerate(self.index.residents):
            by_site.setdefault(r.site_id, []).append(p)
            if r.room:
                by_room.setdefault((r.site_id, r.room), []).append(p)
        lists = [self._speaks_for(d, by_site, by_room) for d in self._devices]
        # Each device's registered owner (its position and id), with a sentinel after the last device for MISSING.
        self.owner = np.array([*(self.index.position(d.resident_id or "") for d in self._devices), MISSING], np.int64)
        self.owner_id = np.array([*(d.resident_id for d in self._devices), None], dtype=object)
        self.device_bedroom = np.array([*map(_in_bedroom, self._devices), False], bool)
        self.device_entrance = np.array([*map(_at_entrance, self._devices), False], bool)
        self.speaks_ptr = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
        self.speaks_for = np.array([p for x in lists for p in x], np.int64)

    def _speaks_for(
        self, device: Device, by_site: dict[str, list[int]], by_room: dict[tuple[str, str], list[int]]
    ) -> list[int]:
        if device.resident_id is not None:
            p = self.index.position(device.resident_id)
            return [] if p == MISSING else [p]
        candidates = by_room.get((device.site_id, device.room or ""), [])
        site = self.sites.get(device.site_id)
        if not candidates and site is not None and site.kind is SiteKind.HOME:
            candidates = by_site.get(device.site_id, [])
        return candidates if len(candidates) <= MAX_SHARED_RESIDENTS else []


def _field_tuples(cls: type, records: Iterable[object]) -> list[tuple[Any, ...]]:
    """The registry's ``records`` (frozen dataclasses of ``cls``) as tuples of their fields, as the saved state
    (alerts.checkpoint) holds them: pickling 70,000 devices as dataclasses took 170 ms, most of a 10,000-resident
    save, as tuples 25 ms."""
    return list(map(attrgetter(*(f.name for f in fields(cls))), records))


def _in_bedroom(device: Device) -> bool:
    """A bed sensor, or a device whose registry room is a bedroom ("bedroom" at home, "101/bedroom" in a care home)."""
    room = (device.room or "").rsplit("/", 1)[-1].lower()
    return device.kind is DeviceKind.BED or "bedroom" in room


def _at_entrance(device: Device) -> bool:
    """A door contact whose registry room names the entrance (``ENTRANCE_WORDS``, the last part of the room name)."""
    room = (device.room or "").rsplit("/", 1)[-1].lower()
    return device.kind is DeviceKind.DOOR and any(word in room for word in ENTRANCE_WORDS)


def _offset(zone: str, at: datetime) -> float:
    try:
        delta = at.astimezone(ZoneInfo(zone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: using UTC", zone)
        return 0.0
    return delta.total_seconds() if delta is not None else 0.0
