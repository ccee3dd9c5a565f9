"""Log lines: ``RTMHUB_LOG_FORMAT=text`` (readable) or ``json`` (one JSON object per line).

Every line has time, level, logger and message. A line written while a request is handled carries
that request's ``trackingId`` (kept in a context variable, which the thread pool of sync endpoints
inherits); the access line of a request (logger ``rtmhub.access``) adds method, route, status and
duration_ms. The same configuration is handed to uvicorn, so its own lines have the same shape in every
app process of ``rtmhub serve --workers N``.
"""
from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

TRACKING_ID: ContextVar[str | None] = ContextVar("rtmhub_tracking_id", default=None)
# Extra attributes of a record that a JSON line carries, when present.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "trackingId")


class _TrackingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trackingId", None) is None:
            record.trackingId = TRACKING_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in REQUEST_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tracking = getattr(record, "trackingId", None)
        if tracking and tracking not in text:
            text += f" trackingId={tracking}"
        return text


def logging_config(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for rtmhub's and uvicorn's loggers (uvicorn's own access log is
    replaced by rtmhub's, which knows the route template and the tracking id)."""
    formatter = {"()": f"{__name__}.{'JsonFormatter' if fmt == 'json' else 'TextFormatter'}"}
    handler = {"class": "logging.StreamHandler", "formatter": "rtmhub", "filters": ["tracking"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"tracking": {"()": f"{__name__}._TrackingFilter"}},
        "formatters": {"rtmhub": formatter},
        "handlers": {"rtmhub": handler},
        "loggers": {
            "rtmhub": {"handlers": ["rtmhub"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["rtmhub"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["rtmhub"], "level": "WARNING"},
    }


def configure(fmt: str = "text", level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(fmt, level))
