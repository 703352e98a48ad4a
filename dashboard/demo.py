"""The embedded demo's users: one per role, with passwords made up at each start and printed by `carewatch demo`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from carewatch.model import Resident
from carewatch.storage.base import Role, Store, User
from dashboard.auth import demo_password, hash_password


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    role: Role
    sees: str


def seed_demo_users(store: Store, residents: Sequence[Resident], relative: Resident) -> list[DemoLogin]:
    """admin; operator and operator2 and a clinician for every site of the residents; family for `relative`.

    Only for the embedded demo: the passwords are printed. Running it again replaces them.
    """
    site_ids = tuple(sorted({r.site_id for r in residents}))
    users = [
        (User("admin", "Demo administrator", Role.ADMIN), "every site"),
        (User("operator", "Zhang Wei (operator)", Role.OPERATOR, site_ids=site_ids), ", ".join(site_ids)),
        (User("operator2", "Li Na (operator)", Role.OPERATOR, site_ids=site_ids), ", ".join(site_ids)),
        (User("clinician", "Dr Chen (clinician)", Role.CLINICIAN, site_ids=site_ids), ", ".join(site_ids)),
        (
            User("family", f"Family of {relative.name}", Role.FAMILY, resident_ids=(relative.resident_id,)),
            relative.name,
        ),
    ]
    logins = []
    for user, sees in users:
        password = demo_password()
        store.save_user(user, hash_password(password))
        logins.append(DemoLogin(user.username, password, user.role, sees))
    return logins
