"""The console's authorization matrix: every console route × every kind of operator × the
cases that matter, on a real database (SQLite file and PostgreSQL).

The console's routes are HTML, not API operations (they are not in the OpenAPI document), so
they are described here rather than in test_authorization_matrix.py, which leaves out the
routes listed in CONSOLE_ROUTES below; `test_every_console_route_is_in_the_matrix` fails on a
console route without a row. The expectations are written by hand from issue #18 and the
README's access rules (the same as the API's), not computed from the code.

  ok     2xx or a redirect that is not to the sign-in page
  login  a redirect to the sign-in page (no session)
  deny   403 or 404 page
  pass   past authorization: below 500, not 403, not sent to sign in (409 stale, 422 invalid)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from console.accounts import Accounts
from hub.domain.model import Role
from tests.conftest import START
from tests.support.console import CSRF, fast_accounts, published_and_draft
from tests.support.factories import draft

PASSWORD = "matrix-password-1"
# name -> (role, unit, divisions)
OPERATORS: dict[str, tuple[Role, str | None, list[str] | None]] = {
    "agent": (Role.AGENT, None, None),
    "supervisor": (Role.SUPERVISOR, None, None),
    "unit": (Role.UNIT, "ZY-SCJGJ", None),  # the lead unit of the cases below
    "other_unit": (Role.UNIT, "ZY-RSJ", None),
    "county": (Role.COUNTY, None, ["512002"]),  # 雁江区: where the cases are
    "other_county": (Role.COUNTY, None, ["512021"]),
}
ANONYMOUS = "anonymous"
PEOPLE = [*OPERATORS, ANONYMOUS]
CENTRE = ("agent", "supervisor")
CONFIDENTIAL = ("李保密", "13900139000")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # a photo, by its magic bytes


def row(default: str, **per: str) -> dict[str, str]:
    assert not set(per) - set(PEOPLE), per
    return {p: per.get(p, default) for p in OPERATORS} | {ANONYMOUS: per.get(ANONYMOUS, "login")}


def public() -> dict[str, str]:
    return {p: "ok" for p in PEOPLE}


@dataclass(frozen=True)
class Probe:
    expect: dict[str, str]
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None  # posted with the person's CSRF token
    upload: bool = False  # post the form as multipart with a photo in `file` (attachments)


EVERYONE = row("ok")
SEES_YJ = row("ok", other_unit="deny", other_county="deny")
CENTRE_ONLY = row("deny", agent="ok", supervisor="ok")

CONSOLE_EXPECTED: dict[str, list[Probe]] = {
    "GET /": [Probe(public())],
    "GET /console/login": [Probe(public())],
    "POST /console/login": [Probe({p: "pass" for p in PEOPLE}, form={"username": "nobody", "password": "x"})],
    "POST /console/logout": [Probe(row("login"), form={})],  # signed out or not, it ends on the sign-in page
    "GET /console/password": [Probe(EVERYONE)],
    "POST /console/password": [Probe(row("pass"), form={"current": "wrong-password", "new": "0123456789a", "again": "0123456789a"})],
    "GET /console/static/{name}": [Probe(public(), path={"name": "console.css"})],
    "GET /console/": [Probe(EVERYONE)],
    "GET /console/queues/{queue}": [
        Probe(EVERYONE, path={"queue": "overdue"}),
        Probe(row("deny", agent="ok", supervisor="ok"), path={"queue": "to_accept"}),
        Probe(row("ok", agent="deny", supervisor="deny"), path={"queue": "to_sign_off"}),
        Probe(row("ok", agent="deny", supervisor="deny"), path={"queue": "due_soon"}),
        # 协办待办 and 二次派单待办: a unit's own work as a co-unit or a township; no such queue for others
        Probe(row("deny", unit="ok", other_unit="ok"), path={"queue": "parts"}),
        Probe(row("deny", unit="ok", other_unit="ok"), path={"queue": "forwarded"}),
    ],
    "GET /console/search": [Probe(EVERYONE, query={"q": "噪音"}), Probe(EVERYONE, query={"state": "awaiting_sign_off"})],
    "GET /console/cases/{number}": [
        Probe(SEES_YJ, path={"number": "{case_yj}"}),
        Probe(SEES_YJ, path={"number": "{case_conf}"}),
        # not dispatched yet: the centre, and the county of its division (README: a county sees its divisions)
        Probe(row("deny", agent="ok", supervisor="ok", county="ok"), path={"number": "{case_new}"}),
    ],
    # A stale version: past the access check it is 409 (pass); a case one may not see is 403.
    "POST /console/cases/{number}/actions": [
        Probe(row("pass", other_unit="deny", other_county="deny"), path={"number": "{case_yj}"}, form={"action": "archive", "version": "1"})
    ],
    # 督办看板: every operator, each seeing the cases the API lets them see.
    "GET /console/supervision": [Probe(EVERYONE)],
    # 考核: the API's scope rule (a unit sees only itself, a county its own divisions' units and the city's).
    "GET /console/assessment": [
        Probe(EVERYONE, query={"period": "2026-11"}),
        Probe(row("ok", other_unit="deny"), query={"period": "2026-11", "unit": "ZY-SCJGJ"}),
        Probe(row("ok", county="deny"), query={"period": "2026-11", "county": "512021"}),
    ],
    "GET /console/assessment/export": [
        Probe(EVERYONE, query={"period": "2026-11"}),
        Probe(row("ok", other_unit="deny"), query={"period": "2026-11", "unit": "ZY-SCJGJ"}),
    ],
    # 出站消息: the centre's supervisors only, as /api/v1/outbox. No such dead letter: replaying it
    # replays none (ok); skipping it is refused as not a dead letter (409, past authorization).
    "GET /console/outbox": [Probe(row("deny", supervisor="ok"))],
    "POST /console/outbox/replay": [Probe(row("deny", supervisor="ok"), form={"ids": "999999"})],
    "POST /console/outbox/skip": [Probe(row("deny", supervisor="pass"), form={"ids": "999999", "reason": "矩阵"})],
    # Pause and resume a destination: supervisors only; this hub knows no destination "nowhere",
    # so the supervisor's answer is 404 (past authorization), everyone else's 403.
    "POST /console/outbox/destinations/{destination}/pause": [Probe(row("deny", supervisor="pass"), path={"destination": "nowhere"}, form={"reason": "矩阵"})],
    "POST /console/outbox/destinations/{destination}/resume": [Probe(row("deny", supervisor="pass"), path={"destination": "nowhere"}, form={})],
    # 知识库: search and suggestions are for everyone (published articles only); a draft only for
    # its unit and the centre (knowledge.review.may_read_version).
    "GET /console/knowledge": [Probe(EVERYONE, query={"q": "投诉"}), Probe(EVERYONE)],
    "GET /console/knowledge/suggest": [Probe(EVERYONE, query={"q": "消费者投诉"})],
    "GET /console/knowledge/articles/{article_id}": [
        Probe(EVERYONE, path={"article_id": "MATRIX-PUB"}),
        Probe(row("deny", agent="ok", supervisor="ok", unit="ok"), path={"article_id": "MATRIX-DRAFT"}),
    ],
    # Writing: the owning unit's key writes (knowledge.review.check_may_edit), so a unit writes a
    # new article of its own, and a new version of its own article only. A version based on an
    # old one is refused as stale (409, past authorization).
    "GET /console/knowledge/new": [Probe(row("deny", unit="ok", other_unit="ok"))],
    "POST /console/knowledge/new": [Probe(row("deny", unit="ok", other_unit="ok"), form={"kind": "faq", "title": "矩阵新条目", "body": "矩阵测试正文"})],
    "GET /console/knowledge/articles/{article_id}/edit": [Probe(row("deny", unit="ok"), path={"article_id": "MATRIX-DRAFT"})],
    "POST /console/knowledge/articles/{article_id}/versions": [
        Probe(
            row("deny", unit="pass"),
            path={"article_id": "MATRIX-DRAFT"},
            form={"kind": "faq", "title": "矩阵修订", "body": "矩阵测试正文", "base_version": "99"},
        )
    ],
    # Review: the centre's supervisors (a send-back without its note is 422, past authorization).
    "POST /console/knowledge/articles/{article_id}/review": [
        Probe(row("deny", supervisor="pass"), path={"article_id": "MATRIX-DRAFT"}, form={"action": "send_back"})
    ],
    # 延期与退回申请: the centre decides them.
    "GET /console/requests": [Probe(CENTRE_ONLY)],
    # 重复来电: the centre's (the link says who called again). A bad choice is 422, past authorization.
    "POST /console/cases/{number}/repeat-call": [Probe(row("deny", agent="pass", supervisor="pass"), path={"number": "{case_new}"}, form={"op": "neither"})],
    # 补发提取码: the centre only; this hub has no SMS destination, so the centre's answer is 409 (pass).
    "POST /console/cases/{number}/retrieval-code": [Probe(row("deny", agent="pass", supervisor="pass"), path={"number": "{case_yj}"}, form={})],
    # 附件: the handlers of the case and the centre add (the county sees case_yj but a city department
    # handles it); whoever sees the case downloads.
    "POST /console/cases/{number}/attachments": [
        Probe(row("ok", other_unit="deny", county="deny", other_county="deny"), path={"number": "{case_yj}"}, form={"visibility": "internal"}, upload=True)
    ],
    "GET /console/cases/{number}/attachments/{attachment_id}": [Probe(SEES_YJ, path={"number": "{case_yj}", "attachment_id": "{att_yj}"})],
    "GET /console/intake": [Probe(CENTRE_ONLY)],
    "POST /console/intake": [Probe(CENTRE_ONLY, form={"op": "history", "phone": "13800138000"})],
}
CONSOLE_ROUTES = set(CONSOLE_EXPECTED)


def console_routes(app) -> set[str]:  # noqa: ANN001
    out = set()
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if getattr(getattr(route, "endpoint", None), "__module__", "").startswith("console."):
            for method in (getattr(route, "methods", None) or set()) - {"HEAD"}:
                out.add(f"{method} {rc.path_format}")
    return out


@dataclass
class World:
    app: Any
    hub: Any
    objects: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, sqlite_template, tmp_path_factory):
    from hub.api.app import create_app
    from hub.domain import commands as c
    from hub.domain.access import Actor
    from hub.domain.clock import ManualClock
    from hub.domain.model import CaseDraft
    from hub.runtime import build_hub
    from hub.settings import Settings

    if request.param == "sqlite":
        url = sqlite_template.fresh(tmp_path_factory.mktemp("console-matrix"))
    else:
        pg = request.getfixturevalue("pg_database")
        pg.clean()
        url = pg.url
    hub = build_hub(
        Settings(database_url=url, sqlite_synchronous="NORMAL", attachments={"directory": tmp_path_factory.mktemp("console-attachments")}), ManualClock(START)
    )
    accounts = fast_accounts(hub)
    for name, (role, unit, divisions) in OPERATORS.items():
        accounts.create(name.replace("_", "-"), role, PASSWORD, unit_code=unit, divisions=divisions)
    agent = Actor("api-agent", Role.AGENT)

    def case(body: dict, dispatch: bool = True) -> str:
        number = hub.cases.register(CaseDraft.model_validate(body), agent).case.number
        if dispatch:
            hub.cases.act(number, c.Accept(), agent)
            hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), agent)
        return number

    objects = {
        "case_yj": case(draft()),
        "case_new": case(draft(), dispatch=False),
        "case_conf": case(draft(person={"name": CONFIDENTIAL[0], "phone": CONFIDENTIAL[1], "kind": "person", "confidential": True})),
    }
    _articles(hub)
    objects["att_yj"] = hub.attachments.add(objects["case_yj"], io.BytesIO(PNG), "现场.png", "internal", agent)[0].id
    yield World(create_app(hub), hub, objects)
    hub.close()


def _articles(hub) -> None:  # noqa: ANN001
    """One published article and one draft of unit ZY-SCJGJ."""
    body = "消费者可通过12315热线投诉举报，市场监管部门7个工作日内决定是否受理。"
    published_and_draft(hub, ("MATRIX-PUB", "消费者投诉举报办理指南"), ("MATRIX-DRAFT", "尚未发布的消费者投诉指南"), body)


def _classify(resp) -> set[str]:  # noqa: ANN001
    status, location = resp.status_code, resp.headers.get("location", "")
    out = set()
    if 300 <= status < 400 and location.startswith("/console/login"):
        return {"login"}
    if 200 <= status < 400:
        out.add("ok")
    if status in (403, 404):
        out.add("deny")
    if status < 500 and status != 403:
        out.add("pass")
    return out


def _client(world: World, person: str) -> tuple[TestClient, str]:
    client = TestClient(world.app, follow_redirects=False, raise_server_exceptions=False)
    if person == ANONYMOUS:
        return client, ""
    token, session = world.hub.handles.get(Accounts).sign_in(person.replace("_", "-"), PASSWORD, None)
    client.cookies.set("hub_console", token)
    return client, session.csrf_token


def test_every_console_route_is_in_the_matrix(world) -> None:
    routes = console_routes(world.app)
    assert routes - CONSOLE_ROUTES == set(), "console routes with no row in the console matrix"
    assert CONSOLE_ROUTES - routes == set(), "rows for console routes the app no longer has"


@pytest.mark.parametrize("route", sorted(CONSOLE_EXPECTED))
def test_console_route_by_person_and_case(world, route: str) -> None:
    method, path = route.split(" ", 1)
    failures = []
    for i, probe in enumerate(CONSOLE_EXPECTED[route]):
        url = path
        for name, value in probe.path.items():
            url = url.replace("{" + name + "}", world.objects.get(value.strip("{}"), value))
        for person in PEOPLE:
            client, csrf = _client(world, person)
            if route == "POST /console/login":  # its token comes with the sign-in form, before any session
                csrf = CSRF.search(client.get("/console/login").text).group(1)
            if method == "GET":
                resp = client.get(url, params=probe.query)
            elif probe.upload:
                resp = client.post(url, data={"csrf": csrf, **(probe.form or {})}, files={"file": ("现场.png", PNG, "image/png")})
            else:
                resp = client.post(url, data={"csrf": csrf, **(probe.form or {})})
            if probe.expect[person] not in _classify(resp):
                failures.append(
                    f"{person} on {url} (probe {i}): expected {probe.expect[person]}, got {resp.status_code} "
                    f"{resp.headers.get('location', '')} {resp.text[:120]!r}"
                )
            if person not in CENTRE and any(s in resp.text for s in CONFIDENTIAL):
                failures.append(f"{person} on {url} (probe {i}): the confidential caller is shown")
            client.close()
    assert failures == [], "\n".join(failures)
