"""Which incidents are active at a tick: kept in order of start, so a tick looks only at the few that matter."""

from __future__ import annotations

from collections.abc import Sequence

from simulators.scenarios.base import Incident


class Schedule:
    """Incidents by ``active_from``; ``active`` must be called with non-decreasing times."""

    def __init__(self, incidents: Sequence[Incident]) -> None:
        self._pending = sorted(incidents, key=lambda incident: incident.active_from)
        self._next = 0
        self._active: list[Incident] = []

    def active(self, t: float, dt: float) -> list[Incident]:
        """Incidents whose active interval overlaps the tick ``[t, t + dt)``, in order of start."""
        while self._next < len(self._pending) and self._pending[self._next].active_from < t + dt:
            self._active.append(self._pending[self._next])
            self._next += 1
        self._active = [incident for incident in self._active if incident.active_until > t]
        return self._active
