"""Runtime configuration, read from RTMHUB_* environment variables."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RTMHUB_", env_file=".env", extra="ignore")

    env: str = "development"
    database_url: str = f"sqlite:///{Path('rtmhub.db').absolute()}"
    secret_key: str = DEVELOPMENT_SECRET
    # Public base URL used in Link/Location headers; when empty, the request's own URL is used.
    public_url: str = ""
    max_body_bytes: int = 1_048_576
    # CSV uploads may be much larger than API bodies; rows are streamed, so only the cap matters.
    max_upload_bytes: int = 200 * 1_048_576
    csv_max_rows: int = 0  # 0 = no cap of ours
    # Run a task worker thread inside each app process (turn off when `rtmhub worker` runs).
    inprocess_worker: bool = True
    # A running task whose worker has not reported for this long is taken over by another worker.
    task_lease_seconds: float = 60.0
    task_batch_rows: int = 500
    log_sql: bool = False
    # Operations (health, metrics, logs; see docs/operations.md).
    # `text` (one readable line) or `json` (one JSON object per line, for log shippers).
    log_format: Literal["text", "json"] = "text"
    # Log level of rtmhub's own loggers (and uvicorn's under `rtmhub serve`).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # When set, GET /metrics needs `Authorization: Bearer <this>`; when empty, /metrics is open (it holds
    # aggregate counts only, no tenant ids; keep it off the public side of the load balancer).
    metrics_token: str = ""

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        # A default secret outside development would let anyone forge session cookies.
        if self.env != "development" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "RTMHUB_SECRET_KEY must be set to a long random value when RTMHUB_ENV is "
                f"'{self.env}' (the built-in development secret is refused outside development)"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
