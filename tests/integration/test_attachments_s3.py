"""The `s3` attachment store (#17) against a real S3 HTTP server on loopback (moto's server
mode, spoken to by boto3 over HTTP): upload, read back, the same photo twice as one object,
refused uploads leaving nothing in the bucket, retention's erasure deleting the objects no row
names, orphans, and a missing bucket or a store that is down answering 503 with Retry-After,
never 500. Real database (SQLite file and PostgreSQL), the app in-process (ASGI TestClient).
Keys and bytes are written out here, not computed with hub/attachment_s3.py."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from hub.attachment_store import StoreUnavailable
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import AttachmentSettings, Settings
from records.retention import Retention
from tests.support.factories import draft
from tests.support.s3 import S3Server, closed_port, s3_server

BUCKET = "hub-attachments"
PREFIX = "city-hub/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
HTML = b"<html><script>alert(1)</script></html>"
AGENT = Actor(party="centre-agent", role=Role.AGENT)
SUPERVISOR = Actor(party="centre-supervisor", role=Role.SUPERVISOR)


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server):
    """A fresh bucket per test (its objects listed by the test through its own client)."""
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def s3_settings(db_url: str, endpoint: str, bucket: str = BUCKET, **more) -> Settings:
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        attachments=AttachmentSettings(
            store="s3",
            max_bytes=4096,
            s3={
                "bucket": bucket,
                "endpoint_url": endpoint,
                "prefix": PREFIX,
                "access_key_id": "hub-test",
                "secret_access_key": "hub-test-secret",
                "connect_timeout": 1,
                "read_timeout": 5,
                "attempts": 1,
                "retry_after_seconds": 120,
            },
        ),
        **more,
    )


@pytest.fixture
def settings(db_url: str, s3: S3Server, bucket) -> Settings:
    return s3_settings(db_url, s3.endpoint)


@pytest.fixture
def client(hub):
    from hub.api.app import create_app

    with TestClient(create_app(hub), raise_server_exceptions=False) as c:
        yield c


def keys_in(bucket) -> list[str]:
    return sorted(item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def register(client, keys) -> str:
    resp = client.post("/api/v1/cases", json=draft(), headers={"X-API-Key": keys["agent"]})
    assert resp.status_code == 201, resp.text
    return resp.json()["number"]


def upload(client, key: str, number: str, content: bytes, name: str = "现场照片.png"):
    return client.post(f"/api/v1/cases/{number}/attachments", headers={"X-API-Key": key}, files={"file": (name, content, "image/png")})


def test_a_photo_goes_into_the_bucket_and_comes_back(client, keys, bucket, hub) -> None:
    number = register(client, keys)
    resp = upload(client, keys["agent"], number, PNG)
    assert resp.status_code == 201, resp.text
    sha = hashlib.sha256(PNG).hexdigest()
    assert resp.json()["sha256"] == sha
    # One object, keyed by the prefix and the content's SHA-256, holding the bytes sent.
    assert keys_in(bucket) == [PREFIX + sha]
    obj = bucket.get_object(Bucket=BUCKET, Key=PREFIX + sha)
    assert obj["Body"].read() == PNG and obj["ContentType"] == "image/png"
    assert "现场照片" not in str(obj.get("Metadata"))  # the name (may name a person) stays in the row

    got = client.get(f"/api/v1/cases/{number}/attachments/{resp.json()['id']}", headers={"X-API-Key": keys["supervisor"]})
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["content-disposition"].startswith("attachment;")

    # The same photo again, on another case: one object still.
    other = register(client, keys)
    assert upload(client, keys["agent"], other, PNG).status_code == 201
    assert keys_in(bucket) == [PREFIX + sha]
    assert hub.attachments.store.location == f"s3://{BUCKET}/{PREFIX}"


def test_refused_uploads_leave_nothing_in_the_bucket(client, keys, bucket) -> None:
    number = register(client, keys)
    too_big = upload(client, keys["agent"], number, PNG + b"\x00" * 5000)
    assert too_big.status_code == 413 and too_big.json()["errors"][0]["field"] == "body.file"
    html = upload(client, keys["agent"], number, HTML, name="photo.png")
    assert html.status_code == 415
    assert keys_in(bucket) == []


def test_an_object_missing_from_the_bucket_is_503_not_500(client, keys, bucket) -> None:
    number = register(client, keys)
    sent = upload(client, keys["agent"], number, PNG).json()
    bucket.delete_object(Bucket=BUCKET, Key=PREFIX + sent["sha256"])
    resp = client.get(f"/api/v1/cases/{number}/attachments/{sent['id']}", headers={"X-API-Key": keys["agent"]})
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("/attachment-file-missing")


def test_a_missing_bucket_is_503_with_retry_after(client, keys, bucket) -> None:
    number = register(client, keys)
    sent = upload(client, keys["agent"], number, PNG).json()
    bucket.delete_object(Bucket=BUCKET, Key=PREFIX + sent["sha256"])
    bucket.delete_bucket(Bucket=BUCKET)
    try:
        for resp in (
            upload(client, keys["agent"], number, PDF, name="通知.pdf"),
            client.get(f"/api/v1/cases/{number}/attachments/{sent['id']}", headers={"X-API-Key": keys["agent"]}),
        ):
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"] == "120"
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["type"].endswith("/attachment-store-unavailable")
            assert BUCKET in resp.json()["detail"]
        # Nothing recorded for the upload that could not be stored.
        listed = client.get(f"/api/v1/cases/{number}/attachments", headers={"X-API-Key": keys["agent"]}).json()
        assert [a["id"] for a in listed] == [sent["id"]]
    finally:
        bucket.create_bucket(Bucket=BUCKET)  # for the fixture's cleanup


def test_a_store_that_is_down_is_503_with_retry_after(db_url: str, clock, keys_of_down_hub) -> None:
    client, keys, hub = keys_of_down_hub
    number = register(client, keys)
    resp = upload(client, keys["agent"], number, PNG)
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "120" and resp.json()["type"].endswith("/attachment-store-unavailable")
    assert client.get(f"/api/v1/cases/{number}/attachments", headers={"X-API-Key": keys["agent"]}).json() == []
    # The retention pass goes on: an erased case's file that cannot be deleted now is left for
    # `attachments orphans --delete`, and the daily pass does not list a bucket (no leftovers there).
    assert hub.attachments.delete_unnamed([hashlib.sha256(PNG).hexdigest()]) == 0
    assert hub.attachments.orphans() == []
    with pytest.raises(StoreUnavailable):
        hub.attachments.orphans(unnamed=True)  # asked for by the command, which says so and exits 1


@pytest.fixture
def keys_of_down_hub(db_url: str, clock, tmp_path):
    from hub.api.app import create_app

    hub = build_hub(s3_settings(db_url, f"http://127.0.0.1:{closed_port()}"), clock)
    now = hub.clock.now()
    keys = {"agent": hub.keys.create("centre-agent", Role.AGENT, now)}
    try:
        with TestClient(create_app(hub), raise_server_exceptions=False) as client:
            yield client, keys, hub
    finally:
        hub.close()


def _archive(hub, number: str) -> None:
    for command, actor in (
        (c.Accept(), AGENT),
        (c.AnswerDirectly(answer="已答复"), AGENT),
        (c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT),
        (c.Archive(), SUPERVISOR),
    ):
        hub.cases.act(number, command, actor)


def test_retention_erases_the_objects_no_row_names_any_more(db_url: str, s3: S3Server, bucket) -> None:
    from hub.domain.clock import ManualClock

    clock = ManualClock(datetime(2021, 3, 15, 10, 0, tzinfo=LOCAL_TZ))
    hub = build_hub(s3_settings(db_url, s3.endpoint, retention={"archived_years": 2}), clock)
    photo, shared = b"\xff\xd8\xff" + b"\x01" * 40, b"%PDF-1.7\n" + b"\x02" * 40
    try:
        number = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
        hub.attachments.add(number, io.BytesIO(photo), "门口.jpg", "internal", AGENT)
        hub.attachments.add(number, io.BytesIO(shared), "通知.pdf", "public", AGENT)
        _archive(hub, number)
        other = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
        hub.attachments.add(other, io.BytesIO(shared), "通知.pdf", "public", AGENT)  # kept: its object stays
        assert keys_in(bucket) == sorted(PREFIX + hashlib.sha256(b).hexdigest() for b in (photo, shared))

        clock.set(datetime(2023, 3, 16, 10, 0, tzinfo=LOCAL_TZ))
        result = Retention(hub).run()
        assert result.erased == [number] and result.files_deleted == 1
        assert hub.attachments.list_for(hub.cases.get(number, AGENT), AGENT) == []
        assert keys_in(bucket) == [PREFIX + hashlib.sha256(shared).hexdigest()]
        got = hub.attachments.open(hub.attachments.list_for(hub.cases.get(other, AGENT), AGENT)[0])
        with got:
            assert got.read() == shared
    finally:
        hub.close()


def test_orphan_objects_are_deleted_when_asked_and_others_in_the_bucket_left(client, keys, bucket, hub) -> None:
    number = register(client, keys)
    kept = upload(client, keys["agent"], number, PNG).json()["sha256"]
    orphan = hashlib.sha256(b"lost upload").hexdigest()
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + orphan, Body=b"lost upload")
    bucket.put_object(Bucket=BUCKET, Key="another-app/report.txt", Body=b"not the hub's")
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + "notes.txt", Body=b"not a file of the hub's")
    assert hub.attachments.orphans(unnamed=True) == []  # young: an upload may be between its object and its row
    later = datetime.now(UTC) + timedelta(hours=2)
    assert hub.attachments.orphans(now=later) == []  # the daily pass: a bucket has no half-written uploads
    assert hub.attachments.orphans(now=later, unnamed=True, dry_run=True) == [orphan]
    assert hub.attachments.orphans(now=later, unnamed=True) == [orphan]
    assert keys_in(bucket) == sorted(["another-app/report.txt", PREFIX + kept, PREFIX + "notes.txt"])
