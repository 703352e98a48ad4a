"""Sites, residents, devices and contacts; readings, the latest of them, bucketed history of one resident; dead
letters and table counts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from carewatch.catalog import METRIC_BY_NAME
from carewatch.model import Contact, ContactLink, ContactRole, DeadLetter, Device, DeviceKind, Resident, Site, SiteKind
from carewatch.storage.base import COUNTABLE_TABLES, MAX_HISTORY_ROWS, Bucket
from carewatch.storage.sql._core import BUCKET_EXPRESSIONS, CONTACT_UNTIED, SqlCore, placeholders, site_filter

# What goes with a contact besides their links (every table that refers to contacts, schema.sql): past shifts only,
# once delete_contact has refused those not yet over. Their deliveries and outbox rows keep the id (the audit trail).
CONTACTS_OWN = ("on_call_shifts", "contact_rules", "contact_preferences", "contact_channels")
LATEST_LOOKBACK_S = 6 * 3600  # "latest" means within the last hours; older data is history, not the current state


class RegistrySql(SqlCore):
    def upsert_sites(self, sites: Sequence[Site]) -> None:
        self._upsert_registry(
            "INSERT INTO sites (site_id, name, kind, timezone) VALUES (?, ?, ?, ?) ON CONFLICT (site_id) DO UPDATE"
            " SET name = excluded.name, kind = excluded.kind, timezone = excluded.timezone",
            [(s.site_id, s.name, s.kind.value, s.timezone) for s in sites],
        )

    def upsert_residents(self, residents: Sequence[Resident]) -> None:
        self._upsert_registry(
            "INSERT INTO residents (resident_id, site_id, name, room, birth_year, spo2_scale) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (resident_id) DO UPDATE SET site_id = excluded.site_id, name = excluded.name,"
            " room = excluded.room, birth_year = excluded.birth_year, spo2_scale = excluded.spo2_scale",
            [(r.resident_id, r.site_id, r.name, r.room, r.birth_year, r.spo2_scale) for r in residents],
        )

    def upsert_devices(self, devices: Sequence[Device]) -> None:
        self._upsert_registry(
            "INSERT INTO devices (device_id, site_id, kind, resident_id, room, friendly_name) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET site_id = excluded.site_id, kind = excluded.kind,"
            " resident_id = excluded.resident_id, room = excluded.room, friendly_name = excluded.friendly_name",
            [(d.device_id, d.site_id, d.kind.value, d.resident_id, d.room, d.friendly_name) for d in devices],
        )

    def _upsert_registry(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Upsert the rows and raise the registry's generation in the same transaction: whoever reads the new
        generation also reads the rows (a bump committed apart from them could be read, and the registry reread,
        without them, and the change then missed)."""
        if rows:
            with self._transaction() as cur:
                cur.executemany(self._sql(statement), rows)
                cur.execute("UPDATE registry_generation SET generation = generation + 1 WHERE id = 1")

    def registry_generation(self) -> int:
        return int(self._run("SELECT generation FROM registry_generation WHERE id = 1")[0][0])

    def upsert_contacts(self, contacts: Sequence[Contact], links: Sequence[ContactLink]) -> None:
        self._upsert(
            "INSERT INTO contacts (contact_id, name, role, email, phone) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (contact_id) DO UPDATE SET name = excluded.name, role = excluded.role,"
            " email = excluded.email, phone = excluded.phone",
            [(c.contact_id, c.name, c.role.value, c.email, c.phone) for c in contacts],
        )
        self._upsert(
            "INSERT INTO resident_contacts (resident_id, contact_id, relation, priority) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (resident_id, contact_id) DO UPDATE SET relation = excluded.relation,"
            " priority = excluded.priority",
            [(k.resident_id, k.contact_id, k.relation, k.priority) for k in links],
        )

    def sites(self) -> list[Site]:
        rows = self._run("SELECT site_id, name, kind, timezone FROM sites ORDER BY site_id")
        return [Site(r[0], r[1], SiteKind(r[2]), r[3]) for r in rows]

    def residents(self, site_id: str | None = None) -> list[Resident]:
        where, params = site_filter(site_id)
        rows = self._run(
            f"SELECT resident_id, site_id, name, room, birth_year, spo2_scale FROM residents{where}"
            " ORDER BY resident_id",
            params,
        )
        return [Resident(*r) for r in rows]

    def resident(self, resident_id: str) -> Resident | None:
        rows = self._run(
            "SELECT resident_id, site_id, name, room, birth_year, spo2_scale FROM residents WHERE resident_id = ?",
            (resident_id,),
        )
        return Resident(*rows[0]) if rows else None

    def devices(self) -> list[Device]:
        rows = self._run(
            "SELECT device_id, site_id, kind, resident_id, room, friendly_name FROM devices ORDER BY device_id"
        )
        return [Device(r[0], r[1], DeviceKind(r[2]), r[3], r[4], r[5]) for r in rows]

    def contacts_of(self, resident_id: str) -> list[tuple[Contact, ContactLink]]:
        rows = self._run(
            "SELECT c.contact_id, c.name, c.role, c.email, c.phone, l.relation, l.priority FROM resident_contacts l"
            " JOIN contacts c ON c.contact_id = l.contact_id WHERE l.resident_id = ? ORDER BY l.priority, c.contact_id",
            (resident_id,),
        )
        return [
            (Contact(r[0], r[1], ContactRole(r[2]), r[3], r[4]), ContactLink(resident_id, r[0], r[5], r[6]))
            for r in rows
        ]

    def contacts(self, contact_ids: Sequence[str] | None = None) -> list[Contact]:
        if contact_ids is not None and not contact_ids:
            return []
        where = "" if contact_ids is None else f" WHERE contact_id IN ({placeholders(contact_ids)})"
        rows = self._run(
            f"SELECT contact_id, name, role, email, phone FROM contacts{where} ORDER BY contact_id",
            tuple(contact_ids or ()),
        )
        return [Contact(r[0], r[1], ContactRole(r[2]), r[3], r[4]) for r in rows]

    def contact_links(self) -> list[ContactLink]:
        rows = self._run(
            "SELECT resident_id, contact_id, relation, priority FROM resident_contacts"
            " ORDER BY contact_id, priority, resident_id"
        )
        return [ContactLink(*r) for r in rows]

    def delete_contact_link(self, resident_id: str, contact_id: str, now: float) -> bool:
        return self._untie(
            "DELETE FROM resident_contacts WHERE resident_id = ? AND contact_id = ?"
            " RETURNING (SELECT site_id FROM residents r WHERE r.resident_id = resident_contacts.resident_id)",
            (resident_id, contact_id), contact_id, now,
            ("contact_id = ? AND alert_id IN (SELECT alert_id FROM alerts WHERE resident_id = ?)",
             (contact_id, resident_id)),
        )  # fmt: skip

    def delete_contact(self, contact_id: str, now: float) -> bool:
        with self._transaction() as cur:
            for table in ("resident_contacts", "site_contacts"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE contact_id = ?"), (contact_id,))
            self._refuse_shifts_left_behind(cur, contact_id, now, None)  # linked nowhere now: any shift not over
            self._withdraw(cur, "contact_id = ?", (contact_id,), now, CONTACT_UNTIED)  # nothing more reaches them
            for table in CONTACTS_OWN:
                cur.execute(self._sql(f"DELETE FROM {table} WHERE contact_id = ?"), (contact_id,))
            cur.execute(self._sql("DELETE FROM contacts WHERE contact_id = ? RETURNING contact_id"), (contact_id,))
            return bool(cur.fetchall())

    def readings(self, resident_id: str, metric: str, start: float, end: float) -> list[tuple[float, float]]:
        rows = self._run(
            "SELECT time, value FROM readings WHERE resident_id = ? AND metric = ? AND time >= ? AND time < ?"
            f" AND NOT artefact ORDER BY time LIMIT {MAX_HISTORY_ROWS}",
            (resident_id, metric, self._time_in(start), self._time_in(end)),
        )
        return [(self._time_out(t), v) for t, v in rows]

    def latest_readings(self, site_id: str | None = None) -> dict[str, dict[str, tuple[float, float]]]:
        # One probe of the (resident_id, metric, time) index per resident and catalogue metric, newest first: the cost
        # follows the residents, not the rows of the look-back (aggregating those took seconds a call: performance.md).
        metrics = list(METRIC_BY_NAME)
        newest = (
            "FROM readings x WHERE x.resident_id = r.resident_id AND x.metric = m.metric AND x.time >= ?"
            " AND NOT x.artefact ORDER BY x.time DESC LIMIT 1"
        )
        catalogue = " UNION ALL ".join("SELECT ? AS metric" for _ in metrics)
        site = " WHERE r.site_id = ?" if site_id is not None else ""
        since = self._time_in(time.time() - LATEST_LOOKBACK_S)
        rows = self._run(
            f"SELECT resident_id, metric, at, value FROM (SELECT r.resident_id, m.metric, (SELECT x.time {newest})"
            f" AS at, (SELECT x.value {newest}) AS value FROM residents r CROSS JOIN ({catalogue}) m{site}) latest"
            " WHERE at IS NOT NULL",
            (since, since, *metrics, *((site_id,) if site_id is not None else ())),
        )
        return self._latest_of(rows)

    def _latest_of(self, rows: list[Any]) -> dict[str, dict[str, tuple[float, float]]]:
        """(resident_id, metric, time, value) rows as resident_id -> metric -> (ts, value)."""
        latest: dict[str, dict[str, tuple[float, float]]] = {}
        for resident_id, metric, at, value in rows:
            latest.setdefault(resident_id, {})[metric] = (self._time_out(at), value)
        return latest

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self._run(
            "SELECT received_at, topic, reason, detail, payload, payload_size FROM dead_letters"
            " ORDER BY received_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [DeadLetter(self._time_out(r[0]), r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def count(self, table: str) -> int:
        if table not in COUNTABLE_TABLES:
            raise ValueError(f"not a countable table: {table!r}")
        return int(self._run(f"SELECT count(*) FROM {table}")[0][0])

    def readings_bucketed(
        self, resident_id: str, metric: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        if bucket_s < 1:
            raise ValueError(f"bucket_s must be at least 1 s, not {bucket_s}")
        width = int(bucket_s)
        bucket = BUCKET_EXPRESSIONS[self.backend].format(w=width)
        rows = self._run(
            f"SELECT {bucket} AS bucket, count(*), min(value), max(value), avg(value) FROM readings"
            " WHERE resident_id = ? AND metric = ? AND time >= ? AND time < ? AND NOT artefact"
            f" GROUP BY bucket ORDER BY bucket LIMIT {MAX_HISTORY_ROWS}",
            (resident_id, metric, self._time_in(start), self._time_in(end)),
        )
        return [Bucket(self._time_out(b), int(n), float(lo), float(hi), float(mean)) for b, n, lo, hi, mean in rows]
