"""County files as validated data: every shipped file loads and checks against the
catalogue; a bad one names file, line and reason; the mapper names the county's fields."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
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
        "anyue": ["512021"],
        "gaoxin": ["512071"],
        "lezhi": ["512022"],
        "linkong": ["512072"],
        "yanjiang": ["512002"],
    }
    assert [c for c, cfg in counties.items() if cfg.transport.updates == "poll"] == ["lezhi"]


@pytest.mark.parametrize(
    "old, new, line_of, reason",
    [
        ('"CS01": "0101"', '"CS01": "0199"', '"CS01"', "'0199' is not a code in categories.yaml"),
        ('"YJ0101": YJ-SCJG', '"YJ0101": AY-SCJG', '"YJ0101"', "sits in 512021, not in this county"),
        ('"YJ0102": YJ-RSJ', '"YJ0102": NO-SUCH', '"YJ0102"', "'NO-SUCH' is not a code in units.yaml"),
        ('"03": complaint', '"03": grumble', '"03"', "request_type.03"),
        ("  updates: push", "  updates: poll", "transport:", "poll_url is required"),
        ("  ticket_id: ticketNo\n", "  ticket_id: ticket No\n", "  ticket_id: ticket No", "ticket_id"),
        ('divisions: ["512002"]', 'divisions: ["512021"]', "divisions:", "already belongs to county 'anyue'"),
        ("  hmac_secret_env: HUB_COUNTY_YANJIANG_SECRET", "  hmac_secret: s3cret", "  hmac_secret: s3cret", "unknown field"),
        # 二次派单: a forward code with nowhere to read the township's deadline, or no township to forward to.
        ("  due_at: dueTime", "  # due_at: dueTime", "ECPD: forward", "update.due_at (where the update carries it) is not set"),
        (
            '    "YJ1105": YJ-STZ   # 松涛镇 (sample township code, mappings/divisions.yaml)\n    "YJ1101": YJ-BTZ',
            '    "YJ1105": YJ-GOV\n    "YJ1101": YJ-GOV',
            "ECPD: forward",
            "names no township unit",
        ),
    ],
)
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
    good = {
        "gd_id": 7,
        "created_at": "2025-09-26T09:00:00",
        "sq_type": "投诉",
        "sx_code": "AY-XF",
        "subject": "退货难",
        "body": "商家拒绝退货。",
        "region_code": "512021100",
        "contact_phone": "0832-1234567",
        "priority": "紧急",
    }
    ticket_id, d = ticket_to_draft(cfg, good)
    assert ticket_id == "7" and d.request_type.value == "complaint" and d.urgency.value == "urgent"
    assert d.intake.received_at == datetime(2025, 9, 26, 1, 0, tzinfo=UTC)
    assert d.external_refs[0].system == "county.anyue" and d.person.phone == "0832-1234567"
    for change, field, status in [
        ({"sq_type": "抱怨"}, "body.sq_type", 422),
        ({"region_code": "512002"}, "body.region_code", 403),
        ({"subject": ""}, "body.subject", 422),
        ({"created_at": "昨天"}, "body.created_at", 422),
        ({"gd_id": None}, "body.gd_id", 422),
        ({"body": None}, "body.body", 422),
        ({"priority": "火急"}, "body.priority", 422),
    ]:
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
    moment = datetime(2025, 9, 26, 1, 58, tzinfo=UTC)
    assert parse_date(counties["yanjiang"], "2025-09-26 09:58:00", "f") == moment
    assert parse_date(counties["gaoxin"], "20250926095800", "f") == moment
    assert parse_date(counties["lezhi"], int(moment.timestamp() * 1000), "f") == moment
    assert parse_date(counties["anyue"], "2025-09-26T01:58:00Z", "f") == moment
    for cfg, bad in [(counties["lezhi"], True), (counties["lezhi"], "abc"), (counties["yanjiang"], 20250926), (counties["gaoxin"], "2025-09-26")]:
        with pytest.raises(TicketRefused):
            parse_date(cfg, bad, "f")


# 二次派单 in each county's own wire (issue #20): the codes and field names below are written
# out from each county's interface, not read from the files.
_TOWNSHIP_WIRE = {
    # county: (kind field, time field, time value, text field, days field, unit field + code, due field + value,
    #          codes for forward, sign-off, reply, return, extension, approved, refused)
    "yanjiang": (
        "opType",
        "opTime",
        "2025-11-05 10:00:00",
        "content",
        "days",
        ("toUnit", "YJ1105"),
        ("dueTime", "2025-11-20 18:00:00"),
        ["ECPD", "ECQS", "ECHF", "ECTH", "ECYQ", "ECYQTY", "ECYQBTY"],
        "YJ-STZ",
    ),
    "anyue": (
        "action",
        "action_time",
        "2025-11-05T10:00:00+08:00",
        "remark",
        "extend_days",
        ("town_unit", "AYX-YYZ"),
        ("town_deadline", "2025-11-20T18:00:00+08:00"),
        ["town_dispatch", "town_signed", "town_answer", "town_back", "town_delay", "town_delay_agreed", "town_delay_refused"],
        "AY-YYZ",
    ),
    "gaoxin": (
        "data.step",
        "data.time",
        "20251105100000",
        "data.note",
        "data.days",
        ("data.subUnit", "GXJD02"),
        ("data.subDeadline", "20251120180000"),
        ["SUB_ASSIGN", "SUB_ACK", "SUB_DONE", "SUB_RET", "SUB_EXT", "SUB_EXT_OK", "SUB_EXT_NO"],
        "GX-JD2",
    ),
    "lezhi": (
        "CZLX",
        "CZSJ",
        1762308000000,
        "CZNR",
        "YQTS",
        ("XZDW", "LZ-1101"),
        ("XZSX", 1763632800000),
        ["60", "61", "66", "65", "62", "63", "64"],
        "LZ-TJZ",
    ),
    "linkong": (
        "event",
        "event_at",
        "2025-11-05T10:00:00+08:00",
        "message",
        "extra_days",
        ("assignee", "lk-town-1"),
        ("assignee_due", "2025-11-20T18:00:00+08:00"),
        ["handed_down", "town_accepted", "town_resolved", "town_declined", "town_extend", "town_extend_granted", "town_extend_denied"],
        "LK-Z1",
    ),
}


@pytest.mark.parametrize("county", sorted(_TOWNSHIP_WIRE))
def test_every_county_carries_the_township_steps_in_its_own_codes(catalogue, county) -> None:
    cfg = load_counties(MAPPINGS, catalogue)[county]
    kind_f, at_f, at, text_f, days_f, (unit_f, unit_code), (due_f, due), codes, township = _TOWNSHIP_WIRE[county]
    forward, signed, reply, back, ask, agreed, refused = codes

    def wire(code: str, **fields) -> dict:
        body: dict = {}
        for path, value in [(kind_f, code), (at_f, at), *fields.items()]:
            node = body
            *head, last = path.split(".")
            for key in head:
                node = node.setdefault(key, {})
            node[last] = value
        return body

    local_20th_6pm = datetime(2025, 11, 20, 10, 0, tzinfo=UTC)  # 18:00 Beijing time
    cmd = update_to_command(cfg, wire(forward, **{unit_f: unit_code, due_f: due})).command
    assert (cmd.action, cmd.unit, cmd.due_at) == ("forward", township, local_20th_6pm)
    assert update_to_command(cfg, wire(signed)).command.action == "sign_off_forward"
    cmd = update_to_command(cfg, wire(reply, **{text_f: "镇里已现场处理"})).command
    assert (cmd.action, cmd.text) == ("reply_forward", "镇里已现场处理")
    cmd = update_to_command(cfg, wire(back, **{text_f: "不属本镇辖区"})).command
    assert (cmd.action, cmd.reason) == ("return_forward", "不属本镇辖区")
    cmd = update_to_command(cfg, wire(ask, **{text_f: "需协调施工方", days_f: 3})).command
    assert (cmd.action, cmd.working_days, cmd.reason) == ("request_forward_extension", 3, "需协调施工方")
    cmd = update_to_command(cfg, wire(agreed, **{days_f: 2})).command
    assert (cmd.action, cmd.approved, cmd.working_days) == ("decide_forward_extension", True, 2)
    cmd = update_to_command(cfg, wire(agreed)).command
    assert (cmd.approved, cmd.working_days) == (True, None)  # as many days as asked
    cmd = update_to_command(cfg, wire(refused, **{text_f: "请按原时限办结"})).command
    assert (cmd.action, cmd.approved, cmd.note) == ("decide_forward_extension", False, "请按原时限办结")
    # A township the county file does not know, and a forward without its deadline, name the county's field.
    with pytest.raises(TicketRefused) as raised:
        update_to_command(cfg, wire(forward, **{unit_f: "NOPE", due_f: due}))
    assert raised.value.errors[0]["field"] == "body." + unit_f
    with pytest.raises(TicketRefused) as raised:
        update_to_command(cfg, wire(forward, **{unit_f: unit_code}))
    assert raised.value.errors[0]["field"] == "body." + due_f
    with pytest.raises(TicketRefused) as raised:
        update_to_command(cfg, wire(ask, **{text_f: "需协调"}))
    assert raised.value.errors[0]["field"] == "body." + days_f
