"""Runtime configuration, read from RTMHUB_* environment variables."""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"
MIN_SECRET_LENGTH = 32
DEFAULT_LOCAL_URL = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RTMHUB_", env_file=".env", extra="ignore")

    env: str = "development"
    database_url: str = f"sqlite:///{Path('rtmhub.db').absolute()}"
    secret_key: str = DEVELOPMENT_SECRET
    # Public base URL used in Link/Location headers and set-password links; when empty, the request's own URL
    # is used (the CLI, which has no request, uses DEFAULT_LOCAL_URL: where `rtmhub serve` listens by default).
    public_url: str = ""
    max_body_bytes: int = 1_048_576
    # CSV uploads may be much larger than API bodies; rows are streamed, so only the cap matters.
    max_upload_bytes: int = 200 * 1_048_576
    csv_max_rows: int = 0  # 0 = no cap of ours
    # Run a task worker thread inside each app process (turn off when `rtmhub worker` runs).
    inprocess_worker: bool = True
    # A running task whose worker has not reported for this long is taken over by another worker.
    task_lease_seconds: float = 60.0
    # An import's rows per write transaction (on SQLite fewer when a batch holds the write lock too long). 1,000
    # rows hold it about 0.15 s on a 2-core machine; 500-row batches paid a commit, a pause and the look-ups twice
    # as often (decision 59).
    task_batch_rows: int = Field(default=1000, ge=1)
    # A preview's batch holds no lock while it is simulated (decision 23): it may be larger than an import's. Its
    # results are written under the lock: 5,000 rows' took 0.04 s on a 2-core machine (decision 63).
    task_preview_batch_rows: int = Field(default=5000, ge=1)
    # An import on SQLite of at least this many rows is checked in a second process while this one writes
    # (decision 64); 0: never.
    task_plan_ahead_rows: int = Field(default=5000, ge=0)
    log_sql: bool = False
    # Operations (health, metrics, logs; see docs/operations.md).
    # `text` (one readable line) or `json` (one JSON object per line, for log shippers).
    log_format: Literal["text", "json"] = "text"
    # Log level of rtmhub's own loggers (and uvicorn's under `rtmhub serve`).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # When set, GET /metrics needs `Authorization: Bearer <this>`; when empty, /metrics is open (it holds
    # aggregate counts only, no tenant ids; keep it off the public side of the load balancer).
    metrics_token: str = ""

    # --- sessions, sign-in and proxies (decision 17) ---
    # A signed-in browser session ends after this long without a request, and in any case this many hours
    # after sign-in.
    session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For is believed for
    # the client address (sign-in throttle). Empty: the direct peer is the client, whatever headers say.
    trusted_proxies: str = ""

    # Waiting for SQLite's write lock (decision 23): a web or API request waits this long, then answers 503
    # with Retry-After instead of hanging; task workers wait longer, since giving up fails a task.
    sqlite_busy_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    sqlite_worker_busy_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    # --- uploaded task files (decision 24) ---
    # Bytes of uploaded CSV files a customer may keep stored at once (every task's file counts until the task
    # is deleted or its file expires); an upload past it is refused with 413.
    task_file_quota_bytes: int = Field(default=1 << 30, ge=1)
    # Days an uploaded file is kept; a worker then deletes it (never a queued or running task's), while the
    # task, its row results and its error report stay.
    task_file_retention_days: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        # A default secret outside development would let anyone forge session cookies.
        if self.env != "development" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "RTMHUB_SECRET_KEY must be set to a long random value when RTMHUB_ENV is "
                f"'{self.env}' (the built-in development secret is refused outside development)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError("RTMHUB_PUBLIC_URL must be an absolute http(s) URL such as "
                                 f"https://rtmhub.example.com (got {self.public_url!r})")
        self.trusted_networks  # noqa: B018 - parsed now, so a typo stops the start, not a sign-in
        if self.env == "development":
            return self
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            # A short key can be guessed offline from one signed cookie.
            raise ValueError(f"RTMHUB_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters when RTMHUB_ENV "
                             f"is '{self.env}' (it has {len(self.secret_key)}); generate one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        if not self.public_url:
            # Without it, absolute URLs (Link, Location) would be built from the request's Host header,
            # which a client chooses, and SDKs follow them with their token.
            raise ValueError(f"RTMHUB_PUBLIC_URL must be set when RTMHUB_ENV is '{self.env}': the address "
                             "clients use to reach rtmhub, e.g. https://rtmhub.example.com")
        return self

    def base_url(self, request_base: str | None = None) -> str:
        """The base of absolute links shown to people (set-password links): RTMHUB_PUBLIC_URL, else the
        request's own base URL, else (the CLI) where `rtmhub serve` listens by default."""
        return (self.public_url or request_base or DEFAULT_LOCAL_URL).rstrip("/")

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        networks = []
        for part in self.trusted_proxies.split(","):
            if part.strip():
                try:
                    networks.append(ipaddress.ip_network(part.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"RTMHUB_TRUSTED_PROXIES: {part.strip()!r} is not an address or a CIDR "
                                     "network (e.g. 10.0.0.5, 10.0.0.0/24, ::1)") from None
        return tuple(networks)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_problems(exc: ValidationError) -> list[str]:
    """A refused environment, one line per wrong setting, named as the operator sets it (RTMHUB_...)."""
    lines = []
    for error in exc.errors(include_url=False):
        text = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:  # one field: name its variable and what it was given
            name = "RTMHUB_" + str(error["loc"][0]).upper()
            lines.append(f"{name}={error['input']!r}: {text}")
        else:  # a rule across fields, whose message names its variables
            lines.append(text)
    return lines
