"""Tests of simulators.world, floorplans and population: the shape of simulated worlds and their manifests."""

from __future__ import annotations

from collections import Counter

import pytest

from carewatch.model import Device, DeviceKind, Resident, Site, SiteKind
from simulators.floorplans import ROOMS_PER_FLOOR, build_world
from simulators.population import Population, make_population
from simulators.profiles import COPD
from simulators.state import NO_DEVICE, Room
from simulators.world import IDENTIFIER, World

HOME_DEVICES = Counter({"motion": 5, "environment": 3, "wearable": 1, "sos_button": 1, "door": 1, "bed": 1,
                        "chair": 1, "bathroom": 1, "smoke": 1, "gas": 1, "water": 1})  # fmt: skip


def test_a_home_has_the_floor_plan_and_its_sensors() -> None:
    world = build_world("home", 2, 1, seed=3)
    assert [s.kind for s in world.sites] == ["home", "home"]
    site = world.sites[0].site_id
    assert Counter(d.kind for d in world.devices if d.site_id == site) == HOME_DEVICES
    rooms = {p.label for p in world.places if p.site_id == site}
    assert rooms == {"bedroom", "bathroom", "kitchen", "living_room", "hall", "outside"}
    door = next(d for d in world.devices if d.site_id == site and d.kind == "door")
    assert {world.places[p].label for p in door.inside} == rooms - {"outside"}
    assert all(d.resident == 0 for d in world.devices if d.site_id == site)  # one resident: every sensor is theirs


def test_a_couple_shares_the_home_sensors() -> None:
    world = build_world("home", 1, 2, seed=3)
    own = Counter(d.kind for d in world.devices if d.resident != NO_DEVICE)
    assert own == Counter({"wearable": 2, "sos_button": 2, "bed": 2, "chair": 2})
    assert {d.kind for d in world.devices if d.resident == NO_DEVICE} >= {"motion", "door", "smoke"}
    assert world.residents[0].places == world.residents[1].places


@pytest.mark.parametrize("kind", ["care_institution", "community_station"])
def test_care_sites_give_each_resident_a_room(kind: str) -> None:
    world = build_world(kind, 1, ROOMS_PER_FLOOR + 5, seed=2)
    kinds = Counter(d.kind for d in world.devices)
    n = ROOMS_PER_FLOOR + 5
    assert kinds["wearable"] == kinds["bed"] == kinds["sos_button"] == n
    assert kinds["door"] == n + 1  # every room's door and the entrance
    assert sum(1 for p in world.places if p.label.startswith("corridor-")) == 2
    first = world.residents[0]
    assert world.places[first.places[Room.BEDROOM]].label == "101/bedroom"
    assert world.places[first.places[Room.KITCHEN]].label == "dining"
    assert world.places[world.residents[ROOMS_PER_FLOOR].places[Room.HALL]].label == "corridor-2"


def test_manifest_fits_the_registry() -> None:
    world = World.merge([build_world("home", 2, 1, 1, zigbee=True),
                         build_world("care_institution", 1, 4, 1, prefix="ci")])  # fmt: skip
    manifest = world.manifest()
    sites = [Site(**{**s, "kind": SiteKind(s["kind"])}) for s in manifest["sites"]]
    residents = [Resident(**r) for r in manifest["residents"]]
    devices = [Device(**{**d, "kind": DeviceKind(d["kind"])}) for d in manifest["devices"]]
    assert {s.kind for s in sites} == {SiteKind.HOME, SiteKind.CARE_INSTITUTION}
    assert len(residents) == 6 and all(r.spo2_scale in (1, 2) for r in residents)
    assert len({d.device_id for d in devices}) == len(devices)
    assert all(IDENTIFIER.fullmatch(d.device_id) and IDENTIFIER.fullmatch(d.site_id) for d in devices)
    known = {r.resident_id for r in residents}
    assert all(d.resident_id is None or d.resident_id in known for d in devices)
    assert all(d.room for d in devices if d.kind is not DeviceKind.WEARABLE)


def test_zigbee_mode_names_every_room_sensor() -> None:
    world = build_world("home", 2, 2, 1, zigbee=True)
    named = [d for d in world.devices if d.friendly_name]
    assert {d.kind for d in named} == set(HOME_DEVICES) - {"wearable"}
    assert all(d.friendly_name.startswith(f"{d.site_id}/") for d in named if d.friendly_name)
    assert "sim-h00001/bedroom_motion" in {d.friendly_name for d in named}
    assert len({d.friendly_name for d in named}) == len(named)
    assert not any(d.friendly_name for d in build_world("home", 1, 1, 1).devices)


def test_worlds_are_deterministic_and_sites_independent_of_count() -> None:
    assert build_world("home", 3, 1, 9) == build_world("home", 3, 1, 9)
    assert build_world("home", 3, 1, 9).residents[:1] == build_world("home", 1, 1, 9).residents
    assert build_world("home", 3, 1, 9) != build_world("home", 3, 1, 10)


def test_population_has_chronic_profiles() -> None:
    world = build_world("home", 400, 1, 1)
    copd = [r for r in world.residents if COPD in r.conditions]
    assert 20 <= len(copd) <= 65
    assert all(85 <= r.baseline["spo2"] <= 93 for r in copd)
    assert {r.spo2_scale for r in copd} == {1, 2} and all(r.spo2_scale == 1 for r in world.residents if r not in copd)
    htn = [r.baseline["sbp"] for r in world.residents if "hypertension" in r.conditions]
    normal = [r.baseline["sbp"] for r in world.residents if "hypertension" not in r.conditions]
    assert sum(htn) / len(htn) > sum(normal) / len(normal) + 15
    assert any("atrial_fibrillation" in r.conditions for r in world.residents)


def test_residents_on_home_oxygen_are_on_spo2_scale_2() -> None:
    """Their prescribed target is 88-92 %: on scale 1 their ordinary SpO2 and the oxygen alone score 5 (seed 16)."""
    residents = [r for seed in range(1, 6) for r in build_world("home", 400, 1, seed).residents]
    on_oxygen = [r for r in residents if r.on_oxygen]
    assert len(on_oxygen) >= 20 and all(r.spo2_scale == 2 for r in on_oxygen)
    assert all(COPD in r.conditions for r in on_oxygen)


def test_legacy_population() -> None:
    population = make_population(12, seed=4, site_id="st", site_name="Station")
    assert isinstance(population, Population)
    manifest = population.manifest()
    assert manifest["sites"] == [{"site_id": "st", "name": "Station", "kind": "community_station", "timezone": "UTC"}]
    assert [d["kind"] for d in manifest["devices"]] == ["wearable"] * 12
    assert population.residents[3].wearable_id in {d["device_id"] for d in manifest["devices"]}
    assert make_population(12, seed=4, site_id="st") == make_population(12, seed=4, site_id="st")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        build_world("castle", 1)
    with pytest.raises(ValueError, match="ids must match"):
        build_world("home", 1, prefix="bad prefix")
    with pytest.raises(ValueError, match="duplicate"):
        World.merge([build_world("home", 1), build_world("home", 1)])
