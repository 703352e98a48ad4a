"""Devices: wearables and home sensors, and whom they belong to."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from carewatch.model import Device
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep
from dashboard.schemas import DevicePublic, DeviceUpsert, Id

router = APIRouter(prefix="/api/devices", tags=["registry"])


@router.get("")
def list_devices(
    _: CareTeam, scope: ScopeDep, store: StoreDep, site_id: str | None = None, resident_id: str | None = None
) -> list[DevicePublic]:
    return [
        DevicePublic.of(d) for d in store.devices()
        if scope.sees_site(d.site_id) and (site_id is None or d.site_id == site_id)
        and (resident_id is None or d.resident_id == resident_id)
    ]  # fmt: skip


@router.put(
    "/{device_id}",
    responses={409: {"description": "friendly name taken"}, 422: {"description": "unknown site or resident"}},
)
def put_device(device_id: Id, body: DeviceUpsert, _: Admin, store: StoreDep) -> DevicePublic:
    if body.site_id not in {s.site_id for s in store.sites()}:
        raise HTTPException(422, f"unknown site {body.site_id}")
    if body.resident_id is not None and body.resident_id not in {r.resident_id for r in store.residents(body.site_id)}:
        raise HTTPException(422, f"no resident {body.resident_id} at site {body.site_id}")
    if body.friendly_name is not None:
        for other in store.devices():
            if other.friendly_name == body.friendly_name and other.device_id != device_id:
                raise HTTPException(409, f"friendly name {body.friendly_name!r} belongs to {other.device_id}")
    device = Device(device_id, body.site_id, body.kind, body.resident_id, body.room, body.friendly_name)
    store.upsert_devices([device])
    return DevicePublic.of(device)
