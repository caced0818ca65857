"""POST /api/v1/cases through IntakeRoute (hub/api/cases.py): a plain request is answered
without FastAPI's dependency solving, every other one by FastAPI's own handler. The answers are
those the operation documents either way: a registration's 201 with its headers, and each
refusal's problem with the field it names; nothing is stored for a refused request."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi import routing as fastapi_routing
from fastapi.testclient import TestClient

from hub.api import cases, limits, problems
from hub.domain.model import Role
from tests.support.factories import draft


def _problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()


def _stored(api) -> int:
    return len(api["agent"].get("/api/v1/cases").json()["items"])


def test_a_plain_registration_and_one_by_bearer_token_are_answered_alike(api, keys) -> None:
    plain = api["agent"].post("/api/v1/cases", json=draft())
    bearer = httpx.post(
        f"{api['agent'].base_url}/api/v1/cases", json=draft(), headers={"Authorization": f"Bearer {keys['agent']}"}, timeout=30
    )  # no X-API-Key: FastAPI's handler
    for resp in (plain, bearer):
        assert resp.status_code == 201, resp.text
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["location"] == f"/api/v1/cases/{resp.json()['number']}"
        assert resp.headers["etag"] == '"1"' and resp.headers["x-request-id"]
    a, b = plain.json(), bearer.json()
    assert a["number"] != b["number"]
    ignore = {"number", "created_at", "updated_at", "history"}
    assert {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}
    assert a["person"]["phone"] == draft()["person"]["phone"]  # the centre's agent sees the caller's phone
    assert _stored(api) == 2


@pytest.mark.parametrize(
    ("request_args", "status", "field"),
    [
        ({"params": {"dry_run": "1"}}, 422, "query.dry_run"),  # no query parameter is declared
        ({"content": json.dumps(draft(title="噪音\u0000")), "headers": {"content-type": "application/json"}}, 422, "body.title"),
        ({"json": draft(request_type="rumour")}, 422, "body.request_type"),
        ({"content": b'{"title": ', "headers": {"content-type": "application/json"}}, 422, None),
        ({"content": json.dumps(draft()), "headers": {"content-type": "text/plain"}}, 422, None),
        ({"json": draft(), "headers": {"Idempotency-Key": "k" * 129}}, 422, "header.Idempotency-Key"),
        ({"json": draft(), "headers": {"X-API-Key": "hub_deadbeef_" + "x" * 30}}, 401, None),
        ({"json": draft(**{"place.division_code": "999999"})}, 422, "place.division_code"),  # refused by the service
    ],
    ids=["query", "nul", "invalid-field", "not-json", "not-json-type", "long-key", "unknown-key", "unknown-code"],
)
def test_every_refusal_comes_as_the_operation_documents_it_and_stores_nothing(api, request_args, status, field) -> None:
    body = _problem(api["agent"].post("/api/v1/cases", **request_args), status)
    if field is not None:
        assert body["errors"][0]["field"] == field
    assert _stored(api) == 0


def test_a_channel_key_is_refused_here(api, hub) -> None:
    key = hub.keys.create("city-portal", Role.CHANNEL, hub.clock.now(), channel="web")
    refused = httpx.post(f"{api['agent'].base_url}/api/v1/cases", json=draft(), headers={"X-API-Key": key}, timeout=30)
    assert "channel" in _problem(refused, 403)["detail"]
    assert _stored(api) == 0


def test_an_idempotency_key_replays_on_the_plain_path(api) -> None:
    headers = {"Idempotency-Key": "plain-1"}
    first = api["agent"].post("/api/v1/cases", json=draft(), headers=headers)
    again = api["agent"].post("/api/v1/cases", json=draft(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["number"] == again.json()["number"]
    assert _stored(api) == 1


def test_a_route_given_another_dependency_answers_every_request_through_fastapi(hub, keys) -> None:
    called: list[str] = []

    async def noted() -> None:
        called.append("noted")

    app = FastAPI(dependencies=[Depends(limits.refuse_unknown_input)])
    app.state.hub = hub
    problems.install(app)
    wrapper = APIRouter(dependencies=[Depends(noted)])
    wrapper.include_router(cases.router)
    app.include_router(wrapper)
    with TestClient(app) as client:
        resp = client.post("/api/v1/cases", json=draft(), headers={"X-API-Key": keys["agent"]})
    assert resp.status_code == 201, resp.text
    assert called == ["noted"]  # the plain path would have skipped it


def test_only_a_request_that_is_not_plain_has_its_dependencies_solved(api, keys, monkeypatch) -> None:
    solved: list[str] = []
    solve = fastapi_routing.solve_dependencies

    async def counted(*args, **kwargs):
        solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", counted)
    assert api["agent"].post("/api/v1/cases", json=draft()).status_code == 201
    assert solved == []
    bearer = httpx.post(f"{api['agent'].base_url}/api/v1/cases", json=draft(), headers={"Authorization": f"Bearer {keys['agent']}"}, timeout=30)
    assert bearer.status_code == 201 and solved == ["/api/v1/cases"]
