"""Attachments in unit tests: the type read from the first bytes, the name made safe, the store and its
limit per kind, and the engine's rule of who may attach when (Engine.attach). Expectations written by hand."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.attachment_store import DirectoryStore, TooLarge, open_store, sanitise_name, sniff
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.errors import AccessDenied, RuleViolation
from hub.domain.model import Case, CaseDraft, CaseState, Role
from hub.settings import AttachmentSettings
from tests.support.factories import draft
from tests.unit.test_domain_rules import AGENT, COUNTY, ENGINE, OTHER_UNIT, PROVINCE, SUPERVISOR, SYSTEM, UNIT

FRI = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)
PORTAL = Actor("city-portal", Role.CHANNEL, channel="web")
OTHER_PORTAL = Actor("other-portal", Role.CHANNEL, channel="web")
YJ_GOV = Actor("yanjiang", Role.COUNTY, divisions=("512002",))


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"%PDF-1.4\n", "application/pdf"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00", "image/heic"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),  # an MP3 with its tag
        (b"\xff\xfb\x90\x64\x00\x00", "audio/mpeg"),  # an MP3 frame: MPEG-1 layer III, 128 kbit/s
        (b"\xff\xf3\x48\xc4\x00\x00", "audio/mpeg"),  # MPEG-2 layer III (8 kHz call recorders)
        (b"\xff\xf1\x50\x80\x00\x00", None),  # an AAC ADTS header: layer bits 00, not MP3
        (b"\xff\xfb\xf0\x00", None),  # bitrate index 1111 is forbidden
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x24\x08\x00\x00AVI LIST", None),  # a RIFF video
        (b"#!AMR\n\x3c", "audio/amr"),
        (b"#!AMR-WB\n", "audio/amr"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00", None),  # an MP4 video
        (b"<html><body>", None),
        (b"GIF89a", None),
        (b"PK\x03\x04", None),  # a zip (or .docx)
        (b"", None),
        (b"\xff\xd8", None),  # too short to be a JPEG
    ],
)
def test_the_type_is_what_the_first_bytes_say(head: bytes, media_type: str | None) -> None:
    assert sniff(head) == media_type


@pytest.mark.parametrize(
    ("given", "media_type", "kept"),
    [
        ("现场照片.jpg", "image/jpeg", "现场照片.jpg"),
        ("photo.JPEG", "image/jpeg", "photo.jpg"),
        ("scan.png", "application/pdf", "scan.pdf"),  # the content decides the extension
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("C:\\Users\\张三\\身份证.png", "image/png", "身份证.png"),
        (".hidden.png", "image/png", "hidden.png"),
        ('a"b<c>|d\x00e\r\n.png', "image/png", "a_b_c_d_e_.png"),
        ("", "image/png", "附件.png"),
        (None, "application/pdf", "附件.pdf"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 100 + ".pdf"),
    ],
)
def test_names_are_made_safe(given: str | None, media_type: str, kept: str) -> None:
    assert sanitise_name(given, media_type) == kept


def _meta(visibility: str = "internal") -> dict:
    return {"id": "a" * 24, "media_type": "image/png", "size": 40, "visibility": visibility}


def _case(state: str, lead: str = "ZY-SCJGJ", co: list[str] | None = None, by: Actor = AGENT, **changes) -> Case:
    case = ENGINE.register(CaseDraft.model_validate(draft(**changes)), "512000202509260001", by, FRI).case
    steps = {"registered": [], "awaiting_sign_off": [c.Accept(), c.Dispatch(lead_unit=lead, co_units=co or [])]}
    for step in steps.get(state, steps["awaiting_sign_off"]):
        case = ENGINE.act(case, step, AGENT, FRI).case
    if state == "in_progress":
        case = ENGINE.act(case, c.SignOff(), UNIT if lead == "ZY-SCJGJ" else YJ_GOV, FRI).case
    return case


def test_an_attachment_is_a_history_line_and_an_event_without_its_name() -> None:
    case = _case("registered")
    outcome = ENGINE.attach(case, _meta(), AGENT, FRI)
    new = outcome.case
    assert (new.version, new.state, new.links.attachments) == (case.version + 1, CaseState.REGISTERED, ["a" * 24])
    line = new.history[-1]
    assert (line.action, line.actor, line.from_state, line.to_state) == ("attach", "agent-a017", CaseState.REGISTERED, CaseState.REGISTERED)
    assert line.data == {"id": "a" * 24, "media_type": "image/png", "size": 40, "visibility": "internal"}
    [event] = outcome.events
    assert (event.type, event.data) == ("case.attachment_added", line.data)
    assert case.links.attachments == []  # the case given is not changed


def test_the_centre_attaches_until_the_case_is_archived() -> None:
    for actor in (AGENT, SUPERVISOR, SYSTEM):
        assert ENGINE.attach(_case("registered"), _meta(), actor, FRI).case.links.attachments == ["a" * 24]
    archived = _case("registered").model_copy(update={"state": CaseState.ARCHIVED})
    with pytest.raises(RuleViolation, match="archived"):
        ENGINE.attach(archived, _meta(), SUPERVISOR, FRI)


def test_units_attach_while_they_handle_the_case() -> None:
    case = _case("awaiting_sign_off", co=["ZY-RSJ"])
    ENGINE.attach(case, _meta(), UNIT, FRI)
    ENGINE.attach(case, _meta(), Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ"), FRI)  # the co-unit, its own part
    with pytest.raises(AccessDenied):
        ENGINE.attach(case, _meta(), OTHER_UNIT, FRI)
    closed = case.model_copy(update={"state": CaseState.CLOSED})
    with pytest.raises(RuleViolation, match="handles"):
        ENGINE.attach(closed, _meta(), UNIT, FRI)


def test_a_county_attaches_for_its_own_units_only() -> None:
    city_led = _case("awaiting_sign_off")  # in 雁江区, led by a city department
    with pytest.raises(AccessDenied, match="attach files only as"):
        ENGINE.attach(city_led, _meta(), COUNTY, FRI)
    own = _case("awaiting_sign_off", lead="YJ-GOV")
    assert ENGINE.attach(own, _meta(), YJ_GOV, FRI).case.history[-1].actor == "yanjiang"


def test_the_province_attaches_nothing() -> None:
    with pytest.raises(AccessDenied):
        ENGINE.attach(_case("awaiting_sign_off"), _meta(), PROVINCE, FRI)


def test_a_channel_attaches_public_files_to_its_own_open_cases() -> None:
    web = {"intake": {"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}}
    case = _case("registered", by=PORTAL, **web)
    assert ENGINE.attach(case, _meta("public"), PORTAL, FRI).case.history[-1].role is Role.CHANNEL
    with pytest.raises(AccessDenied, match="visibility"):
        ENGINE.attach(case, _meta("internal"), PORTAL, FRI)
    with pytest.raises(AccessDenied):
        ENGINE.attach(case, _meta("public"), OTHER_PORTAL, FRI)
    with pytest.raises(AccessDenied):
        ENGINE.attach(_case("registered"), _meta("public"), PORTAL, FRI)  # the centre's phone case
    for finished in (CaseState.CLOSED, CaseState.REJECTED, CaseState.MERGED):
        with pytest.raises(RuleViolation):
            ENGINE.attach(case.model_copy(update={"state": finished}), _meta("public"), PORTAL, FRI)


def test_the_store_is_chosen_by_the_setting(tmp_path: Path) -> None:
    store = open_store("directory", tmp_path)
    assert isinstance(store, DirectoryStore) and store.root == tmp_path and store.location == str(tmp_path)
    with pytest.raises(ValueError, match="needs attachments.s3"):
        open_store("s3", tmp_path)
    with pytest.raises(ValueError, match="not built"):
        open_store("ftp", tmp_path)  # type: ignore[arg-type]


def test_the_s3_store_needs_its_bucket_named() -> None:
    with pytest.raises(ValidationError, match="attachments.s3.bucket"):
        AttachmentSettings(store="s3")
    named = AttachmentSettings(store="s3", s3={"bucket": "hub-files", "secret_access_key": "s3cr3t"})
    assert named.s3 is not None and "s3cr3t" not in repr(named)  # a secret, never printed


@pytest.mark.parametrize(
    ("content", "taken"),
    [
        (b"#!AMR\n" + b"\x00" * 94, True),  # 100 bytes of audio: its limit is 100
        (b"#!AMR\n" + b"\x00" * 95, False),  # 101 bytes of audio
        (b"\xff\xd8\xff\xe0" + b"\x00" * 47, False),  # 51 bytes of image: its limit is 50
        (b"#!AMR\n\x00\x00", True),  # shorter than the sniffed head, under the limit
    ],
)
def test_the_limit_follows_the_kind_read_from_the_first_bytes(tmp_path: Path, content: bytes, taken: bool) -> None:
    store = DirectoryStore(tmp_path)
    limits = {"audio/amr": 100, "image/jpeg": 50}
    allowed = frozenset(limits)
    if taken:
        assert store.put(io.BytesIO(content), lambda t: limits.get(t or "", 10), allowed).size == len(content)
    else:
        with pytest.raises(TooLarge):
            store.put(io.BytesIO(content), lambda t: limits.get(t or "", 10), allowed)
        assert list((tmp_path / "tmp").iterdir()) == []


def test_a_short_file_over_its_kind_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TooLarge):  # 8 bytes, all of them read before the kind is known
        DirectoryStore(tmp_path).put(io.BytesIO(b"#!AMR\n\x00\x00"), lambda t: 4, frozenset({"audio/amr"}))
