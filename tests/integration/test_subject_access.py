"""The subject-access export: every case that names one phone number, however it was
written, in full with its history, who read it (confidential ones) and where it was sent;
no case of another number."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from hub.cli import main
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.read_audit import record_read
from records.privacy import phone_key, subject_access
from tests.conftest import START
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
UNIT = Actor(party="ZY-SCJGJ", role=Role.UNIT, unit_code="ZY-SCJGJ")


def _register(hub, **changes) -> str:
    return hub.cases.register(CaseDraft.model_validate(draft(**changes)), AGENT).case.number


def test_phone_key() -> None:
    assert phone_key("+86 138 0013 8000") == phone_key("+8613800138000") == phone_key("13800138000") == "13800138000"
    assert phone_key("028-12345678") == "02812345678"


def test_export_names_every_case_of_the_number_and_no_other(hub) -> None:
    first = _register(hub, person={"name": "张三", "phone": "13800138000"})
    second = _register(hub, person={"name": "张三", "phone": "+86 13800138000", "confidential": True})
    _register(hub, person={"name": "李四", "phone": "13900138000"})  # same last digits, another person
    _register(hub, person={"anonymous": True})
    record_read(hub.db, UNIT, hub.cases.get(second, AGENT), "GET /api/v1/cases/{number}", hub.clock.now())

    body = subject_access(hub, "138 0013 8000")
    assert [c["case"]["number"] for c in body["cases"]] == [first, second]
    one, two = body["cases"]
    assert one["case"]["person"] == {"name": "张三", "phone": "13800138000", "kind": "person", "anonymous": False, "confidential": False}
    assert one["case"]["place"]["address"] == "雁江区建设路12号"
    assert [h["action"] for h in one["case"]["history"]] == ["register"]
    assert one["confidential_reads"] == []
    assert two["confidential_reads"] == [
        {"at": START.astimezone(UTC).isoformat(), "case_number": second, "party": "ZY-SCJGJ", "role": "unit", "route": "GET /api/v1/cases/{number}"}
    ]
    assert subject_access(hub, "13700000000")["cases"] == []
    with pytest.raises(ValueError):
        subject_access(hub, "not a phone")


def test_export_lists_the_attachments_of_the_cases(hub) -> None:
    import io

    number = _register(hub, person={"name": "张三", "phone": "13800138000"})
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    hub.attachments.add(number, io.BytesIO(png), "张三家门口.png", "internal", AGENT)
    (only,) = subject_access(hub, "13800138000")["cases"]
    (listed,) = only["attachments"]
    assert (listed["name"], listed["media_type"], listed["size"], listed["visibility"], listed["uploaded_by"]) == (
        "张三家门口.png",
        "image/png",
        40,
        "internal",
        "centre-agent",
    )


def test_the_export_command(hub, monkeypatch, tmp_path: Path, capsys) -> None:
    number = _register(hub)
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.database_url)
    out = tmp_path / "sar" / "13800138000.json"
    assert main(["privacy", "export", "--phone", "13800138000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 cases" in printed and "13800138000.json" in printed
    body = json.loads(out.read_text(encoding="utf-8"))
    assert [c["case"]["number"] for c in body["cases"]] == [number]
    assert main(["privacy", "export", "--phone", "12", "--out", str(out)]) == 2
    assert "--phone" in capsys.readouterr().err


def test_export_says_where_the_cases_went_and_whether_the_number_went_with_them(db_url: str, clock) -> None:
    from hub.runtime import build_hub
    from hub.settings import Settings

    hook = {"url": "http://127.0.0.1:9/events"}  # never delivered here: the messages wait in the outbox
    settings = Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={
            "full": {"adapter": "webhook", "settings": hook, "events": ["case.registered"], "personal_data": True},
            "masked": {"adapter": "webhook", "settings": hook, "events": ["case.registered"]},
        },
    )
    hub = build_hub(settings, clock)
    try:
        number = _register(hub)
        (entry,) = subject_access(hub, "13800138000")["cases"]
        assert entry["case"]["number"] == number
        assert sorted((m["destination"], m["event_type"], m["status"], m["carried_the_phone"]) for m in entry["sent_to"]) == [
            ("full", "case.registered", "pending", True),
            ("masked", "case.registered", "pending", False),
        ]
    finally:
        hub.close()
