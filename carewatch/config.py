"""The one settings object, read once at start-up (environment prefix ``CAREWATCH_``, optional ``.env``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from carewatch.storage.retention import MAX_RETENTION_DAYS

DEMO_SECRET = "carewatch-demo-secret-change-me"  # noqa: S105 - the embedded demo's known value, refused in production
# Every number setting is finite (inf and nan are refused) and bounded: a duration is added to or taken from a time,
# and beyond these the sum leaves what a clock can hold (TimescaleDB failed every retention run with "timestamp out
# of range" for inf, 1e300 or 1e6 days; an interval or a timeout overflowed its timer). The bounds are generous: a
# century of records (MAX_RETENTION_DAYS), a year for anything that waits or repeats.
MAX_WAIT_S = 366 * 86_400.0  # an interval, a hold, a session: a year
MAX_REMINDERS = 100  # escalation reminders per alert (each is a stage planned in the database)
Days = Annotated[float, Field(gt=0, le=MAX_RETENTION_DAYS, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0, le=MAX_WAIT_S, allow_inf_nan=False)]
SecondsOrZero = Annotated[float, Field(ge=0, le=MAX_WAIT_S, allow_inf_nan=False)]  # 0: at once
Minutes = Annotated[float, Field(gt=0, le=MAX_WAIT_S / 60, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=0, le=65_535)]
MAX_PARTITIONS = 1024  # workers of one deployment: each a process with its own broker subscription and alert state
Count = Annotated[int, Field(ge=1, le=1_000_000_000)]  # rows, messages, attempts: beyond a billion is a typo


class Settings(BaseSettings):
    """Everything carewatch can be configured with. Library code never reads the environment: it takes these values."""

    model_config = SettingsConfigDict(env_prefix="CAREWATCH_", env_file=".env", extra="ignore")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG also logs the traceback behind a command's one-line user error"
    )

    mqtt_url: str | None = Field(
        default=None, description="mqtt://user:password@host:port; unset = start an embedded broker on loopback"
    )
    database_url: str | None = Field(
        default=None, description="postgresql://... for TimescaleDB; unset = SQLite in data_dir"
    )
    data_dir: Path = Field(
        default=Path("carewatch-data"),
        description="where the embedded SQLite file lives, and the alert core's state saved at a clean stop",
    )
    http_host: str = "127.0.0.1"
    http_port: Port = 8000
    secret_key: SecretStr = SecretStr(DEMO_SECRET)
    session_ttl_s: Seconds = Field(default=12 * 3600, description="a dashboard login lasts this long (a shift)")
    cookie_secure: bool = Field(default=False, description="mark the session cookie Secure (set it behind HTTPS)")
    login_max_failures: Count = Field(
        default=5, description="failed logins per user and address within login_window_s before a lock-out"
    )
    login_window_s: Seconds = Field(default=300.0, description="the login throttle's window (and lock-out)")
    embedded_mqtt_port: Port = Field(default=0, description="port of the embedded broker; 0 = a free one")
    mqtt_client_id: str = "carewatch-ingest"
    mqtt_share_group: str | None = Field(
        default=None, description="MQTT 5 shared-subscription group; set it to split the load over several workers"
    )
    partitions: int = Field(
        default=1, ge=1, le=MAX_PARTITIONS, description="workers own sites: site s is in partition crc32(s) mod P"
    )
    partition: int = Field(default=0, ge=0, description="this worker's partition, 0 .. partitions - 1")
    clock: Literal["wall", "data"] = Field(
        default="wall",
        description="what 'now' is for validation and the time-driven rules: the wall clock (live), or the newest "
        "data time (accelerated evaluations and replays; ingest/clock.py)",
    )
    registry_refresh_seconds: Seconds = Field(
        default=30.0,
        description="how often the clinicians' limits and NEWS2 escalations are reread (the registry itself is "
        "followed within about a second: carewatch/runtime.py, REGISTRY_POLL_S)",
    )
    keep_alert_state: bool = Field(
        default=True,
        description="save the alert core's state while running and at a clean stop, and take it up at the next "
        "start (alerts/checkpoint.py; needs a secret key of your own): after a crash only the rows stored since the "
        "last save are replayed; else the state is rebuilt from stored data",
    )
    alert_state_interval_seconds: Seconds = Field(
        default=300.0,
        description="how often the running process saves the alert core's state: at most this much data is "
        "replayed after a crash; each save holds up the writer (about 0.5 s per 10,000 residents)",
    )
    stop_timeout_seconds: Seconds = Field(
        default=30.0,
        description="a stop abandons (and logs) what still runs after this long, new alerts not yet raised "
        "among it: keep it a few seconds below the supervisor's kill timeout (systemd's default is 90 s; give "
        "Docker `stop_grace_period: 40s`, its default is 10 s)",
    )
    ingest_batch_rows: Count = Field(default=5_000, description="commit a batch at this many rows ...")
    ingest_batch_seconds: Seconds = Field(default=0.25, description="... or after this long, whichever first")
    ingest_max_pending_messages: Count = Field(
        default=20_000, description="messages received but not yet committed; the MQTT reader waits beyond it"
    )
    # Alert lifecycle, escalation and delivery. A channel left unset is off (the demo: the dashboard only).
    alert_hold_seconds: SecondsOrZero = Field(
        default=120.0, description="a cleared condition resolves its alert after staying clear this long"
    )
    alert_flap_window_seconds: SecondsOrZero = Field(
        default=900.0, description="a condition back this soon after its alert auto-resolved reopens it"
    )
    escalation_on_call_minutes: Minutes = Field(default=10, description="urgent, unacknowledged: on-call after")
    escalation_family_minutes: Minutes = Field(default=20, description="urgent, unacknowledged: family after")
    escalation_reminder_minutes: Minutes = Field(default=5, description="operators are reminded this often")
    escalation_reminders: int = Field(default=6, ge=0, le=MAX_REMINDERS, description="reminders at most")
    delivery_max_attempts: Count = Field(default=6, description="a delivery is dead-lettered after this many")
    webhook_secret: SecretStr | None = Field(default=None, description="HMAC key of webhooks; unset = no webhooks")
    smtp_host: str | None = Field(default=None, description="the SMTP relay for e-mail; unset = no e-mail")
    smtp_port: Port = 25
    smtp_sender: str = "carewatch@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    notify_mqtt_url: str | None = Field(
        default=None, description="mqtt://host:port of the broker family apps use; unset = no MQTT notifications"
    )
    # History at scale: roll-up and retention jobs (carewatch.storage.rollups, .retention; docs/operations.md).
    rollup_interval_seconds: Seconds = Field(default=60.0, description="how often the roll-up job runs")
    retention_interval_seconds: Seconds = Field(default=3600.0, description="how often retention is applied")
    retention_accel_days: Days = Field(default=7, description="raw accelerometer blocks are kept this long")
    retention_readings_days: Days = Field(default=42, description="raw vitals and sensor readings")
    retention_events_days: Days = Field(default=365, description="door, bed, motion and other events")
    retention_rollup_minutes_days: Days = Field(default=400, description="the 1-minute roll-up")
    retention_rollup_hours_days: Days = Field(default=3650, description="the 1-hour roll-up")
    retention_dead_letters_days: Days = Field(default=30, description="rejected messages")
    retention_alerts_days: Days = Field(
        default=3650, description="resolved alerts and their audit trail (the legal period; live ones stay)"
    )

    @field_validator("mqtt_url", "notify_mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, url: str | None) -> str | None:
        if url is not None:
            mqtt_endpoint(url)  # refuses an unsupported scheme at start-up, before anything runs
        return url

    @model_validator(mode="after")
    def _partition_in_range(self) -> Settings:
        if self.partition >= self.partitions:
            raise ValueError(f"CAREWATCH_PARTITION must be below CAREWATCH_PARTITIONS ({self.partitions})")
        return self

    @model_validator(mode="after")
    def _refuse_demo_secret_in_production(self) -> Settings:
        if self.database_url and self.secret_key.get_secret_value() == DEMO_SECRET:
            raise ValueError("CAREWATCH_SECRET_KEY must be set to a secret of your own when a database is configured")
        return self

    @property
    def embedded_broker(self) -> bool:
        return self.mqtt_url is None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "carewatch.db"

    @property
    def alert_state_kept(self) -> bool:
        """Whether a stop saves the alert core's state for the next start: it is signed with the secret key, so not
        with the demo's publicly known one (a file anyone can sign is not unpickled)."""
        return self.keep_alert_state and self.secret_key.get_secret_value() != DEMO_SECRET

    @property
    def alert_state_path(self) -> Path:
        return self.data_dir / f"alert-state-{self.partition}-of-{self.partitions}.bin"


def mqtt_endpoint(url: str) -> tuple[str, int, str | None, str | None]:
    """Split ``mqtt://user:pass@host:port`` into (host, port, username, password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r}: use mqtt://host:port")
    return parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password


def redacted(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: for logs and printed output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
