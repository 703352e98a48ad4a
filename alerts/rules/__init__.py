"""The rule registry: rules are data, each an entry here evaluated for all residents at once."""

from __future__ import annotations

from alerts.rules.base import Findings, Rule, VitalsFrame
from alerts.rules.threshold import ThresholdRule, ThresholdSpec
from carewatch.model import Resident, Severity

__all__ = ["Findings", "Rule", "VitalsFrame", "default_rules"]


def _spo2_targets(resident: Resident) -> tuple[float, float]:
    # BTS 2017 oxygen guideline: target 94-98 %, or 88-92 % in hypercapnic respiratory failure (NEWS2 SpO2 scale 2).
    return (86.0, 88.0) if resident.spo2_scale == 2 else (90.0, 92.0)


SPO2_LOW = ThresholdSpec(
    name="spo2_low", metric="spo2", below=True, enter=90.0, leave=92.0, persist_s=60.0, max_gap_s=120.0,
    severity=Severity.URGENT, for_resident=_spo2_targets,
    source="BTS 2017 emergency oxygen guideline (SpO2 < 90 % is hypoxaemia; 4 points under the 94 % target floor; "
    "88-92 % target for NEWS2 scale 2 residents, alert below 86 %); 60 s persistence filters motion artefacts",
)  # fmt: skip


def default_rules() -> list[Rule]:
    """A fresh instance of every rule (each holds its own per-resident state)."""
    return [ThresholdRule(SPO2_LOW)]
