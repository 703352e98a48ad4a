"""Who may do what (roles -> permissions) and see whom (a user's scope). docs/architecture.md has the table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from carewatch.model import Alert, Resident
from carewatch.storage.base import Role, User


class Permission(StrEnum):
    READ = "read"  # residents, vitals, history and alerts within the scope
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    SNOOZE = "snooze"
    READ_CARE_TEAM = "read_care_team"  # devices, contacts, thresholds of residents within the scope
    SET_THRESHOLDS = "set_thresholds"
    SYSTEM = "system"  # ingest rates, backlog, dead letters
    ADMINISTER = "administer"  # users, sites, residents, devices, contacts


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(Permission) - {Permission.SET_THRESHOLDS, Permission.ADMINISTER},
    Role.CLINICIAN: frozenset(
        {Permission.READ, Permission.ACKNOWLEDGE, Permission.READ_CARE_TEAM, Permission.SET_THRESHOLDS}
    ),
    Role.FAMILY: frozenset({Permission.READ}),
}


def allowed(user: User, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[user.role]


@dataclass(frozen=True, slots=True)
class Scope:
    """The residents a user may see: every one (admin), those of some sites (operator, clinician), or some residents
    (family). `site_ids` / `resident_ids` are None where that dimension does not restrict."""

    site_ids: frozenset[str] | None
    resident_ids: frozenset[str] | None

    @classmethod
    def of(cls, user: User) -> Scope:
        if user.role is Role.ADMIN:
            return cls(None, None)
        if user.role is Role.FAMILY:
            return cls(None, frozenset(user.resident_ids))
        return cls(frozenset(user.site_ids), None)

    @property
    def everything(self) -> bool:
        return self.site_ids is None and self.resident_ids is None

    def sees(self, resident: Resident) -> bool:
        return self.sees_ids(resident.resident_id, resident.site_id)

    def sees_alert(self, alert: Alert) -> bool:
        return self.sees_ids(alert.resident_id, alert.site_id)

    def sees_ids(self, resident_id: str, site_id: str) -> bool:
        if self.site_ids is not None and site_id not in self.site_ids:
            return False
        return self.resident_ids is None or resident_id in self.resident_ids

    def sees_site(self, site_id: str) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def residents(self, residents: Iterable[Resident]) -> list[Resident]:
        return [r for r in residents if self.sees(r)]
