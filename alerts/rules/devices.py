"""Device offline: a device that has been heard from falls silent for longer than its kind allows.

Per device: ``last_seen`` (any row, artefacts included) and whether its silence has been raised. A silence becomes
alertable at exactly ``last_seen + offline_s``: found by the clock (`tick`) while it lasts, or by the next row when
data arrives late; the next row clears it. Devices fold into one alert per resident (`Tally`): the residents a
device speaks for (alerts.residents) hear about it. A device never heard from is not offline, it is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alerts._arrays import FloatArray, IntArray, firsts, grown, lasts, previous, ragged_arange, sort_fresh
from alerts.frame import Frame
from alerts.residents import DEVICE_KINDS, Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Tally, last_per_key
from alerts.rules.safety import clock
from carewatch.model import DeviceKind, Severity

# A wearable sends vitals every few seconds and status every minute or so: 15 minutes of silence is no lost packet.
WEARABLE_OFFLINE_S = 15 * 60.0
# Battery room sensors report on change and check in rarely: Zigbee2MQTT's availability check gives passive
# (battery) devices 1,500 minutes before it calls them offline.
SENSOR_OFFLINE_S = 1500 * 60.0
OFFLINE_S = {DeviceKind.WEARABLE: WEARABLE_OFFLINE_S}


class DeviceOfflineRule(Rule):
    def __init__(self) -> None:
        super().__init__()
        self.name, self.severity = "device_offline", Severity.WARNING
        self.basis = (
            "wearables: 15 min without data (they report every few seconds); room sensors: 25 h, Zigbee2MQTT's "
            "availability timeout for battery devices (manufacturer practice)"
        )
        self.last_seen = np.empty(0)  # (D,)
        self.active = np.empty(0, bool)  # (D,) silence raised
        self.offline = np.empty(0)  # (D,) seconds of silence that make the device offline
        self.tally = Tally()

    def grow(self, population: Population) -> None:
        super().grow(population)
        old, d = self.last_seen.shape[0], population.device_count
        self.last_seen = grown(self.last_seen, d, -np.inf)
        self.active = grown(self.active, d, False)
        self.offline = grown(self.offline, d, SENSOR_OFFLINE_S)
        kinds = [DEVICE_KINDS[k] for k in population.device_kind[old:d]]
        self.offline[old:d] = [OFFLINE_S.get(kind, SENSOR_OFFLINE_S) for kind in kinds]  # registration only
        self.tally.grow(len(population))

    def parameters(self) -> dict[str, Parameter]:
        return {"offline_s": Parameter(self.offline, "s", "silence after which the device is offline", True)}

    def seed(self, device: IntArray, ts: FloatArray) -> None:
        """Newest stored time per device (k,), for the restart rebuild."""
        np.maximum.at(self.last_seen, device, ts)

    def evaluate(self, frame: Frame) -> Findings:
        seen = frame.seen
        keep = sort_fresh(seen.device, seen.ts, self.last_seen)
        device, ts = seen.device[keep], seen.ts[keep]
        if device.shape[0] == 0:
            return Findings.none()
        first, last = firsts(device), lasts(device)
        prev = previous(ts, first, self.last_seen[device])
        due = prev + self.offline[device]
        gap = np.isfinite(prev) & (ts > due)
        already = first & self.active[device]  # raised by the clock; this row ends it
        raised = (gap & ~already).nonzero()[0]
        cleared = (gap | already).nonzero()[0]
        self.last_seen[device[last]] = ts[last]
        self.active[device[last]] = False
        none = np.empty(0, np.int64)
        freed = last_per_key(*self._residents(device, ts)) if self.tally.holds_virtual else (none, np.empty(0))
        return self._fold(device[raised], due[raised], prev[raised], device[cleared], ts[cleared], *freed)

    def tick(self, now: float) -> Findings:
        due = self.last_seen + self.offline
        fire = (~self.active & np.isfinite(self.last_seen) & (due < now)).nonzero()[0]
        self.active[fire] = True
        none = np.empty(0, np.int64)
        return self._fold(fire, due[fire], self.last_seen[fire], none, np.empty(0), none, np.empty(0))

    def _residents(self, device: IntArray, ts: FloatArray) -> tuple[IntArray, FloatArray]:
        """The residents (sorted) the devices (n,) speak for, with the times."""
        ptr = self.population.speaks_ptr
        owner, k = ragged_arange(ptr[device + 1] - ptr[device])
        resident = self.population.speaks_for[ptr[device[owner]] + k]
        order = np.lexsort((ts[owner], resident))
        return resident[order], ts[owner][order]

    def _fold(
        self, up: IntArray, up_at: FloatArray, since: FloatArray, down: IntArray, down_at: FloatArray,
        observed: IntArray, observed_at: FloatArray,
    ) -> Findings:  # fmt: skip
        ptr = self.population.speaks_ptr
        device = np.concatenate([up, down])
        owner, k = ragged_arange(ptr[device + 1] - ptr[device])
        resident = self.population.speaks_for[ptr[device[owner]] + k]
        when = np.concatenate([up_at, down_at])[owner]
        delta = np.where(owner < up.shape[0], 1, -1)
        freed, freed_at = self.tally.release(observed, observed_at)
        resident = np.concatenate([resident, freed])
        when = np.concatenate([when, freed_at])
        delta = np.concatenate([delta, -np.ones(freed.shape[0], np.int64)])
        raised, cleared = self.tally.apply(resident, when, delta)
        src = owner[raised]
        detail = np.column_stack([device[src], since[src]])
        return Findings.of(
            resident[raised], when[raised], since[src], since[src], detail, resident[cleared], when[cleared]
        )

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        self.tally.force(positions)
        return positions[:0]

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        return {"device": self.population.device_ids[int(detail[0])], "last_seen": float(detail[1])}

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        device = int(detail[0])
        name = self.population.device_ids[device]
        kind = DEVICE_KINDS[self.population.device_kind[device]].value.replace("_", " ")
        offset = self.population.utc_offset[position]
        text = (
            f"The {kind} {name} has sent nothing since {clock(value, offset, self.population.now)} (offline after "
            f"{minutes(self.offline[device])} of silence)."
        )
        return f"{kind.capitalize()} offline", text

    def nbytes(self) -> int:
        return arrays_nbytes(self.last_seen, self.active, self.offline) + self.tally.nbytes()
