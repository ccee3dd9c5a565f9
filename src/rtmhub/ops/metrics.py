"""Prometheus metrics of one rtmhub process, framework-free so the task runner can count its tasks here.

Labels are bounded by construction: HTTP requests by method (the standard ones, else "other"), route
*template* (``/v1/people/{personId}``, never the raw path; "unmatched" for a path no route knows) and
status; tasks by type and outcome. No label ever carries a tenant, customer, user or tracking id.

Several processes: each process counts its own requests and tasks. When ``PROMETHEUS_MULTIPROC_DIR``
is set (to an empty directory shared by every app and worker process of one machine; ``rtmhub serve
--workers N`` makes one when it is not set), prometheus-client writes the counters there and any
process's /metrics answers for all of them. See docs/operations.md.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import REGISTRY, Collector

disable_created_metrics()  # a `_created` series per label set doubles the output and tells nothing here
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TASK_TYPES = frozenset({"csv_preview", "csv_import", "revert_preview", "revert"})

HTTP_REQUESTS = Counter("rtmhub_http_requests_total", "HTTP requests answered, by route template and status.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("rtmhub_http_request_duration_seconds",
                         "Time from a request's arrival to the end of its answer, by route template and status.",
                         ["method", "route", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
TASKS = Counter("rtmhub_tasks_total", "Background tasks that ended, by type and outcome (the task's final status).",
                ["type", "outcome"])
TASK_SECONDS = Histogram("rtmhub_task_duration_seconds", "Time from a task's start to its end, by type and outcome.",
                         ["type", "outcome"], buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200))
TASK_ROWS = Counter("rtmhub_task_rows_total", "CSV rows of ended tasks, by task type and row outcome "
                    "(added, modified, deleted, unchanged, failed).", ["type", "outcome"])


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route, str(status)).observe(seconds)


def record_task(kind: str, outcome: str, seconds: float | None, rows: dict[str, int]) -> None:
    kind = kind if kind in TASK_TYPES else "other"
    TASKS.labels(kind, outcome).inc()
    if seconds is not None:
        TASK_SECONDS.labels(kind, outcome).observe(max(seconds, 0.0))
    for row_outcome, count in rows.items():
        if count:
            TASK_ROWS.labels(kind, row_outcome).inc(count)


class ScrapeCollector(Collector):
    """Values read when Prometheus scrapes, from a function given by the face (the database query lives
    in the domain: ``customers.units_by_package``)."""

    def __init__(self, read: Any):
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from self._read()


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text format of this process (or, in multiprocess mode, of every process sharing the
    directory), followed by the scrape-time collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    scrape = CollectorRegistry(auto_describe=False)
    for collector in extra:
        scrape.register(collector)
    return body + generate_latest(scrape)


def gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


__all__ = ["HTTP_REQUESTS", "HTTP_SECONDS", "TASKS", "TASK_ROWS", "TASK_SECONDS", "ScrapeCollector", "exposition",
           "gauge", "record_request", "record_task"]
