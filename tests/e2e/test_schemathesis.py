"""Schemathesis over the COMMITTED document (openapi/openapi.json) against a live hub on
loopback, once per party's key: no 5xx, no status code or content type the document does not
declare, no response that does not match its schema.

Bounded so the run stays a few minutes on a busy machine: SCHEMATHESIS_MAX_EXAMPLES examples
per operation, key and database (default 6), positive and negative data, derandomized so a run is
repeatable; no Hypothesis deadline (the machine's load is not the hub's fault). Deselect with
`-m "not schemathesis"`; dig deeper with e.g. SCHEMATHESIS_MAX_EXAMPLES=200.
"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.domain.clock import ManualClock
from hub.domain.model import Role
from hub.settings import REPO_ROOT, Settings
from tests.conftest import START
from tests.support.factories import draft
from tests.support.live import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.schemathesis]

SCHEMA = schemathesis.openapi.from_path(REPO_ROOT / "openapi" / "openapi.json")
OPERATIONS = sorted((op.ok().method.upper(), op.ok().path) for op in SCHEMA.get_all_operations())
ROLES = ("agent", "supervisor", "unit", "county", "province", "channel")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_hub(request: pytest.FixtureRequest, sqlite_template, tmp_path_factory):
    """One hub per database for the whole run (a server per operation would cost more than the
    run), with a case and an article in it so that lists and reads have something to answer.
    Both databases: some input only breaks one of them (PostgreSQL refuses NUL in text)."""
    from hub.api.app import create_app
    from hub.runtime import build_hub

    if request.param == "sqlite":
        url = sqlite_template.fresh(tmp_path_factory.mktemp("schemathesis"))
    else:
        pg = request.getfixturevalue("pg_database")
        pg.clean()
        url = pg.url
    hub = build_hub(
        Settings(database_url=url, sqlite_synchronous="NORMAL", attachments={"directory": tmp_path_factory.mktemp("schemathesis-attachments")}),
        ManualClock(START),
    )
    now = hub.clock.now()
    keys = {
        "agent": hub.keys.create("centre-agent", Role.AGENT, now),
        "supervisor": hub.keys.create("centre-supervisor", Role.SUPERVISOR, now),
        "unit": hub.keys.create("ZY-SCJGJ", Role.UNIT, now, unit_code="ZY-SCJGJ"),
        "county": hub.keys.create("yanjiang", Role.COUNTY, now, divisions=["512002"]),
        "province": hub.keys.create("province", Role.PROVINCE, now),
        "channel": hub.keys.create("city-portal", Role.CHANNEL, now, channel="web"),
    }
    try:
        with LiveServer(create_app(hub)) as server:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                assert client.post("/api/v1/cases", json=draft(), headers={"X-API-Key": keys["agent"]}).status_code == 201
                article = {"owner_unit": "ZY-SCJGJ", "kind": "faq", "title": "消费投诉怎么办", "body": "可拨打12315投诉举报。"}
                assert client.post("/api/v1/knowledge/articles", json=article, headers={"X-API-Key": keys["unit"]}).status_code == 201
            yield server.url, keys
    finally:
        hub.close()


def _strategy(method: str, path: str):
    operation = SCHEMA[path][method]
    return st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE), operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_hub_answers_as_its_document_says(live_hub, role: str, method: str, path: str) -> None:
    base_url, keys = live_hub
    headers = {"X-API-Key": keys[role]}

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(case=_strategy(method, path))
    def run(case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    run()
