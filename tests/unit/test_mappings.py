"""The mapping loader and the code catalogue: a bad file names its file, line and reason."""

from __future__ import annotations

import shutil
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import BaseModel, ConfigDict

from hub.domain.model import RequestType
from hub.mappings import (
    Catalogue,
    MappingError,
    MappingErrors,
    UnknownCode,
    load_catalogue,
    load_yaml_model,
)

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"

# A small, valid set; each test breaks one file so the line numbers are the test's own.
DIVISIONS = """\
divisions:
  - {code: "510000", name_zh: 四川省, level: province, parent: null}
  - {code: "512000", name_zh: 资阳市, level: city, parent: "510000"}
  - {code: "512002", name_zh: 雁江区, level: county, parent: "512000"}
  - {code: "512071", name_zh: 资阳高新技术产业园区, level: county, parent: "512000", official: false}
"""
UNITS = """\
units:
  - {code: ZY-RSJ, name_zh: 资阳市人力资源和社会保障局, division: "512000", kind: department}
  - {code: YJ-GOV, name_zh: 雁江区人民政府, division: "512002", kind: county_government}
  - {code: YJ-SCJG, name_zh: 雁江区市场监督管理局, division: "512002", kind: county_department, parent: YJ-GOV}
  - {code: ZY-OLD, name_zh: 已撤销的单位, division: "512000", kind: department, active: false}
"""
CATEGORIES = """\
categories:
  - {code: "03", name_zh: 劳动和社会保障, parent: null}
  - {code: "0301", name_zh: 劳动关系与欠薪, parent: "03", default_unit: ZY-RSJ}
"""


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    (tmp_path / "divisions.yaml").write_text(DIVISIONS, encoding="utf-8")
    (tmp_path / "units.yaml").write_text(UNITS, encoding="utf-8")
    (tmp_path / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
    shutil.copy(SHIPPED / "request_types.yaml", tmp_path / "request_types.yaml")
    return tmp_path


@pytest.fixture
def catalogue(mappings: Path) -> Catalogue:
    return load_catalogue(mappings)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def _fails(directory: Path) -> MappingError:
    with pytest.raises(MappingError) as info:
        load_catalogue(directory)
    assert not isinstance(info.value, MappingErrors), str(info.value)  # exactly one problem
    return info.value


# -- the shipped files -----------------------------------------------------------------------


def test_shipped_mappings_load() -> None:
    cat = load_catalogue(SHIPPED)
    assert set(cat.request_types) == set(RequestType)
    assert cat.request_types["complaint"].name_zh == "投诉"
    assert {"512002", "512021", "512022", "512071", "512072"} <= set(cat.divisions)
    assert not cat.divisions["512071"].official and not cat.divisions["512072"].official
    assert cat.divisions["512002"].official
    tops = [c for c in cat.categories.values() if c.parent is None]
    assert len(tops) >= 12
    assert all(cat.unit(c.default_unit) for c in cat.categories.values() if c.default_unit)
    for county, unit in [("512002", "YJ-GOV"), ("512021", "AY-GOV"), ("512022", "LZ-GOV"), ("512071", "GX-GMW"), ("512072", "LK-GMW")]:
        assert unit in cat.units_in_divisions([county])


# -- broken files: the right file and line -----------------------------------------------------


def test_yaml_syntax_error_names_the_line(mappings: Path) -> None:
    path = _write(
        mappings,
        "units.yaml",
        """\
        units:
          - code: ZY-RSJ
            name_zh: 人社局
           division: "512000"
        """,
    )
    err = _fails(mappings)
    assert (err.file, err.line) == (str(path), 4)
    assert "YAML syntax" in err.reason


def test_unknown_field_names_its_line(mappings: Path) -> None:
    path = _write(
        mappings,
        "units.yaml",
        """\
        units:
          - code: ZY-RSJ
            name_zh: 人社局
            division: "512000"
            kind: department
            defualt_unit: ZY-RSJ
          - {code: YJ-GOV, name_zh: 雁江区人民政府, division: "512002", kind: county_government}
          - {code: YJ-SCJG, name_zh: 雁江区市场监管局, division: "512002", kind: county_department, parent: YJ-GOV}
        """,
    )
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), 6, "ZY-RSJ")
    assert err.reason == "defualt_unit: unknown field"
    assert str(err) == f"{path}:6: entry 'ZY-RSJ': defualt_unit: unknown field"


def test_duplicate_code_reports_the_second_occurrence(mappings: Path) -> None:
    path = _write(
        mappings,
        "categories.yaml",
        """\
        categories:
          - code: "03"
            name_zh: 劳动和社会保障
            parent: null
          - code: "0301"
            name_zh: 劳动关系
            parent: "03"
          - code: "0301"
            name_zh: 欠薪
            parent: "03"
        """,
    )
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), 8, "0301")
    assert "duplicate code" in err.reason and "line 5" in err.reason


def test_duplicate_yaml_key_is_refused(mappings: Path) -> None:
    path = _write(
        mappings,
        "divisions.yaml",
        """\
        divisions:
          - code: "510000"
            name_zh: 四川省
            level: province
            parent: null
          - code: "512000"
            name_zh: 资阳市
            level: city
            parent: "510000"
            level: county
        """,
    )
    with pytest.raises(MappingError) as info:
        load_catalogue(mappings)
    # The units refer to 512002, which this file lacks; the duplicate key is what matters here.
    errors = info.value.errors if isinstance(info.value, MappingErrors) else [info.value]
    dup = [e for e in errors if e.file == str(path)]
    assert len(dup) == 1 and dup[0].line == 10
    assert "duplicate key 'level'" in dup[0].reason and "line 8" in dup[0].reason


def test_bad_parent_reference(mappings: Path) -> None:
    path = _write(
        mappings,
        "categories.yaml",
        """\
        categories:
          - {code: "03", name_zh: 劳动和社会保障, parent: null}
          - code: "9801"
            name_zh: 无主分类
            parent: "98"
        """,
    )
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), 5, "9801")
    assert err.reason == "parent '98' is not a code in categories.yaml"


def test_division_parent_must_be_one_level_up(mappings: Path) -> None:
    path = _write(
        mappings,
        "divisions.yaml",
        DIVISIONS
        + """\
  - code: "512099"
    name_zh: 错挂的县
    level: county
    parent: "510000"
""",
    )
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), 9, "512099")
    assert "must be a city" in err.reason


def test_unit_with_unknown_division(mappings: Path) -> None:
    path = _write(
        mappings,
        "units.yaml",
        UNITS
        + """\
  - code: AY-GOV
    name_zh: 安岳县人民政府
    division: "512021"
    kind: county_government
""",
    )
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), 8, "AY-GOV")
    assert err.reason == "division '512021' is not a code in divisions.yaml"


def test_unit_parent_loop(mappings: Path) -> None:
    path = _write(
        mappings,
        "units.yaml",
        UNITS
        + """\
  - {code: YJ-A, name_zh: 甲, division: "512002", kind: county_department, parent: YJ-B}
  - {code: YJ-B, name_zh: 乙, division: "512002", kind: county_department, parent: YJ-A}
""",
    )
    with pytest.raises(MappingErrors) as info:
        load_catalogue(mappings)
    assert [(e.file, e.line, e.entry) for e in info.value.errors] == [(str(path), 6, "YJ-A"), (str(path), 7, "YJ-B")]


def test_request_types_missing_one(mappings: Path) -> None:
    path = _write(
        mappings,
        "request_types.yaml",
        """\
        # six of the seven
        request_types:
          - {code: enquiry, name_zh: 咨询, description: 询问}
          - {code: help, name_zh: 求助, description: 求助}
          - {code: complaint, name_zh: 投诉, description: 投诉}
          - {code: report, name_zh: 举报, description: 举报}
          - {code: suggestion, name_zh: 建议, description: 建议}
          - {code: other, name_zh: 其他, description: 其他}
        """,
    )
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), 2, None)
    assert "missing request types: praise" in err.reason


def test_request_type_not_in_the_enum(mappings: Path) -> None:
    text = (SHIPPED / "request_types.yaml").read_text(encoding="utf-8").replace("code: praise", "code: thanks")
    path = _write(mappings, "request_types.yaml", text)
    line = text.splitlines().index("  - code: thanks") + 1
    # One problem, not two: the coverage check waits until the file itself is valid.
    err = _fails(mappings)
    assert (err.file, err.line, err.entry) == (str(path), line, "thanks")
    assert err.reason.startswith("code: Input should be 'enquiry'")


def test_unquoted_code_gets_a_hint(mappings: Path) -> None:
    path = _write(
        mappings,
        "categories.yaml",
        """\
        categories:
          - {code: "03", name_zh: 劳动和社会保障, parent: null}
          - {code: 0301, name_zh: 劳动关系, parent: "03"}
        """,
    )
    err = _fails(mappings)
    assert (err.file, err.line) == (str(path), 3)
    assert "quote codes" in err.reason


def test_all_problems_are_reported_together(mappings: Path) -> None:
    units = _write(mappings, "units.yaml", UNITS.replace('division: "512002", kind: county_government', 'division: "519999", kind: county_government'))
    categories = _write(mappings, "categories.yaml", CATEGORIES.replace("default_unit: ZY-RSJ", "default_unit: ZY-OLD"))
    with pytest.raises(MappingErrors) as info:
        load_catalogue(mappings)
    assert [(e.file, e.line) for e in info.value.errors] == [(str(units), 3), (str(categories), 3)]
    assert "'ZY-OLD' is not active" in info.value.errors[1].reason
    assert str(info.value).startswith("2 mapping problems:")
    assert (info.value.file, info.value.line) == (str(units), 3)  # usable as a plain MappingError


def test_missing_file(mappings: Path) -> None:
    (mappings / "units.yaml").unlink()
    with pytest.raises(MappingError) as info:
        load_catalogue(mappings)
    assert info.value.file == str(mappings / "units.yaml") and info.value.reason == "file not found"


# -- the loader on its own, as province/county/legacy mapping files will use it ----------------


class _StatusRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    state: str


class _StatusMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str
    statuses: dict[str, _StatusRow]


def test_loader_walks_nested_dicts_and_falls_back_to_the_parent(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "province.yaml",
        """\
        system: sc-province
        statuses:
          "01":
            code: "01"
            state: accepted
          "02":
            code: "02"
        """,
    )
    with pytest.raises(MappingError) as info:
        load_yaml_model(path, _StatusMap)
    # The missing field has no line of its own: the error lands on its parent, line 6.
    assert (info.value.line, info.value.reason) == (6, "statuses.02.state: required field is missing")


def test_loader_returns_the_model(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "province.yaml",
        """\
        system: sc-province
        statuses: {"01": {code: "01", state: accepted}}
        """,
    )
    loaded = load_yaml_model(path, _StatusMap)
    assert loaded.statuses["01"].state == "accepted"


def test_loader_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "legacy.yaml"
    path.write_bytes("system: x\nname: 资阳\n".encode("gbk"))
    with pytest.raises(MappingError) as info:
        load_yaml_model(path, _StatusMap)
    assert info.value.line == 2 and "UTF-8" in info.value.reason


# -- lookups -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["512002", "512002001", "512002001001"])
def test_division_accepts_6_9_and_12_digits(catalogue: Catalogue, code: str) -> None:
    assert catalogue.division(code).code == "512002"
    assert catalogue.county_of(code) == "512002"


@pytest.mark.parametrize("code", ["999999", "51200", "5120020", "512002001001001", "51200a", ""])
def test_division_refuses_unknown_or_malformed(catalogue: Catalogue, code: str) -> None:
    with pytest.raises(UnknownCode) as info:
        catalogue.division(code)
    assert info.value.field == "place.division_code" and info.value.code == code
    assert "divisions" in info.value.valid_codes_at


def test_unknown_unit_and_category_name_the_field(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownCode) as info:
        catalogue.unit("ZY-NOPE")
    assert (info.value.field, info.value.code) == ("unit_code", "ZY-NOPE")
    assert info.value.valid_codes_at == "mappings/units.yaml, or GET /api/v1/codes/units"
    with pytest.raises(UnknownCode) as info:
        catalogue.unit("ZY-OLD")  # inactive: kept for history, takes no new cases
    with pytest.raises(UnknownCode) as info:
        catalogue.category("9999")
    assert (info.value.field, info.value.code) == ("category_code", "9999")
    with pytest.raises(UnknownCode) as info:
        catalogue.unit("ZY-NOPE", field="lead_unit")
    assert info.value.field == "lead_unit"


def test_known_codes_and_listing(catalogue: Catalogue) -> None:
    assert catalogue.unit("ZY-RSJ").division == "512000"
    assert catalogue.category("0301").default_unit == "ZY-RSJ"
    assert catalogue.units_in_divisions(["512002001"]) == ["YJ-GOV", "YJ-SCJG"]
    assert catalogue.units_in_divisions(["512071"]) == []
    listed = catalogue.codes("divisions")
    assert listed[-1] == {"code": "512071", "name_zh": "资阳高新技术产业园区", "level": "county", "parent": "512000", "official": False}
    assert [r["code"] for r in catalogue.codes("request_types")] == [t.value for t in RequestType]
    with pytest.raises(ValueError):
        catalogue.codes("people")


def test_catalogue_is_read_only(catalogue: Catalogue) -> None:
    with pytest.raises(TypeError):
        catalogue.units["X-Y"] = catalogue.units["ZY-RSJ"]  # type: ignore[index]
