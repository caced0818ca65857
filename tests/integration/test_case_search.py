"""Finding cases the way a centre does (#20): by phone through the keyed-hash index, by
channel and receipt time, and the caller's history at intake. On SQLite and PostgreSQL.

Expectations are written by hand from the cases each test registers."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hub.db.models import CaseRow
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, Role
from hub.settings import Settings
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
KEY = "测试用的电话索引密钥-not-for-production"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", phone_index_key=KEY)


def _register(hub, received: str, phone: str | None = "13800138000", channel: str = "phone", **changes) -> str:
    person = {"name": "张三", "phone": phone, "kind": "person"} if phone else {"anonymous": True, "kind": "person"}
    body = draft(**{"intake.received_at": received, "intake.channel": channel, "person": person, **changes})
    return hub.cases.register(CaseDraft.model_validate(body), AGENT).case.number


def _client(hub, keys, who: str) -> TestClient:
    from hub.api.app import create_app

    client = TestClient(create_app(hub))
    client.headers["X-API-Key"] = keys[who]
    return client


def test_the_phone_is_stored_as_an_hmac_with_the_configured_key_and_nowhere_in_clear_beside_the_document(hub) -> None:
    number = _register(hub, "2025-09-26T09:58:00+08:00", phone="138 0013 8000")
    # HMAC-SHA256(key, "13800138000"), computed here from the standard library.
    expected = hmac.new(KEY.encode(), b"13800138000", hashlib.sha256).hexdigest()
    with hub.db.read() as s:
        row = s.execute(select(CaseRow).where(CaseRow.number == number)).scalar_one()
        assert row.phone_hash == expected
        assert "13800138000" not in (row.phone_hash or "") and "13800138000" not in row.search_text
        assert row.received_at == datetime(2025, 9, 26, 9, 58, tzinfo=LOCAL_TZ)


def test_list_by_phone_channel_and_receipt_range(hub, keys) -> None:
    a = _register(hub, "2025-09-20T08:00:00+08:00")
    b = _register(hub, "2025-09-25T23:59:59+08:00", channel="web")
    c = _register(hub, "2025-09-26T00:00:00+08:00")
    d = _register(hub, "2025-09-26T09:00:00+08:00", phone="13900139000")
    anonymous = _register(hub, "2025-09-26T09:30:00+08:00", phone=None)
    client = _client(hub, keys, "agent")

    def numbers(**params) -> set[str]:
        resp = client.get("/api/v1/cases", params=params)
        assert resp.status_code == 200, resp.text
        return {i["number"] for i in resp.json()["items"]}

    assert numbers(phone="13800138000") == {a, b, c}
    assert numbers(phone="13900139000") == {d}
    assert numbers(phone="13700137000") == set()
    assert numbers(channel="web") == {b}
    # [from, to): 25 September 00:00 to 26 September 00:00 China time holds b only.
    assert numbers(received_from="2025-09-25T00:00:00+08:00", received_to="2025-09-26T00:00:00+08:00") == {b}
    assert numbers(received_from="2025-09-26T00:00:00+08:00") == {c, d, anonymous}
    assert numbers(received_to="2025-09-21T00:00:00+00:00") == {a}
    assert numbers(phone="13800138000", received_from="2025-09-21T00:00:00+08:00", channel="phone") == {c}

    for params, field in (
        ({"received_from": "2025-09-26T00:00:00"}, "query.received_from"),
        ({"received_to": "0001-01-01T00:00:00+00:00"}, "query.received_to"),
        ({"received_from": "2025-09-26T00:00:00+08:00", "received_to": "2025-09-26T00:00:00+08:00"}, "query.received_to"),
    ):
        resp = client.get("/api/v1/cases", params=params)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert field in resp.text


def test_a_different_key_finds_nothing_the_index_was_written_with_another(db_url, clock) -> None:
    from hub.runtime import build_hub

    first = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", phone_index_key=KEY), clock)
    try:
        number = _register(first, "2025-09-26T09:58:00+08:00")
    finally:
        first.close()
    second = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", phone_index_key="another key"), clock)
    try:
        from hub.db.repository import CaseQuery

        found, _ = second.cases.list(CaseQuery(phone="13800138000"), AGENT)
        assert found == []  # the hash differs: the database alone does not answer "who called"
        with second.db.read() as s:
            assert s.execute(select(CaseRow.number).where(CaseRow.phone_hash.is_not(None))).scalars().all() == [number]
    finally:
        second.close()


def test_caller_history_counts_the_last_n_days_and_lists_newest_first(hub, keys, clock) -> None:
    # The clock stands at 2025-09-26 10:00 China time (tests/conftest.py START).
    old = _register(hub, "2025-06-01T10:00:00+08:00")  # 117 days before: outside 90 days, inside 180
    edge = _register(hub, "2025-06-28T10:00:00+08:00")  # exactly 90 days before: counted ([since, now])
    recent = _register(hub, "2025-09-20T10:00:00+08:00")
    _register(hub, "2025-09-21T10:00:00+08:00", phone="13900139000")  # another caller
    client = _client(hub, keys, "agent")

    resp = client.post("/api/v1/callers/history", json={"phone": "138 0013 8000"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["phone"], body["days"], body["count"], body["total"], body["open"]) == ("138****8000", 90, 2, 3, 2)
    assert datetime.fromisoformat(body["since"]) == datetime(2025, 6, 28, 10, 0, tzinfo=LOCAL_TZ)
    assert [i["number"] for i in body["items"]] == [recent, edge]
    assert "13800138000" not in resp.text and "张三" not in resp.text  # summaries carry no personal data

    body = client.post("/api/v1/callers/history", json={"phone": "13800138000", "days": 180}).json()
    assert (body["count"], body["total"], [i["number"] for i in body["items"]]) == (3, 3, [recent, edge, old])
    body = client.post("/api/v1/callers/history", json={"phone": "13700137000"}).json()
    assert (body["count"], body["total"], body["items"]) == (0, 0, [])

    for bad, field in (
        ({"phone": "not-a-phone"}, "body.phone"),
        ({"phone": "13800138000", "days": 0}, "body.days"),
        ({"phone": "13800138000", "extra": 1}, "body.extra"),
    ):
        resp = client.post("/api/v1/callers/history", json=bad)
        assert resp.status_code == 422 and field in resp.text, resp.text


@pytest.mark.parametrize("who", ["unit", "yanjiang", "province"])
def test_caller_history_is_refused_to_whoever_does_not_see_callers_phones(hub, keys, who) -> None:
    _register(hub, "2025-09-20T10:00:00+08:00")
    resp = _client(hub, keys, who).post("/api/v1/callers/history", json={"phone": "13800138000"})
    assert resp.status_code == 403, resp.text
    assert "13800138000" not in resp.text


def test_the_migration_backfills_the_index_of_cases_registered_before_it(hub) -> None:
    """Cases stored before 0013 have neither column: the migrations are stepped back (dropping
    them, and opening the sealed documents on the way) and applied again, and its backfill
    fills them from the documents with the key."""
    from alembic import command

    from hub.db.migrate import alembic_config

    a = _register(hub, "2025-09-20T08:00:00+08:00")
    b = _register(hub, "2025-09-21T08:00:00+09:00", phone=None)
    cfg = alembic_config(hub.db.writer)
    # Counted from the line's head: 0028 (deadlines by id), 0027 (running deadlines), 0026 (knowledge term weights), 0025 (case text index),
    # 0024 (assessment items), 0023 (scale reads), 0019 (the seal: opens them), 0018 (scale
    # indexes), 0014 (repeat calls) and 0013 (the index).
    command.downgrade(cfg, "0019_person_sealed@-10")
    with hub.db.writer.connect() as conn:
        columns = (
            {r[1] for r in conn.execute(text("PRAGMA table_info(cases)"))}
            if hub.db.is_sqlite
            else set(conn.execute(text("SELECT column_name FROM information_schema.columns WHERE table_name = 'cases'")).scalars())
        )
        assert "phone_hash" not in columns and "received_at" not in columns
    command.upgrade(cfg, "heads")
    with hub.db.read() as s:
        rows = dict(s.execute(select(CaseRow.number, CaseRow.phone_hash)).all())
        received = dict(s.execute(select(CaseRow.number, CaseRow.received_at)).all())
    assert rows == {a: hmac.new(KEY.encode(), b"13800138000", hashlib.sha256).hexdigest(), b: None}
    assert received == {a: datetime(2025, 9, 20, 0, 0, tzinfo=LOCAL_TZ).replace(hour=8), b: datetime(2025, 9, 20, 23, 0, tzinfo=UTC)}


def test_reindex_after_a_key_change_finds_the_cases_again(db_url, clock, tmp_path, monkeypatch) -> None:
    from hub.cli import main
    from hub.db.repository import CaseQuery
    from hub.runtime import build_hub

    old = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", phone_index_key=KEY), clock)
    try:
        numbers = {_register(old, f"2025-09-2{d}T09:00:00+08:00") for d in (1, 2)}
        anonymous = _register(old, "2025-09-23T09:00:00+08:00", phone=None)
    finally:
        old.close()
    monkeypatch.setenv("HUB_DATABASE_URL", db_url)
    monkeypatch.setenv("HUB_PHONE_INDEX_KEY", "the new key")
    assert main(["db", "reindex-phones"]) == 0
    new = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", phone_index_key="the new key"), clock)
    try:
        found, _ = new.cases.list(CaseQuery(phone="13800138000"), AGENT)
        assert {c.number for c in found} == numbers
        with new.db.read() as s:
            hashes = dict(s.execute(select(CaseRow.number, CaseRow.phone_hash)).all())
        assert hashes[anonymous] is None
        assert {hashes[n] for n in numbers} == {hmac.new(b"the new key", b"13800138000", hashlib.sha256).hexdigest()}
    finally:
        new.close()


# -- repeat calls (重复来电) --------------------------------------------------------------------------


def test_a_repeat_call_is_linked_to_the_newest_open_case_of_the_same_phone_and_category(hub, keys) -> None:
    agent = _client(hub, keys, "agent")
    a = _register(hub, "2025-09-20T10:00:00+08:00")
    b = _register(hub, "2025-09-25T10:00:00+08:00")  # 5 days after a: repeats a
    other_category = _register(hub, "2025-09-25T11:00:00+08:00", category_code="0201")
    other_phone = _register(hub, "2025-09-25T12:00:00+08:00", phone="13900139000")
    # Exactly 7 days (the default window) is still inside; 7 days and a second is not.
    h1 = _register(hub, "2025-09-01T10:00:00+08:00", phone="13700137000")
    h2 = _register(hub, "2025-09-08T10:00:00+08:00", phone="13700137000")
    h3 = _register(hub, "2025-09-15T10:00:01+08:00", phone="13700137000")

    def earlier(number: str) -> str | None:
        resp = agent.get(f"/api/v1/cases/{number}/repeat-call")
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "suggested"
        return resp.json()["earlier_case"]

    assert [earlier(n) for n in (a, b, other_category, other_phone, h1, h2, h3)] == [None, a, None, None, None, h1, None]
    # Confirming with merge merges b into a (the merge action) and records who decided.
    resp = agent.post(f"/api/v1/cases/{b}/repeat-call/confirm", json={"merge": True, "note": "同一诉求"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["decided_by"], body["note"], body["earlier_case"]) == ("confirmed", "centre-agent", "同一诉求", a)
    assert hub.cases.get(b, AGENT).state.value == "merged"
    assert agent.post(f"/api/v1/cases/{b}/repeat-call/dismiss", json={}).status_code == 409  # decided already
    # b, merged, is not open any more: the next call of the same matter links to a, not to b.
    c = _register(hub, "2025-09-26T09:00:00+08:00")
    assert earlier(c) == a
    d = _register(hub, "2025-09-26T09:30:00+08:00")
    assert earlier(d) == c  # a and c are open: the newest received
    resp = agent.post(f"/api/v1/cases/{d}/repeat-call/dismiss", json={"note": "不同小区"})
    assert (resp.status_code, resp.json()["status"], resp.json()["decided_by"]) == (200, "dismissed", "centre-agent")
    assert hub.cases.get(d, AGENT).state.value == "registered"  # dismissing changes nothing else


def test_repeat_calls_are_the_centres_and_a_refused_merge_leaves_the_link_undecided(hub, keys) -> None:
    a = _register(hub, "2025-09-20T10:00:00+08:00")
    b = _register(hub, "2025-09-25T10:00:00+08:00")
    for who in ("unit", "yanjiang", "province"):
        client = _client(hub, keys, who)
        assert client.get(f"/api/v1/cases/{b}/repeat-call").status_code in (403, 404)
        assert client.post(f"/api/v1/cases/{b}/repeat-call/confirm", json={}).status_code in (403, 404)
    sup = _client(hub, keys, "supervisor")
    # b dispatched: the lifecycle merges only registered or accepted cases (409), and the
    # link stays suggested.
    hub.cases.act(b, c.Accept(), AGENT)
    hub.cases.act(b, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    resp = sup.post(f"/api/v1/cases/{b}/repeat-call/confirm", json={"merge": True})
    assert resp.status_code == 409, resp.text
    assert sup.get(f"/api/v1/cases/{b}/repeat-call").json()["status"] == "suggested"
    resp = sup.post(f"/api/v1/cases/{a}/repeat-call/confirm", json={})
    assert resp.status_code == 404 and "not linked" in resp.json()["detail"]
    assert sup.post(f"/api/v1/cases/{b}/repeat-call/confirm", json={"merge": True, "extra": 1}).status_code == 422
    assert sup.get(f"/api/v1/cases/{b}/repeat-call").json()["status"] == "suggested"


def test_no_link_when_the_window_is_zero(db_url, clock) -> None:
    from hub.runtime import build_hub

    hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", phone_index_key=KEY, repeat_call_days=0), clock)
    try:
        _register(hub, "2025-09-20T10:00:00+08:00")
        b = _register(hub, "2025-09-25T10:00:00+08:00")
        from hub.service import NoRepeatCall

        with pytest.raises(NoRepeatCall):
            hub.cases.repeat_call(b, AGENT)
    finally:
        hub.close()
