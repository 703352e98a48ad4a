"""What a scenario is: an incident for one resident over a time window, changing what their devices report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What a scenario injected, and which rule should fire for it."""

    resident_id: str
    scenario: str
    start: float
    end: float
    expected_rule: str

    def as_json(self) -> dict[str, Any]:
        return {"resident_id": self.resident_id, "scenario": self.scenario, "start": self.start, "end": self.end,
                "expected_rule": self.expected_rule}  # fmt: skip


class Scenario(Protocol):
    truth: GroundTruth

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        """The resident's vitals at time t, given what they would have been without the incident."""
