"""乡镇/街道 (issue #20): the townships and streets of Ziyang's five county-level areas and
their units, as shipped in mappings/ (sample data, marked so), and how the catalogue checks them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.mappings.catalogue import MappingError, load_catalogue
from hub.settings import REPO_ROOT

SHIPPED = REPO_ROOT / "mappings"
AREAS = {"512002", "512021", "512022", "512071", "512072"}  # 雁江, 安岳, 乐至, 高新区, 临空经济区


def test_every_area_has_townships_all_marked_sample_under_their_county() -> None:
    cat = load_catalogue(SHIPPED)
    towns = [d for d in cat.divisions.values() if d.level == "township"]
    assert {d.parent for d in towns} == AREAS
    assert all(len(d.code) == 9 and d.code[:6] == d.parent and d.official is False for d in towns)
    assert cat.divisions["512002105"].name_zh == "松涛镇"
    # A township code resolves to its county, as any 9-digit code under a known county does.
    assert cat.division("512002105").code == "512002" and cat.division("512002999").code == "512002"


def test_every_township_has_one_unit_under_its_county_government() -> None:
    cat = load_catalogue(SHIPPED)
    towns = {d.code for d in cat.divisions.values() if d.level == "township"}
    township_units = [u for u in cat.units.values() if u.kind == "township_government"]
    assert sorted(u.division for u in township_units) == sorted(towns)
    governments = {u.division: u.code for u in cat.units.values() if u.kind == "county_government"}
    assert all(u.parent == governments[u.division[:6]] for u in township_units)
    assert cat.unit("YJ-STZ").division == "512002105"
    # County keys are scoped to the units sitting exactly in their divisions: township units are
    # reached by dispatching on (二次派单), not by a county key acting as them.
    assert "YJ-STZ" not in cat.units_in_divisions(["512002"])


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ('{code: "512002", name_zh: 错, level: township, parent: "512002"}', "9-digit code"),
        ('{code: "512002901", name_zh: 错, level: county, parent: "512000"}', "9-digit code"),
        ('{code: "512021901", name_zh: 错, level: township, parent: "512002"}', "not under"),
        ('{code: "512000901", name_zh: 错, level: township, parent: "512000"}', "must be a county"),
    ],
)
def test_a_wrong_township_entry_stops_the_start(tmp_path: Path, entry: str, reason: str) -> None:
    for name in ("units.yaml", "categories.yaml", "request_types.yaml"):
        (tmp_path / name).write_text((SHIPPED / name).read_text(encoding="utf-8"), encoding="utf-8")
    divisions = (SHIPPED / "divisions.yaml").read_text(encoding="utf-8")
    (tmp_path / "divisions.yaml").write_text(divisions.rstrip("\n") + f"\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_catalogue(tmp_path)
    assert reason in str(info.value)
