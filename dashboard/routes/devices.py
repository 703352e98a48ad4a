"""Devices: wearables and home sensors, and whom they belong to."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from carewatch.model import Device, upserted
from carewatch.storage.base import Store
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
    """A device, created or replaced; fields left out keep their stored values."""
    devices = store.devices()
    stored = next((d for d in devices if d.device_id == device_id), None)
    device = upserted(stored, Device, {"device_id": device_id, **body.model_dump(exclude_unset=True)})
    _check(store, device, devices)
    store.upsert_devices([device])
    return DevicePublic.of(device)


def _check(store: Store, device: Device, devices: list[Device]) -> None:
    """The device as it would be stored (a resident kept from before must live at its new site too)."""
    if device.site_id not in {s.site_id for s in store.sites()}:
        raise HTTPException(422, f"unknown site {device.site_id}")
    if device.resident_id is not None and device.resident_id not in {
        r.resident_id for r in store.residents(device.site_id)
    }:
        raise HTTPException(422, f"no resident {device.resident_id} at site {device.site_id}")
    if device.friendly_name is not None:
        for other in devices:
            if other.friendly_name == device.friendly_name and other.device_id != device.device_id:
                raise HTTPException(409, f"friendly name {device.friendly_name!r} belongs to {other.device_id}")
