"""Legacy hotlines, no database: dates, encodings, the mapping of a row, scores, config checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timezone

import pytest

from adapters.legacy_hotlines.config import Dedupe, MergeMode, load_legacy
from adapters.legacy_hotlines.importing.ahead import Prepared, ReadAhead, finish_document, prepare
from adapters.legacy_hotlines.importing.dedupe import jaccard, phone_key, score
from adapters.legacy_hotlines.importing.readers import Row, RowSource, UnreadableFile, inspect_file
from adapters.legacy_hotlines.importing.report import Rejected
from adapters.legacy_hotlines.mapping import RowMapper, RowRefused, case_document, json_time
from hub.db.person_seal import PersonSeal, _fernet
from hub.db.phone_index import phone_hash
from hub.domain.model import CaseState
from hub.mappings import MappingError, load_catalogue
from hub.settings import REPO_ROOT

MAPPINGS = REPO_ROOT / "mappings"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(MAPPINGS)


@pytest.fixture(scope="module")
def config(catalogue):
    return load_legacy(MAPPINGS, catalogue)


def test_chinese_and_slash_dates_are_read_in_beijing_time(config, catalogue):
    mapper = RowMapper(config.mapping("12315"), catalogue)
    assert mapper.parse_time("2018年12月28日 14:05", "登记时间") == datetime(2018, 12, 28, 6, 5, tzinfo=UTC)
    assert mapper.parse_time("2018年12月28日", "登记时间") == datetime(2018, 12, 27, 16, 0, tzinfo=UTC)
    assert mapper.parse_time("2018/12/28  14:05", "登记时间").hour == 6  # doubled spaces from Excel
    with pytest.raises(RowRefused, match="matches none"):
        mapper.parse_time("28.12.2018", "登记时间")


def test_encodings_are_told_apart(tmp_path):
    text = "工单编号,诉求内容\nA1,噪音扰民\n"
    for name, data, expected in [
        ("u.csv", text.encode("utf-8-sig"), "utf-8-sig"),
        ("g.csv", text.encode("gbk"), "gb18030"),
        # 𠀀 is outside GBK: only GB18030 holds it
        ("b.csv", (text + "A2,𠀀\n").encode("gb18030"), "gb18030"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        facts = inspect_file(path, "csv")
        assert facts.encoding == expected
        rows = [r.values for r in RowSource(path, "csv", facts)]
        assert rows[0] == {"工单编号": "A1", "诉求内容": "噪音扰民"}
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n\xff\xff\xff\n")
    with pytest.raises(UnreadableFile, match="neither UTF-8 nor GBK"):
        inspect_file(bad, "csv")


def test_a_row_maps_to_a_historical_case(config, catalogue):
    mapper = RowMapper(config.mapping("12333"), catalogue)
    row = {
        "受理编号": "RS1",
        "来电时间": "2019/03/02 10:30",
        "来电人": "刘二",
        "来电号码": "+86 136-0000-2222",
        "来电类型": "投诉",
        "业务类别": "欠薪",
        "来电内容": "某建筑工地拖欠农民工工资三个月",
        "区县": "安岳县",
        "处理状态": "已结案",
        "经办机构": "市人社局",
        "答复内容": "已督促支付",
    }
    m = mapper.map(row)
    assert (m.original_id, m.state, m.unit) == ("RS1", CaseState.ARCHIVED, "ZY-RSJ")
    assert m.draft.person.phone == "13600002222" and m.draft.place.division_code == "512021"
    assert m.draft.title == "某建筑工地拖欠农民工工资三个月"[:24] and m.draft.category_code == "0301"
    with pytest.raises(RowRefused, match="code '工伤' has no mapping"):
        mapper.map(row | {"业务类别": "工伤"})
    anonymous = mapper.map(row | {"来电人": "不详", "来电号码": "无"})
    assert anonymous.draft.person.anonymous and anonymous.draft.person.phone is None


def test_scores_weigh_content_and_time():
    rules = Dedupe(window_days=7, threshold=0.55, text_weight=0.7)
    same = "电暖器使用三天后无法加热商家拒绝退换"
    assert jaccard(same, same) == 1.0 and jaccard(same, "工地夜间施工噪声扰民") == 0.0
    assert score(same, same, 0, rules) == (1.0, 1.0)
    assert score(same, same, 24 * 7 + 1, rules) == (0.0, 0.0)  # outside the window
    near, _ = score(same, "电暖器无法加热商家仍拒绝退换", 20, rules)
    far, _ = score(same, "电暖器无法加热商家仍拒绝退换", 150, rules)
    assert near > far
    assert phone_key("+86 138 0000 1111") == phone_key("13800001111") != phone_key("13800001112")


def test_merge_modes_are_validated_with_file_and_line(tmp_path, catalogue):
    folder = tmp_path / "legacy"
    folder.mkdir()
    for f in (MAPPINGS / "legacy").glob("*.yaml"):
        (folder / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    lines = (folder / "lines.yaml").read_text(encoding="utf-8")
    (folder / "lines.yaml").write_text(lines.replace("    sub_centre_unit: ZY-STHJJ\n", ""), encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_legacy(tmp_path, catalogue)
    assert "lines.yaml" in str(err.value) and "needs sub_centre_unit" in str(err.value) and err.value.line is not None
    (folder / "lines.yaml").write_text(lines.replace("sub_centre_unit: ZY-STHJJ", "sub_centre_unit: ZY-NOPE"), encoding="utf-8")
    with pytest.raises(MappingError, match="'ZY-NOPE' is not a unit"):
        load_legacy(tmp_path, catalogue)
    (folder / "lines.yaml").write_text(lines.replace("mode: 整体并入", "mode: parallel"), encoding="utf-8")
    with pytest.raises(MappingError, match="needs a bridge section"):
        load_legacy(tmp_path, catalogue)
    (folder / "lines.yaml").write_text(lines, encoding="utf-8")
    m = (folder / "12333.yaml").read_text(encoding="utf-8")
    (folder / "12333.yaml").write_text(m.replace("处理中: accepted", "处理中: in_progress"), encoding="utf-8")
    with pytest.raises(MappingError, match="imported cases may only be"):
        load_legacy(tmp_path, catalogue)


def test_the_shipped_configuration(config):
    assert {k: v.mode for k, v in config.lines.items()} == {
        "12315": MergeMode.PARALLEL,
        "12333": MergeMode.ABSORB,
        "12320": MergeMode.PARALLEL,
        "12369": MergeMode.SUB_CENTRE,
    }
    assert config.sub_centre_for("0403").sub_centre_unit == "ZY-STHJJ" and config.sub_centre_for("0201") is None


# -- the import's fast paths stay equal to the slow definitions they replace ---------------------
STRPTIME_CASES = {
    "%Y年%m月%d日 %H:%M": [
        "2018年12月28日 14:05",
        "2018年1月2日 3:04",
        "2018年13月01日 10:00",
        "2018年12月28日",
        "2018年12月28日 14:05x",
        "2018年12月28日  14:05",
        "2019年02月29日 10:00",
        "2020年02月29日 10:00",
        "2018年12月 8日 09:00",
        "２０１８年12月28日 14:05",
    ],
    "%Y年%m月%d日": ["2018年12月28日", "2018年12月28日 14:05", "2018年02月30日", "18年12月28日", ""],
    "%Y-%m-%d %H:%M:%S": [
        "2019-03-01 10:00:00",
        "2019-3-1 1:2:3",
        "2019-03-01 10:00:60",
        "2019-03-01 24:00:00",
        "2019-03-01T10:00:00",
        "2019-03-01 10:00:00.5",
        "2019-03-01\t10:00:00",
    ],
    "%Y-%m-%dT%H:%M:%S": ["2019-03-01T10:00:00", "2019-03-01t10:00:00", "2019-03-01 10:00:00"],
    "%Y/%m/%d %H:%M": ["2018/12/28 14:05", "2018/12/28 14:5", "2018/12/28 14:055", "2018/1/2 0:00", "2018/12/31 23:59"],
    "%Y%m%d": ["20181228", "2018128", "201812", "2018111"],
    "%d.%m.%Y %%": ["28.12.2018 %", "28.12.2018"],
    "%Y-%m-%d %I:%M %p": ["2018-12-28 02:05 PM", "2018-12-28 14:05"],  # not compiled: strptime itself
}


def test_compiled_date_formats_accept_exactly_what_strptime_accepts():
    from adapters.legacy_hotlines.mapping import date_parser

    for fmt, texts in STRPTIME_CASES.items():
        parse = date_parser(fmt)
        for text in texts:
            try:
                expected = datetime.strptime(text, fmt)
            except ValueError:
                expected = None
            assert parse(text) == expected, (fmt, text)


def _mapped_rows(config, catalogue):
    """Rows of every shape the import writes: each status, with and without reply, unit,
    close time, phone and name."""
    base = {
        "工单编号": "SC1",
        "登记时间": "2018年12月28日 14:05",
        "投诉人": "张三",
        "联系电话": "138-0000-1111",
        "诉求类型": "举报",
        "问题类别": "02",
        "标题": '标题"引号"\\',
        "诉求内容": "某餐馆后厨卫生条件差\n第二行",
        "地址": "雁江区某街道1号",
        "所属区域": "雁江区",
        "办理状态": "已办结",
        "承办单位": "雁江分局",
        "处理结果": "已调解",
        "办结时间": "2019年01月03日",
    }
    variants = [
        {},
        {"办理状态": "已归档"},
        {"办理状态": "不予受理"},
        {"办理状态": "不予受理", "处理结果": ""},
        {"办理状态": "待处理"},
        {"处理结果": "", "承办单位": ""},
        {"办结时间": "", "办理状态": "已归档"},
        {"投诉人": "无", "联系电话": "不详", "地址": ""},
        {"标题": "", "诉求内容": "x" * 300},
        {"办结时间": "2018年12月28日"},
        {"联系电话": "028-26612345", "诉求类型": ""},
    ]
    mapper = RowMapper(config.mapping("12315"), catalogue)
    rows = [("12315", mapper.map(base | v)) for v in variants]
    m12369 = RowMapper(config.mapping("12369"), catalogue)
    rows.append(
        (
            "12369",
            m12369.map(
                {
                    "report_id": "HB-1",
                    "report_time": "2019-03-01T10:00:00",
                    "pollution_type": "noise",
                    "description": "夜间施工",
                    "county_code": "512021",
                    "status": "4",
                    "handler": "STHJJ",
                    "result": 42,
                }
            ),
        )
    )
    return rows


def test_the_stored_document_is_the_model_dump_of_the_case(config, catalogue):
    import json
    from datetime import timedelta

    from adapters.legacy_hotlines.mapping import build_case, case_document, json_time

    seen_sealed = 0
    for now in (
        datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC),
        datetime(2024, 5, 6, 15, 8, 9, tzinfo=timezone(timedelta(hours=8))),
    ):
        for i, (line, m) in enumerate(_mapped_rows(config, catalogue)):
            number = f"51200020181228{i:06d}"
            case = build_case(m, number, now, line, 7, i + 2)
            dump = case.model_dump(mode="json", exclude={"history"})
            assert case_document(m, number, json_time(now), line) == json.dumps(dump), (line, i)
            # Sealed (as the import writes it): the seal's own output, byte for byte, with a
            # token that tells its input (a real token differs at each sealing: random IV).
            assert case_document(m, number, json_time(now), line, _VisibleSeal()) == json.dumps(_VisibleSeal().seal(dump)), (line, i)
            if m.person_name or m.person_phone:
                sealed = json.loads(case_document(m, number, json_time(now), line, PersonSeal(b"k")))
                assert (sealed["person"]["name"], sealed["person"]["phone"]) == (None, None)
                assert PersonSeal(b"k").open(sealed) == dump
                seen_sealed += 1
    assert seen_sealed > 0


class _VisibleSeal(PersonSeal):
    """A seal whose token is its input in plain sight: the document around it is compared."""

    def __init__(self) -> None:
        super().__init__(b"k")

    def token(self, clear: dict) -> str:
        return f"T:{clear['name']}|{clear['phone']}"

    def person_token(self, name: str | None, phone: str | None) -> str:
        return self.token({"name": name, "phone": phone})


def test_a_person_sealed_directly_holds_what_token_would_seal():
    """person_token writes the JSON itself (the bulk import's path): the clear text inside the
    token is byte for byte token's, and a document sealed with it opens to the same person."""
    seal = PersonSeal(b"k")
    for name, phone in (("张三", "13800001111"), (None, "028-12345678"), ('O\'Brien "Jr"\t\\', None), ("\u00e9\U0001f600", "12315"), (None, None)):
        clear = {"name": name, "phone": phone}
        token = seal.person_token(name, phone)
        assert _fernet(b"k").decrypt(token.encode("ascii")) == json.dumps(clear, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        doc = {"number": "1", "person": {"name": None, "phone": None, "sealed": token}}
        assert seal.open(doc)["person"] == clear


def test_the_phone_hash_is_the_keyed_sha256_of_the_phone():
    for key, phone in ((b"k" * 32, "13800001111"), (b"another key", "028-12345678"), (b"k", "电话")):
        assert phone_hash(key, phone) == hmac.new(key, phone.encode("utf-8"), hashlib.sha256).hexdigest()


def test_the_bulk_write_sets_the_columns_a_single_write_sets(config, catalogue):
    """The repository owns the cases table's column list: CaseRepository.add and the bulk
    write behind add_historical (the import's) name the same columns in the same order."""
    from adapters.legacy_hotlines.mapping import build_case
    from hub.db.repository import CASE_COLUMNS, CaseRepository

    line, m = _mapped_rows(config, catalogue)[0]
    case = build_case(m, "51200020181228000001", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), line, 7, 2)
    assert ("number", *CaseRepository._columns(case, b"k" * 32, PersonSeal(b"k"))) == CASE_COLUMNS


def test_batch_values_are_rendered_as_the_column_types_render_them(config, catalogue):
    import json

    from sqlalchemy.dialects import sqlite

    from adapters.legacy_hotlines.mapping import case_document, history_data, history_document
    from hub.db.bulk import sqlite_time
    from hub.db.models import CaseRow, HistoryRow
    from hub.domain.clock import LOCAL_TZ

    dialect = sqlite.dialect()
    column_type = CaseRow.__table__.c.created_at.type
    as_stored = column_type.dialect_impl(dialect).bind_processor(dialect)
    for value in (datetime(2018, 12, 28, 6, 5, tzinfo=UTC), datetime(2024, 5, 6, 7, 8, 9, 123, tzinfo=UTC), datetime(2018, 12, 28, 14, 5, tzinfo=LOCAL_TZ)):
        assert sqlite_time(value) == as_stored(value)
    as_json = HistoryRow.__table__.c.data.type.dialect_impl(dialect).bind_processor(dialect)
    for i, (line, m) in enumerate(_mapped_rows(config, catalogue)):
        for run in (None, 3):
            assert history_document(m, line, run, i + 2) == as_json(history_data(m, line, run, i + 2))
    doc = case_document(m, "51200020190301000001", "2024-05-06T07:08:09Z", line)
    assert doc == as_json(json.loads(doc))


def test_rows_the_model_refuses_are_refused_with_its_own_words(config, catalogue):
    mapping = config.mapping("12369")
    raw_division = mapping.model_copy(update={"codes": mapping.codes.model_copy(update={"division": {}})})
    mapper = RowMapper(raw_division, catalogue)
    row = {"report_id": "HB-9", "report_time": "2019-03-01 10:00:00", "pollution_type": "air", "description": "烟尘", "county_code": "51200", "status": "3"}
    with pytest.raises(RowRefused) as err:
        mapper.map(row)
    assert err.value.reason == "String should match pattern '^\\d{6}(\\d{3}(\\d{3})?)?$'"
    assert mapper.map(row | {"county_code": "512021001"}).division_code == "512021001"
    # JSON can carry an unpaired surrogate; pydantic refuses such text, and so does the import.
    with pytest.raises(RowRefused) as err:
        mapper.map(row | {"county_code": "512021", "subject": "烟尘", "description": "烟\ud800尘"})
    assert err.value.column == "description" and "unicode string" in err.value.reason
    with pytest.raises(RowRefused) as err:  # the reply is stored in the case: it must read back
        mapper.map(row | {"county_code": "512021", "result": "已\udc00处理"})
    assert err.value.column == "result" and "unicode string" in err.value.reason
    m = mapper.map(row | {"county_code": "512021", "subject": "t" * 300})
    assert m.title == "t" * 200 and m.draft.title == m.title and m.draft.place.division_code == "512021"


def test_the_import_batch_halves_when_it_held_the_writer_too_long_and_grows_back_when_quick():
    from adapters.legacy_hotlines.importing.importer import next_batch_size

    assert next_batch_size(1000, 0.30, 1000, 0.1) == 500  # held 300 ms: the next batch half as large
    assert next_batch_size(500, 0.12, 1000, 0.1) == 250
    assert next_batch_size(60, 0.5, 1000, 0.1) == 50  # never below 50 rows
    assert next_batch_size(50, 0.5, 1000, 0.1) == 50
    assert next_batch_size(3, 0.5, 3, 0.1) == 3  # nor below a maximum that is smaller
    assert next_batch_size(250, 0.07, 1000, 0.1) == 250  # near the target: as it is
    assert next_batch_size(250, 0.02, 1000, 0.1) == 500  # well under: doubled
    assert next_batch_size(800, 0.01, 1000, 0.1) == 1000  # up to the maximum


def test_a_document_rendered_ahead_and_finished_at_the_batch_is_the_documents_text(config, catalogue):
    """The read-ahead renders each document without its number and time; put in at the batch,
    the text is case_document's, byte for byte, sealed or not."""
    now = json_time(datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC))
    for i, (line, m) in enumerate(_mapped_rows(config, catalogue)):
        number = f"51200020181228{i:06d}"
        for seal in (None, _VisibleSeal()):
            assert finish_document(case_document(m, "", "", line, seal), number, now) == case_document(m, number, now, line, seal), (line, i)
    with pytest.raises(ValueError):
        finish_document(case_document(m, number, now, line), number, now)  # a finished one is not taken again


class _BrokenAfter:
    """A row source that gives `rows` rows of a file and then finds it unreadable."""

    def __init__(self, rows: list) -> None:
        self.rows = rows

    def __iter__(self):
        yield from self.rows
        raise UnreadableFile("12315.csv: row 9 cannot be read as CSV (unexpected end of data)")

    def progress(self) -> float:
        return 0.5


def test_the_read_ahead_gives_the_rows_in_order_then_the_files_fault(config, catalogue):
    """In a process of its own, the rows come as prepare() makes them here, in file order, the
    refused with their reasons, none at or before the resume point; a fault reading the file
    comes after the rows before it."""
    mapper = RowMapper(config.mapping("12315"), catalogue)
    good = {
        "工单编号": "SC1",
        "登记时间": "2018年12月28日 14:05",
        "投诉人": "张三",
        "联系电话": "13800001111",
        "诉求类型": "投诉",
        "问题类别": "01",
        "标题": "标题",
        "诉求内容": "内容",
        "地址": "雁江区某街道1号",
        "所属区域": "雁江区",
        "办理状态": "已办结",
        "承办单位": "雁江分局",
        "处理结果": "已调解",
        "办结时间": "2019年01月03日",
    }
    rows = [
        Row(2, good),
        Row(3, {**good, "工单编号": "SC2", "问题类别": "99"}),
        Row(4, None, "has 3 columns, the header has 14"),
        Row(5, {**good, "工单编号": "SC3"}),
    ]
    ahead = ReadAhead(_BrokenAfter(rows), mapper, 2, "12315", 7, 1000, None, chunk=2, chunks=2)  # type: ignore[arg-type]
    got = []
    try:
        with pytest.raises(UnreadableFile, match="row 9"):
            for item in ahead:
                got.append(item)
    finally:
        ahead.close()
    assert [type(x) for x in got] == [Rejected, Rejected, Prepared]
    assert got == [prepare(mapper, row, "12315", 7, 1000, None) for row in rows[1:]]
    assert got[0].reason.startswith("code '99' has no mapping") and got[1].reason == "has 3 columns, the header has 14"
    assert got[2].original_id == "SC3" and got[2].row == 5
