"""Every request has an id: the caller's `X-Request-ID` if sane, else a new one; returned in
the response and on every log line the request causes, in the JSON log format too; the
access line masks personal data in the path and query."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Header

from hub.settings import Settings
from outbox.feature import OutboxHandle
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

inside = APIRouter()


@inside.get("/test/log-inside")
def log_inside() -> dict[str, str]:  # a sync route runs in a worker thread: the id must follow it there
    logging.getLogger("hub.test").warning("working on it for 13800001111")
    return {"ok": "yes"}


@pytest.fixture
def json_log():
    """The process's logging as `serve` sets it with log_format json; the lines written."""
    from hub.logmask import configure_logging

    root = logging.getLogger()
    before, level = root.handlers[:], root.level
    configure_logging("INFO", "json")
    buffer = io.StringIO()
    (handler,) = root.handlers
    handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:], root.level = before, level


def test_request_ids_in_answers_and_log_lines(hub, keys, json_log) -> None:
    from hub.api.app import create_app

    hub.routers.append(inside)
    with LiveServer(create_app(hub)) as live, httpx.Client(base_url=live.url, timeout=30, headers={"X-API-Key": keys["agent"]}) as http:
        given = http.get("/test/log-inside", headers={"X-Request-ID": "call-centre:42"})
        assert given.status_code == 200 and given.headers["x-request-id"] == "call-centre:42"
        insane = http.get("/api/v1/health", headers={"X-Request-ID": "<script>alert(1)</script>"})
        generated = http.get("/api/v1/health")
        listed = http.get("/api/v1/cases", params={"q": "+86 138 1234 5678"})
        assert listed.status_code == 200
    for answer in (insane, generated):
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert insane.headers["x-request-id"] != generated.headers["x-request-id"]

    lines = json_log()
    mine = [line for line in lines if line.get("request_id") == "call-centre:42"]
    assert [(line["logger"], line["level"]) for line in mine] == [("hub.test", "WARNING"), ("hub.access", "INFO")]
    assert mine[0]["message"] == "working on it for 138****1111"
    assert mine[1]["message"].startswith("GET /test/log-inside 200 ")
    access = {line["request_id"]: line["message"] for line in lines if line["logger"] == "hub.access"}
    assert access[insane.headers["x-request-id"]].startswith("GET /api/v1/health 200 ")
    query_line = access[listed.headers["x-request-id"]]
    assert query_line.startswith("GET /api/v1/cases?q=+86 138 **** 5678 200 "), query_line
    assert "1234 5678" not in json.dumps(lines, ensure_ascii=False)
    assert all("<script>" not in json.dumps(line) for line in lines)


seen_by_peer: list[dict[str, str | None]] = []
peer = FastAPI()


@peer.post("/events")
def take(body: dict, x_request_id: str | None = Header(default=None), idempotency_key: str | None = Header(default=None)):
    seen_by_peer.append({"event_type": body["event_type"], "request_id": x_request_id, "key": idempotency_key, "body_request_id": body.get("request_id")})
    return {}


@pytest.fixture
def settings(db_url: str) -> Iterator[Settings]:
    seen_by_peer.clear()
    with LiveServer(peer) as live:
        yield Settings(
            database_url=db_url,
            sqlite_synchronous="NORMAL",
            destinations={"hook": {"adapter": "webhook", "settings": {"url": f"{live.url}/events"}, "events": ["case.registered"]}},
        )


def test_the_outbox_message_and_the_peer_call_carry_the_request_id_that_caused_them(hub, api) -> None:
    from tests.support.factories import draft

    made = api["agent"].post("/api/v1/cases", json=draft(), headers={"X-Request-ID": "intake-77"})
    assert made.status_code == 201, made.text
    made_quietly = api["agent"].post("/api/v1/cases", json=draft(content="另一件事：路灯不亮。"))
    assert made_quietly.status_code == 201, made_quietly.text
    hub.handles.get(OutboxHandle).relay().drain()
    assert sorted((s["request_id"] == "intake-77", s["body_request_id"] == "intake-77") for s in seen_by_peer) == [(False, False), (True, True)]
    other = next(s for s in seen_by_peer if s["request_id"] != "intake-77")
    assert other["request_id"] == made_quietly.headers["x-request-id"] == other["body_request_id"]
