"""Request and response models of the API (pydantic at the edge; internal types stay dataclasses)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from carewatch.model import Alert, AlertState, Resident, Severity


class ResidentPublic(BaseModel):
    resident_id: str
    site_id: str
    name: str
    room: str | None
    spo2_scale: int
    latest: dict[str, tuple[float, float]] = Field(description="metric -> (epoch seconds, value)")

    @classmethod
    def of(cls, resident: Resident, latest: dict[str, tuple[float, float]]) -> ResidentPublic:
        return cls(
            resident_id=resident.resident_id, site_id=resident.site_id, name=resident.name, room=resident.room,
            spo2_scale=resident.spo2_scale, latest=latest,
        )  # fmt: skip


class AlertPublic(BaseModel):
    alert_id: int
    resident_id: str
    site_id: str
    rule: str
    severity: Severity
    state: AlertState
    opened_at: float
    updated_at: float
    title: str
    explanation: str
    evidence: dict[str, object]
    acknowledged_at: float | None
    acknowledged_by: str | None
    resolved_at: float | None
    resolved_by: str | None

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        return cls.model_validate(alert, from_attributes=True)


class AlertAction(BaseModel):
    actor: str = Field(min_length=1, max_length=100, description="who acts (until login lands: free text)")
    note: str = Field(default="", max_length=2000)


class ReadingsPublic(BaseModel):
    resident_id: str
    metric: str
    points: list[tuple[float, float]]
