"""Attachments of a case (#17, #18): upload by the centre, the handling units, a channel and a
citizen with the retrieval code; the type read from the content; the size limits; who reads
which; the history line and the event; the store on disk (content-addressed, atomic, orphans
cleaned). Real database (SQLite file and PostgreSQL), the app in-process (ASGI TestClient).
Expectations are written out here, not computed with hub/attachments.py."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from hub.db.models import EventRow
from hub.domain.model import Role
from hub.settings import AttachmentSettings, Settings
from tests.support.factories import draft

# The smallest files of each kind that their magic bytes make what they are.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 60
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
HTML = b"<html><script>alert(1)</script></html>"
# Call recordings, one per format a recorder writes, each by its first bytes.
AMR = b"#!AMR\n" + b"\x3c" * 60
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 60
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00" + b"\x00" * 60
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 60
WEB = {"intake": {"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}}


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
def settings(db_url: str, store_dir: Path) -> Settings:
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        attachments=AttachmentSettings(
            directory=store_dir,
            max_bytes=4096,
            citizen_max_bytes=2048,
            citizen_max_per_case=2,
            # documents left out: the party's limit alone
            kind_max_bytes={"image": 3072, "audio": 4096},
        ),
    )


@pytest.fixture
def as_(hub, keys):
    now = hub.clock.now()
    all_keys = {
        **keys,
        "portal": hub.keys.create("city-portal", Role.CHANNEL, now, channel="web"),
        "other_portal": hub.keys.create("other-portal", Role.CHANNEL, now, channel="web"),
    }
    return lambda who: {"X-API-Key": all_keys[who]}


def register(client, as_, body=None) -> str:
    resp = client.post("/api/v1/cases", json=body or draft(), headers=as_("agent"))
    assert resp.status_code == 201, resp.text
    return resp.json()["number"]


def act(client, as_, number: str, who: str, body: dict) -> None:
    resp = client.post(f"/api/v1/cases/{number}/actions", json=body, headers=as_(who))
    assert resp.status_code == 200, resp.text


def in_progress(client, as_) -> str:
    number = register(client, as_)
    act(client, as_, number, "agent", {"action": "accept"})
    act(client, as_, number, "agent", {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    act(client, as_, number, "unit", {"action": "sign_off"})
    return number


def upload(
    client,
    headers,
    number: str,
    content: bytes,
    name: str = "现场照片.png",
    visibility: str | None = None,
    client_type: str = "image/png",
    prefix: str = "/api/v1/cases",
):
    data = {"visibility": visibility} if visibility else {}
    return client.post(f"{prefix}/{number}/attachments", headers=headers, data=data, files={"file": (name, content, client_type)})


def stored_files(store_dir: Path) -> list[str]:
    return sorted(p.name for p in store_dir.glob("*/*/*") if p.is_file())


def test_the_centre_attaches_a_photo_and_reads_it_back(client, as_, hub, store_dir) -> None:
    number = register(client, as_)
    resp = upload(client, as_("agent"), number, PNG, name="../../etc/张三家门口.PNG")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    sha = hashlib.sha256(PNG).hexdigest()
    assert body["media_type"] == "image/png" and body["size"] == len(PNG) and body["sha256"] == sha
    assert body["name"] == "张三家门口.png"  # the path dropped, the extension the sniffed type's
    assert body["visibility"] == "internal" and body["uploaded_by"] == "centre-agent"
    # Content-addressed, in place before the answer.
    assert (store_dir / sha[:2] / sha[2:4] / sha).read_bytes() == PNG

    listed = client.get(f"/api/v1/cases/{number}/attachments", headers=as_("supervisor")).json()
    assert [a["id"] for a in listed] == [body["id"]]
    got = client.get(f"/api/v1/cases/{number}/attachments/{body['id']}", headers=as_("supervisor"))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%BC%A0%E4%B8%89" in got.headers["content-disposition"]

    # The case's history and its event say what was added, without the name (it may name a person).
    case = client.get(f"/api/v1/cases/{number}", headers=as_("agent")).json()
    assert case["links"]["attachments"] == [body["id"]]
    line = case["history"][-1]
    assert (line["action"], line["actor"], line["from_state"], line["to_state"]) == ("attach", "centre-agent", "registered", "registered")
    assert line["data"] == {
        "id": body["id"],
        "media_type": "image/png",
        "size": len(PNG),
        "visibility": "internal",
        "sha256": sha,
        "url": f"/api/v1/cases/{number}/attachments/{body['id']}",  # what a peer fetches it by, with its own key
    }
    with hub.db.read() as s:
        events = s.execute(text("SELECT type, payload FROM case_events WHERE case_number = :n ORDER BY id"), {"n": number}).all()
    assert [e[0] for e in events] == ["case.registered", "case.attachment_added"]
    assert "张三家门口" not in str(events[-1][1])


def test_the_type_is_read_from_the_content_not_the_name(client, as_, store_dir) -> None:
    number = register(client, as_)
    resp = upload(client, as_("agent"), number, HTML, name="photo.jpg", client_type="image/jpeg")
    assert resp.status_code == 415, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["errors"][0]["field"] == "body.file"
    # A PDF called .png is a PDF.
    pdf = upload(client, as_("agent"), number, PDF, name="scan.png", client_type="image/png").json()
    assert (pdf["media_type"], pdf["name"]) == ("application/pdf", "scan.pdf")
    assert stored_files(store_dir) == [hashlib.sha256(PDF).hexdigest()]  # the refused page was not kept


def test_an_oversized_file_is_413_naming_the_field(client, as_, store_dir) -> None:
    number = register(client, as_)
    resp = upload(client, as_("agent"), number, JPEG + b"\x00" * 5000, name="big.jpg")
    assert resp.status_code == 413, resp.text
    assert resp.json()["errors"][0]["field"] == "body.file"
    # Far over the limit: refused before the app reads the body, still naming the field.
    huge = upload(client, as_("agent"), number, JPEG + b"\x00" * 200_000, name="huge.jpg")
    assert huge.status_code == 413 and huge.json()["errors"][0]["field"] == "body.file"
    assert stored_files(store_dir) == []
    assert list((store_dir / "tmp").iterdir()) == []  # the part written before the limit was passed is gone


@pytest.mark.parametrize(
    ("content", "name", "media_type", "kept_as"),
    [
        (AMR, "坐席录音.amr", "audio/amr", "坐席录音.amr"),
        (MP3, "录音", "audio/mpeg", "录音.mp3"),
        (WAV, "call.mp3", "audio/wav", "call.wav"),  # the content decides, not the name
        (M4A, "来电录音.m4a", "audio/mp4", "来电录音.m4a"),
    ],
)
def test_a_call_recording_is_taken_by_its_content(client, as_, content: bytes, name: str, media_type: str, kept_as: str) -> None:
    number = register(client, as_)
    resp = upload(client, as_("agent"), number, content, name=name, client_type="application/octet-stream")
    assert resp.status_code == 201, resp.text
    assert (resp.json()["media_type"], resp.json()["name"]) == (media_type, kept_as)
    got = client.get(f"/api/v1/cases/{number}/attachments/{resp.json()['id']}", headers=as_("supervisor"))
    assert got.status_code == 200 and got.content == content and got.headers["content-type"] == media_type


def test_each_kind_has_its_own_size_limit_under_the_party_limit(client, as_, store_dir) -> None:
    # Settings above: image 3072, audio 4096, documents only the centre's 4096; citizens 2048.
    number = register(client, as_)
    padding = b"\x00" * (3500 - 64)
    recording = upload(client, as_("agent"), number, AMR[:64] + padding, name="录音.amr")
    assert recording.status_code == 201 and recording.json()["size"] == 3500, recording.text
    photo = upload(client, as_("agent"), number, JPEG[:64] + padding, name="大照片.jpg")
    assert photo.status_code == 413 and photo.json()["errors"][0]["field"] == "body.file"
    assert "3072" in photo.json()["errors"][0]["reason"]
    document = upload(client, as_("agent"), number, PDF + b"\x00" * (3500 - len(PDF)), name="材料.pdf")
    assert document.status_code == 201, document.text
    over_party = upload(client, as_("agent"), number, AMR[:64] + b"\x00" * 4200, name="长录音.amr")
    assert over_party.status_code == 413  # the audio limit (4096) and the centre's are both passed
    filed = client.post("/api/v1/channel/cases", json=draft(**WEB), headers=as_("portal")).json()["case"]["number"]
    citizen = upload(client, as_("portal"), filed, AMR[:64] + b"\x00" * 2500, name="语音.amr", prefix="/api/v1/channel/cases")
    assert citizen.status_code == 413  # under the audio limit, over the citizen's 2048
    assert stored_files(store_dir) == sorted([hashlib.sha256(AMR[:64] + padding).hexdigest(), hashlib.sha256(PDF + b"\x00" * (3500 - len(PDF))).hexdigest()])


def test_a_wrong_visibility_is_422_naming_the_field(client, as_) -> None:
    number = register(client, as_)
    resp = upload(client, as_("agent"), number, PNG, visibility="secret")
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.visibility"


def test_units_attach_to_the_cases_they_handle_only(client, as_) -> None:
    number = in_progress(client, as_)
    assert upload(client, as_("unit"), number, JPEG, name="整改后.jpg", visibility="public").status_code == 201
    assert upload(client, as_("other_unit"), number, JPEG).status_code == 403  # not its case
    assert upload(client, as_("yanjiang"), number, JPEG).status_code == 403  # its division, but a city department handles it
    assert upload(client, as_("province"), number, JPEG).status_code == 403
    # Before dispatch a unit has no part in a case.
    fresh = register(client, as_)
    assert upload(client, as_("unit"), fresh, JPEG).status_code == 403
    # The centre's internal files are read by the handlers too, never by another unit.
    internal = upload(client, as_("agent"), number, PDF).json()
    assert client.get(f"/api/v1/cases/{number}/attachments/{internal['id']}", headers=as_("unit")).status_code == 200
    assert client.get(f"/api/v1/cases/{number}/attachments/{internal['id']}", headers=as_("other_unit")).status_code == 403
    assert client.get(f"/api/v1/cases/{number}/attachments", headers=as_("other_unit")).status_code == 403


def test_an_archived_case_takes_no_more_files(client, as_) -> None:
    number = register(client, as_)
    act(client, as_, number, "agent", {"action": "reject", "reason_code": "other", "reason": "不属于受理范围"})
    act(client, as_, number, "supervisor", {"action": "archive"})
    resp = upload(client, as_("supervisor"), number, PNG)
    assert resp.status_code == 409 and "archived" in resp.json()["detail"]


def test_the_same_photo_twice_is_one_file(client, as_, store_dir) -> None:
    a, b = register(client, as_), register(client, as_)
    first = upload(client, as_("agent"), a, PNG).json()
    second = upload(client, as_("agent"), b, PNG).json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert stored_files(store_dir) == [hashlib.sha256(PNG).hexdigest()]


def test_a_channel_and_a_citizen_send_photos_and_see_only_public_files(client, as_) -> None:
    resp = client.post("/api/v1/channel/cases", json=draft(**WEB), headers=as_("portal"))
    assert resp.status_code == 201, resp.text
    number, code = resp.json()["case"]["number"], resp.json()["retrieval_code"]

    mine = upload(client, as_("portal"), number, JPEG, name="路面坑洼.jpg", prefix="/api/v1/channel/cases")
    assert mine.status_code == 201, mine.text
    assert set(mine.json()) == {"id", "name", "media_type", "size", "uploaded_at"}  # no uploader, no checksum
    # Not its own case: 404, as for any case it did not register.
    assert upload(client, as_("other_portal"), number, JPEG, prefix="/api/v1/channel/cases").status_code == 404
    # The full-case routes stay closed to a channel key.
    assert upload(client, as_("portal"), number, JPEG).status_code == 403

    internal = upload(client, as_("agent"), number, PDF, name="内部核查.pdf").json()
    public = upload(client, as_("agent"), number, PNG, name="公开说明.png", visibility="public").json()

    view = client.post(f"/api/v1/public/cases/{number}/lookup", json={"code": code}).json()
    assert [a["name"] for a in view["attachments"]] == ["路面坑洼.jpg", "公开说明.png"]
    assert "内部核查" not in str(view)
    assert [t["text"] for t in view["timeline"]] == ["诉求已登记", "已添加附件", "已添加附件"]

    got = client.post(f"/api/v1/public/cases/{number}/attachments/{public['id']}", json={"code": code})
    assert got.status_code == 200 and got.content == PNG
    hidden = client.post(f"/api/v1/public/cases/{number}/attachments/{internal['id']}", json={"code": code})
    assert hidden.status_code == 404
    assert client.get(f"/api/v1/channel/cases/{number}/attachments/{internal['id']}", headers=as_("portal")).status_code == 404
    assert client.get(f"/api/v1/channel/cases/{number}/attachments/{mine.json()['id']}", headers=as_("portal")).content == JPEG

    # The citizen with the code: a wrong code is 404; the right one adds a public file.
    wrong = client.post(f"/api/v1/public/cases/{number}/attachments", data={"code": "XXXXXX"}, files={"file": ("a.png", PNG, "image/png")})
    assert wrong.status_code == 404
    by_code = client.post(f"/api/v1/public/cases/{number}/attachments", data={"code": code}, files={"file": ("门牌.png", PNG + b"1", "image/png")})
    assert by_code.status_code == 201, by_code.text
    # Two files from the citizen in all (settings): the third is refused, by either door.
    third = client.post(f"/api/v1/public/cases/{number}/attachments", data={"code": code}, files={"file": ("more.png", PNG + b"2", "image/png")})
    assert third.status_code == 409 and "most" in third.json()["detail"]
    # The citizen's limit is smaller than the centre's: 3000 bytes pass for the centre only.
    big = JPEG + b"\x00" * 3000
    assert upload(client, as_("agent"), number, big).status_code == 201
    rows = client.get(f"/api/v1/cases/{number}/attachments", headers=as_("agent")).json()
    assert {r["uploaded_by"] for r in rows} == {"city-portal", "centre-agent", "citizen@public"}


def test_the_citizen_limit_is_smaller(client, as_) -> None:
    resp = client.post("/api/v1/channel/cases", json=draft(**WEB), headers=as_("portal"))
    number = resp.json()["case"]["number"]
    big = JPEG + b"\x00" * 3000  # under the centre's 4096, over the citizen's 2048
    refused = upload(client, as_("portal"), number, big, prefix="/api/v1/channel/cases")
    assert refused.status_code == 413 and refused.json()["errors"][0]["field"] == "body.file"


def test_orphan_files_are_cleaned_and_named_ones_kept(client, as_, hub, store_dir) -> None:
    number = register(client, as_)
    kept = upload(client, as_("agent"), number, PNG).json()["sha256"]
    orphan = hashlib.sha256(b"lost upload").hexdigest()
    path = store_dir / orphan[:2] / orphan[2:4] / orphan
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"lost upload")
    leftover = store_dir / "tmp" / "upload-crashed"
    leftover.write_bytes(b"half")
    # Young files are left alone: an upload may be between its file and its row.
    assert hub.attachments.orphans(unnamed=True) == []
    old = time.time() - 2 * 3600
    for p in (path, leftover, store_dir / kept[:2] / kept[2:4] / kept):
        os.utime(p, (old, old))
    # The pass of every day: only what a crash cut short (never named by any row).
    assert hub.attachments.orphans() == ["tmp/upload-crashed"]
    assert not leftover.exists() and path.exists()
    # Asked for: the files no row names too.
    assert hub.attachments.orphans(unnamed=True, dry_run=True) == [orphan]
    assert path.exists()
    assert hub.attachments.orphans(unnamed=True) == [orphan]
    assert stored_files(store_dir) == [kept]


def test_a_body_that_is_not_multipart_is_422_not_400(client, as_) -> None:
    number = register(client, as_)
    resp = client.post(
        f"/api/v1/cases/{number}/attachments",
        headers={**as_("agent"), "Content-Type": "multipart/form-data; boundary=xyz"},
        content=b"--xyz\r\nNone--xyz--\r\n",
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "body"
    missing = client.post(f"/api/v1/cases/{number}/attachments", headers=as_("agent"), data={"visibility": "public"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.file"


def test_a_file_missing_from_the_store_is_503_not_500(client, as_, store_dir) -> None:
    number = register(client, as_)
    sent = upload(client, as_("agent"), number, PNG).json()
    (store_dir / sent["sha256"][:2] / sent["sha256"][2:4] / sent["sha256"]).unlink()  # restored without its files
    resp = client.get(f"/api/v1/cases/{number}/attachments/{sent['id']}", headers=as_("agent"))
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    assert sent["id"] in resp.json()["detail"]


def test_the_reference_a_peer_is_sent_is_readable_with_its_own_key(client, as_, hub) -> None:
    # The county (雁江, the case's division) and the province are sent case.attachment_added with
    # this reference (docs/province.md, docs/county.md): it must work with their own keys.
    number = register(client, as_)
    assert upload(client, as_("agent"), number, PDF, name="通知.pdf").status_code == 201
    with hub.db.read() as s:
        payload = s.execute(select(EventRow.payload).where(EventRow.type == "case.attachment_added", EventRow.case_number == number)).scalar_one()
    ref = payload["data"]
    assert ref["sha256"] == hashlib.sha256(PDF).hexdigest() and ref["media_type"] == "application/pdf" and ref["size"] == len(PDF)
    got = client.get(ref["url"], headers=as_("yanjiang"))
    assert got.status_code == 200 and got.content == PDF
    assert client.get(ref["url"], headers=as_("anyue")).status_code in (403, 404)  # another county's key: no
