"""Backup and restore of the embedded SQLite database: a backup taken while a writer keeps
registering cases, restored into a new file, serves every case registered before the backup
began, and its outbox goes on from where the backup left it: what was delivered is not sent
again, what was pending is sent once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli import main
from hub.domain.access import Actor
from hub.domain.errors import CaseNotFound
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import Settings
from outbox.feature import OutboxHandle
from outbox.tables import DELIVERED, PENDING, OutboxMessageRow
from records.backup import BackupError, backup, restore
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.factories import draft
from tests.support.live import LiveServer

AGENT = Actor(party="centre-agent", role=Role.AGENT)


def _settings(url: str, sink_url: str) -> Settings:
    return Settings(
        database_url=url,
        sqlite_synchronous="NORMAL",
        destinations={"all": {"adapter": "webhook", "settings": {"url": f"{sink_url}/events", "timeout": 2, "system": "sink"}, "events": ["case.registered"]}},
    )


def _register(hub) -> str:
    return hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number


def _outbox(hub) -> dict[str, str]:
    with hub.db.read() as s:
        return {m.case_number: m.status for m in s.execute(select(OutboxMessageRow)).scalars()}


def _wait(condition, timeout: float = 60.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("condition not met in time")


def test_backup_under_load_restores_every_case_and_resumes_the_outbox(sqlite_template, tmp_path: Path, clock) -> None:
    state = SinkState()
    with LiveServer(create_sink(state)) as sink:
        hub = build_hub(_settings(sqlite_template.fresh(tmp_path), sink.url), clock)
        try:
            delivered = [_register(hub) for _ in range(3)]
            assert hub.handles.get(OutboxHandle).relay().drain(120) == 3
            assert len(state.received) == 3

            registered: list[str] = []
            stop = threading.Event()

            def writer() -> None:
                while not stop.is_set():
                    registered.append(_register(hub))

            thread = threading.Thread(target=writer, name="writer")
            thread.start()
            try:
                _wait(lambda: len(registered) >= 20)
                answered_before = list(registered)  # every register() that returned before the backup began
                result = backup(hub.settings.database_url, tmp_path / "backups", clock.now())
                after = len(registered)
                _wait(lambda: len(registered) >= after + 10)  # the writer kept going after the backup
            finally:
                stop.set()
                thread.join(timeout=60)
            assert not thread.is_alive()
        finally:
            hub.close()
        assert result.path.parent == tmp_path / "backups" and result.path.name.startswith("hub-")
        assert not Path(f"{result.path}-wal").exists()  # one self-contained file

        restored_url = f"sqlite:///{tmp_path / 'restored' / 'hub.db'}"
        restored = restore(result.path, restored_url)
        assert restored.cases == result.cases and restored.migration == result.migration

        hub2 = build_hub(_settings(restored_url, sink.url), clock)
        try:
            for number in delivered + answered_before:
                assert hub2.cases.get(number, AGENT).number == number
            statuses = _outbox(hub2)
            assert set(statuses) >= set(delivered + answered_before)
            assert set(statuses) <= set(delivered + registered)  # nothing the writer never wrote
            assert {statuses[n] for n in delivered} == {DELIVERED}
            assert {statuses[n] for n in answered_before} == {PENDING}
            pending = [n for n, st in statuses.items() if st == PENDING]
            assert hub2.handles.get(OutboxHandle).relay().drain(timeout=60) == len(pending)
            assert state.duplicates == 0  # nothing delivered before the backup was sent again
            assert len(state.received) == 3 + len(pending)
            assert {statuses2 for statuses2 in _outbox(hub2).values()} == {DELIVERED}
        finally:
            hub2.close()


def test_restore_refuses_an_existing_database_without_force(sqlite_template, tmp_path: Path, clock) -> None:
    url = sqlite_template.fresh(tmp_path)
    hub = build_hub(Settings(database_url=url, sqlite_synchronous="NORMAL"), clock)
    try:
        first = _register(hub)
        taken = backup(url, tmp_path / "b", clock.now())
        second = _register(hub)
    finally:
        hub.close()
    with pytest.raises(BackupError, match="--force"):
        restore(taken.path, url)
    restore(taken.path, url, force=True)
    hub = build_hub(Settings(database_url=url, sqlite_synchronous="NORMAL"), clock)
    try:
        assert hub.cases.get(first, AGENT).number == first
        with pytest.raises(CaseNotFound):
            hub.cases.get(second, AGENT)  # registered after the backup: gone with the overwrite
    finally:
        hub.close()


def test_restore_refuses_a_file_that_is_not_a_hub_backup(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(BackupError, match="not a backup of the hub"):
        restore(other, f"sqlite:///{tmp_path / 'new.db'}")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="not a SQLite database"):
        restore(junk, f"sqlite:///{tmp_path / 'new.db'}")
    assert not (tmp_path / "new.db").exists()


def test_postgresql_is_sent_to_pg_dump(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup("postgresql+psycopg://postgres@127.0.0.1:5432/hub", tmp_path, None)  # type: ignore[arg-type]
    with pytest.raises(BackupError, match="pg_restore"):
        restore(tmp_path / "any.db", "postgresql+psycopg://postgres@127.0.0.1:5432/hub")


def test_attachment_files_travel_with_the_backup(sqlite_template, tmp_path: Path, clock) -> None:
    import io

    from hub.settings import AttachmentSettings

    url = sqlite_template.fresh(tmp_path)
    files = tmp_path / "files"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    hub = build_hub(Settings(database_url=url, sqlite_synchronous="NORMAL", attachments=AttachmentSettings(directory=files)), clock)
    try:
        number = _register(hub)
        attachment, _ = hub.attachments.add(number, io.BytesIO(png), "照片.png", "internal", AGENT)
        taken = backup(url, tmp_path / "b", clock.now(), files)
    finally:
        hub.close()
    assert taken.files == 1
    # The machine is lost: database and files. The restore brings both back.
    moved = tmp_path / "new-files"
    restored = restore(taken.path, f"sqlite:///{tmp_path / 'new.db'}", attachments=moved)
    assert restored.files == 1
    hub = build_hub(
        Settings(database_url=f"sqlite:///{tmp_path / 'new.db'}", sqlite_synchronous="NORMAL", attachments=AttachmentSettings(directory=moved)), clock
    )
    try:
        (back,) = hub.attachments.list_for(hub.cases.get(number, AGENT), AGENT)
        assert back.id == attachment.id
        with hub.attachments.open(back) as f:
            assert f.read() == png
    finally:
        hub.close()
    # Restoring again into the same directory copies nothing: the files are there.
    assert restore(taken.path, f"sqlite:///{tmp_path / 'new2.db'}", attachments=moved).files == 0


def test_the_commands(sqlite_template, tmp_path: Path, monkeypatch, capsys, clock) -> None:
    url = sqlite_template.fresh(tmp_path)
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    monkeypatch.setenv("HUB_ATTACHMENTS__DIRECTORY", str(tmp_path / "attachments"))
    hub = build_hub(Settings(database_url=url, sqlite_synchronous="NORMAL"), clock)
    try:
        number = _register(hub)
    finally:
        hub.close()
    assert main(["backup", str(tmp_path / "out")]) == 0
    (made,) = (tmp_path / "out").glob("hub-*.db")
    assert "1 cases" in capsys.readouterr().out
    assert main(["restore", str(made)]) == 1  # the configured database exists
    assert "--force" in capsys.readouterr().err
    target = tmp_path / "copy.db"
    assert main(["restore", str(made), "--to", str(target)]) == 0
    hub = build_hub(Settings(database_url=f"sqlite:///{target}", sqlite_synchronous="NORMAL"), clock)
    try:
        assert hub.cases.get(number, AGENT).number == number
    finally:
        hub.close()
