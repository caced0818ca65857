"""Importing the legacy lines' sample exports into a real SQLite file and a real PostgreSQL:
exact counts and reasons, what an imported case looks like, idempotence, resume after an
interruption, dry runs, and duplicates linked with a score."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.importing.importer import LegacyImporter, RejectFile
from adapters.legacy_hotlines.tables import LegacyCandidateRow, LegacyImportRunRow, LegacyRecordRow
from hub.db import bulk
from hub.db.models import CaseRow, EventRow, ExternalRefRow
from hub.db.repository import CaseRepository
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, CaseState, Channel, Role
from hub.runtime import put_back_phone_index
from tests.fixtures.legacy.samples import CSV_12315, JSONL_12369, xlsx_12333
from tests.support.factories import draft

SUPERVISOR = Actor(party="centre-supervisor", role=Role.SUPERVISOR)

# (row, column, reason prefix) of every refused row: the samples were written to hit each.
REFUSED_12315 = [
    (4, "登记时间", "date '2018年13月01日' matches none"),
    (5, "问题类别", "code '99' has no mapping"),
    (6, "工单编号", "empty (required)"),
    (7, "工单编号", "duplicate of row 2"),
    (9, "办理状态", "code '处理中' has no mapping"),
    (10, "联系电话", "not a Chinese mobile"),
    (12, "诉求内容", "empty (required)"),
    (14, "(row)", "has 3 columns, the header has 14"),
]
REFUSED_12333 = [
    (5, "来电时间", "date '2019-03-04' matches none"),
    (6, "业务类别", "code '工伤' has no mapping"),
    (7, "处理状态", "empty (required)"),
    (8, "受理编号", "duplicate of row 3"),
]
REFUSED_12369 = [
    (3, "(row)", "not JSON"),
    (4, "report_time", "date '2019-02-30 10:00:00' matches none"),
    (5, "pollution_type", "code 'radiation' has no mapping"),
    (6, "description", "missing (required)"),
    (7, "report_id", "duplicate of row 1"),
    (8, "(row)", "a JSON list, not an object"),
    (9, "county_code", "code '510100' has no mapping"),
]


def importer(hub, batch_size: int = 4, read_ahead: bool | None = None) -> LegacyImporter:
    return LegacyImporter(hub, hub.handles.get(Legacy).config, batch_size=batch_size, progress=None, read_ahead=read_ahead)


def read_rejects(path: Path) -> list[tuple[int, str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [(int(r["row"]), r["column"], r["reason"]) for r in rows]


def assert_refused(path: Path, expected: list[tuple[int, str, str]]) -> None:
    got = read_rejects(path)
    assert [(r, c) for r, c, _ in got] == [(r, c) for r, c, _ in expected]
    for (_, _, reason), (_, _, prefix) in zip(got, expected):
        assert reason.startswith(prefix), (reason, prefix)


def count(hub, stmt) -> int:
    with hub.db.read() as s:
        return s.execute(stmt).scalar_one()


def legacy_cases(hub, line: str) -> int:
    return count(hub, select(func.count()).select_from(ExternalRefRow).where(ExternalRefRow.system == f"legacy.{line}"))


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "read-ahead"])
@pytest.mark.parametrize("line, accepted, refused", [("12315", 5, REFUSED_12315), ("12333", 4, REFUSED_12333), ("12369", 2, REFUSED_12369)])
def test_each_sample_gives_exact_counts_and_reasons(hub, tmp_path, line, accepted, refused, read_ahead):
    path = {"12315": CSV_12315, "12369": JSONL_12369}.get(line) or xlsx_12333(tmp_path)
    rejects = tmp_path / "rejects.csv"
    summary = importer(hub, read_ahead=read_ahead).run(line, path, reject_path=rejects)
    assert (summary.accepted, summary.rejected, summary.skipped) == (accepted, len(refused), 0)
    assert_refused(rejects, refused)
    assert legacy_cases(hub, line) == accepted
    if line == "12315":
        assert summary.encoding == "gb18030"  # the sample is GBK, read through its superset


def test_an_imported_case_is_historical_and_keeps_its_line_and_id(hub, tmp_path):
    importer(hub).run("12315", CSV_12315, dedupe=False)
    case = hub.cases.find_by_ref("legacy.12315", "SC2018120002")
    assert case is not None
    assert case.number == "51200020181229000001"  # region + the day the line received it + sequence
    assert case.state is CaseState.ARCHIVED
    assert case.intake.channel is Channel.LEGACY
    assert case.intake.received_at == datetime(2018, 12, 29, 9, 30, tzinfo=LOCAL_TZ)
    assert case.person.phone == "028-26612345" and case.place.division_code == "512021"
    assert case.handling.lead_unit == "AY-SCJG" and case.request_type.value == "report"
    assert case.outcome.reply is not None and case.outcome.reply.text == "已责令整改"
    assert case.outcome.closed_at == datetime(2019, 1, 10, 10, 0, tzinfo=LOCAL_TZ)
    assert [(h.action, h.role, h.to_state) for h in case.history] == [("import", Role.SYSTEM, CaseState.ARCHIVED)]
    assert case.history[0].data["row"] == 3 and case.history[0].data["status"] == "已归档"
    open_case = hub.cases.find_by_ref("legacy.12315", "SC2018120008")
    assert open_case.state is CaseState.ACCEPTED and open_case.handling.lead_unit is None
    # A date-only close on the day of receipt is read as that day, not refused.
    same_day = hub.cases.find_by_ref("legacy.12315", "SC2018120005")
    assert same_day.outcome.closed_at == same_day.intake.received_at
    # Historical imports raise no events, so the outbox routes none of them to peers.
    assert count(hub, select(func.count()).select_from(EventRow)) == 0


def test_reimporting_creates_nothing_new(hub, tmp_path):
    first = importer(hub).run("12315", CSV_12315)
    again = importer(hub).run("12315", CSV_12315)
    assert again.already_done and again.run_id == first.run_id
    assert (again.accepted, again.rejected) == (5, 8)
    # The same rows in another file (another hash) are skipped as already held, row by row.
    other = tmp_path / "12315_again.csv"
    shutil.copyfile(CSV_12315, other)
    with other.open("ab") as f:
        f.write("SC2018120099,2019年03月01日 09:00,新某,13100001111,投诉,01,新问题,新的投诉内容,,雁江区,已办结,市局,,\r\n".encode("gbk"))
    third = importer(hub).run("12315", other)
    assert (third.accepted, third.skipped, third.rejected) == (1, 6, 7)  # row 7 repeats row 2: both held now
    assert legacy_cases(hub, "12315") == 6
    assert count(hub, select(func.count()).select_from(CaseRow)) == 6


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "read-ahead"])
def test_an_interrupted_import_resumes_where_it_stopped(hub, tmp_path, read_ahead):
    rejects = tmp_path / "rejects.csv"
    stopped = importer(hub, batch_size=3, read_ahead=read_ahead).run("12315", CSV_12315, reject_path=rejects, stop_after_batches=2)
    assert stopped.interrupted and stopped.accepted + stopped.rejected == 6
    with hub.db.read() as s:
        run = s.execute(select(LegacyImportRunRow)).scalar_one()
        assert (run.status, run.last_row) == ("running", 7)
    resumed = importer(hub, batch_size=3, read_ahead=read_ahead).run("12315", CSV_12315, reject_path=rejects)
    assert resumed.resumed_after_row == 7 and resumed.run_id == stopped.run_id
    assert (resumed.accepted, resumed.rejected) == (5, 8)  # totals of the run, as if never stopped
    assert legacy_cases(hub, "12315") == 5
    assert_refused(rejects, REFUSED_12315)  # each refused row once, none lost across the stop
    assert importer(hub).run("12315", CSV_12315).already_done


@pytest.mark.parametrize("where", ["before the commit", "after the commit"])
def test_an_import_stopped_hard_resumes_with_each_reject_once(hub, tmp_path, monkeypatch, where):
    """A second Ctrl-C, a kill or a crash may land anywhere: the batch's rejects are in the
    file before it commits, and a resume cuts the file back to what the run committed."""
    rejects = tmp_path / "rejects.csv"
    write, with_rows = RejectFile.write, []

    def write_then_stop(self, rows):
        write(self, rows)
        with_rows.append(bool(rows))
        if sum(with_rows) == 2 and where == "before the commit":
            raise KeyboardInterrupt  # in the batch's transaction: its rows are in the file, the batch rolls back

    monkeypatch.setattr(RejectFile, "write", write_then_stop)
    stop = (lambda: sum(with_rows) == 2) if where == "after the commit" else None
    if stop is None:
        with pytest.raises(KeyboardInterrupt):
            importer(hub, batch_size=3).run("12315", CSV_12315, reject_path=rejects)
    else:
        assert importer(hub, batch_size=3).run("12315", CSV_12315, reject_path=rejects, stop=stop).interrupted
    monkeypatch.undo()
    with hub.db.read() as s:
        last_row = s.execute(select(LegacyImportRunRow.last_row)).scalar_one()
    listed = [r for r, _, _ in read_rejects(rejects)]
    assert (max(listed) > last_row) == (where == "before the commit")
    with rejects.open("a", encoding="utf-8", newline="") as f:
        f.write("13,SC2018")  # and a kill in the middle of writing a line
    resumed = importer(hub, batch_size=3).run("12315", CSV_12315, reject_path=rejects)
    assert (resumed.accepted, resumed.rejected) == (5, 8) and legacy_cases(hub, "12315") == 5
    assert_refused(rejects, REFUSED_12315)


def test_a_dry_run_validates_and_stores_nothing(hub, tmp_path):
    rejects = tmp_path / "rejects.csv"
    summary = importer(hub).run("12315", CSV_12315, dry_run=True, reject_path=rejects)
    assert summary.dry_run and (summary.accepted, summary.rejected) == (5, 8)
    assert_refused(rejects, REFUSED_12315)
    assert count(hub, select(func.count()).select_from(CaseRow)) == 0
    assert count(hub, select(func.count()).select_from(LegacyImportRunRow)) == 0
    assert count(hub, select(func.count()).select_from(LegacyCandidateRow)) == 0


def test_likely_duplicates_are_linked_with_a_score_never_merged_by_themselves(hub, tmp_path):
    # 12345's own case: the person of 12333 row 2 called 12345 the same morning.
    own = CaseDraft.model_validate(
        draft(
            **{
                "intake.received_at": "2019-03-01T10:00:00+08:00",
                "person.phone": "13700001111",
                "category_code": "0302",
                "title": "养老保险转移",
                "content": "询问养老保险关系转移接续的办理手续和材料",
            }
        )
    )
    own_case = hub.cases.register(own, Actor(party="centre-agent", role=Role.AGENT)).case
    imp = importer(hub)
    imp.run("12315", CSV_12315)
    imp.run("12333", xlsx_12333(tmp_path))
    imp.run("12369", JSONL_12369)
    with hub.db.read() as s:
        rows = s.execute(select(LegacyCandidateRow).order_by(LegacyCandidateRow.id)).scalars().all()
    numbers = {
        ref: hub.cases.find_by_ref(f"legacy.{ref[:5]}", ref[6:]).number
        for ref in ("12315:SC2018120001", "12315:SC2018120008", "12315:SC2018120002", "12369:HB-2019-0001", "12333:RS20190001", "12333:RS20190007")
    }
    pairs = {(r.case_a, r.case_b): r for r in rows}
    expected = {
        (numbers["12315:SC2018120001"], numbers["12315:SC2018120008"]),  # same person, next day, same heater
        (numbers["12315:SC2018120002"], numbers["12369:HB-2019-0001"]),  # across lines: the restaurant
        (numbers["12333:RS20190001"], own_case.number),  # with 12345's own case
        (numbers["12333:RS20190001"], numbers["12333:RS20190007"]),
        (own_case.number, numbers["12333:RS20190007"]),  # the same person's third call, a day later
    }
    assert set(pairs) == expected
    threshold = hub.handles.get(Legacy).config.dedupe.threshold
    for r in rows:
        assert threshold <= r.score <= 1 and r.status == "pending" and 0 < r.text_similarity <= 1
    assert pairs[(numbers["12315:SC2018120002"], numbers["12369:HB-2019-0001"])].line_b == "12369"
    # Nothing merged: every case is as imported.
    assert hub.cases.find_by_ref("legacy.12315", "SC2018120008").state is CaseState.ACCEPTED
    # Running the search again finds nothing new.
    assert imp.dedupe().candidates == []

    candidates = hub.handles.get(Legacy).candidates
    open_pair = pairs[(numbers["12315:SC2018120001"], numbers["12315:SC2018120008"])]
    merged = candidates.confirm(open_pair.id, SUPERVISOR, "same heater")
    assert (merged.status, merged.resolution) == ("confirmed", "merged")  # the later case was still open
    dup = hub.cases.get(numbers["12315:SC2018120008"], SUPERVISOR)
    assert dup.state is CaseState.MERGED and dup.links.merged_into == numbers["12315:SC2018120001"]
    closed_pair = pairs[(numbers["12333:RS20190001"], numbers["12333:RS20190007"])]
    linked = candidates.confirm(closed_pair.id, SUPERVISOR)
    assert (linked.status, linked.resolution) == ("confirmed", "linked")  # both closed: the engine refuses 并单
    assert hub.cases.get(numbers["12333:RS20190007"], SUPERVISOR).state is CaseState.CLOSED
    dismissed = candidates.dismiss(pairs[(numbers["12333:RS20190001"], own_case.number)].id, SUPERVISOR, "different")
    assert dismissed.status == "dismissed"
    assert {c.id for c in candidates.list("pending")} == {
        pairs[(numbers["12315:SC2018120002"], numbers["12369:HB-2019-0001"])].id,
        pairs[(own_case.number, numbers["12333:RS20190007"])].id,
    }


def test_the_duplicate_search_goes_batch_by_batch_and_resumes_with_the_same_pairs(hub, tmp_path, monkeypatch):
    """Each batch is its own transaction (a long search must not hold the writer): in
    batches of two, stopped after the first, then resumed, it stores exactly the pairs of
    one whole search, each once, and leaves every record compared."""
    from adapters.legacy_hotlines.importing import dedupe

    imp = importer(hub)
    for line, path in (("12315", CSV_12315), ("12333", xlsx_12333(tmp_path)), ("12369", JSONL_12369)):
        imp.run(line, path, dedupe=False)
    rules, now = hub.handles.get(Legacy).config.dedupe, hub.clock.now()
    batches = []
    store = dedupe._store_batch

    def stop_after_one(s, *a):
        if batches:
            raise KeyboardInterrupt
        batches.append(1)
        return store(s, *a)

    monkeypatch.setattr(dedupe, "_store_batch", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        dedupe.find_candidates(hub.db, rules, now, batch=2)
    with hub.db.read() as s:
        assert s.execute(select(func.count()).where(LegacyRecordRow.compared.is_(True))).scalar_one() == 2  # committed
        first = s.execute(select(func.count()).select_from(LegacyCandidateRow)).scalar_one()
    monkeypatch.setattr(dedupe, "_store_batch", store)
    resumed = dedupe.find_candidates(hub.db, rules, now, batch=2)
    with hub.db.write() as s:
        pairs = sorted(tuple(p) for p in s.execute(select(LegacyCandidateRow.case_a, LegacyCandidateRow.case_b)))
        assert s.execute(select(func.count()).where(LegacyRecordRow.compared.is_(False))).scalar_one() == 0
        s.execute(LegacyCandidateRow.__table__.delete())
        s.execute(LegacyRecordRow.__table__.update().values(compared=False))
    assert len(pairs) == len(set(pairs)) == first + len(resumed.candidates) and pairs
    whole = dedupe.find_candidates(hub.db, rules, now, batch=1000)
    assert sorted((a, b) for a, b, _ in whole.candidates) == pairs


def test_a_12345_case_that_commits_after_a_higher_id_was_indexed_is_still_compared(hub):
    """On PostgreSQL a case can commit after one with a higher id (ids come from a sequence in
    the order transactions started). The search indexes every case without a record, so such a
    case is not skipped for being below the highest id indexed."""
    early = register_own(hub, "2019-03-01T10:00:00+08:00")
    late = register_own(hub, "2019-03-01T11:00:00+08:00")
    imp = importer(hub)
    imp.dedupe()
    with hub.db.write() as s:  # as if `early` had not committed yet when the search ran
        s.execute(LegacyRecordRow.__table__.delete().where(LegacyRecordRow.case_number == early.number))
        s.execute(LegacyCandidateRow.__table__.delete())
        s.execute(LegacyRecordRow.__table__.update().values(compared=True))
    found = imp.dedupe()
    assert found.indexed_hub_cases == 1
    assert [(a, b) for a, b, _ in found.candidates] == [(early.number, late.number)]


def register_own(hub, received_at: str):
    """A 12345 case of the person who calls twice about the same pension transfer."""
    own = CaseDraft.model_validate(
        draft(
            **{
                "intake.received_at": received_at,
                "person.phone": "13700002222",
                "category_code": "0302",
                "title": "养老保险转移",
                "content": "询问养老保险关系转移接续的办理手续和材料",
            }
        )
    )
    return hub.cases.register(own, Actor(party="centre-agent", role=Role.AGENT)).case


def phone_index_present(hub) -> bool:
    from sqlalchemy import inspect

    with hub.db.read() as s:
        return "ix_legacy_records_phone" in {i["name"] for i in inspect(s.connection()).get_indexes("legacy_records")}


def test_the_phone_index_left_out_during_a_load_is_back_after_it_and_duplicates_are_found(hub, tmp_path, monkeypatch):
    """A large file loads without the dedupe index by phone and builds it at the end; stopped
    or crashed, the index comes back before the next search, and the search finds the same."""
    imp = importer(hub, batch_size=3)
    seen = []
    write = LegacyImporter._write
    monkeypatch.setattr(LegacyImporter, "_write", lambda self, *a: (seen.append(phone_index_present(hub)), write(self, *a))[1])
    imp.run("12315", CSV_12315, stop_after_batches=1)
    assert seen == [False] and phone_index_present(hub)  # out while loading, back once stopped
    imp.run("12315", CSV_12315)
    assert phone_index_present(hub)
    # A crash while it was out: the next search puts it back and finds the same pair.
    with hub.db.write() as s:
        from adapters.legacy_hotlines.tables import drop_phone_index

        drop_phone_index(s)
        s.execute(LegacyRecordRow.__table__.update().values(compared=False))
        s.execute(LegacyCandidateRow.__table__.delete())
    assert imp.dedupe().candidates
    assert phone_index_present(hub)
    with hub.db.read() as s:
        pairs = s.execute(select(LegacyCandidateRow.case_a, LegacyCandidateRow.case_b)).all()
    pair = (hub.cases.find_by_ref("legacy.12315", "SC2018120001").number, hub.cases.find_by_ref("legacy.12315", "SC2018120008").number)
    assert [tuple(p) for p in pairs] == [pair]
    # A small file into a table that holds more rows than it can: the index stays and takes the rows.
    seen.clear()
    small = tmp_path / "12315_one.csv"
    lines = CSV_12315.read_bytes().splitlines(keepends=True)
    small.write_bytes(lines[0] + "SC2018120099,2019年03月01日 09:00,新某,13100001111,投诉,01,新问题,新的投诉内容,,雁江区,已办结,市局,,\r\n".encode("gbk"))
    monkeypatch.setattr("adapters.legacy_hotlines.importing.importer._MAX_BYTES_PER_ROW", small.stat().st_size)  # "1 row" vs 5 held
    assert imp.run("12315", small).accepted == 1
    assert seen == [True]


def case_phone_index_present(hub) -> bool:
    """ix_cases_phone_hash is in the schema (read from the catalogue: reflecting the indexes
    of `cases` warns of the expression-based ones)."""
    sql = "SELECT count(*) FROM sqlite_master WHERE name = :n" if hub.db.is_sqlite else "SELECT count(*) FROM pg_indexes WHERE indexname = :n"
    with hub.db.read() as s:
        return s.execute(text(sql), {"n": "ix_cases_phone_hash"}).scalar_one() == 1


def test_a_load_with_a_fixed_batch_leaves_the_cases_phone_index_out_on_sqlite_and_builds_it_after(hub, tmp_path, monkeypatch):
    """On SQLite a large load with a fixed batch size writes the cases without their index by
    phone hash and builds it at the end (on PostgreSQL it stays); stopped or crashed, it is
    back before the next load or search, and a search by phone finds the imported cases."""
    imp = importer(hub, batch_size=3)
    seen = []
    write = LegacyImporter._write
    monkeypatch.setattr(LegacyImporter, "_write", lambda self, *a: (seen.append(case_phone_index_present(hub)), write(self, *a))[1])
    imp.run("12315", CSV_12315, stop_after_batches=1)
    assert seen == [not hub.db.is_sqlite] and case_phone_index_present(hub)  # out while loading (SQLite), back once stopped
    if hub.db.is_sqlite:  # a crash while it was out: the duplicate search puts it back
        with hub.db.write() as s:
            bulk.drop_phone_index(s)
        imp.dedupe()
        assert case_phone_index_present(hub)
        with hub.db.write() as s:  # and so does the next load
            bulk.drop_phone_index(s)
        monkeypatch.setattr("adapters.legacy_hotlines.importing.importer._MAX_BYTES_PER_ROW", 1 << 30)  # a small file: kept
        seen.clear()
        imp.run("12315", CSV_12315)
        assert seen and all(seen) and case_phone_index_present(hub)
    else:
        imp.run("12315", CSV_12315)
    # Found by phone through the index: the cases of SC2018120001 and SC2018120008 (张三, 13800001111).
    with hub.db.read() as s:
        found = s.execute(select(CaseRow.number).where(CaseRow.phone_hash == CaseRepository(s).phone_hash("13800001111"))).scalars().all()
    assert sorted(found) == sorted(hub.cases.find_by_ref("legacy.12315", ref).number for ref in ("SC2018120001", "SC2018120008"))


def test_serve_builds_again_a_phone_index_a_killed_load_left_out(hub):
    """An import killed while the index was out, never run again: `serve`'s start puts it
    back (hub.runtime.put_back_phone_index), and says nothing when it is there."""
    hub.cases.register(CaseDraft.model_validate(draft(person__phone="13800002222")), Actor("centre", Role.AGENT))
    if hub.db.is_sqlite:
        with hub.db.write() as s:
            bulk.drop_phone_index(s)
        assert not case_phone_index_present(hub)
        assert put_back_phone_index(hub) is True
    assert case_phone_index_present(hub)
    assert put_back_phone_index(hub) is False
    with hub.db.read() as s:
        found = s.execute(select(func.count()).select_from(CaseRow).where(CaseRow.phone_hash == CaseRepository(s).phone_hash("13800002222"))).scalar_one()
    assert found == 1


def test_beside_live_traffic_the_cases_phone_index_stays(hub, monkeypatch):
    imp = LegacyImporter(hub, hub.handles.get(Legacy).config, progress=None, hold_target=0.05)
    seen = []
    write = LegacyImporter._write
    monkeypatch.setattr(LegacyImporter, "_write", lambda self, *a: (seen.append(case_phone_index_present(hub)), write(self, *a))[1])
    assert imp.run("12315", CSV_12315, dedupe=False).accepted
    assert seen and all(seen)


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "read-ahead"])
def test_imported_rows_read_back_as_the_model_would_have_stored_them(hub, tmp_path, read_ahead):
    """The import writes the batch with values rendered for the database; whatever it wrote
    must read back, through the repository and the ORM's types, as build_case's case."""
    from adapters.legacy_hotlines.importing.readers import RowSource, file_kind, inspect_file
    from adapters.legacy_hotlines.mapping import RowMapper, RowRefused, build_case
    from adapters.legacy_hotlines.tables import LegacyRecordRow
    from hub.db.models import CaseUnitRow, HistoryRow
    from hub.db.person_seal import PersonSeal
    from hub.db.repository import CaseRepository
    from hub.mappings import UnknownCode

    config = hub.handles.get(Legacy).config
    checked = 0
    for line, path in (("12315", CSV_12315), ("12369", JSONL_12369), ("12333", xlsx_12333(tmp_path))):
        summary = importer(hub, batch_size=3, read_ahead=read_ahead).run(line, path, dedupe=False)
        mapper = RowMapper(config.mapping(line), hub.catalogue)
        seen = set()
        for row in RowSource(path, file_kind(path), inspect_file(path, file_kind(path))):
            try:
                m = mapper.map(row.values) if row.values is not None else None
            except (RowRefused, UnknownCode):
                continue
            if m is None or m.original_id in seen:
                continue
            seen.add(m.original_id)
            case = hub.cases.find_by_ref(f"legacy.{line}", m.original_id)
            expected = build_case(m, case.number, case.history[0].at, line, summary.run_id, row.number)
            assert case.model_dump(mode="json") == expected.model_dump(mode="json"), (line, row.number)
            with hub.db.read() as s:
                stored = s.execute(select(CaseRow).where(CaseRow.number == case.number)).scalar_one()
                seal = PersonSeal(hub.db.person_seal_key)
                columns = CaseRepository._columns(expected, hub.db.phone_index_key, seal)  # what CaseRepository.add would have written
                written = {k: getattr(stored, k) for k in columns}
                # The sealed token differs at each sealing (Fernet's random IV): equal once opened.
                assert {**written, "doc": seal.open(written["doc"])} == {**columns, "doc": seal.open(columns["doc"])}, (line, row.number)
                person = written["doc"]["person"]
                assert (person["name"], person["phone"]) == (None, None) and ("sealed" in person) == bool(m.person_name or m.person_phone)
                assert stored.created_at == m.received_at and stored.search_text == f"{m.title}\n{m.content}"
                record = s.get(LegacyRecordRow, (line, m.original_id))
                assert (record.case_number, record.received_at, record.row, record.compared) == (case.number, m.received_at, row.number, False)
                units = s.execute(select(CaseUnitRow.unit_code, CaseUnitRow.role).where(CaseUnitRow.case_id == stored.id)).all()
                assert units == ([(m.unit, "lead")] if m.unit else [])
                history = s.execute(select(HistoryRow).where(HistoryRow.case_id == stored.id)).scalar_one()
                h = expected.history[0]
                assert (
                    history.seq,
                    history.at,
                    history.actor,
                    history.role,
                    history.action,
                    history.from_state,
                    history.to_state,
                    history.note,
                    history.data,
                ) == (1, h.at, h.actor, h.role.value, h.action, None, h.to_state.value, None, h.data)
            checked += 1
    assert checked == 5 + 4 + 2


def test_a_ten_megabyte_cell_is_a_refused_row_and_the_rest_imports(hub, tmp_path):
    big = tmp_path / "12315_big_cell.csv"
    shutil.copyfile(CSV_12315, big)
    with big.open("ab") as f:
        f.write(
            ('SC2018120099,2019年03月01日 09:00,新某,13100001111,投诉,01,超长,"' + "长" * 5_000_000 + '",,雁江区,已办结,市局,,\r\n').encode("gbk")
        )  # 5,000,000 characters: 10 MB in GBK
        f.write("SC2018120098,2019年03月02日 09:00,新某,13100002222,投诉,01,新问题,新的投诉内容,,雁江区,已办结,市局,,\r\n".encode("gbk"))
    rejects = tmp_path / "rejects.csv"
    summary = importer(hub).run("12315", big, reject_path=rejects)
    assert (summary.accepted, summary.rejected) == (6, 9)  # the sample's 5 and 8, the row after the big one, the big one
    assert_refused(rejects, REFUSED_12315 + [(15, "(row)", "column '诉求内容' holds 5,000,000 characters")])
    assert hub.cases.find_by_ref("legacy.12315", "SC2018120098") is not None
    with hub.db.read() as s:
        assert s.execute(select(LegacyImportRunRow.status)).scalar_one() == "done"


def _run(hub) -> tuple[str, str | None]:
    with hub.db.read() as s:
        return tuple(s.execute(select(LegacyImportRunRow.status, LegacyImportRunRow.failure)).one())


@pytest.mark.parametrize("kind", ["empty CSV", "truncated XLSX"])
def test_an_import_that_fails_before_its_first_row_is_marked_failed_with_the_reason(hub, tmp_path, kind):
    from adapters.legacy_hotlines.importing.readers import UnreadableFile

    if kind == "empty CSV":
        line, path, reason = "12315", tmp_path / "empty.csv", "empty.csv: empty file, no header row"
        path.write_bytes(b"")
    else:
        whole = xlsx_12333(tmp_path).read_bytes()
        line, path, reason = "12333", tmp_path / "cut.xlsx", "cut.xlsx: not a readable XLSX workbook"
        path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableFile):
        importer(hub).run(line, path)
    status, failure = _run(hub)
    assert status == "failed" and failure.startswith(reason)
    with pytest.raises(UnreadableFile):  # run again: tried again, and failed again with its reason
        importer(hub).run(line, path)
    assert _run(hub) == (status, failure)


def test_a_phone_with_many_records_is_stored_in_short_transactions_each_pair_once(hub, monkeypatch):
    """A frequent caller: twelve calls of one phone about the same thing, an hour apart, make
    12 x 11 / 2 = 66 pairs. Scored outside the write transactions at most 10 pairs a round and
    stored at most 5 a transaction, the search stores each of the 66 once, and no write
    transaction of it inserts more than 5: the writer is free between them."""
    from contextlib import contextmanager

    from adapters.legacy_hotlines.importing import dedupe

    for hour in range(12):
        register_own(hub, f"2019-03-01T{8 + hour:02d}:00:00+08:00")
    monkeypatch.setattr(dedupe, "MAX_PAIRS", 10)
    monkeypatch.setattr(dedupe, "STORE_CHUNK", 5)
    stored = select(func.count()).select_from(LegacyCandidateRow)
    inserted: list[int] = []  # candidates each write transaction added
    write = hub.db.write

    @contextmanager
    def counted(*a, **k):
        with write(*a, **k) as s:
            before = s.execute(stored).scalar_one()
            yield s
            inserted.append(s.execute(stored).scalar_one() - before)

    monkeypatch.setattr(hub.db, "write", counted)
    found = importer(hub).dedupe()
    assert len(found.candidates) == 66 == len({(a, b) for a, b, _ in found.candidates})
    assert count(hub, stored) == 66 and sum(inserted) == 66
    assert max(inserted) == 5 and len([n for n in inserted if n]) >= 66 // 5
    assert count(hub, select(func.count()).where(LegacyRecordRow.compared.is_(False))) == 0
    assert importer(hub).dedupe().candidates == []  # searched again: nothing new


def test_the_duplicate_search_reports_its_progress_batch_by_batch_up_to_the_whole(hub, tmp_path):
    """Issue #19: the duplicate search of a long import says how far it is (for its ETA): after
    each batch the records compared so far and the fraction done, rising, 1.0 at the end."""
    from adapters.legacy_hotlines.importing import dedupe

    imp = importer(hub)
    for line, path in (("12315", CSV_12315), ("12333", xlsx_12333(tmp_path))):
        imp.run(line, path, dedupe=False)
    with hub.db.read() as s:
        records = s.execute(select(func.count()).select_from(LegacyRecordRow)).scalar_one()
    told: list[tuple[int, float]] = []
    result = dedupe.find_candidates(
        hub.db, hub.handles.get(Legacy).config.dedupe, hub.clock.now(), batch=3, progress=lambda done, fraction: told.append((done, fraction))
    )
    assert result.compared == records > 3
    done = [d for d, _ in told]
    fractions = [f for _, f in told]
    assert done[0] == 3 and done == sorted(done) and done[-1] == records
    assert fractions == sorted(fractions) and 0 < fractions[0] < 1 and fractions[-1] == 1.0
    assert all(f < 1.0 for f in fractions[:-1])  # never "done" before the last batch


def test_an_import_draws_a_progress_line_for_its_duplicate_search_too(hub, tmp_path):
    import io

    stream = io.StringIO()
    LegacyImporter(hub, hub.handles.get(Legacy).config, batch_size=4, progress=stream).run("12315", CSV_12315)
    lines = [line.rstrip() for line in stream.getvalue().replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1].startswith("duplicate search [") and " 100.0% " in lines[-1] and lines[-1].endswith("records/s")
