"""bench/scale_generate.py fills a database with rows the hub reads as its own (issue 21,
target 6; the figures on such fills are bench/scale.py's). Here only what the fill holds: every
case opens and reads back with its history as the hub wrote it, its caller sealed under the
bench's key with the phone its phone hash is of (so the phone search finds a caller's cases),
its events carry its versions, the running cases are the newest, and intake after the fill
numbers on from the fill's numbers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.scale_generate import NOW, PHONE_KEY, SEAL_KEY, main
from hub.db.models import CaseRow, EventRow
from hub.db.repository import CaseQuery
from hub.domain.access import Actor
from hub.domain.clock import ManualClock
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import Settings
from tests.support.factories import draft

AGENT = Actor("centre-agent", Role.AGENT)
CASES, RUNNING = 150, 40
# Where a generated case rests: the running ones still in the hands of the centre or a unit.
HANDLED = {"registered", "accepted", "awaiting_sign_off", "in_progress", "replied", "awaiting_follow_up"}
FINISHED = {"archived", "closed", "rejected", "transferred"}


@pytest.fixture
def filled(db_url: str, tmp_path: Path):
    main(["--url", db_url, "--cases", str(CASES), "--running", str(RUNNING), "--batch", "64"])
    settings = Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        phone_index_key=PHONE_KEY,
        person_seal_key=SEAL_KEY,
        data_dir=tmp_path,
        attachments={"directory": tmp_path / "attachments"},
    )
    hub = build_hub(settings, ManualClock(NOW))
    yield hub
    hub.close()


def every_case(hub) -> list:
    cases, cursor = [], None
    while True:
        page, cursor = hub.cases.list(CaseQuery(cursor=cursor, limit=50), AGENT)
        cases += page
        if cursor is None:
            return cases


def test_every_case_reads_back_with_its_history_and_caller(filled) -> None:
    listed = every_case(filled)
    assert len(listed) == CASES and len({c.number for c in listed}) == CASES
    for listed_case in listed:
        case = filled.cases.get(listed_case.number, AGENT)
        assert case.history, case.number
        assert case.history[-1].to_state == case.state.value
        assert [h.seq for h in case.history] == list(range(1, len(case.history) + 1))
        assert case.person.phone is not None and len(case.person.phone) == 11 and case.person.phone.startswith("1")
        assert case.person.name


def test_the_newest_cases_are_the_running_ones(filled) -> None:
    newest_first = [c.state.value for c in every_case(filled)]
    assert set(newest_first[:RUNNING]) <= HANDLED
    assert set(newest_first[RUNNING:]) <= FINISHED


def test_the_phone_search_finds_every_case_of_a_caller(filled) -> None:
    by_phone: dict[str, set[str]] = defaultdict(set)
    for case in every_case(filled):
        by_phone[filled.cases.get(case.number, AGENT).person.phone].add(case.number)
    assert len(by_phone) < CASES  # callers call again: a pool of a third as many phones
    for phone, numbers in list(by_phone.items())[:20]:
        found, _ = filled.cases.list(CaseQuery(phone=phone), AGENT)
        assert {c.number for c in found} == numbers


def test_the_events_carry_the_cases_versions(filled) -> None:
    with filled.db.read() as s:
        last = dict(s.execute(select(EventRow.case_number, func.max(EventRow.case_version)).group_by(EventRow.case_number)).all())
        versions = dict(s.execute(select(CaseRow.number, CaseRow.version)).all())
    assert last == versions


def test_intake_after_the_fill_numbers_on(filled) -> None:
    existing = {c.number for c in every_case(filled)}
    today = NOW.strftime("%Y%m%d")
    assert any(n[6:14] == today for n in existing)  # the fill reaches its own "now"
    fresh = filled.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
    assert fresh not in existing and fresh[6:14] == today
    assert int(fresh[-6:]) == max(int(n[-6:]) for n in existing if n[6:14] == today) + 1
