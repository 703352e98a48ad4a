"""FHIR R4 Observations through `decode` (docs/protocol.md, "FHIR R4 Observations").

Payloads are built and serialised with fhir.resources (8.x: its R4 models are `fhir.resources.R4B`, FHIR 4.3, whose
Observation and Bundle are R4's), so what a real FHIR library emits is what we test; the invalid cases check that
fhir.resources rejects them too, or, where it accepts them, that our stricter rule is the documented one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from carewatch.model import DeadLetter, Device, DeviceKind, ReadingRow, Resident
from carewatch.registry import Registry
from ingest.decode import decode
from ingest.validate import MAX_FUTURE_S, MAX_PAST_S, Accepted

NOW = 1_764_412_800.0
TOPIC = "carewatch/v1/s1/w1/fhir"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def at(ts: float, hours: int = 1) -> str:
    """A FHIR dateTime with a local offset, as a wearable's phone app sends it."""
    return datetime.fromtimestamp(ts, timezone(timedelta(hours=hours))).isoformat()


@pytest.fixture(scope="module")
def registry() -> Registry:
    devices = [
        Device("w1", "s1", DeviceKind.WEARABLE, resident_id="r1"),
        Device("w2", "s1", DeviceKind.WEARABLE, resident_id="r2"),
        Device("spare", "s1", DeviceKind.WEARABLE),  # not handed to anyone yet
    ]
    residents = [Resident("r1", "s1", "Ada"), Resident("r2", "s1", "Bea")]
    return Registry(
        devices={d.device_id: d for d in devices},
        by_friendly_name={},
        residents={r.resident_id: r for r in residents},
    )


def quantity(value: Any, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def concept(code: str, system: str = LOINC) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def observation(loinc: str, value: Any = None, unit: str = "", **fields: Any) -> dict[str, Any]:
    """A vital-signs Observation as a dict, with the elements a real one carries (and we skip)."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"obs-{loinc}",
        "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs",
        }]}],
        "code": concept(loinc),
        "subject": {"reference": "Patient/r1"},
        "effectiveDateTime": at(NOW),
        "device": {"reference": "Device/w1", "display": "wrist band"},
    }  # fmt: skip
    if value is not None:
        resource["valueQuantity"] = quantity(value, unit)
    return resource | fields


def bp_panel(sbp: float | None = 128, dbp: float | None = 82, **fields: Any) -> dict[str, Any]:
    components = [
        {"code": concept(code), "valueQuantity": quantity(value, "mm[Hg]")}
        for code, value in (("8480-6", sbp), ("8462-4", dbp))
        if value is not None
    ]
    return observation("85354-9", component=components, **fields)


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": r} for i, r in enumerate(resources)
        ],
    }


def fhir_json(resource: dict[str, Any]) -> bytes:
    """The resource validated and serialised by fhir.resources: a payload a conformant sender could send."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource).model_dump_json().encode()


def readings(registry: Registry, resource: dict[str, Any], topic: str = TOPIC) -> list[ReadingRow]:
    result = decode(topic, fhir_json(resource), NOW, registry)
    assert isinstance(result, Accepted), result
    assert result.events == [] and result.accel == []
    return result.readings


def rejected(registry: Registry, data: bytes, topic: str = TOPIC) -> DeadLetter:
    result = decode(topic, data, NOW, registry)
    assert isinstance(result, DeadLetter), result
    return result


# Accepted ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "metric", "stored"),
    [
        ("8867-4", 72, "/min", "hr", 72),
        ("8867-4", 64, "{beats}/min", "hr", 64),
        ("59408-5", 97, "%", "spo2", 97),
        ("2708-6", 95, "%", "spo2", 95),
        ("9279-1", 16, "/min", "rr", 16),
        ("9279-1", 18, "{breaths}/min", "rr", 18),
        ("8310-5", 36.65, "Cel", "temp", 36.65),
        ("8310-5", 98.6, "[degF]", "temp", 37.0),
        ("8480-6", 131, "mm[Hg]", "sbp", 131),
        ("8462-4", 79, "mm[Hg]", "dbp", 79),
    ],
)
def test_each_vital_maps_to_its_metric(
    registry: Registry, code: str, value: float, unit: str, metric: str, stored: float
) -> None:
    (row,) = readings(registry, observation(code, value, unit))
    assert (row.metric, row.ts, row.seq) == (metric, NOW, 0)
    assert (row.site_id, row.device_id, row.resident_id) == ("s1", "w1", "r1")
    assert row.value == pytest.approx(stored)
    assert not row.artefact


def test_blood_pressure_panel_gives_systolic_and_diastolic(registry: Registry) -> None:
    panel = bp_panel(142, 91)
    panel["component"] += [
        {"code": concept("8867-4"), "valueQuantity": quantity(77, "/min")},  # the cuff's pulse: kept
        {"code": concept("8478-0"), "valueQuantity": quantity(108, "mm[Hg]")},  # mean arterial pressure: derived
    ]
    assert [(r.metric, r.value) for r in readings(registry, panel)] == [("sbp", 142), ("dbp", 91), ("hr", 77)]


def test_bundle_of_observations(registry: Registry) -> None:
    resources = (
        observation("8867-4", 88, "/min", effectiveDateTime=at(NOW - 120)),
        observation("59408-5", 93, "%", effectiveDateTime=at(NOW - 60, hours=-5)),
        bp_panel(effectiveInstant=datetime.fromtimestamp(NOW - 30, UTC).isoformat(), effectiveDateTime=None),
    )
    for kind in ("collection", "transaction", "batch"):
        entries = bundle(*resources, kind=kind)
        if kind != "collection":
            for entry in entries["entry"]:
                entry["request"] = {"method": "POST", "url": "Observation"}
        rows = readings(registry, entries)
        assert [(r.metric, r.value, r.ts) for r in rows] == [
            ("hr", 88, NOW - 120), ("spo2", 93, NOW - 60), ("sbp", 128, NOW - 30), ("dbp", 82, NOW - 30),
        ]  # fmt: skip


@pytest.mark.parametrize("status", ["final", "amended", "corrected", "preliminary"])
def test_stored_statuses(registry: Registry, status: str) -> None:
    assert len(readings(registry, observation("8867-4", 72, "/min", status=status))) == 1


def test_impossible_value_is_kept_as_an_artefact(registry: Registry) -> None:
    (row,) = readings(registry, observation("59408-5", 31, "%"))
    assert (row.value, row.artefact) == (31, True)


@pytest.mark.parametrize(
    "refs",
    [
        {"subject": None, "device": None},
        {"subject": {"reference": "Patient/r1"}, "device": {"reference": "Device/w1"}},
        {"subject": {"reference": "https://ehr.example/fhir/Patient/r1/_history/3"}},
        {"subject": {"reference": "Device/w1"}},  # the device observing itself
        {"subject": {"reference": "urn:uuid:3f1c0c1e-0000-4000-8000-000000000001"}},  # bundle-local: not comparable
        {"subject": {"identifier": {"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "999"}}},
        {"device": {"reference": "#sensor"}},
        {"device": {"reference": "DeviceMetric/spo2-channel"}},
    ],
    ids=["none", "both", "absolute", "device subject", "urn", "identifier", "contained", "device metric"],
)
def test_references_that_do_not_contradict_the_topic(registry: Registry, refs: dict[str, Any]) -> None:
    resource = {k: v for k, v in observation("8867-4", 72, "/min").items() if k not in refs} | {
        k: v for k, v in refs.items() if v is not None
    }
    assert len(readings(registry, resource)) == 1


# Rejected ---------------------------------------------------------------------------------------------------------


OTHER_PATIENT = {"reference": "Patient/r2"}


@pytest.mark.parametrize(
    ("topic", "resource"),
    [
        (TOPIC, observation("8867-4", 72, "/min", subject=OTHER_PATIENT)),
        (TOPIC, observation("8867-4", 72, "/min", subject={"reference": "https://ehr.example/fhir/Patient/r2"})),
        (TOPIC, observation("8867-4", 72, "/min", subject={"reference": "Group/ward-3"})),
        (TOPIC, observation("8867-4", 72, "/min", subject={"reference": "Device/w2"})),
        (TOPIC, observation("8867-4", 72, "/min", device={"reference": "Device/w2"})),
        ("carewatch/v1/s1/spare/fhir", observation("8867-4", 72, "/min", device={"reference": "Device/spare"})),
        ("carewatch/v1/s2/w1/fhir", observation("8867-4", 72, "/min")),  # the topic names another site
        (TOPIC, bundle(observation("8867-4", 72, "/min"), observation("8867-4", 75, "/min", subject=OTHER_PATIENT))),
    ],
    ids=["other patient", "other patient, absolute", "group", "other device as subject", "other device",
         "device without resident", "other site", "one entry of a bundle"],
)  # fmt: skip
def test_contradicting_references_are_spoofing(registry: Registry, topic: str, resource: dict[str, Any]) -> None:
    assert rejected(registry, fhir_json(resource), topic).reason == "spoofed_topic"


def test_unknown_device_topic(registry: Registry) -> None:
    data = fhir_json(observation("8867-4", 72, "/min"))
    assert rejected(registry, data, "carewatch/v1/s1/w404/fhir").reason == "unknown_device"


# fhir.resources accepts these; we reject them by the rules of docs/protocol.md.
POLICY_REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("entered in error", observation("8867-4", 72, "/min", status="entered-in-error"), "bad_status"),
    ("cancelled", observation("8867-4", 72, "/min", status="cancelled"), "bad_status"),
    ("registered", observation("8867-4", 72, "/min", status="registered"), "bad_status"),
    ("date only", observation("8867-4", 72, "/min", effectiveDateTime="2025-11-29"), "bad_schema"),
    ("year-month only", observation("8867-4", 72, "/min", effectiveDateTime="2025-11"), "bad_schema"),
    ("no effective time", observation("8867-4", 72, "/min", effectiveDateTime=None), "bad_schema"),
    ("period", observation("8867-4", 72, "/min", effectiveDateTime=None, effectivePeriod={"start": at(NOW)}),
     "bad_schema"),
    ("unsupported LOINC", observation("29463-7", 61, "kg"), "bad_schema"),
    ("no LOINC coding", observation("8867-4", 72, "/min", code=concept("364075005", "http://snomed.info/sct")),
     "bad_schema"),
    ("no value", observation("8867-4", dataAbsentReason=concept("asked-unknown")), "bad_schema"),
    ("comparator", observation("59408-5", 70, "%", valueQuantity=quantity(70, "%") | {"comparator": "<"}),
     "bad_schema"),
    ("panel without diastolic", bp_panel(dbp=None), "bad_schema"),
    ("panel without components", bp_panel(sbp=None, dbp=None), "bad_schema"),
    ("searchset bundle", bundle(observation("8867-4", 72, "/min"), kind="searchset"), "bad_schema"),
    ("bundle with a Patient", bundle(observation("8867-4", 72, "/min"), {"resourceType": "Patient", "id": "r1"}),
     "bad_schema"),
    ("empty bundle", {"resourceType": "Bundle", "type": "collection"}, "bad_schema"),
    ("not an Observation", {"resourceType": "Patient", "id": "r1"}, "bad_schema"),
    ("hr in kg", observation("8867-4", 72, "kg"), "bad_unit"),
    ("temperature in kelvin", observation("8310-5", 310, "K"), "bad_unit"),
    ("unit text only", observation("8867-4", valueQuantity={"value": 72, "unit": "beats/minute"}), "bad_unit"),
    ("not UCUM", observation("8867-4", valueQuantity=quantity(72, "/min") | {"system": "http://acme.example/units"}),
     "bad_unit"),
    ("future", observation("8867-4", 72, "/min", effectiveDateTime=at(NOW + MAX_FUTURE_S + 1)), "ts_out_of_range"),
    ("past", observation("8867-4", 72, "/min", effectiveDateTime=at(NOW - MAX_PAST_S - 1)), "ts_out_of_range"),
    ("bad second entry", bundle(observation("8867-4", 72, "/min"), observation("8867-4", 72, "kg")), "bad_unit"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "reason"), [r[1:] for r in POLICY_REJECTIONS], ids=[r[0] for r in POLICY_REJECTIONS]
)
def test_valid_fhir_that_we_do_not_store(registry: Registry, resource: dict[str, Any], reason: str) -> None:
    resource = {k: v for k, v in resource.items() if v is not None}
    letter = rejected(registry, fhir_json(resource))  # fhir_json: fhir.resources accepts it
    assert letter.reason == reason, letter.detail


# Neither fhir.resources nor we accept these.
INVALID_FHIR: list[tuple[str, dict[str, Any]]] = [
    ("naive time", observation("8867-4", 72, "/min", effectiveDateTime="2025-11-29T10:40:00")),
    ("value not a number", observation("8867-4", valueQuantity=quantity("fast", "/min"))),
    ("no status", observation("8867-4", 72, "/min", status=None)),
    ("no code", observation("8867-4", 72, "/min", code=None)),
    ("bundle entry not a resource", {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": 7}]}),
]  # fmt: skip


@pytest.mark.parametrize("resource", [r[1] for r in INVALID_FHIR], ids=[r[0] for r in INVALID_FHIR])
def test_invalid_fhir_is_rejected_by_both(registry: Registry, resource: dict[str, Any]) -> None:
    resource = {k: v for k, v in resource.items() if v is not None}
    model = Bundle if resource.get("resourceType") == "Bundle" else Observation
    with pytest.raises(ValidationError):
        model.model_validate(resource)
    assert rejected(registry, json.dumps(resource).encode()).reason == "bad_schema"


def test_json_rules_that_fhir_resources_relaxes(registry: Registry) -> None:
    """FHIR JSON requires `resourceType` and writes decimals as numbers; fhir.resources' models let both slide (and
    write them back correctly), the wire decoder does not."""
    no_type = {k: v for k, v in observation("8867-4", 72, "/min").items() if k != "resourceType"}
    string_value = observation("8867-4", valueQuantity=quantity("72", "/min"))
    for resource in (no_type, string_value):
        Observation.model_validate(resource)
        assert rejected(registry, json.dumps(resource).encode()).reason == "bad_schema"


def test_overflowing_value_is_not_finite(registry: Registry) -> None:
    data = fhir_json(observation("8867-4", 72, "/min")).replace(b'"value":72', b'"value":1e400')
    assert b"1e400" in data
    assert rejected(registry, data).reason == "not_finite"


def test_malformed_json(registry: Registry) -> None:
    assert rejected(registry, fhir_json(observation("8867-4", 72, "/min"))[:-2]).reason == "malformed_json"


def test_dead_letter_names_the_bundle_entry(registry: Registry) -> None:
    data = fhir_json(
        bundle(observation("8867-4", 72, "/min"), observation("8867-4", 72, "/min", status="entered-in-error"))
    )
    letter = rejected(registry, data)
    assert (letter.reason, letter.topic) == ("bad_status", TOPIC)
    assert letter.detail.startswith("entry[1]: status 'entered-in-error'")
