"""deploy/prometheus/alerts.yml and the Grafana dashboard, loaded and checked against what
the hub really exports: every metric name in their expressions must be on a live /metrics
(or be node_exporter's, named below). promtool checks the rules themselves (test_alert_rules.py); this check is
the one that catches a renamed metric."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hub.settings import REPO_ROOT
from tests.support.factories import draft

pytestmark = pytest.mark.e2e

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "hotline-hub.json"
NOT_THE_HUBS = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"}  # node_exporter, for the disk alert
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "le", "inf", "nan"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
    "unknown": ("",),
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: label matchers, strings, ranges, grouping
    clauses, function calls and keywords taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        after = text[m.end() :].lstrip()
        if after.startswith("(") or m.group().lower() in PROMQL_WORDS:
            continue  # a function or a keyword
        names.add(m.group())
    return names


def test_the_name_extraction_itself() -> None:
    assert metric_names('sum by (destination) (rate(outbox_deliveries_total{x="a b"}[5m])) > 0') == {"outbox_deliveries_total"}
    assert metric_names("time() - max(hub_lease_expires_timestamp_seconds) > 300 and on () month() >= 11") == {"hub_lease_expires_timestamp_seconds"}


@pytest.fixture
def exported(hub, api, server) -> set[str]:
    """Every series name the hub's /metrics can carry, after a little traffic."""
    assert api["agent"].post("/api/v1/cases", json=draft()).status_code == 201
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(s.name for s in family.samples)
    return names


def test_alert_rules_load_and_read_only_exported_metrics(exported) -> None:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    (group,) = rules["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    for wanted in ("HubRelayStalled", "HubDeadLettersRising", "HubPollerSilent", "HubSchedulerSilent", "HubCalendarEndingSoon", "HubDiskFilling"):
        assert wanted in alerts
    for name, rule in alerts.items():
        assert rule["expr"].strip() and rule["annotations"]["summary"] and rule["labels"]["severity"] in ("warning", "critical")
        used = metric_names(rule["expr"])
        assert used, name
        assert used - exported - NOT_THE_HUBS == set(), f"{name} reads metrics the hub does not export"


def test_the_dashboard_loads_and_reads_only_exported_metrics(exported) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10 and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for expr in exprs:
        assert metric_names(expr) and metric_names(expr) - exported == set(), expr
