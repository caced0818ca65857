"""Counties push tickets and updates over the live hub, on SQLite and PostgreSQL: mapping
from each county's own shape, idempotency, per-item batch results, updates that move the
case, stale and closed-case handling, and the access matrix (every county key against
every endpoint and every other county's case)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest

from adapters.county.intake import CountyIntake
from adapters.county.mapping import format_date, set_path
from adapters.county.sandbox import CountySandboxState
from adapters.county.signing import signed_headers
from hub.domain.model import Role
from tests.support.factories import draft

pytestmark = pytest.mark.e2e

SECRETS = {"HUB_COUNTY_YANJIANG_SECRET": "yj-secret-123", "HUB_COUNTY_ANYUE_SECRET": "ay-secret-456", "HUB_COUNTY_LINKONG_SECRET": "lk-secret-789"}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def counties(hub, server, clock) -> dict[str, CountySandboxState]:
    """Each county as a sandbox county system with its own key, signing on the hub's clock."""
    out = {}
    for name, cfg in hub.handles.get(CountyIntake).counties.items():
        key = hub.keys.create(cfg.key_party, Role.COUNTY, clock.now(), divisions=list(cfg.divisions))
        secret = SECRETS.get(cfg.security.hmac_secret_env or "")
        out[name] = CountySandboxState(cfg, hub_url=server.url, api_key=key, secret=secret, clock=lambda: clock.now().timestamp())
    return out


def ticket(cfg, ticket_id: str, when: datetime, division: str | None = None, **extra) -> dict:
    """A valid ticket in the county's own shape (codes from the county's own tables)."""
    f = cfg.ticket
    t: dict = {}
    for path, value in [
        (f.ticket_id, ticket_id),
        (f.received_at, format_date(cfg, when)),
        (f.request_type, cfg.reverse("request_type")["complaint"]),
        (f.category, cfg.reverse("category")["0101"]),
        (f.title, "夜间施工噪音"),
        (f.content, "小区旁工地夜间施工，噪音很大。"),
        (f.division, division or cfg.divisions[0] + "001"),
        (f.address, "某路12号"),
        (f.person_name, "张三"),
        (f.person_phone, "13800138000"),
    ]:
        if path:
            set_path(t, path, value)
    for path, value in extra.items():
        set_path(t, path, value)
    return t


def _problem(resp: httpx.Response, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _case_count(api) -> int:
    return len(api["supervisor"].get("/api/v1/cases", params={"limit": 200}).json()["items"])


# -- push ----------------------------------------------------------------------------------
def test_yanjiang_ticket_maps_to_a_case_and_is_idempotent(api, counties, clock) -> None:
    yj = counties["yanjiang"]
    raw = {
        "ticketNo": "YJ20250926-0001",
        "acceptTime": "2025-09-26 09:58:00",
        "appealType": "04",
        "itemCode": "SC02",
        "title": "举报无证餐馆",
        "content": "街边餐馆无证经营。",
        "level": "2",
        "area": {"code": "512002101", "address": "雁江区建设路12号"},
        "caller": {"name": "李四", "mobile": "13900139000", "secret": True},
    }
    first = yj.push_tickets(raw)
    assert first.status_code == 201, first.text
    number = first.json()["case_number"]
    assert first.json()["status"] == "created" and first.json()["county_status"] == "00"
    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert case["request_type"] == "report" and case["category_code"] == "0202" and case["urgency"] == "urgent"
    assert case["intake"]["channel"] == "county" and _at(case["intake"]["received_at"]) == _at("2025-09-26T09:58:00+08:00")
    assert case["place"] == {"address": "雁江区建设路12号", "division_code": "512002101", "longitude": None, "latitude": None}
    assert case["person"]["phone"] == "13900139000" and case["person"]["confidential"] is True
    assert {"system": "county.yanjiang", "external_id": "YJ20250926-0001"} in case["external_refs"]

    clock.advance(timedelta(seconds=1))  # a new signature: a retry, not a replay
    again = yj.push_tickets(raw)
    assert again.status_code == 200 and again.json()["status"] == "existing" and again.json()["case_number"] == number
    clock.advance(timedelta(seconds=1))
    keyed = yj.push_tickets({**raw, "ticketNo": "YJ-K"}, idempotency_key="push-7")
    clock.advance(timedelta(seconds=1))
    replay = yj.push_tickets({**raw, "ticketNo": "YJ-K"}, idempotency_key="push-7")
    assert keyed.status_code == 201 and replay.status_code == 200
    assert replay.json()["case_number"] == keyed.json()["case_number"]
    clock.advance(timedelta(seconds=1))
    _problem(yj.push_tickets({**raw, "ticketNo": "YJ-OTHER"}, idempotency_key="push-7"), 422, "header.Idempotency-Key")
    assert _case_count(api) == 2


def test_batch_gives_per_item_results(api, counties) -> None:
    az = counties["anyue"]
    cfg = az.cfg
    good = ticket(cfg, "AY-1", datetime.fromisoformat("2025-09-26T09:00:00+08:00"))
    resp = az.push_tickets(
        [
            good,
            {**good, "gd_id": "AY-2", "sx_code": "NOPE"},
            {**good, "gd_id": "AY-3", "region_code": "512002"},
            {**good, "gd_id": "AY-4", "contact_phone": "12"},
            "not a ticket",
            good,
        ]
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [r["status"] for r in body["results"]] == ["created", "refused", "refused", "refused", "refused", "existing"]
    assert (body["created"], body["existing"], body["refused"]) == (1, 1, 4)
    problems = [r.get("problem") for r in body["results"]]
    assert problems[1]["status"] == 422 and problems[1]["errors"][0]["field"] == "body[1].sx_code"
    assert problems[2]["status"] == 403 and problems[2]["errors"][0]["field"] == "body[2].region_code"
    assert problems[3]["status"] == 422 and problems[3]["errors"][0]["field"] == "body[3].contact_phone"
    assert problems[4]["status"] == 422 and problems[4]["errors"][0]["field"] == "body[4]"
    assert body["results"][5]["case_number"] == body["results"][0]["case_number"]
    assert _case_count(api) == 1


def test_a_ticket_refused_inside_a_shared_commit_leaves_its_neighbours_registered(api, counties) -> None:
    # The tickets of a batch share commits (hub/db/group_commit.py): a ticket refused while it
    # is being registered (a division outside the county's, found by the engine) rolls back
    # its own savepoint only.
    az = counties["anyue"]
    when = datetime.fromisoformat("2025-09-26T09:00:00+08:00")
    batch = [ticket(az.cfg, f"AY-S{i}", when) for i in range(5)]
    batch[2] = {**batch[2], "region_code": "512002"}
    resp = az.push_tickets(batch)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "refused", "created", "created"]
    numbers = [r["case_number"] for r in results if r["status"] == "created"]
    assert len(set(numbers)) == 4
    for number in numbers:
        assert api["agent"].get(f"/api/v1/cases/{number}").status_code == 200
    assert _case_count(api) == 4


def test_every_county_pushes_in_its_own_shape(api, counties, clock) -> None:
    when = datetime.fromisoformat("2025-09-26T09:30:00+08:00")
    for name, county in counties.items():
        resp = county.push_tickets(ticket(county.cfg, f"{name}-T1", when))
        assert resp.status_code == 201, (name, resp.text)
        case = api["agent"].get(f"/api/v1/cases/{resp.json()['case_number']}").json()
        assert case["category_code"] == "0101" and case["request_type"] == "complaint", name
        assert case["place"]["division_code"] == county.cfg.divisions[0] + "001"
        assert _at(case["intake"]["received_at"]) == when, (name, case["intake"])
    assert _case_count(api) == 5


# -- updates -------------------------------------------------------------------------------
def test_updates_move_the_case_stale_ones_are_ignored_closed_cases_refuse(api, counties, clock) -> None:
    yj = counties["yanjiang"]
    number = yj.push_tickets(ticket(yj.cfg, "YJ-U1", clock.now())).json()["case_number"]
    api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}).raise_for_status()
    api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": "YJ-GOV"}).raise_for_status()

    def update(op: str, at: str, op_id: str, **extra) -> httpx.Response:
        clock.advance(timedelta(seconds=1))
        return yj.push_update("YJ-U1", {"opType": op, "opTime": f"2025-09-26 {at}", "opId": op_id, **extra})

    signed = update("QS", "10:05:00", "1")
    assert signed.status_code == 200 and signed.json()["status"] == "applied" and signed.json()["state"] == "in_progress"
    assert signed.json()["county_status"] == "20"
    assert update("JZ", "10:10:00", "2", content="已到现场").json()["status"] == "applied"
    stale = update("JZ", "10:07:00", "3", content="迟到的进展")
    assert stale.json()["status"] == "ignored: stale" and stale.json()["version"] == signed.json()["version"] + 1
    assert update("JZ", "10:10:00", "2", content="已到现场").json()["status"] == "ignored: duplicate"
    _problem(update("YQ", "10:11:00", "4", reason="需协调", days=120), 422, "body.days")
    _problem(update("ZZ", "10:11:00", "5"), 422, "body.opType")
    _problem(update("TH", "10:11:00", "6"), 422, "body.reason")
    assert update("YQ", "10:12:00", "7", reason="需协调多部门", days=5).json()["status"] == "applied"
    _problem(update("YQ", "10:13:00", "8", reason="再延", days=3), 409)
    replied = update("HF", "10:20:00", "9", content="已处理完毕")
    assert replied.json()["state"] == "replied"
    history = api["agent"].get(f"/api/v1/cases/{number}/history").json()
    assert [h["action"] for h in history][-5:] == ["dispatch", "sign_off", "report_progress", "request_extension", "reply"]
    assert all(h["actor"] == "yanjiang" for h in history[-4:])

    api["supervisor"].post(f"/api/v1/cases/{number}/actions", json={"action": "review_reply", "approved": True}).raise_for_status()
    api["agent"].post(
        f"/api/v1/cases/{number}/actions", json={"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"}
    ).raise_for_status()
    closed = _problem(update("JZ", "11:00:00", "10", content="补充"), 409)
    assert closed["type"].endswith("case-closed") and closed["state"] == "closed" and "closed" in closed["detail"]
    assert len(api["agent"].get(f"/api/v1/cases/{number}/history").json()) == len(history) + 2
    _problem(yj.push_update("NO-SUCH", {"opType": "QS", "opTime": "2025-09-26 12:00:00"}), 404, "path.ticket_id")


def county_update(cfg, kind: str, when: datetime, update_id: str | None = None, **fields) -> dict:
    """An update in the county's own shape: `kind` is the hub's (sign_off, return, ...),
    `fields` are text / reason / working_days, placed where the county keeps them."""
    f = cfg.update
    u: dict = {}
    set_path(u, f.kind, {v: k for k, v in reversed(list(cfg.codes.update_kind.items()))}[kind])
    set_path(u, f.at, format_date(cfg, when))
    if f.update_id and update_id is not None:
        set_path(u, f.update_id, update_id)
    for name, value in fields.items():
        path = getattr(f, name) or (f.text if name == "reason" else None)  # no reason field: the reason is the text
        assert path, (cfg.county, name)
        set_path(u, path, value)
    return u


def test_every_county_returns_a_case_with_a_reason_as_the_lifecycle_says(api, counties, clock) -> None:
    """退回申请 from the county's own update code: in progress -> return requested (with the
    county's reason in the history); refused by the centre -> back in progress; asked again
    and approved -> returned, ready for re-dispatch. Without a reason: refused, nothing moves."""
    start = clock.now()
    for name, county in counties.items():
        cfg = county.cfg
        number = county.push_tickets(ticket(cfg, f"{name}-R1", start)).json()["case_number"]
        api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}).raise_for_status()
        unit = next(iter(cfg.codes.unit.values()))
        api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": unit}).raise_for_status()

        def send(kind: str, minute: int, county=county, name=name, cfg=cfg, **fields) -> httpx.Response:  # noqa: ANN001
            clock.advance(timedelta(seconds=1))
            return county.push_update(f"{name}-R1", county_update(cfg, kind, start + timedelta(minutes=minute), f"{name}-u{minute}", **fields))

        assert send("sign_off", 1).json()["state"] == "in_progress", name
        no_reason = _problem(send("return", 2), 422)
        assert no_reason["errors"][0]["field"] == "body." + (cfg.update.reason or cfg.update.text), (name, no_reason)
        asked = send("return", 3, reason="不属于本单位职责，请改派")
        assert asked.status_code == 200, (name, asked.text)
        assert (asked.json()["status"], asked.json()["action"], asked.json()["state"]) == ("applied", "request_return", "return_requested"), name
        assert asked.json()["county_status"] == cfg.codes.status.get("return_requested"), name
        refused = api["supervisor"].post(f"/api/v1/cases/{number}/actions", json={"action": "decide_return", "approved": False})
        assert refused.json()["state"] == "in_progress", (name, refused.text)  # back where the unit was
        assert send("return", 4, reason="经核实属于其他县区").json()["state"] == "return_requested", name
        approved = api["supervisor"].post(f"/api/v1/cases/{number}/actions", json={"action": "decide_return", "approved": True})
        assert approved.json()["state"] == "returned", (name, approved.text)
        held = httpx.get(f"{county.hub_url}/api/v1/counties/{name}/tickets/{name}-R1", headers={"X-API-Key": county.api_key})
        assert held.json()["state"] == "returned" and held.json()["county_status"] == cfg.codes.status.get("returned"), name

        history = api["agent"].get(f"/api/v1/cases/{number}/history").json()
        returns = [
            (h["action"], h["actor"], h["to_state"], h["data"].get("reason"), h["data"].get("approved"))
            for h in history
            if h["action"] in ("request_return", "decide_return")
        ]
        party = cfg.key_party
        assert returns == [
            ("request_return", party, "return_requested", "不属于本单位职责，请改派", None),
            ("decide_return", "centre-supervisor", "in_progress", None, False),
            ("request_return", party, "return_requested", "经核实属于其他县区", None),
            ("decide_return", "centre-supervisor", "returned", None, True),
        ], name


# -- bad input and access: the matrix ------------------------------------------------------
def _versions(api, held: dict) -> dict[str, int]:
    return {name: api["supervisor"].get(f"/api/v1/cases/{number}").json()["version"] for name, (_, number) in held.items()}


def _unknown_code(resp: httpx.Response, field: str) -> None:
    body = _problem(resp, 422, field)
    assert body["type"].endswith("unknown-code"), body


def test_access_matrix_every_county_key_against_every_other_county(api, counties, clock) -> None:
    when = clock.now()
    held = {}
    for name, county in counties.items():
        resp = county.push_tickets(ticket(county.cfg, f"{name}-M1", when))
        assert resp.status_code == 201, resp.text
        held[name] = (f"{name}-M1", resp.json()["case_number"])
        # Accepted, so a county could dispatch it (the unknown-unit check below).
        api["agent"].post(f"/api/v1/cases/{resp.json()['case_number']}/actions", json={"action": "accept"}).raise_for_status()
    baseline, versions = _case_count(api), _versions(api, held)
    period = {"period": f"{when:%Y-%m}"}

    for me, mine in counties.items():
        headers = {"X-API-Key": mine.api_key, "Content-Type": "application/json"}
        with httpx.Client(base_url=mine.hub_url, headers=headers, timeout=30) as c:
            for other, theirs in counties.items():
                if other == me:
                    continue
                ticket_id, number = held[other]
                their_division, their_unit = theirs.cfg.divisions[0], next(iter(theirs.cfg.codes.unit.values()))
                body = json.dumps(ticket(theirs.cfg, f"{me}-as-{other}", when)).encode()
                signed = signed_headers(theirs.secret, int(clock.now().timestamp()), body) if theirs.secret else {}
                _problem(c.post(f"/api/v1/counties/{other}/tickets", content=body, headers=signed), 403, "path.county")
                _problem(c.get(f"/api/v1/counties/{other}/tickets/{ticket_id}"), 403, "path.county")
                _problem(c.post(f"/api/v1/counties/{other}/tickets/{ticket_id}/updates", content=b"{}"), 403, "path.county")
                _problem(c.get(f"/api/v1/cases/{number}"), 403)
                _problem(c.get(f"/api/v1/cases/{number}/history"), 403)
                _problem(c.post(f"/api/v1/cases/{number}/actions", json={"action": "sign_off"}), 403)
                # Its own case, dispatched to another county's unit or a city department: refused.
                own_case, own_unit = held[me][1], next(iter(mine.cfg.codes.unit.values()))
                refused = _problem(c.post(f"/api/v1/cases/{own_case}/actions", json={"action": "dispatch", "lead_unit": their_unit}), 403)
                assert their_unit in refused["detail"], refused
                refused = _problem(
                    c.post(f"/api/v1/cases/{own_case}/actions", json={"action": "dispatch", "lead_unit": own_unit, "co_units": ["ZY-SCJGJ"]}), 403
                )
                assert "co_units[0]" in refused["detail"], refused
                # The core API: a case registered into another county's division.
                _problem(c.post("/api/v1/cases", json=draft(**{"place.division_code": their_division + "001"})), 403)
                # 考核 and 督办 of another county's divisions and units.
                for path in ("/api/v1/assessment", "/api/v1/assessment/export"):
                    _problem(c.get(path, params={**period, "county": their_division}), 403)
                    _problem(c.get(path, params={**period, "unit": their_unit}), 403)
                refused = _problem(c.get("/api/v1/supervision", params={"unit": their_unit}), 403)
                assert their_unit in refused["detail"], refused
                # Its own endpoint, another county's division: refused naming its own field.
                clock.advance(timedelta(seconds=1))
                foreign = ticket(mine.cfg, f"{me}-in-{other}", when, division=theirs.cfg.divisions[0])
                _problem(mine.push_tickets(foreign), 403, "body." + mine.cfg.ticket.division)
                # Another county's ticket id is not a ticket of this county: not readable, not updatable.
                _problem(c.get(f"/api/v1/counties/{me}/tickets/{ticket_id}"), 404, "path.ticket_id")
                clock.advance(timedelta(seconds=1))
                update = county_update(mine.cfg, "sign_off", clock.now(), f"{me}-on-{other}")
                _problem(mine.push_update(ticket_id, update), 404, "path.ticket_id")
            listed = {i["number"] for i in c.get("/api/v1/cases").json()["items"]}
            assert listed == {held[me][1]}, (me, listed)
            # Its own 考核 and 督办 still answer.
            assert c.get("/api/v1/assessment", params=period).status_code == 200
            assert c.get("/api/v1/supervision", params={"unit": next(iter(mine.cfg.codes.unit.values()))}).status_code == 200
            # An unknown code, in each code table the county maps: ticket codes, the update's
            # kind, and a unit its own centre dispatches to.
            f = mine.cfg.ticket
            for path in (p for p in (f.category, f.request_type, f.urgency) if p):
                clock.advance(timedelta(seconds=1))
                _unknown_code(mine.push_tickets(ticket(mine.cfg, f"{me}-bad-code", when, **{path: "ZZZ-UNKNOWN"})), "body." + path)
            clock.advance(timedelta(seconds=1))
            bad_kind = county_update(mine.cfg, "sign_off", clock.now(), f"{me}-bad-kind")
            set_path(bad_kind, mine.cfg.update.kind, "ZZZ-UNKNOWN")
            _unknown_code(mine.push_update(held[me][0], bad_kind), "body." + mine.cfg.update.kind)
            number = held[me][1]
            _unknown_code(c.post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": "ZZZ-UNKNOWN"}), "lead_unit")
            own_unit = next(iter(mine.cfg.codes.unit.values()))
            _unknown_code(
                c.post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": own_unit, "co_units": ["ZZZ-UNKNOWN"]}), "co_units[0]"
            )
    # Keys of other roles, and no key.
    for who in ("agent", "supervisor", "unit", "province"):
        _problem(api[who].post("/api/v1/counties/yanjiang/tickets", json={}), 403, "path.county")
    _problem(api["anonymous"].post("/api/v1/counties/yanjiang/tickets", json={}), 401)
    _problem(api["anonymous"].get("/api/v1/counties/yanjiang/tickets/x"), 401)
    _problem(api["supervisor"].get("/api/v1/counties/atlantis/tickets/x"), 404, "path.county")
    assert _case_count(api) == baseline and _versions(api, held) == versions  # nothing stored, nothing moved


def test_signatures_bad_missing_expired_and_replayed(api, counties, clock) -> None:
    for stored, name in enumerate(("yanjiang", "anyue", "linkong")):
        county = counties[name]
        url = f"{county.hub_url}/api/v1/counties/{name}/tickets"
        body = json.dumps(ticket(county.cfg, f"{name}-S1", clock.now()), ensure_ascii=False).encode()
        base = {"X-API-Key": county.api_key, "Content-Type": "application/json"}
        now = int(clock.now().timestamp())
        good = signed_headers(county.secret, now, body)
        _problem(httpx.post(url, content=body, headers=base), 401, "header.X-County-Timestamp")
        _problem(httpx.post(url, content=body, headers={**base, "X-County-Timestamp": str(now)}), 401, "header.X-County-Signature")
        wrong = signed_headers("not-the-secret", now, body)
        _problem(httpx.post(url, content=body, headers={**base, **wrong}), 401, "header.X-County-Signature")
        tampered = body.replace("夜间".encode(), "白天".encode())
        _problem(httpx.post(url, content=tampered, headers={**base, **good}), 401, "header.X-County-Signature")
        old = now - county.cfg.security.replay_window_seconds - 5
        _problem(httpx.post(url, content=body, headers={**base, **signed_headers(county.secret, old, body)}), 401, "header.X-County-Timestamp")
        _problem(httpx.post(url, content=body, headers={**base, "X-County-Timestamp": "soon", "X-County-Signature": "x"}), 401)
        assert _case_count(api) == stored
        first = httpx.post(url, content=body, headers={**base, **good})
        assert first.status_code == 201, first.text
        replay = _problem(httpx.post(url, content=body, headers={**base, **good}), 409, "header.X-County-Signature")
        assert replay["type"].endswith("replayed-request")
    assert _case_count(api) == 3
    # Unsigned counties take unsigned pushes; a signed county whose secret is unset refuses them all.
    assert counties["gaoxin"].push_tickets(ticket(counties["gaoxin"].cfg, "GX-S1", clock.now())).status_code == 201


def test_malformed_bodies_never_reach_a_500(api, counties) -> None:
    gx = counties["gaoxin"]
    url = f"{gx.hub_url}/api/v1/counties/gaoxin/tickets"
    headers = {"X-API-Key": gx.api_key, "Content-Type": "application/json"}
    for raw in (b"", b"not json", b"null", b"42", b"[]", b"{", b"\xff\xfe", b'{"data": null}', b'{"data": {"orderId": 1}}', json.dumps([{}] * 501).encode()):
        resp = httpx.post(url, content=raw, headers=headers)
        assert resp.status_code in (200, 422), (raw[:20], resp.status_code, resp.text)
        if resp.status_code == 200:  # a batch: every item refused with its field
            assert all(r["status"] == "refused" for r in resp.json()["results"])
        else:
            assert resp.headers["content-type"].startswith("application/problem+json")
    bad_date = ticket(gx.cfg, "GX-D", datetime.fromisoformat("2025-09-26T09:00:00+08:00"))
    bad_date["data"]["time"] = "2025-09-26"
    _problem(gx.push_tickets(bad_date), 422, "body.data.time")
    _problem(httpx.post(f"{gx.hub_url}/api/v1/counties/gaoxin/tickets/GX-D/updates", content=b"[1]", headers=headers), 422, "body")
    assert _case_count(api) == 0
