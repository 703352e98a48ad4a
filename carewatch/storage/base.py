"""The storage contract. Every backend (TimescaleDB, SQLite) passes the same suite: tests/storage/test_contract.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from carewatch.model import (
    Alert,
    AlertDraft,
    AlertState,
    AlertTransition,
    Batch,
    Contact,
    ContactLink,
    DeadLetter,
    Device,
    Resident,
    Site,
    WriteResult,
)

TIME_SERIES_TABLES = ("readings", "events", "accel")
COUNTABLE_TABLES = (*TIME_SERIES_TABLES, "dead_letters", "alerts", "alert_transitions")
MAX_HISTORY_ROWS = 50_000  # one history query's rows at most: a day of 1 Hz samples, and then some


class StorageError(Exception):
    """A storage failure that retrying will not fix (schema missing, extension missing, bad credentials)."""


class TransientStorageError(Exception):
    """The database is unreachable or restarting: retry later, do not acknowledge what was not written."""


class AlertConflict(Exception):
    """A transition that the alert's current state does not allow (e.g. acknowledging a resolved alert)."""

    def __init__(self, alert: Alert | None, wanted: AlertState) -> None:
        self.alert = alert
        state = alert.state if alert else "missing"
        super().__init__(f"alert {alert.alert_id if alert else '?'} is {state}, cannot become {wanted}")


class Store(ABC):
    """Durable storage of the registry, readings, events, dead letters and alerts. Times are epoch seconds."""

    backend: str

    @abstractmethod
    def init_schema(self) -> None:
        """Create what is missing (idempotent)."""

    @abstractmethod
    def close(self) -> None: ...

    # Registry -------------------------------------------------------------------------------------------------
    @abstractmethod
    def upsert_sites(self, sites: Sequence[Site]) -> None: ...

    @abstractmethod
    def upsert_residents(self, residents: Sequence[Resident]) -> None: ...

    @abstractmethod
    def upsert_devices(self, devices: Sequence[Device]) -> None: ...

    @abstractmethod
    def upsert_contacts(self, contacts: Sequence[Contact], links: Sequence[ContactLink]) -> None: ...

    @abstractmethod
    def sites(self) -> list[Site]: ...

    @abstractmethod
    def residents(self, site_id: str | None = None) -> list[Resident]: ...

    @abstractmethod
    def devices(self) -> list[Device]: ...

    @abstractmethod
    def contacts_of(self, resident_id: str) -> list[tuple[Contact, ContactLink]]: ...

    # Time series ----------------------------------------------------------------------------------------------
    @abstractmethod
    def write_batch(self, batch: Batch) -> WriteResult:
        """Write all rows of a batch in one transaction; rows already stored (same dedupe key) are skipped.

        Raises TransientStorageError when the database cannot be reached: nothing of the batch was written.
        """

    @abstractmethod
    def readings(self, resident_id: str, metric: str, start: float, end: float) -> list[tuple[float, float]]:
        """(ts, value) of one resident's non-artefact readings in [start, end), oldest first."""

    @abstractmethod
    def latest_readings(self, site_id: str | None = None) -> dict[str, dict[str, tuple[float, float]]]:
        """resident_id -> metric -> (ts, value) of the newest non-artefact reading."""

    @abstractmethod
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest rejected messages first."""

    @abstractmethod
    def count(self, table: str) -> int:
        """Rows in one of COUNTABLE_TABLES."""

    # Alerts ---------------------------------------------------------------------------------------------------
    @abstractmethod
    def raise_alert(self, draft: AlertDraft) -> Alert | None:
        """Open an alert, unless one for this resident and rule is live (then None). Audited."""

    @abstractmethod
    def acknowledge_alert(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        """open -> acknowledged; raises AlertConflict from any other state (the first of two racing operators wins)."""

    @abstractmethod
    def resolve_alert(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        """open or acknowledged -> resolved; raises AlertConflict when already resolved."""

    @abstractmethod
    def resolve_live(self, resident_id: str, rule: str, actor: str, at: float, note: str = "") -> Alert | None:
        """Resolve the live alert of this resident and rule, if there is one (the condition cleared)."""

    @abstractmethod
    def alert(self, alert_id: int) -> Alert | None: ...

    @abstractmethod
    def alerts(self, site_id: str | None = None, live_only: bool = False, limit: int = 200) -> list[Alert]:
        """Newest first."""

    @abstractmethod
    def transitions(self, alert_id: int) -> list[AlertTransition]:
        """The audit trail of one alert, oldest first."""
