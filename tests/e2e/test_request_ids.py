"""Every request has an id: the caller's `X-Request-ID` if sane, else a new one; returned in
the response and on every log line the request causes, in the JSON log format too; the
access line masks personal data in the path and query."""

from __future__ import annotations

import io
import json
import logging
import re

import httpx
import pytest
from fastapi import APIRouter

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
    with LiveServer(create_app(hub)) as live, httpx.Client(base_url=live.url, timeout=30,
                                                           headers={"X-API-Key": keys["agent"]}) as http:
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
