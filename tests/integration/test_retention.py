"""Retention on a real SQLite file and PostgreSQL: archived cases past the limit lose their
caller's data, one second before the limit they keep it; the history says so; a dry run
changes nothing; a second pass finds nothing."""

from __future__ import annotations

from datetime import datetime

from hub.db.repository import CaseQuery
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ, ManualClock
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import Settings
from records.retention import Retention, RetentionWorker
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
SUPERVISOR = Actor(party="centre-supervisor", role=Role.SUPERVISOR)


def archived_case(hub, clock: ManualClock, at: datetime, **changes) -> str:
    """A case answered directly, followed up satisfied, closed and archived at `at`."""
    clock.set(at)
    number = hub.cases.register(CaseDraft.model_validate(draft(**changes)), AGENT).case.number
    hub.cases.act(number, c.Accept(), AGENT)
    hub.cases.act(number, c.AnswerDirectly(answer="已答复"), AGENT)
    hub.cases.act(number, c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT)
    hub.cases.act(number, c.Archive(), SUPERVISOR)
    return number


def test_erases_past_the_limit_and_keeps_the_rest(db_url: str) -> None:
    clock = ManualClock(datetime(2021, 3, 15, 10, 0, tzinfo=LOCAL_TZ))
    hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", retention={"archived_years": 2}), clock)
    try:
        old = archived_case(hub, clock, datetime(2021, 3, 15, 10, 0, tzinfo=LOCAL_TZ))
        boundary = archived_case(hub, clock, datetime(2021, 3, 15, 10, 0, 1, tzinfo=LOCAL_TZ), person={"name": "李四", "phone": "13900139000"})
        closed_only = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number  # never archived

        # 2023-03-15 10:00:00 local: the first case is exactly two years archived, the second one second short.
        clock.set(datetime(2023, 3, 15, 10, 0, tzinfo=LOCAL_TZ))
        retention = Retention(hub)
        assert retention.run(dry_run=True).erased == [old]
        assert hub.cases.get(old, AGENT).person.name == "张三"  # the dry run changed nothing

        assert retention.run().erased == [old]
        case = hub.cases.get(old, AGENT)
        assert (case.person.name, case.person.phone, case.place.address) == (None, None, None)
        assert (case.request_type.value, case.category_code, case.place.division_code, case.handling.lead_unit) == ("complaint", "0101", "512002", None)
        assert case.outcome.follow_ups[0].satisfaction.value == "satisfied"
        assert case.history[-1].action == "erase_personal_data" and case.history[-1].actor == "hub-retention"
        assert case.history[-1].data["fields"] == ["person.name", "person.phone", "place.address"]
        assert case.history[-1].at == datetime(2023, 3, 15, 10, 0, tzinfo=LOCAL_TZ)
        # Nor can the erased caller be found through the phone index any more (its hash is gone too).
        # (the case never archived has the same caller's phone and is still found by it.)
        assert [x.number for x in hub.cases.list(CaseQuery(phone="13800138000"), SUPERVISOR)[0]] == [closed_only]
        # The one a second short and the one never archived keep their caller.
        assert hub.cases.get(boundary, AGENT).person.phone == "13900139000"
        assert hub.cases.get(closed_only, AGENT).person.name == "张三"

        clock.set(datetime(2023, 3, 15, 10, 0, 1, tzinfo=LOCAL_TZ))
        assert retention.run().erased == [boundary]
        assert retention.run().erased == []  # nothing left to erase; no second history line
        assert [h.action for h in hub.cases.get(old, AGENT).history].count("erase_personal_data") == 1
    finally:
        hub.close()


def test_the_worker_runs_it_under_its_lease(db_url: str) -> None:
    clock = ManualClock(datetime(2020, 1, 10, 10, 0, tzinfo=LOCAL_TZ))
    hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL"), clock)  # default: 3 years
    try:
        number = archived_case(hub, clock, datetime(2020, 1, 10, 10, 0, tzinfo=LOCAL_TZ))
        first, second = RetentionWorker(hub, holder="one"), RetentionWorker(hub, holder="two")
        clock.set(datetime(2023, 1, 10, 9, 59, tzinfo=LOCAL_TZ))
        assert first.run_once().erased == []
        clock.set(datetime(2023, 1, 10, 10, 0, tzinfo=LOCAL_TZ))
        assert second.run_once().leased is False  # the first holds the day's lease
        assert first.run_once().erased == [number]
    finally:
        hub.close()


def test_erasure_takes_the_attachments_and_their_files(db_url: str, tmp_path) -> None:
    import io

    from hub.settings import AttachmentSettings

    files = tmp_path / "files"
    clock = ManualClock(datetime(2021, 3, 15, 10, 0, tzinfo=LOCAL_TZ))
    hub = build_hub(
        Settings(database_url=db_url, sqlite_synchronous="NORMAL", retention={"archived_years": 2}, attachments=AttachmentSettings(directory=files)), clock
    )
    photo, shared = b"\xff\xd8\xff" + b"\x01" * 40, b"%PDF-1.7\n" + b"\x02" * 40
    try:
        number = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
        hub.attachments.add(number, io.BytesIO(photo), "门口.jpg", "internal", AGENT)
        hub.attachments.add(number, io.BytesIO(shared), "通知.pdf", "public", AGENT)
        for command, actor in (
            (c.Accept(), AGENT),
            (c.AnswerDirectly(answer="已答复"), AGENT),
            (c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT),
            (c.Archive(), SUPERVISOR),
        ):
            hub.cases.act(number, command, actor)
        # Another case, kept, holds the same document: its file stays.
        other = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
        hub.attachments.add(other, io.BytesIO(shared), "通知.pdf", "public", AGENT)
        assert len([p for p in files.glob("*/*/*") if p.is_file()]) == 2

        clock.set(datetime(2023, 3, 16, 10, 0, tzinfo=LOCAL_TZ))
        result = Retention(hub).run()
        assert result.erased == [number] and result.files_deleted == 1
        case = hub.cases.get(number, AGENT)
        assert case.links.attachments == []
        assert "links.attachments" in case.history[-1].data["fields"]
        assert hub.attachments.list_for(case, AGENT) == []
        left = [p.read_bytes() for p in files.glob("*/*/*") if p.is_file()]
        assert left == [shared]
        assert [a.name for a in hub.attachments.list_for(hub.cases.get(other, AGENT), AGENT)] == ["通知.pdf"]
    finally:
        hub.close()
