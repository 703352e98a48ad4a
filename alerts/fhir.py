"""FHIR R4 for the clinic: an alert as a Bundle (type collection) of the Patient, a Flag, a Communication and the
LOINC-coded vital-sign Observations behind it (the alert's evidence). A NEWS2 alert carries the score itself: an
Observation coded as the UK's FHIR guides code NEWS2 (SNOMED CT's "Royal College of Physicians NEWS2 total score",
with each parameter's score as a component), derived from the vital-sign Observations of the readings it scored
(their newest readings, ``facts["inputs"]`` of alerts.rules.early_warning). A score from a partial set is a floor:
its value has the comparator ">=" and a note names the parameters not measured.

Plain dicts, JSON-ready; tests validate them with fhir.resources. FHIR JSON has no empty arrays: an element with
nothing in it is left out (the Communication's reasonReference of an alert without vital-sign readings). Resource ids
derive from the alert's id, so a resend of the same alert is the same Bundle.

The Flag's category (the HL7 flag-category code system) says what kind of concern the alert is: "clinical" for the
clinic's business (``is_clinical``: vital signs, NEWS2); "safety" for every other rule (falls, SOS, no activity,
night wandering, the home's smoke, gas and temperature, devices that stopped monitoring): a risk to the resident's
safety, not clinical data. The code system's "behavioral" is for risks from a patient's conduct (aggression), and
"admin" for administrative and financial processes: neither fits a carewatch rule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from carewatch.model import Alert, AlertState, Resident, Severity

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
CLINICAL = {"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}
SAFETY = {"system": FLAG_CATEGORY, "code": "safety", "display": "Safety"}
RESIDENT_SYSTEM = "urn:carewatch:resident"
ALERT_SYSTEM = "urn:carewatch:alert"
MAX_OBSERVATIONS = 30  # the newest readings of the evidence; the full series stays in carewatch's history
NAMESPACE = uuid.UUID("6f0c3a43-8c7e-4e1b-9a43-2f2b8f0e6c11")  # fixed: the same alert gives the same ids

# metric -> (LOINC code, display, UCUM unit); blood pressure travels as the 85354-9 panel with a component each.
VITALS = {
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "hr": ("8867-4", "Heart rate", "/min"),
    "rr": ("9279-1", "Respiratory rate", "/min"),
    "temp": ("8310-5", "Body temperature", "Cel"),
    "sbp": ("8480-6", "Systolic blood pressure", "mm[Hg]"),
    "dbp": ("8462-4", "Diastolic blood pressure", "mm[Hg]"),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
NEWS2 = "Royal College of Physicians NEWS2 (National Early Warning Score 2)"
NEWS2_TOTAL = ("1104051000000101", f"{NEWS2} total score")
# A parameter's score (facts["inputs"] key -> SNOMED CT code, what it scores); SpO2 by the scale the resident is on.
NEWS2_PARTS = {
    "rr": ("1104301000000104", "respiration rate"),
    "spo2": ("1104311000000102", "oxygen saturation scale 1"),
    "spo2_scale2": ("1104321000000108", "oxygen saturation scale 2"),
    "o2": ("1104331000000105", "air or oxygen"),
    "sbp": ("1104341000000101", "systolic blood pressure"),
    "hr": ("1104351000000103", "pulse"),
    "avpu": ("1104361000000100", "consciousness"),
    "temp": ("1104371000000107", "temperature"),
}
SCORE_UNIT = {"unit": "score", "system": UCUM, "code": "{score}"}
PRIORITY = {Severity.CRITICAL: "stat", Severity.URGENT: "asap", Severity.WARNING: "urgent", Severity.INFO: "routine"}


def is_clinical(alert: Alert) -> bool:
    """A vital-sign alert (its evidence is a vital) or an aggregate clinical score: the clinic's business."""
    return alert.evidence.get("metric") in VITALS or alert.rule.startswith("news2")


def alert_bundle(alert: Alert, resident: Resident | None) -> dict[str, Any]:
    patient_url = _urn(f"patient:{alert.resident_id}")
    flag_url = _urn(f"flag:{alert.alert_id}")
    observations = [(_urn(f"obs:{alert.alert_id}:{i}"), o) for i, o in enumerate(_observations(alert, patient_url))]
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": ALERT_SYSTEM, "value": str(alert.alert_id)}],
        "status": "completed",
        "category": [{"text": "alert"}],
        "priority": PRIORITY[alert.severity],
        "subject": {"reference": patient_url},
        "about": [{"reference": flag_url}],
        "sent": _instant(alert.updated_at),
        "payload": [{"contentString": f"{alert.title}: {alert.explanation}"}],
    }
    if observations:
        communication["reasonReference"] = [{"reference": url} for url, _ in observations]
    entries = [
        (patient_url, _patient(alert, resident)),
        (flag_url, _flag(alert, patient_url)),
        (_urn(f"communication:{alert.alert_id}:{alert.state}"), communication),
        *observations,
    ]
    return {
        "resourceType": "Bundle",
        "identifier": {"system": ALERT_SYSTEM, "value": f"{alert.alert_id}:{alert.state}"},
        "type": "collection",
        "timestamp": _instant(alert.updated_at),
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
    }


def _patient(alert: Alert, resident: Resident | None) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": RESIDENT_SYSTEM, "value": alert.resident_id}],
    }
    if resident is not None:
        patient["name"] = [{"text": resident.name}]
        if resident.birth_year is not None:
            patient["birthDate"] = str(resident.birth_year)
    return patient


def _flag(alert: Alert, patient_url: str) -> dict[str, Any]:
    period = {"start": _instant(alert.opened_at)}
    if alert.resolved_at is not None:
        period["end"] = _instant(alert.resolved_at)
    return {
        "resourceType": "Flag",
        "identifier": [{"system": ALERT_SYSTEM, "value": str(alert.alert_id)}],
        "status": "inactive" if alert.state is AlertState.RESOLVED else "active",
        "category": [{"coding": [CLINICAL if is_clinical(alert) else SAFETY]}],
        "code": {"coding": [{"system": "urn:carewatch:rule", "code": alert.rule}], "text": alert.title},
        "subject": {"reference": patient_url},
        "period": period,
    }


def _observations(alert: Alert, patient_url: str) -> list[dict[str, Any]]:
    metric = alert.evidence.get("metric")
    if metric in VITALS:
        readings = alert.evidence.get("readings", [])[-MAX_OBSERVATIONS:]
        return [_vital(metric, float(ts), float(value), patient_url) for ts, value in readings]
    facts = alert.evidence.get("facts", {})
    if alert.rule.startswith("news2") and "total" in facts:
        return _news2(alert, facts, patient_url)
    return []


def _vital(metric: str, ts: float, value: float, patient_url: str) -> dict[str, Any]:
    code, display, unit = VITALS[metric]
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
        "subject": {"reference": patient_url},
        "effectiveDateTime": _instant(ts),
    }
    if metric in ("sbp", "dbp"):
        observation["code"] = {"coding": [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}]}
        observation["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]}, "valueQuantity": quantity}
        ]
    else:
        observation["code"] = {"coding": [{"system": LOINC, "code": code, "display": display}]}
        observation["valueQuantity"] = quantity
    return observation


def _news2(alert: Alert, facts: dict[str, Any], patient_url: str) -> list[dict[str, Any]]:
    """The score's Observation first, then the vital-sign Observations it derives from (its position in the bundle
    is 0, theirs 1..n: alert_bundle numbers the entries in this order)."""
    inputs: dict[str, dict[str, Any]] = facts.get("inputs", {})
    scored = [(m, i) for m, i in inputs.items() if m in VITALS and "value" in i and "time" in i]
    vitals = [_vital(m, float(i["time"]), float(i["value"]), patient_url) for m, i in scored]
    score: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
        "code": {"coding": [{"system": SNOMED, "code": NEWS2_TOTAL[0], "display": NEWS2_TOTAL[1]}]},
        "subject": {"reference": patient_url},
        "effectiveDateTime": _instant(alert.opened_at),
        "valueQuantity": {"value": int(facts["total"]), **SCORE_UNIT}
        | ({"comparator": ">="} if facts.get("floor") else {}),
    }
    components = []
    for metric, one in inputs.items():
        part = "spo2_scale2" if metric == "spo2" and facts.get("spo2_scale") == 2 else metric
        if part in NEWS2_PARTS and "points" in one:
            code, what = NEWS2_PARTS[part]
            coding = {"system": SNOMED, "code": code, "display": f"{NEWS2} - {what} score"}
            components.append(
                {"code": {"coding": [coding]}, "valueQuantity": {"value": int(one["points"]), **SCORE_UNIT}}
            )
    if components:
        score["component"] = components
    if facts.get("missing"):
        missed = ", ".join(NEWS2_PARTS[m][1] if m in NEWS2_PARTS else m for m in facts["missing"])
        score["note"] = [{"text": f"A floor: the parameters measured score this; not measured: {missed}."}]
    if vitals:
        score["derivedFrom"] = [{"reference": _urn(f"obs:{alert.alert_id}:{n}")} for n in range(1, len(vitals) + 1)]
    return [score, *vitals]


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, name)}"


def _instant(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
