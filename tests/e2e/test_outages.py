"""An outage is a 503 with Retry-After, and /ready says so; the hub serves again once it ends.

A stopped PostgreSQL (a private cluster on its own port, never the shared server), a
read-only SQLite file and a full disk (a small tmpfs) behind a real server on loopback."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from hub.db.engine import make_engine
from hub.db.migrate import upgrade
from hub.domain.access import SYSTEM_ACTOR
from hub.domain.model import CaseDraft, Role
from hub.settings import Settings
from tests.e2e.test_outbox_processes import private_pg  # noqa: F401  (the fixture)
from tests.support.factories import draft
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

UNAVAILABLE = "https://12345-hub.example/problems/database-unavailable"


def _serve(settings: Settings, clock):  # noqa: ANN001, ANN202
    from hub.api.app import create_app
    from hub.runtime import build_hub

    hub = build_hub(settings, clock)
    return hub, LiveServer(create_app(hub))


def _assert_outage(resp: httpx.Response, reason: str) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["Retry-After"]) > 0
    body = resp.json()
    assert body["type"] == UNAVAILABLE and body["status"] == 503 and reason in body["detail"]


def _assert_not_ready(client: httpx.Client, reason: str) -> None:
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 503 and int(ready.headers["Retry-After"]) > 0
    assert ready.json()["checks"]["database"] == f"unavailable: {reason}"


def _until(predicate, what: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _created(client: httpx.Client) -> bool:
    resp = client.post("/api/v1/cases", json=draft())
    assert resp.status_code in (201, 503), resp.text  # never a 500 on the way back
    return resp.status_code == 201


def test_a_stopped_postgresql_is_a_503_and_the_hub_serves_again_after_it_is_back(private_pg, clock) -> None:  # noqa: F811
    admin = create_engine(private_pg.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE hub"))
    admin.dispose()
    engine = make_engine(private_pg.url("hub"))
    upgrade(engine)
    engine.dispose()
    hub, live = _serve(Settings(database_url=private_pg.url("hub")), clock)
    key = hub.keys.create("centre-agent", Role.AGENT, clock.now())
    try:
        with live, httpx.Client(base_url=live.url, headers={"X-API-Key": key}, timeout=30) as client:
            assert client.post("/api/v1/cases", json=draft()).status_code == 201
            private_pg.stop()
            _assert_outage(client.post("/api/v1/cases", json=draft()), "database unreachable")
            _assert_outage(client.get("/api/v1/cases"), "database unreachable")
            _assert_not_ready(client, "database unreachable")
            private_pg.start()
            _until(lambda: _created(client), "a case registered after PostgreSQL is back")
            assert client.get("/api/v1/ready").status_code == 200
    finally:
        hub.close()


@pytest.fixture
def immutable(tmp_path: Path):
    """chattr +i: even root cannot open the file for writing (as on a read-only mount)."""
    made: list[Path] = []

    def make(path: Path) -> None:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


def test_a_read_only_sqlite_file_is_a_503_on_writes_and_reads_still_work(sqlite_template, tmp_path, clock, immutable) -> None:
    url = sqlite_template.fresh(tmp_path)
    settings = Settings(database_url=url, sqlite_synchronous="NORMAL")
    hub, live = _serve(settings, clock)
    key = hub.keys.create("centre-agent", Role.AGENT, clock.now())
    number = hub.cases.register(CaseDraft.model_validate(draft()), SYSTEM_ACTOR).case.number
    hub.db.dispose()  # every connection closed: the next ones open the file as it is now
    immutable(Path(url.removeprefix("sqlite:///")))
    try:
        with live, httpx.Client(base_url=live.url, headers={"X-API-Key": key}, timeout=30) as client:
            assert client.get(f"/api/v1/cases/{number}").status_code == 200
            _assert_outage(client.post("/api/v1/cases", json=draft()), "database is read-only")
            _assert_not_ready(client, "database is read-only")
            subprocess.run(["chattr", "-i", url.removeprefix("sqlite:///")], check=True)
            _until(lambda: _created(client), "a case registered once the file is writable")
            assert client.get("/api/v1/ready").status_code == 200
    finally:
        hub.close()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs (the tests run as root, as chattr above needs too)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs to fill ({done.stderr.strip()}); the full-disk test needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 512, 1):  # down to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_a_full_disk_is_a_503_on_writes_and_the_hub_writes_again_once_there_is_room(sqlite_template, small_disk, clock) -> None:
    url = sqlite_template.fresh(small_disk)
    hub, live = _serve(Settings(database_url=url, sqlite_synchronous="NORMAL"), clock)
    key = hub.keys.create("centre-agent", Role.AGENT, clock.now())
    filler = small_disk / "filler"
    try:
        with live, httpx.Client(base_url=live.url, headers={"X-API-Key": key}, timeout=30) as client:
            assert client.post("/api/v1/cases", json=draft()).status_code == 201
            _fill(filler)
            # Pages freed in the WAL may take a write or two; within a handful the disk is what stops it.
            statuses = []
            for _ in range(20):
                resp = client.post("/api/v1/cases", json=draft(content="满" * 4000))
                statuses.append(resp.status_code)
                if resp.status_code != 201:
                    break
            _assert_outage(resp, "disk full")
            assert set(statuses[:-1]) <= {201}
            _assert_not_ready(client, "disk full")
            filler.unlink()
            _until(lambda: _created(client), "a case registered once the disk has room")
            assert client.get("/api/v1/ready").status_code == 200
    finally:
        hub.close()
