"""The caller's name and phone sealed at rest (docs/phone-at-rest.md): the stored case document,
read raw from the database, holds neither in clear; the hub still gives them to whom it gave
them before; migration 0019 seals the documents already stored; `db reseal` moves them to a
new key; a wrong key stops the start with what to do. On SQLite and PostgreSQL.

Expectations are written by hand from the cases each test registers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.db.person_seal import PersonSeal, PersonSealKeyMismatch
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.settings import Settings
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
SEAL_KEY = "测试用的封存密钥-not-for-production"
PHONE, NAME = "13812345678", "王小明"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", person_seal_key=SEAL_KEY, attachments={"directory": tmp_path / "attachments"})


def _register(hub, phone: str | None = PHONE, name: str | None = NAME, confidential: bool = False) -> str:
    person = {"name": name, "phone": phone, "kind": "person", "confidential": confidential} if (phone or name) else {"anonymous": True, "kind": "person"}
    body = draft(**{"intake.received_at": "2025-09-26T09:00:00+08:00", "person": person})
    return hub.cases.register(CaseDraft.model_validate(body), AGENT).case.number


def _raw_docs(hub) -> dict[str, str]:
    """Each case's document as the database holds it, as text, read with plain SQL."""
    cast = "CAST(doc AS TEXT)" if hub.db.is_sqlite else "doc::text"
    with hub.db.writer.connect() as conn:
        return dict(conn.execute(text(f"SELECT number, {cast} FROM cases")).all())  # noqa: S608 - no input in it


def _client(hub, keys, who: str) -> TestClient:
    from hub.api.app import create_app

    client = TestClient(create_app(hub))
    client.headers["X-API-Key"] = keys[who]
    return client


def test_the_stored_document_holds_neither_name_nor_phone_in_clear(hub, keys) -> None:
    number = _register(hub)
    anonymous = _register(hub, phone=None, name=None)
    raw = _raw_docs(hub)
    for clear in (PHONE, NAME, "王小明".encode("unicode_escape").decode()):
        assert clear not in raw[number]
    assert "sealed" in raw[number] and "sealed" not in raw[anonymous]
    cast = "CAST(data AS TEXT)" if hub.db.is_sqlite else "data::text"
    with hub.db.writer.connect() as conn:  # nor the history lines beside it
        history = " ".join(t or "" for t in conn.execute(text(f"SELECT {cast} FROM case_history")).scalars())  # noqa: S608
    assert PHONE not in history and NAME not in history and "\\u738b" not in history
    # The centre still reads the number and the name, the unit handling it too (not 保密).
    for who in ("agent", "supervisor"):
        body = _client(hub, keys, who).get(f"/api/v1/cases/{number}").json()
        assert (body["person"]["phone"], body["person"]["name"]) == (PHONE, NAME), who
    listed = _client(hub, keys, "agent").get("/api/v1/cases", params={"phone": PHONE}).json()["items"]
    assert [i["number"] for i in listed] == [number]  # found by phone through the index


def test_a_token_sealed_under_one_key_does_not_open_under_another() -> None:
    sealed = PersonSeal(b"one").seal({"number": "x", "person": {"name": NAME, "phone": PHONE, "kind": "person"}})
    assert sealed["person"]["name"] is None and sealed["person"]["phone"] is None
    assert PersonSeal(b"one").open(sealed)["person"] == {"name": NAME, "phone": PHONE, "kind": "person"}
    with pytest.raises(PersonSealKeyMismatch, match="cannot be opened with this person_seal_key"):
        PersonSeal(b"two").open(sealed)


def test_the_migration_seals_the_documents_stored_before_it(hub, keys) -> None:
    from alembic import command

    from hub.db.migrate import alembic_config

    a = _register(hub)
    b = _register(hub, phone="13900139000", name=None)
    cfg = alembic_config(hub.db.writer)
    # Counted from the line's head (0028, 0027, 0026, 0025, 0024, 0023, then 0019): the documents as they were stored before 0019.
    command.downgrade(cfg, "0019_person_sealed@-7")
    before = _raw_docs(hub)
    assert PHONE in before[a] and "13900139000" in before[b] and "sealed" not in before[a]
    command.upgrade(cfg, "heads")
    after = _raw_docs(hub)
    assert PHONE not in after[a] and "13900139000" not in after[b] and "sealed" in after[a] and "sealed" in after[b]
    agent = _client(hub, keys, "agent")
    assert agent.get(f"/api/v1/cases/{a}").json()["person"]["phone"] == PHONE
    assert agent.get(f"/api/v1/cases/{b}").json()["person"] == {
        "name": None,
        "phone": "13900139000",
        "kind": "person",
        "anonymous": False,
        "confidential": False,
    }
    command.upgrade(cfg, "heads")  # again: nothing sealed twice
    assert _raw_docs(hub) == after


def test_reseal_moves_the_documents_to_a_new_key_and_a_wrong_key_is_said_at_start(db_url, clock, tmp_path, monkeypatch, capsys) -> None:
    from hub.cli import main
    from hub.runtime import build_hub, check_person_seal

    def hub_with(key: str):
        return build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", person_seal_key=key, attachments={"directory": tmp_path}), clock)

    old = hub_with("the old key")
    try:
        number = _register(old)
        before = _raw_docs(old)[number]
    finally:
        old.close()

    monkeypatch.setenv("HUB_DATABASE_URL", db_url)
    monkeypatch.setenv("HUB_PERSON_SEAL_KEY", "the new key")
    # A start with the new key before the reseal: refused, saying what to do.
    new = hub_with("the new key")
    with pytest.raises(PersonSealKeyMismatch, match="db reseal"):
        check_person_seal(new)
    # The old key given wrong: the CLI says so (exit 2), no traceback, nothing changed.
    assert main(["db", "reseal", "--old-key", "not the old key"]) == 2
    assert "cannot be opened with this person_seal_key" in capsys.readouterr().err
    assert main(["db", "reseal"]) == 2
    assert main(["db", "reseal", "--old-key", "the old key"]) == 0
    assert "sealed again under the current person_seal_key: 1" in capsys.readouterr().out
    assert main(["db", "reseal", "--old-key", "the old key"]) == 0  # run again: already under the new key, left
    new = hub_with("the new key")
    try:
        check_person_seal(new)
        after = _raw_docs(new)[number]
        assert after != before and PHONE not in after and NAME not in after
        assert (new.cases.get(number, AGENT).person.phone, new.cases.get(number, AGENT).person.name) == (PHONE, NAME)
    finally:
        new.close()
    old = hub_with("the old key")
    with pytest.raises(PersonSealKeyMismatch):
        check_person_seal(old)  # closes the hub it refused


def test_init_makes_the_seal_key_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    from hub.init_dir import init_dir

    done = init_dir(tmp_path / "site")
    key = done.data_dir / "person-seal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(bytes.fromhex(key.read_text(encoding="ascii").strip())) == 32
