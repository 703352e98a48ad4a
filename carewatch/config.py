"""The one settings object, read once at start-up (environment prefix ``CAREWATCH_``, optional ``.env``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "carewatch-demo-secret-change-me"  # noqa: S105 - the embedded demo's known value, refused in production


class Settings(BaseSettings):
    """Everything carewatch can be configured with. Library code never reads the environment: it takes these values."""

    model_config = SettingsConfigDict(env_prefix="CAREWATCH_", env_file=".env", extra="ignore")

    mqtt_url: str | None = Field(
        default=None, description="mqtt://user:password@host:port; unset = start an embedded broker on loopback"
    )
    database_url: str | None = Field(
        default=None, description="postgresql://... for TimescaleDB; unset = SQLite in data_dir"
    )
    data_dir: Path = Field(default=Path("carewatch-data"), description="where the embedded SQLite file lives")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    secret_key: SecretStr = SecretStr(DEMO_SECRET)
    embedded_mqtt_port: int = Field(default=0, description="port of the embedded broker; 0 = a free one")
    mqtt_client_id: str = "carewatch-ingest"
    mqtt_share_group: str | None = Field(
        default=None, description="MQTT 5 shared-subscription group; set it to split the load over several workers"
    )
    ingest_batch_rows: int = Field(default=5_000, ge=1, description="commit a batch at this many rows ...")
    ingest_batch_seconds: float = Field(default=0.25, gt=0, description="... or after this long, whichever first")
    ingest_max_pending_messages: int = Field(
        default=20_000, ge=1, description="messages received but not yet committed; the MQTT reader waits beyond it"
    )

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


def mqtt_endpoint(url: str) -> tuple[str, int, str | None, str | None]:
    """Split ``mqtt://user:pass@host:port`` into (host, port, username, password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r}: use mqtt://host:port")
    return parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password
