"""FHIR R4 Observations from wearables: `carewatch/v1/<site>/<device>/fhir` -> reading rows.

Decoded with msgspec structs that hold only the elements we use (the rest of the resource is skipped unparsed);
fhir.resources, far slower, is used in the tests only, to check that what it accepts as an R4 Observation we
accept and map right. docs/protocol.md, "FHIR R4 Observations", is the contract. Decisions:

- Payload: one Observation, or a Bundle (`collection`, `transaction` or `batch`) whose entries are all
  Observations. A message is accepted or rejected whole, like a carewatch batch: one bad entry rejects the Bundle,
  and the dead letter names the entry.
- Codes: the first LOINC coding that is in `VITALS` (or the blood pressure panel) decides the metric; an
  Observation with no such coding is `bad_schema` (we would rather tell the sender than drop a vital sign).
  In a panel (85354-9) the systolic (8480-6) and diastolic (8462-4) components are required; components with
  another code of `VITALS` (a cuff's pulse, 8867-4) are stored too; others (mean arterial pressure) are not.
- Units: `valueQuantity.code` must be one of the UCUM codes listed for the metric (the display `unit` is not
  read), and `system`, when given, must be UCUM; else `bad_unit`. `[degF]` is converted. A `comparator` (`<`,
  `>=`, ...) makes the value a bound, not a measurement: `bad_schema`.
- Status: `final`, `amended`, `corrected`, `preliminary` are stored; anything else (`entered-in-error`,
  `cancelled`, `registered`, `unknown`) is `bad_status`: nobody vouches for that value.
- Time: `effectiveDateTime` or `effectiveInstant`, with a time and a time zone (a date alone, or a naive time, is
  `bad_schema`); the same window as the carewatch protocol applies (`ts_out_of_range`). Rows carry seq 0: FHIR has
  no message counter, and duplicates are removed on (device, metric, effective time). So a correction that keeps
  the effective time of the value it corrects is dropped as a duplicate (first write wins).
- Spoofing: the topic names the device, and the registry its site and resident. A literal reference
  (`Type/id`, relative or absolute, optionally `/_history/n`) must not contradict them: `subject` must be
  `Patient/<the device's resident>` or `Device/<the device>`, and `device` must be `Device/<the device>` (a
  `DeviceMetric` reference is not checked); otherwise `spoofed_topic`. So a device with no resident cannot report
  for a patient. Contained (`#...`) and bundle-local (`urn:uuid:...`) references, and references by `identifier`
  or `display` only, are in the sender's id space and are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from carewatch.model import ReadingRow
from ingest.validate import MAX_BATCH, Accepted, Rejected, Source, check_time, decode_json, reading_row

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
STORED_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
NO_SEQ = 0


@dataclass(frozen=True, slots=True)
class Vital:
    metric: str
    units: Mapping[str, str]  # accepted UCUM code -> the unit `reading_row` takes for it


VITALS: dict[str, Vital] = {
    "8867-4": Vital("hr", {"/min": "bpm", "{beats}/min": "bpm"}),
    "59408-5": Vital("spo2", {"%": "%"}),  # SpO2 by pulse oximetry
    "2708-6": Vital("spo2", {"%": "%"}),  # oxygen saturation in arterial blood (the vital-signs profile's base code)
    "9279-1": Vital("rr", {"/min": "/min", "{breaths}/min": "/min"}),
    "8310-5": Vital("temp", {"Cel": "Cel", "[degF]": "[degF]"}),
    "8480-6": Vital("sbp", {"mm[Hg]": "mmHg"}),
    "8462-4": Vital("dbp", {"mm[Hg]": "mmHg"}),
}
BP_PANEL = "85354-9"
BP_REQUIRED = ("8480-6", "8462-4")


class Coding(msgspec.Struct):
    system: str | None = None
    code: str | None = None


class CodeableConcept(msgspec.Struct):
    coding: list[Coding] = []


class Quantity(msgspec.Struct):
    value: float | None = None
    comparator: str | None = None
    system: str | None = None
    code: str | None = None


class Reference(msgspec.Struct):
    reference: str | None = None


class Component(msgspec.Struct, rename="camel"):
    code: CodeableConcept
    value_quantity: Quantity | None = None


Instant = Annotated[datetime, msgspec.Meta(tz=True)]


class Observation(msgspec.Struct, tag_field="resourceType", tag="Observation", rename="camel"):
    status: str
    code: CodeableConcept
    effective_date_time: Instant | None = None
    effective_instant: Instant | None = None
    value_quantity: Quantity | None = None
    component: list[Component] = []
    subject: Reference | None = None
    device: Reference | None = None


class Entry(msgspec.Struct):
    resource: Observation


class Bundle(msgspec.Struct, tag_field="resourceType", tag="Bundle"):
    type: Literal["collection", "transaction", "batch"]
    entry: Annotated[list[Entry], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


DECODER = msgspec.json.Decoder(Observation | Bundle)


def decode_observations(payload: bytes, received_at: float, source: Source) -> Accepted:
    """An Observation or a Bundle of them, from the device `source` names: its reading rows, or `Rejected`."""
    message = decode_json(DECODER, payload)
    if isinstance(message, Observation):
        return Accepted(_rows(message, "Observation", source, received_at), [], [])
    rows = []
    for i, entry in enumerate(message.entry):
        rows.extend(_rows(entry.resource, f"entry[{i}]", source, received_at))
    return Accepted(rows, [], [])


def _rows(obs: Observation, where: str, source: Source, received_at: float) -> list[ReadingRow]:
    if obs.status not in STORED_STATUSES:
        raise Rejected("bad_status", f"{where}: status {obs.status[:30]!r} is not one of {sorted(STORED_STATUSES)}")
    _check_references(obs, where, source)
    effective = obs.effective_date_time or obs.effective_instant
    if effective is None:
        raise Rejected("bad_schema", f"{where}: effectiveDateTime (a time with a time zone) is required")
    ts = check_time(effective.timestamp(), received_at)
    code = _loinc(obs.code, where)
    if code != BP_PANEL:
        return [_reading(code, obs.value_quantity, where, source, ts)]
    rows, found = [], set()
    for component in obs.component:
        component_code = next((c.code for c in component.code.coding if c.system == LOINC and c.code in VITALS), None)
        if component_code is not None:
            rows.append(_reading(component_code, component.value_quantity, where, source, ts))
            found.add(component_code)
    missing = [c for c in BP_REQUIRED if c not in found]
    if missing:
        raise Rejected("bad_schema", f"{where}: blood pressure panel without component(s) {missing}")
    return rows


def _loinc(concept: CodeableConcept, where: str) -> str:
    codes = [c.code for c in concept.coding if c.system == LOINC and c.code]
    for code in codes:
        if code in VITALS or code == BP_PANEL:
            return code
    if codes:
        raise Rejected("bad_schema", f"{where}: LOINC code(s) {[c[:20] for c in codes[:5]]} not supported")
    raise Rejected("bad_schema", f"{where}: no LOINC coding")


def _reading(code: str, quantity: Quantity | None, where: str, source: Source, ts: float) -> ReadingRow:
    vital = VITALS[code]
    if quantity is None or quantity.value is None:
        raise Rejected("bad_schema", f"{where}: {code} ({vital.metric}) has no valueQuantity.value")
    if quantity.comparator is not None:
        raise Rejected("bad_schema", f"{where}: {code} value is a bound ({quantity.comparator[:4]!r}), not a value")
    unit = vital.units.get(quantity.code or "")
    if unit is None or (quantity.system is not None and quantity.system != UCUM):
        got = f"{(quantity.system or '')[:40]}|{(quantity.code or '')[:20]}"
        raise Rejected("bad_unit", f"{where}: {code} ({vital.metric}) needs UCUM {sorted(vital.units)}, got {got!r}")
    return reading_row(source, vital.metric, quantity.value, unit, ts, NO_SEQ)


def _check_references(obs: Observation, where: str, source: Source) -> None:
    subject = _literal(obs.subject)
    if subject is not None and subject not in (("Patient", source.resident_id), ("Device", source.device_id)):
        raise Rejected(
            "spoofed_topic",
            f"{where}: subject {'/'.join(subject)[:100]!r} is neither the device's resident "
            f"({source.resident_id!r}) nor the device {source.device_id!r}",
        )
    device = _literal(obs.device)
    if device is not None and device[0] != "DeviceMetric" and device != ("Device", source.device_id):
        raise Rejected("spoofed_topic", f"{where}: device {'/'.join(device)[:100]!r} is not {source.device_id!r}")


def _literal(ref: Reference | None) -> tuple[str, str] | None:
    """(type, id) of a literal reference (`Patient/p1`, `https://host/fhir/Patient/p1/_history/2`); None when
    there is none to compare (absent, contained `#x`, bundle-local `urn:uuid:...`, or not of the `Type/id` form)."""
    if ref is None or not ref.reference or ref.reference.startswith(("#", "urn:")):
        return None
    parts = ref.reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return parts[-2], parts[-1]
