"""County files as validated data: every shipped file loads and checks against the
catalogue; a bad one names file, line and reason; the mapper names the county's fields."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from adapters.county.config import load_counties
from adapters.county.mapping import parse_date, ticket_to_draft, update_to_command
from adapters.county.refusals import TicketRefused
from hub.mappings import MappingError, load_catalogue
from hub.settings import REPO_ROOT

MAPPINGS = REPO_ROOT / "mappings"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(MAPPINGS)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def test_the_five_counties_load(catalogue) -> None:
    counties = load_counties(MAPPINGS, catalogue)
    assert {c: cfg.divisions for c, cfg in counties.items()} == {
        "anyue": ["512021"], "gaoxin": ["512071"], "lezhi": ["512022"], "linkong": ["512072"], "yanjiang": ["512002"]}
    assert [c for c, cfg in counties.items() if cfg.transport.updates == "poll"] == ["lezhi"]


@pytest.mark.parametrize("old, new, line_of, reason", [
    ('"CS01": "0101"', '"CS01": "0199"', '"CS01"', "'0199' is not a code in categories.yaml"),
    ('"YJ0101": YJ-SCJG', '"YJ0101": AY-SCJG', '"YJ0101"', "sits in 512021, not in this county"),
    ('"YJ0102": YJ-RSJ', '"YJ0102": NO-SUCH', '"YJ0102"', "'NO-SUCH' is not a code in units.yaml"),
    ('"03": complaint', '"03": grumble', '"03"', "request_type.03"),
    ("  updates: push", "  updates: poll", "transport:", "poll_url is required"),
    ("  ticket_id: ticketNo\n", "  ticket_id: ticket No\n", "  ticket_id: ticket No", "ticket_id"),
    ('divisions: ["512002"]', 'divisions: ["512021"]', "divisions:", "already belongs to county 'anyue'"),
    ("  hmac_secret_env: HUB_COUNTY_YANJIANG_SECRET", "  hmac_secret: s3cret", "  hmac_secret: s3cret", "unknown field"),
])
def test_a_bad_county_file_names_file_line_and_reason(tmp_path: Path, catalogue, old, new, line_of, reason) -> None:
    mappings = _copy(tmp_path)
    path = mappings / "county" / "yanjiang.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as raised:
        load_counties(mappings, catalogue)
    message = str(raised.value)
    assert reason in message, message
    expected_line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(line_of) or line_of.strip() in ln)
    assert any(e.file == str(path) and e.line == expected_line for e in getattr(raised.value, "errors", [raised.value])), message


def test_file_name_must_match_the_county(tmp_path: Path, catalogue) -> None:
    mappings = _copy(tmp_path)
    (mappings / "county" / "yanjiang.yaml").rename(mappings / "county" / "yanjiang2.yaml")
    with pytest.raises(MappingError, match="must match the file name"):
        load_counties(mappings, catalogue)


def test_mapper_names_the_county_fields(catalogue) -> None:
    cfg = load_counties(MAPPINGS, catalogue)["anyue"]
    good = {"gd_id": 7, "created_at": "2025-09-26T09:00:00", "sq_type": "投诉", "sx_code": "AY-XF", "subject": "退货难",
            "body": "商家拒绝退货。", "region_code": "512021100", "contact_phone": "0832-1234567", "priority": "紧急"}
    ticket_id, d = ticket_to_draft(cfg, good)
    assert ticket_id == "7" and d.request_type.value == "complaint" and d.urgency.value == "urgent"
    assert d.intake.received_at == datetime(2025, 9, 26, 1, 0, tzinfo=timezone.utc)
    assert d.external_refs[0].system == "county.anyue" and d.person.phone == "0832-1234567"
    for change, field, status in [({"sq_type": "抱怨"}, "body.sq_type", 422), ({"region_code": "512002"}, "body.region_code", 403),
                                  ({"subject": ""}, "body.subject", 422), ({"created_at": "昨天"}, "body.created_at", 422),
                                  ({"gd_id": None}, "body.gd_id", 422), ({"body": None}, "body.body", 422),
                                  ({"priority": "火急"}, "body.priority", 422)]:
        with pytest.raises(TicketRefused) as raised:
            ticket_to_draft(cfg, {**good, **change})
        assert raised.value.status == status and raised.value.errors[0]["field"] == field, (change, raised.value.errors)
    upd = update_to_command(cfg, {"action": "delay", "action_time": "2025-09-27T10:00:00+08:00", "reason": "需现场复核", "extend_days": 3})
    assert upd.command.action == "request_extension" and upd.command.working_days == 3
    with pytest.raises(TicketRefused) as raised:
        update_to_command(cfg, {"action": "answer", "action_time": "2025-09-27T10:00:00+08:00"})
    assert raised.value.errors[0]["field"] == "body.remark"


def test_date_formats(catalogue) -> None:
    counties = load_counties(MAPPINGS, catalogue)
    moment = datetime(2025, 9, 26, 1, 58, tzinfo=timezone.utc)
    assert parse_date(counties["yanjiang"], "2025-09-26 09:58:00", "f") == moment
    assert parse_date(counties["gaoxin"], "20250926095800", "f") == moment
    assert parse_date(counties["lezhi"], int(moment.timestamp() * 1000), "f") == moment
    assert parse_date(counties["anyue"], "2025-09-26T01:58:00Z", "f") == moment
    for cfg, bad in [(counties["lezhi"], True), (counties["lezhi"], "abc"), (counties["yanjiang"], 20250926), (counties["gaoxin"], "2025-09-26")]:
        with pytest.raises(TicketRefused):
            parse_date(cfg, bad, "f")
