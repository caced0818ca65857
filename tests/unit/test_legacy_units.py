"""Legacy hotlines, no database: dates, encodings, the mapping of a row, scores, config checks."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from adapters.legacy_hotlines.config import Dedupe, MergeMode, load_legacy
from adapters.legacy_hotlines.dedupe import jaccard, phone_key, score
from adapters.legacy_hotlines.mapping import RowMapper, RowRefused
from adapters.legacy_hotlines.readers import RowSource, UnreadableFile, inspect_file
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
    assert mapper.parse_time("2018年12月28日 14:05", "登记时间") == datetime(2018, 12, 28, 6, 5, tzinfo=timezone.utc)
    assert mapper.parse_time("2018年12月28日", "登记时间") == datetime(2018, 12, 27, 16, 0, tzinfo=timezone.utc)
    assert mapper.parse_time("2018/12/28  14:05", "登记时间").hour == 6  # doubled spaces from Excel
    with pytest.raises(RowRefused, match="matches none"):
        mapper.parse_time("28.12.2018", "登记时间")


def test_encodings_are_told_apart(tmp_path):
    text = "工单编号,诉求内容\nA1,噪音扰民\n"
    for name, data, expected in [("u.csv", text.encode("utf-8-sig"), "utf-8-sig"), ("g.csv", text.encode("gbk"), "gb18030"),
                                 # 𠀀 is outside GBK: only GB18030 holds it
                                 ("b.csv", (text + "A2,𠀀\n").encode("gb18030"), "gb18030")]:
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
    row = {"受理编号": "RS1", "来电时间": "2019/03/02 10:30", "来电人": "刘二", "来电号码": "+86 136-0000-2222",
           "来电类型": "投诉", "业务类别": "欠薪", "来电内容": "某建筑工地拖欠农民工工资三个月", "区县": "安岳县",
           "处理状态": "已结案", "经办机构": "市人社局", "答复内容": "已督促支付"}
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
        "12315": MergeMode.PARALLEL, "12333": MergeMode.ABSORB, "12369": MergeMode.SUB_CENTRE}
    assert config.sub_centre_for("0403").sub_centre_unit == "ZY-STHJJ" and config.sub_centre_for("0201") is None
