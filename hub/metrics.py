"""The hub's own metrics on the /metrics registry (hub.metrics_registry): HTTP requests and
latency by route template, cases by state, warned and overdue, lease holders, each leader
worker's last successful pass, the build.

Counts are read from the database at scrape time, so every process that serves /metrics
reports the shared truth; the HTTP figures are this process's."""

from __future__ import annotations

import hmac
import platform
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from hub import __version__
from hub.api.problems import problem
from hub.db.models import CaseRow, LeaseRow, WorkerPassRow
from hub.db.repository import OPEN_HANDLING_STATES

if TYPE_CHECKING:
    from hub.container import Hub

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED = "unmatched"  # a path no route knows: one label, so a scanner cannot blow up the series


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("hub_http_requests", "HTTP requests answered, by route template", ["method", "route", "status"], registry=registry)
        self.latency = Histogram(
            "hub_http_request_duration_seconds", "Time to answer, by route template", ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        route = route or UNMATCHED
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class HubCollector:
    """Cases by state, warned and overdue cases by state, lease holders, workers' last passes, build info."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Any:
        build = GaugeMetricFamily("hub_build_info", "The running hub: version and Python", labels=["version", "python"])
        build.add_metric([__version__, platform.python_version()], 1)
        yield build
        cases = GaugeMetricFamily("hub_cases", "Cases by state", labels=["state"])
        overdue = GaugeMetricFamily("hub_cases_overdue", "Cases past a time limit (超期), by state", labels=["state"])
        warned = GaugeMetricFamily("hub_cases_warned", "Running cases warned (预警) of a coming time limit, by state", labels=["state"])
        passes = GaugeMetricFamily(
            "hub_worker_last_success_timestamp_seconds",
            "Each leader worker (scheduler, pollers, pullers, router, retention, by its lease's name): when its last pass succeeded",
            labels=["worker"],
        )
        failures = GaugeMetricFamily(
            "hub_worker_last_error_timestamp_seconds", "Each leader worker: when its last pass failed (the reason: `hotline-hub` logs)", labels=["worker"]
        )
        leases = GaugeMetricFamily(
            "hub_lease_expires_timestamp_seconds", "Each named lease (scheduler, pollers, relays' work): its holder and until when", labels=["lease", "holder"]
        )
        try:
            with self.hub.db.read() as s:
                by_state = s.execute(select(CaseRow.state, func.count()).group_by(CaseRow.state)).all()
                late = s.execute(select(CaseRow.state, func.count()).where(CaseRow.overdue.is_(True)).group_by(CaseRow.state)).all()
                # Running cases only, through the state index; the column, not the documents.
                warn = s.execute(
                    select(CaseRow.state, func.count()).where(CaseRow.state.in_(OPEN_HANDLING_STATES), CaseRow.warned.is_(True)).group_by(CaseRow.state)
                ).all()
                held = s.execute(select(LeaseRow.name, LeaseRow.holder, LeaseRow.expires_at)).all()
                worked = s.execute(select(WorkerPassRow.name, WorkerPassRow.last_success_at, WorkerPassRow.last_error_at)).all()
        except Exception:  # noqa: BLE001 - a scrape during a database outage reports no counts rather than failing
            by_state, late, warn, held, worked = [], [], [], [], []
        for state, n in by_state:
            cases.add_metric([state], n)
        for state, n in late:
            overdue.add_metric([state], n)
        for state, n in warn:
            warned.add_metric([state], n)
        for name, holder, expires in held:
            leases.add_metric([name, holder], _seconds(expires))
        for name, success, error in worked:
            if success is not None:
                passes.add_metric([name], _seconds(success))
            if error is not None:
                failures.add_metric([name], _seconds(error))
        yield cases
        yield overdue
        yield warned
        yield leases
        yield passes
        yield failures


def _seconds(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def metrics_token_refusal(token: Any, request: Any) -> Any:
    """With the setting `metrics_token`, /metrics answers only `Authorization: Bearer <token>`:
    a 401 problem otherwise (None: go on)."""

    if token is None:
        return None
    presented = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if hmac.compare_digest(presented.encode(), expected.encode()):
        return None

    return problem(
        401,
        "unauthorized",
        "Metrics need the bearer token",
        "send Authorization: Bearer <metrics_token> (setting metrics_token)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def install(hub: Hub) -> None:
    """Once per hub (build_hub): the collectors on the registry /metrics serves, and the HTTP
    metrics the API's middleware records into (hub.handles.get(HttpMetrics))."""
    hub.metrics_registry.register(HubCollector(hub))
    hub.handles.add(HttpMetrics(hub.metrics_registry))
