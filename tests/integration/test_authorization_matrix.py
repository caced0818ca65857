"""The authorization matrix: every API operation of the app × every role × the objects that
matter, on a real database (SQLite file and PostgreSQL), through the in-process ASGI app.

It cannot go stale: the operations are read from the app's routes (core, features and
adapters alike), and an operation that is not described in EXPECTED below fails
`test_every_route_is_in_the_matrix` — so is one described here that the app no longer has.

The expectations are a reviewed table written from DOMAIN.md, the README's API section and
the docs, NOT computed from hub/domain/access.py or the lifecycle table. Outcome classes:

  ok     2xx                    deny   403 or 404 (refused, or "does not exist for you")
  401    no valid key           409    refused by the rules of the case/article (not a party question)
  pass   past authorization: any status below 500 except 401 and 403 (the business outcome
         depends on the data, e.g. an unknown dead-letter id)

Beside the status, every response is checked for what must never appear in it: the
confidential caller's name and phone for anyone outside the centre, any caller's name,
phone or address in a list, and an unpublished article's text for anyone but its unit and
the centre.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from adapters.county.intake import CountyIntake
from adapters.county.signing import signed_headers
from hub.domain.model import Role
from tests.conftest import START
from tests.e2e.test_county_push import SECRETS, ticket
from tests.integration.test_console_matrix import CONSOLE_ROUTES
from tests.support.factories import draft

# -- the parties ------------------------------------------------------------------------------
# name -> (party, role, unit_code, divisions). A key is created for each (a channel's carries "web").
PARTIES: dict[str, tuple[str, Role, str | None, list[str] | None]] = {
    "agent": ("centre-agent", Role.AGENT, None, None),
    "supervisor": ("centre-supervisor", Role.SUPERVISOR, None, None),
    "unit": ("ZY-SCJGJ", Role.UNIT, "ZY-SCJGJ", None),  # lead of the 雁江区 cases, owner of the articles
    "co_unit": ("ZY-RSJ", Role.UNIT, "ZY-RSJ", None),  # co-unit of case_yj only
    "county": ("yanjiang", Role.COUNTY, None, ["512002"]),
    "other_county": ("anyue", Role.COUNTY, None, ["512021"]),
    "province": ("province", Role.PROVINCE, None, None),
    # The city portal: registers web cases and reads its own, only through the citizen view
    # (/api/v1/channel/cases); every full-case route refuses it (docs/channels.md).
    "channel": ("city-portal", Role.CHANNEL, None, None),
}
NO_KEY, BAD_KEY, REVOKED = "no_key", "bad_key", "revoked_key"
ROLES = [*PARTIES, NO_KEY, BAD_KEY, REVOKED]
CENTRE = ("agent", "supervisor")

# The WeChat account of the matrix's hub: its signature is fixed (the clock starts at START and
# moves a second per request, so the skew allowed is wide).
WECHAT_TOKEN = "matrixWeChatToken"
_WECHAT_AT = str(int(START.timestamp()))
WECHAT_SIGNED = {
    "timestamp": _WECHAT_AT,
    "nonce": "matrix",
    "signature": hashlib.sha1("".join(sorted([WECHAT_TOKEN, _WECHAT_AT, "matrix"])).encode()).hexdigest(),
}

# -- what must never leak --------------------------------------------------------------------------
PERSON = ("张三", "13800138000", "建设路12号")  # an ordinary caller: never in a list
CONFIDENTIAL = ("李保密", "13900139000")  # 保密: only the centre sees who called
DRAFT_TEXT = ("未发布草稿标题", "草稿第二版标题", "草稿正文不得外传")  # drafts: the owning unit and the centre
DRAFT_READERS = ("agent", "supervisor", "unit")


# -- the expectations table ------------------------------------------------------------------------
def row(default: str, **per_role: str) -> dict[str, str]:
    """Outcome per authenticated role (default for those not named); no key, a bad key and a
    revoked key are refused 401 unless the operation is public."""
    out = {r: per_role.get(r, default) for r in PARTIES}
    unknown = set(per_role) - set(PARTIES)
    assert not unknown, unknown
    return out | {NO_KEY: "401", BAD_KEY: "401", REVOKED: "401"}


def public() -> dict[str, str]:
    return {r: "ok" for r in ROLES}


@dataclass(frozen=True)
class Probe:
    """One object an operation is tried on: path parameters, query, body, expected outcomes."""

    expect: dict[str, str]
    path: dict[str, str] = field(default_factory=dict)  # values may name objects: "{case_yj}"
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    listing: bool = False  # a list: no caller's personal data for anyone
    county_signed: str | None = None  # sign the body as this county (pushes)
    upload: dict[str, Any] | None = None  # multipart form fields beside the file `file` (attachments)


SEES_YJ = row("deny", agent="ok", supervisor="ok", unit="ok", co_unit="ok", county="ok")
SEES_YJ_LEAD = row("deny", agent="ok", supervisor="ok", unit="ok", county="ok")  # not the co-unit: not on these cases
SEES_AY = row("deny", agent="ok", supervisor="ok", other_county="ok")
SEES_PROV = row("deny", agent="ok", supervisor="ok", province="ok")
CASE_OBJECTS = {"case_yj": SEES_YJ, "case_conf": SEES_YJ_LEAD, "case_anon": SEES_YJ_LEAD, "case_ay": SEES_AY, "case_prov": SEES_PROV}
SUPERVISOR_ONLY = row("deny", supervisor="ok")
SUPERVISOR_PASSES = row("deny", supervisor="pass")
CENTRE_ONLY = row("deny", agent="ok", supervisor="ok")
EVERYONE = row("ok")
DRAFT_SEEN_BY_OWNER = row("deny", agent="ok", supervisor="ok", unit="ok")

PROGRESS = {"action": "report_progress", "text": "已到现场核查"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # a photo, by its magic bytes
NEW_ARTICLE = {"owner_unit": "ZY-SCJGJ", "kind": "faq", "title": "新文章", "body": "新文章正文"}


def _case_probes(expect_for: dict[str, dict[str, str]], **extra: Any) -> list[Probe]:
    return [Probe(expect=e, path={"number": "{" + obj + "}"}, **extra) for obj, e in expect_for.items()]


EXPECTED: dict[str, list[Probe]] = {
    # -- cases ---------------------------------------------------------------------------------
    "POST /api/v1/cases": [
        # Registering: the centre, a county in its own divisions, the province; a unit may not (403).
        Probe(row("deny", agent="ok", supervisor="ok", county="ok", province="ok"), body=draft()),
        # Another system's external id is never set by a party (only the hub's own adapters).
        Probe(row("deny"), body=draft(external_refs=[{"system": "county.anyue", "external_id": "AY-FORGED"}])),
        Probe(row("deny", province="ok"), body=draft(external_refs=[{"system": "province", "external_id": "SC-OWN"}])),
    ],
    "GET /api/v1/cases": [Probe(row("ok", channel="deny"), listing=True)],  # a channel lists nothing: the citizen view is per case
    "GET /api/v1/cases/{number}": _case_probes(CASE_OBJECTS),
    "GET /api/v1/cases/{number}/history": _case_probes(CASE_OBJECTS),
    "GET /api/v1/cases/{number}/parts": _case_probes(CASE_OBJECTS),
    "POST /api/v1/cases/{number}/actions": _case_probes(
        {
            # report_progress on an in-progress case led by a city department, ZY-RSJ co-handling:
            # the handlers act; the county in whose division it lies is not its handler (403);
            # the centre sees it but the table refuses it this action (409).
            "case_yj": row("deny", agent="409", supervisor="409", unit="ok", co_unit="ok"),
            "case_ay": row("deny", agent="409", supervisor="409", other_county="409"),  # registered: no progress yet
            "case_prov": row("deny", agent="409", supervisor="409", province="409"),
        },
        body=PROGRESS,
    )
    + [
        # Replying is the lead's: on a case led by the county's own government the county replies.
        Probe(row("deny", agent="409", supervisor="409", county="ok"), path={"number": "{case_yjgov}"}, body={"action": "reply", "text": "已由区政府处理"}),
        # An extension is asked by the lead only: not the co-unit, not the county (the lead is a city department).
        Probe(
            row("deny", agent="409", supervisor="409", unit="ok"),
            path={"number": "{case_yj}"},
            body={"action": "request_extension", "working_days": 3, "reason": "需现场勘查"},
        ),
    ],
    # Repeat calls (重复来电) say the same caller called again: the centre's alone (#20). The
    # matrix's cases carry no link: the centre is past authorization (404), the others refused.
    "GET /api/v1/cases/{number}/repeat-call": _case_probes({"case_yj": row("deny", agent="pass", supervisor="pass")}),
    "POST /api/v1/cases/{number}/repeat-call/confirm": _case_probes({"case_yj": row("deny", agent="pass", supervisor="pass")}, body={}),
    "POST /api/v1/cases/{number}/repeat-call/dismiss": _case_probes({"case_yj": row("deny", agent="pass", supervisor="pass")}, body={}),
    # The caller's history reveals who called about what: the centre's alone (#20).
    "POST /api/v1/callers/history": [Probe(row("deny", agent="ok", supervisor="ok"), body={"phone": "13900139000"})],
    "GET /api/v1/cases/{number}/suggestions": _case_probes(CASE_OBJECTS),
    "POST /api/v1/cases/{number}/answer": _case_probes(
        {
            # Visible but in progress: the table refuses a direct answer (409); invisible: 403.
            "case_yj": row("deny", agent="409", supervisor="409", unit="409", co_unit="409", county="409"),
            "case_ay": row("deny", agent="409", supervisor="409", other_county="409"),
        },
        body={"answer": "依据政策答复", "articles": ["{art_pub}@1"]},
    ),
    # -- codes, me, calendar ----------------------------------------------------------------------
    "GET /api/v1/codes/{kind}": [Probe(EVERYONE, path={"kind": "units"})],
    "GET /api/v1/me": [Probe(EVERYONE)],
    "GET /api/v1/calendar/overrides": [Probe(EVERYONE)],
    "PUT /api/v1/calendar/overrides/{day}": [Probe(SUPERVISOR_ONLY, path={"day": "2025-12-27"}, body={"is_workday": False, "note": "矩阵测试"})],
    "DELETE /api/v1/calendar/overrides/{day}": [Probe(SUPERVISOR_PASSES, path={"day": "2025-12-28"})],
    "GET /api/v1/calendar/status": [Probe(EVERYONE)],
    # An integrator's feature (examples/hotline_hub_example_feature, installed by the Makefile):
    # any key reads the service hours, none is refused 401.
    "GET /api/v1/example/service-hours": [Probe(EVERYONE)],
    "GET /api/v1/calendar/years": [Probe(EVERYONE)],
    "GET /api/v1/calendar/years/{year}": [Probe(row("pass"), path={"year": "2031"})],  # not imported: 404 to all
    # An incomplete schedule: 422 for the supervisor, refused before it is read for everyone else.
    "PUT /api/v1/calendar/years/{year}": [Probe(SUPERVISOR_PASSES, path={"year": "2031"}, body={"year": 2031})],
    # -- outbox (operators) --------------------------------------------------------------------
    "GET /api/v1/outbox/destinations": [Probe(SUPERVISOR_ONLY)],
    "GET /api/v1/outbox/dead": [Probe(SUPERVISOR_ONLY)],
    "POST /api/v1/outbox/replay": [Probe(SUPERVISOR_PASSES, body={"ids": [999999]})],
    "POST /api/v1/outbox/skip": [Probe(SUPERVISOR_PASSES, body={"ids": [999999], "reason": "矩阵测试"})],  # 409: not dead
    "POST /api/v1/outbox/destinations/{destination}/pause": [Probe(SUPERVISOR_PASSES, path={"destination": "nowhere"})],
    "POST /api/v1/outbox/destinations/{destination}/resume": [Probe(SUPERVISOR_PASSES, path={"destination": "nowhere"})],
    # Prometheus scrapes without a key; the figures carry no case or person (reviewed: public).
    "GET /metrics": [Probe(public())],
    # -- counties: only the county's own key, on its own path --------------------------------------
    "POST /api/v1/counties/{county}/tickets": [
        Probe(row("deny", other_county="ok"), path={"county": "anyue"}, county_signed="anyue", body="{anyue_ticket}"),
        # On yanjiang's path only yanjiang's key pushes (signed), whatever the caller's role.
        Probe(row("deny", county="ok"), path={"county": "yanjiang"}, county_signed="yanjiang", body="{yanjiang_ticket}"),
    ],
    "GET /api/v1/counties/{county}/tickets/{ticket_id}": [
        Probe(row("deny", other_county="ok"), path={"county": "anyue", "ticket_id": "AY-MATRIX-1"}),
    ],
    "POST /api/v1/counties/{county}/tickets/{ticket_id}/updates": [
        Probe(row("deny", other_county="pass"), path={"county": "anyue", "ticket_id": "AY-MATRIX-1"}, county_signed="anyue", body={}),
    ],
    # -- knowledge: drafts for the owning unit and the centre; published for everyone -----------------
    "POST /api/v1/knowledge/articles": [Probe(row("deny", unit="ok"), body=NEW_ARTICLE)],
    "GET /api/v1/knowledge/articles": [Probe(EVERYONE), Probe(EVERYONE, query={"status": "draft"})],
    "GET /api/v1/knowledge/articles/{article_id}": [
        Probe(DRAFT_SEEN_BY_OWNER, path={"article_id": "{art_draft}"}),
        Probe(EVERYONE, path={"article_id": "{art_pub}"}),
    ],
    "POST /api/v1/knowledge/articles/{article_id}/versions": [
        Probe(
            row("deny", unit="pass"),
            path={"article_id": "{art_pub}"},
            body={"kind": "faq", "title": "草稿第二版标题", "body": "草稿正文不得外传", "base_version": 2},
        ),
    ],
    "GET /api/v1/knowledge/articles/{article_id}/versions": [
        Probe(DRAFT_SEEN_BY_OWNER, path={"article_id": "{art_draft}"}),
        Probe(DRAFT_SEEN_BY_OWNER, path={"article_id": "{art_pub}"}),
    ],
    "GET /api/v1/knowledge/articles/{article_id}/versions/{version}": [
        Probe(EVERYONE, path={"article_id": "{art_pub}", "version": "1"}),  # published: cases cite it
        Probe(DRAFT_SEEN_BY_OWNER, path={"article_id": "{art_pub}", "version": "2"}),
        Probe(DRAFT_SEEN_BY_OWNER, path={"article_id": "{art_draft}", "version": "1"}),
    ],
    "GET /api/v1/knowledge/articles/{article_id}/history": [
        Probe(DRAFT_SEEN_BY_OWNER, path={"article_id": "{art_draft}"}),
    ],
    "POST /api/v1/knowledge/articles/{article_id}/review": [
        # Sending a draft back is a supervisor's step; for the others the review table refuses it.
        Probe(
            row("409", supervisor="ok", co_unit="deny", county="deny", other_county="deny", province="deny", channel="deny"),
            path={"article_id": "{art_draft}"},
            body={"action": "send_back", "note": "请补充依据"},
        ),
    ],
    "GET /api/v1/knowledge/search": [
        Probe(EVERYONE, query={"q": "草稿", "any_validity": "true"}),
        Probe(EVERYONE, query={"q": "社保卡", "any_validity": "true"}),
    ],
    "POST /api/v1/knowledge/import": [
        # The answer lists created / refused items; it must not reveal another unit's draft.
        Probe(EVERYONE, body=[{**NEW_ARTICLE, "id": "{art_draft}", "title": "未发布草稿标题", "body": "草稿正文不得外传"}]),
    ],
    "GET /api/v1/knowledge/changes": [Probe(EVERYONE)],
    # -- supervision and assessment -------------------------------------------------------------------
    "GET /api/v1/assessment": [Probe(row("ok", province="deny", channel="deny"), query={"period": "2025-09"})],
    "GET /api/v1/assessment/export": [Probe(row("ok", province="deny", channel="deny"), query={"period": "2025-09"})],
    # 三率排名 shows every unit's figures: the centre and the counties (their own cases), not a unit.
    "GET /api/v1/assessment/ranking": [Probe(row("ok", province="deny", unit="deny", co_unit="deny", channel="deny"), query={"period": "2025-W39"})],
    "GET /api/v1/assessment/ranking/export": [
        Probe(row("ok", province="deny", unit="deny", co_unit="deny", channel="deny"), query={"period": "2025-09-01..2025-09-30"})
    ],
    "GET /api/v1/supervision": [Probe(row("ok", province="deny", channel="deny"), listing=True)],
    # -- legacy lines (the centre's operators) -----------------------------------------------------
    "GET /api/v1/legacy/candidates": [Probe(SUPERVISOR_ONLY, listing=True)],
    "POST /api/v1/legacy/candidates/{candidate_id}/confirm": [Probe(SUPERVISOR_PASSES, path={"candidate_id": "999"})],
    "POST /api/v1/legacy/candidates/{candidate_id}/dismiss": [Probe(SUPERVISOR_PASSES, path={"candidate_id": "999"})],
    "GET /api/v1/legacy/refusals": [Probe(SUPERVISOR_ONLY)],
    "POST /api/v1/legacy/refusals/{refusal_id}/retry": [Probe(SUPERVISOR_PASSES, path={"refusal_id": "999"})],
    "POST /api/v1/legacy/refusals/{refusal_id}/dismiss": [Probe(SUPERVISOR_PASSES, path={"refusal_id": "999"})],
    "GET /api/v1/legacy/lines": [Probe(CENTRE_ONLY)],
    "GET /api/v1/legacy/routing": [Probe(CENTRE_ONLY, query={"category": "0101"})],
    # -- channels: a channel key on its own cases (citizen view); citizens with the code, no key -----------
    "POST /api/v1/channel/cases": [
        Probe(row("deny", channel="ok"), body=draft(intake={"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"})),
        # Its own channel only: a phone case from the portal is refused.
        Probe(row("deny"), body=draft()),
    ],
    "GET /api/v1/channel/cases/{number}": [
        Probe(row("deny", channel="ok"), path={"number": "{case_web}"}),
        Probe(row("deny"), path={"number": "{case_yj}"}),  # not its own: 404 to the channel, 403 to the rest
    ],
    # Rating waits for an approved reply: the portal's registered case is refused by its state (409).
    "POST /api/v1/channel/cases/{number}/evaluation": [
        Probe(row("deny", channel="409"), path={"number": "{case_web}"}, body={"satisfaction": "satisfied"}),
        Probe(row("deny"), path={"number": "{case_yj}"}, body={"satisfaction": "satisfied"}),
    ],
    # No key: the retrieval code is the authorization. With the right code everyone reads the
    # citizen view (a key changes nothing); rating a case with no approved reply is 409.
    "POST /api/v1/public/cases/{number}/lookup": [Probe(public(), path={"number": "{case_web}"}, body={"code": "{code_web}"})],
    "POST /api/v1/public/cases/{number}/evaluation": [
        Probe({r: "409" for r in ROLES}, path={"number": "{case_web}"}, body={"code": "{code_web}", "satisfaction": "satisfied"}),
    ],
    # The WeChat server URL: no key; WeChat's signature with the account's token is the
    # authorization (a key changes nothing). Not signed so: 403 to everyone, nothing recorded.
    # Messages themselves: tests/integration/test_wechat.py.
    "GET /api/v1/channel/wechat": [
        Probe(public(), query={**WECHAT_SIGNED, "echostr": "4711"}),
        Probe({r: "deny" for r in ROLES}, query={**WECHAT_SIGNED, "signature": "0" * 40, "echostr": "4711"}),
    ],
    "POST /api/v1/channel/wechat": [
        Probe({r: "deny" for r in ROLES}, query={**WECHAT_SIGNED, "signature": "0" * 40}, body="<xml></xml>"),
    ],
    # A lost code: anyone may ask (the answer is the same whatever the number and phone; a wrong
    # phone gets no SMS); the requests count toward a lockout, so later roles may meet 429.
    "POST /api/v1/public/cases/{number}/code": [Probe({r: "pass" for r in ROLES}, path={"number": "{case_web}"}, body={"phone": "13900139000"})],
    # The centre reissues by SMS: this hub has no SMS destination, so the rules refuse it (409).
    "POST /api/v1/cases/{number}/retrieval-code": [Probe(row("deny", agent="409", supervisor="409"), path={"number": "{case_web}"})],
    # -- Open311 GeoReport v2: discovery and services are public (the specification's); requests
    # are the channel party's own, as on the channel API. The list holds the place of each matter
    # (GeoReport's address, lat/long) but never a name or a phone: those are checked below.
    "GET /open311/v2/discovery.{fmt}": [Probe(public(), path={"fmt": "json"})],
    "GET /open311/v2/services.{fmt}": [Probe(public(), path={"fmt": "json"}), Probe(public(), path={"fmt": "xml"})],
    "GET /open311/v2/services/{service_code}.{fmt}": [Probe(public(), path={"service_code": "0102", "fmt": "json"})],
    "POST /open311/v2/requests.{fmt}": [
        Probe(row("deny", channel="ok"), path={"fmt": "json"}, body={"service_code": "0102", "address_string": "雁江区建设路12号", "description": "路灯不亮"}),
    ],
    "GET /open311/v2/requests.{fmt}": [Probe(row("deny", channel="ok"), path={"fmt": "json"}), Probe(row("deny", channel="ok"), path={"fmt": "xml"})],
    "GET /open311/v2/requests/{service_request_id}.{fmt}": [
        Probe(row("deny", channel="ok"), path={"service_request_id": "{case_web}", "fmt": "json"}),
        Probe(row("deny"), path={"service_request_id": "{case_yj}", "fmt": "json"}),  # not its own: 404 to the channel
        Probe(row("deny"), path={"service_request_id": "{case_conf}", "fmt": "xml"}),
    ],
    "GET /open311/v2/tokens/{token}.{fmt}": [
        Probe(row("deny", channel="ok"), path={"token": "{case_web}", "fmt": "json"}),
        Probe(row("deny"), path={"token": "{case_yj}", "fmt": "xml"}),  # not its own: 404 to the channel
    ],
    # -- attachments (附件): whoever sees the case reads them; the handlers of a case and the centre add;
    # a channel its citizen's photo on its own case; a citizen with the code. Files are not in the JSON
    # checked for leaks; the names carry no personal data here.
    "POST /api/v1/cases/{number}/attachments": _case_probes(
        {
            # A unit and its co-unit handle case_yj; the county sees it but a city department handles it.
            "case_yj": row("deny", agent="ok", supervisor="ok", unit="ok", co_unit="ok"),
            "case_ay": row("deny", agent="ok", supervisor="ok"),  # registered: no handler yet, the county pushed it only
        },
        upload={"visibility": "internal"},
    )
    + [
        Probe(row("deny", agent="ok", supervisor="ok", county="ok"), path={"number": "{case_yjgov}"}, upload={}),
    ],
    "GET /api/v1/cases/{number}/attachments": _case_probes(CASE_OBJECTS),
    "GET /api/v1/cases/{number}/attachments/{attachment_id}": [
        Probe(SEES_YJ, path={"number": "{case_yj}", "attachment_id": "{att_yj}"}),
        # Another case's attachment under this case's number: no such attachment (404) for those who see the case.
        Probe(row("deny"), path={"number": "{case_ay}", "attachment_id": "{att_yj}"}),
    ],
    "POST /api/v1/channel/cases/{number}/attachments": [
        Probe(row("deny", channel="ok"), path={"number": "{case_web}"}, upload={}),
        Probe(row("deny"), path={"number": "{case_yj}"}, upload={}),
    ],
    "GET /api/v1/channel/cases/{number}/attachments/{attachment_id}": [
        Probe(row("deny", channel="ok"), path={"number": "{case_web}", "attachment_id": "{att_web}"}),
        Probe(row("deny"), path={"number": "{case_web}", "attachment_id": "{att_web_internal}"}),  # internal: never the channel's
    ],
    "POST /api/v1/public/cases/{number}/attachments": [Probe(public(), path={"number": "{case_web}"}, upload={"code": "{code_web}"})],
    "POST /api/v1/public/cases/{number}/attachments/{attachment_id}": [
        Probe(public(), path={"number": "{case_web}", "attachment_id": "{att_web}"}, body={"code": "{code_web}"}),
        Probe({r: "deny" for r in ROLES}, path={"number": "{case_web}", "attachment_id": "{att_web_internal}"}, body={"code": "{code_web}"}),
    ],
    # -- health: for load balancers, no key -----------------------------------------------------------
    "GET /api/v1/health": [Probe(public())],
    "GET /api/v1/ready": [Probe(public())],
}

# Routes that are not API operations: the spec and its viewer with its assets (no data), and
# the console's HTML pages, which have a matrix of their own (tests/integration/test_console_matrix.py).
NOT_OPERATIONS = {"GET /api/v1/openapi.json", "GET /api/v1/docs", "GET /api/v1/docs/assets/{name}", *CONSOLE_ROUTES}

# Which of the fixed cases each party finds in GET /api/v1/cases (the same rule as reading one).
LISTED = {
    "agent": {"case_yj", "case_conf", "case_anon", "case_yjgov", "case_ay", "case_prov", "case_web"},
    "supervisor": {"case_yj", "case_conf", "case_anon", "case_yjgov", "case_ay", "case_prov", "case_web"},
    "unit": {"case_yj", "case_conf", "case_anon"},
    "co_unit": {"case_yj"},
    "county": {"case_yj", "case_conf", "case_anon", "case_yjgov", "case_web"},
    "other_county": {"case_ay"},
    "province": {"case_prov"},
}


# -- the world: one hub per database, the objects made once ---------------------------------------------


@dataclass
class World:
    client: TestClient
    keys: dict[str, str | None]
    objects: dict[str, str]
    hub: Any


def operations(app) -> set[str]:
    out = set()
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        methods = (getattr(route, "methods", None) or set()) - {"HEAD"}
        for method in methods:
            out.add(f"{method} {rc.path_format}")
    return out


def api_operations(app) -> set[str]:
    return {op for op in operations(app) if op not in NOT_OPERATIONS}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, sqlite_template, tmp_path_factory):
    from hub.api.app import create_app
    from hub.domain.clock import ManualClock
    from hub.runtime import build_hub
    from hub.settings import AttachmentSettings, ChannelSettings, Settings, WeChatSettings

    if request.param == "sqlite":
        url = sqlite_template.fresh(tmp_path_factory.mktemp("matrix"))
    else:
        pg = request.getfixturevalue("pg_database")
        pg.clean()
        url = pg.url
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    clock = ManualClock(START)
    wechat = WeChatSettings(app_id="wxmatrix", token=WECHAT_TOKEN, max_skew_seconds=86_400)
    # Attachments in a directory of this module's own; citizens may send a file per role and probe.
    attachments = AttachmentSettings(directory=tmp_path_factory.mktemp("attachments"), citizen_max_per_case=100)
    hub = build_hub(Settings(database_url=url, sqlite_synchronous="NORMAL", channels=ChannelSettings(wechat=wechat), attachments=attachments), clock)
    keys: dict[str, str | None] = {}
    for name, (party, role, unit, divisions) in PARTIES.items():
        keys[name] = hub.keys.create(party, role, clock.now(), unit_code=unit, divisions=divisions, channel="web" if role is Role.CHANNEL else None)
    revoked = hub.keys.create("former-agent", Role.AGENT, clock.now())
    hub.keys.revoke(revoked.split("_")[1], clock.now())
    keys[REVOKED], keys[BAD_KEY], keys[NO_KEY] = revoked, "hub_0123456789ab_" + "x" * 40, None
    client = TestClient(create_app(hub), raise_server_exceptions=False)
    objects = _make_objects(client, keys, hub)
    yield World(client, keys, objects, hub)
    client.close()
    hub.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _ok(resp, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def _make_objects(client: TestClient, keys: dict[str, str | None], hub) -> dict[str, str]:
    def as_(name: str) -> dict[str, str]:
        return {"X-API-Key": keys[name] or ""}

    objects: dict[str, str] = {}

    def in_progress(body: dict, co: list[str], lead: str = "ZY-SCJGJ", signer: str = "unit") -> str:
        number = _ok(client.post("/api/v1/cases", json=body, headers=as_("agent")), 201)["number"]
        for actor, action in (
            ("agent", {"action": "accept"}),
            ("agent", {"action": "dispatch", "lead_unit": lead, "co_units": co}),
            (signer, {"action": "sign_off"}),
        ):
            _ok(client.post(f"/api/v1/cases/{number}/actions", json=action, headers=as_(actor)))
        return number

    objects["case_yj"] = in_progress(draft(), ["ZY-RSJ"])
    objects["case_conf"] = in_progress(draft(person={"name": CONFIDENTIAL[0], "phone": CONFIDENTIAL[1], "kind": "person", "confidential": True}), [])
    objects["case_anon"] = in_progress(draft(person={"kind": "person", "anonymous": True}), [])
    objects["case_yjgov"] = in_progress(draft(title="区政府主办"), [], lead="YJ-GOV", signer="county")
    objects["case_prov"] = _ok(client.post("/api/v1/cases", json=draft(**{"place.division_code": "512022"}), headers=as_("province")), 201)["number"]
    intake = hub.handles.get(CountyIntake)
    ay = intake.counties["anyue"]
    body = json.dumps(ticket(ay, "AY-MATRIX-1", hub.clock.now())).encode()
    headers = {
        **as_("other_county"),
        "content-type": "application/json",
        **signed_headers(SECRETS["HUB_COUNTY_ANYUE_SECRET"], int(hub.clock.now().timestamp()), body),
    }
    objects["case_ay"] = _ok(client.post("/api/v1/counties/anyue/tickets", content=body, headers=headers), 201)["case_number"]

    web = _ok(
        client.post("/api/v1/channel/cases", headers=as_("channel"), json=draft(intake={"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"})), 201
    )
    objects["case_web"], objects["code_web"] = web["case"]["number"], web["retrieval_code"]

    def attach(number: str, who: str, visibility: str, prefix: str = "/api/v1/cases") -> str:
        return _ok(
            client.post(f"{prefix}/{number}/attachments", headers=as_(who), data={"visibility": visibility}, files={"file": ("现场.png", PNG, "image/png")}),
            201,
        )["id"]

    objects["att_yj"] = attach(objects["case_yj"], "agent", "internal")
    objects["att_web"] = attach(objects["case_web"], "channel", "public", prefix="/api/v1/channel/cases")
    objects["att_web_internal"] = attach(objects["case_web"], "agent", "internal")

    objects["art_draft"] = _ok(
        client.post("/api/v1/knowledge/articles", headers=as_("unit"), json={**NEW_ARTICLE, "title": "未发布草稿标题", "body": "草稿正文不得外传"}), 201
    )["id"]
    pub = _ok(
        client.post("/api/v1/knowledge/articles", headers=as_("unit"), json={**NEW_ARTICLE, "title": "社保卡补办", "body": "社保卡补办请到社保大厅。"}), 201
    )["id"]
    for step in ("review", "publish"):
        _ok(client.post(f"/api/v1/knowledge/articles/{pub}/review", json={"action": step}, headers=as_("supervisor")))
    _ok(
        client.post(
            f"/api/v1/knowledge/articles/{pub}/versions",
            headers=as_("unit"),
            json={"kind": "faq", "title": "草稿第二版标题", "body": "草稿正文不得外传", "base_version": 1},
        ),
        201,
    )
    objects["art_pub"] = pub
    return objects


# -- the tests -------------------------------------------------------------------------------------


def test_every_route_is_in_the_matrix(world) -> None:
    """A new route must be described above (a reviewed row per role); a removed one removed."""
    app_ops = api_operations(world.client.app)
    assert app_ops - set(EXPECTED) == set(), "operations with no row in the authorization matrix"
    assert set(EXPECTED) - app_ops == set(), "rows for operations the app no longer has"
    assert len(app_ops) >= 45


def _fill(value: Any, objects: dict[str, str], extra: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole and whole.group(1) in extra:
            return extra[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: objects.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_fill(v, objects, extra) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, objects, extra) for k, v in value.items()}
    return value


def _classify(status: int) -> set[str]:
    out = set()
    if 200 <= status < 300:
        out.add("ok")
    if status in (403, 404):
        out.add("deny")
    if status == 401:
        out.add("401")
    if status == 409:
        out.add("409")
    if status < 500 and status not in (401, 403):
        out.add("pass")
    return out


def _leaks(role: str, probe: Probe, text: str) -> list[str]:
    found = []
    if role not in CENTRE:
        found += [s for s in CONFIDENTIAL if s in text]
    if probe.listing:
        found += [s for s in PERSON + CONFIDENTIAL if s in text]
    if role not in DRAFT_READERS:
        found += [s for s in DRAFT_TEXT if s in text]
    return found


@pytest.mark.parametrize("operation", sorted(EXPECTED))
def test_operation_by_role_and_object(world, operation: str) -> None:
    method, path = operation.split(" ", 1)
    failures = []
    for i, probe in enumerate(EXPECTED[operation]):
        assert set(probe.expect) == set(ROLES), f"{operation} probe {i}: a role has no expectation"
        url = path
        for name, value in probe.path.items():
            url = url.replace("{" + name + "}", _fill(value, world.objects, {}))
        assert "{" not in url, url
        for role in ROLES:
            headers = {"X-API-Key": world.keys[role]} if world.keys[role] else {}
            kwargs: dict[str, Any] = {"params": _fill(probe.query, world.objects, {}), "headers": headers}
            body = _fill(probe.body, world.objects, _tickets(world)) if probe.body is not None else None
            if probe.county_signed is not None:
                raw = json.dumps(body).encode()
                secret = SECRETS[f"HUB_COUNTY_{probe.county_signed.upper()}_SECRET"]
                headers.update({"content-type": "application/json", **signed_headers(secret, int(world.hub.clock.now().timestamp()), raw)})
                kwargs["content"] = raw
            elif probe.upload is not None:
                kwargs["data"] = _fill(probe.upload, world.objects, {})
                kwargs["files"] = {"file": ("现场.png", PNG, "image/png")}
            elif body is not None:
                kwargs["json"] = body
            resp = world.client.request(method, url, **kwargs)
            expected = probe.expect[role]
            if expected not in _classify(resp.status_code):
                failures.append(f"{role} on {url} (probe {i}): expected {expected}, got {resp.status_code} {resp.text[:160]}")
            leaked = _leaks(role, probe, resp.text)
            if leaked:
                failures.append(f"{role} on {url} (probe {i}): response carries {leaked}")
            world.hub.clock.advance(timedelta(seconds=1))  # signed pushes are one-time
    assert failures == [], "\n".join(failures)


_TICKET_SEQ = iter(range(1, 10_000))


def _tickets(world: World) -> dict[str, Any]:
    """A fresh ticket per push in each county's own shape (ids are unique per county)."""
    n = next(_TICKET_SEQ)
    counties = world.hub.handles.get(CountyIntake).counties
    return {
        "anyue_ticket": ticket(counties["anyue"], f"AY-M-{n}", world.hub.clock.now()),
        "yanjiang_ticket": ticket(counties["yanjiang"], f"YJ-M-{n}", world.hub.clock.now()),
    }


def test_each_party_lists_exactly_the_cases_it_may_read(world) -> None:
    names = {number: name for name, number in world.objects.items() if name.startswith("case_")}
    for role, expected in LISTED.items():
        resp = world.client.get("/api/v1/cases", params={"limit": 200}, headers={"X-API-Key": world.keys[role]})
        listed = {names[i["number"]] for i in resp.json()["items"] if i["number"] in names}
        assert listed == expected, role
