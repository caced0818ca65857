"""Prometheus metrics for the outbox, in a registry per hub (never the global one).

Backlog and oldest age are read from the database at scrape time, so every process that
serves /metrics reports the shared truth; deliveries, failures and latency are counted by
the relays of this process. The API serves them at /metrics; a `hotline-hub relay`, which
serves no API, serves its own with `--metrics-port` (serve_metrics).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from outbox.admin import backlog

if TYPE_CHECKING:
    from hub.container import Hub
    from outbox.delivery import Outcome

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)


class _BacklogCollector:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Any:
        backlog_g = GaugeMetricFamily("outbox_backlog", "Messages not yet delivered (pending or in flight)", labels=["destination"])
        age_g = GaugeMetricFamily("outbox_oldest_age_seconds", "Age of the oldest undelivered message", labels=["destination"])
        dead_g = GaugeMetricFamily("outbox_dead_letters", "Messages in dead letters", labels=["destination"])
        paused_g = GaugeMetricFamily("outbox_destination_paused", "1 while a destination is paused", labels=["destination"])
        held_g = GaugeMetricFamily("outbox_held_cases", "Ordering keys (cases) held back behind a dead letter", labels=["destination"])
        try:
            rows = backlog(self.hub)
        except Exception:  # noqa: BLE001 - a scrape during a database outage reports nothing rather than failing
            rows = []
        for r in rows:
            backlog_g.add_metric([r["destination"]], r["backlog"])
            age_g.add_metric([r["destination"]], r["oldest_age_seconds"] or 0.0)
            dead_g.add_metric([r["destination"]], r["dead"])
            paused_g.add_metric([r["destination"]], 1.0 if r["paused"] else 0.0)
            held_g.add_metric([r["destination"]], r["held_cases"])
        yield from (backlog_g, age_g, dead_g, paused_g, held_g)

    def describe(self) -> list[Any]:
        return []


class OutboxMetrics:
    def __init__(self, hub: Hub, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = Counter("outbox_deliveries", "Messages delivered", ["destination"], registry=registry)
        self.failures = Counter("outbox_failures", "Failed delivery attempts", ["destination", "kind"], registry=registry)
        self.latency = Histogram(
            "outbox_delivery_latency_seconds", "Commit-to-delivery time of delivered messages", ["destination"], buckets=LATENCY_BUCKETS, registry=registry
        )
        registry.register(_BacklogCollector(hub))

    def observe(self, outcome: Outcome, now: datetime) -> None:
        self.observe_all([outcome], now)

    def observe_all(self, outcomes: list[Outcome], now: datetime) -> None:
        """The outcomes recorded in one commit: each counter moved once per destination (and
        kind) by how many, each delivery's latency observed; the same values as one by one."""
        latencies: dict[str, list[float]] = {}
        failed: dict[tuple[str, str], int] = {}
        for o in outcomes:
            if o.kind == "delivered":
                latencies.setdefault(o.claimed.destination, []).append(max(0.0, (now - o.claimed.created_at).total_seconds()))
            elif o.kind in ("transient", "permanent"):
                key = (o.claimed.destination, o.kind)
                failed[key] = failed.get(key, 0) + 1
        for destination, seconds in latencies.items():
            self.deliveries.labels(destination).inc(len(seconds))
            histogram = self.latency.labels(destination)
            for x in seconds:
                histogram.observe(x)
        for (destination, kind), n in failed.items():
            self.failures.labels(destination, kind).inc(n)


class MetricsServer:
    """The registry in Prometheus text format over HTTP (prometheus_client's own server, in
    a daemon thread), for a process that serves no API: `hotline-hub relay --metrics-port`."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        # OSError (port taken, address not ours) reaches the caller before any delivery starts.
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = self._server.server_port  # the one bound, when asked for 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
