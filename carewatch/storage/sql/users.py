"""Dashboard users, their roles and sites, password hashes and login sessions."""

from __future__ import annotations

from carewatch.storage.base import Role, StorageError, User
from carewatch.storage.sql._core import SqlCore


class UsersSql(SqlCore):
    def save_user(self, user: User, password_hash: str | None = None) -> None:
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT 1 FROM users WHERE username = ?"), (user.username,))
            exists = cur.fetchone() is not None
            if not exists and password_hash is None:
                raise StorageError(f"a new user ({user.username}) needs a password")
            if exists:
                cur.execute(
                    self._sql("UPDATE users SET display_name = ?, role = ?, active = ? WHERE username = ?"),
                    (user.display_name, user.role.value, user.active, user.username),
                )
                if password_hash is not None:
                    cur.execute(
                        self._sql("UPDATE users SET password_hash = ? WHERE username = ?"),
                        (password_hash, user.username),
                    )
            else:
                cur.execute(
                    self._sql(
                        "INSERT INTO users (username, display_name, role, password_hash, active) VALUES (?, ?, ?, ?, ?)"
                    ),
                    (user.username, user.display_name, user.role.value, password_hash, user.active),
                )
            cur.execute(self._sql("DELETE FROM user_sites WHERE username = ?"), (user.username,))
            cur.execute(self._sql("DELETE FROM user_residents WHERE username = ?"), (user.username,))
            if user.site_ids:
                cur.executemany(
                    self._sql("INSERT INTO user_sites (username, site_id) VALUES (?, ?)"),
                    [(user.username, s) for s in dict.fromkeys(user.site_ids)],
                )
            if user.resident_ids:
                cur.executemany(
                    self._sql("INSERT INTO user_residents (username, resident_id) VALUES (?, ?)"),
                    [(user.username, r) for r in dict.fromkeys(user.resident_ids)],
                )

    def user(self, username: str) -> User | None:
        found = self._users(" WHERE username = ?", (username,))
        return found[0] if found else None

    def users(self) -> list[User]:
        return self._users("", ())

    def _users(self, where: str, params: tuple[str, ...]) -> list[User]:
        with self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT username, display_name, role, active FROM users{where} ORDER BY username"), params
            )
            rows = cur.fetchall()
            cur.execute(self._sql(f"SELECT username, site_id FROM user_sites{where} ORDER BY site_id"), params)
            sites = cur.fetchall()
            cur.execute(
                self._sql(f"SELECT username, resident_id FROM user_residents{where} ORDER BY resident_id"), params
            )
            residents = cur.fetchall()
        site_ids: dict[str, list[str]] = {}
        for username, site_id in sites:
            site_ids.setdefault(username, []).append(site_id)
        resident_ids: dict[str, list[str]] = {}
        for username, resident_id in residents:
            resident_ids.setdefault(username, []).append(resident_id)
        return [
            User(u, name, Role(role), tuple(site_ids.get(u, ())), tuple(resident_ids.get(u, ())), bool(active))
            for u, name, role, active in rows
        ]

    def password_hash(self, username: str) -> str | None:
        rows = self._run("SELECT password_hash FROM users WHERE username = ? AND active", (username,))
        return str(rows[0][0]) if rows else None

    def delete_user(self, username: str) -> bool:
        with self._transaction() as cur:
            for table in ("sessions", "user_sites", "user_residents"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE username = ?"), (username,))
            cur.execute(self._sql("DELETE FROM users WHERE username = ? RETURNING username"), (username,))
            return cur.fetchone() is not None

    def create_session(self, token_hash: str, username: str, created_at: float, expires_at: float) -> None:
        self._run(
            "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (token_hash, username, self._time_in(created_at), self._time_in(expires_at)),
        )

    def session_user(self, token_hash: str, now: float) -> User | None:
        rows = self._run(
            "SELECT u.username FROM sessions s JOIN users u ON u.username = s.username"
            " WHERE s.token_hash = ? AND s.expires_at > ? AND u.active",
            (token_hash, self._time_in(now)),
        )
        return self.user(rows[0][0]) if rows else None

    def delete_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def purge_sessions(self, now: float) -> int:
        return len(self._run("DELETE FROM sessions WHERE expires_at <= ? RETURNING token_hash", (self._time_in(now),)))
