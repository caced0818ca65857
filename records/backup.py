"""Backing up and restoring the embedded SQLite database.

A backup is taken with SQLite's online backup API: it copies a consistent snapshot of the
database (the last committed transaction when the copy started, WAL included) while the hub
keeps serving; writers are not stopped. The copy is checked (`PRAGMA integrity_check`) before
it is named as done. PostgreSQL is backed up with its own tools (pg_dump); see
docs/operations.md.

A restore copies a backup file into the target database with the same API. It refuses a
target that already holds a database unless told to overwrite it (`force`): the target may
be the live database of a running hub.

Attachment files (hub/attachment_store.py) are copied beside the database file, into
`hub-<time>.attachments/`, after its snapshot: every file a row of the snapshot names was in
place before that row committed, so the copy holds all of them (and perhaps a few newer ones,
which are harmless orphans). Content-addressed files never change, so a copy is a copy of
what is missing; a restore puts back the files the attachments directory lacks.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    cases: int
    migration: str | None
    files: int = 0  # attachment files copied


def files_dir(backup_file: Path) -> Path:
    """Where the attachment files of a backup are: beside it, named after it."""
    return backup_file.with_name(backup_file.name.removesuffix(".db") + ".attachments")


def copy_files(source: Path, target: Path) -> int:
    """Copy the content-addressed files under `source` (ab/cd/<sha256>) that `target` lacks,
    each to a temporary name, synced, then renamed (a copy cut short leaves no half file)."""
    copied = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.glob("*/*/*")):
        if not path.is_file() or len(path.name) != 64:
            continue
        dest = target / path.relative_to(source)
        if dest.is_file():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        shutil.copyfile(path, partial)
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        partial.rename(dest)
        copied += 1
    return copied


def sqlite_path(database_url: str) -> Path:
    """The file of a sqlite:/// URL; BackupError for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError("the database is PostgreSQL: back it up with pg_dump and restore with pg_restore (docs/operations.md, 'Backing up' and 'Restoring')")
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(url.database)


def backup_name(now: datetime) -> str:
    return f"hub-{now.strftime('%Y%m%dT%H%M%S%fZ')}.db"


def backup(database_url: str, directory: Path, now: datetime, attachments: Path | None = None) -> BackupResult:
    """Write a consistent copy of the live database into `directory` (created if missing);
    `now` (UTC) names the file. With `attachments` (the attachments directory), its files
    are copied beside the database file after the snapshot."""
    source = sqlite_path(database_url)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / backup_name(now)
    if target.exists():
        raise BackupError(f"{target} exists already")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one snapshot, whatever writers do meanwhile
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            _check(dst, partial)
            result = BackupResult(target, *_summary(dst))
        finally:
            dst.close()
    finally:
        src.close()
    partial.rename(target)
    if attachments is not None:
        result = BackupResult(result.path, result.cases, result.migration, copy_files(attachments, files_dir(target)))
    return result


def restore(backup_file: Path, database_url: str, *, force: bool = False, attachments: Path | None = None) -> BackupResult:
    """Copy `backup_file` into the database of `database_url` (a new file, or with `force`
    over an existing one); with `attachments`, the backup's files it lacks go back there."""
    target = sqlite_path(database_url)
    if not backup_file.is_file():
        raise BackupError(f"no backup file {backup_file}")
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        _check(src, backup_file)
        summary = _summary(src)
        if summary[1] is None:
            raise BackupError(f"{backup_file} is not a backup of the hub (no migration version in it)")
        if target.exists() and target.stat().st_size > 0 and not force:
            raise BackupError(
                f"{target} exists and may be the database of a running hub; stop the hub and pass --force to overwrite it, or restore to a new file (--to)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # page by page inside one write transaction: readers see old or new, never a mix
            dst.execute("PRAGMA journal_mode=WAL")  # as the hub opens it
        finally:
            dst.close()
    finally:
        src.close()
    copied = copy_files(files_dir(backup_file), attachments) if attachments is not None else 0
    return BackupResult(target, *summary, files=copied)


def _check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from None
    if verdict != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {verdict}")


def _summary(conn: sqlite3.Connection) -> tuple[int, str | None]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0] if "cases" in tables else 0
    version = None
    if "alembic_version" in tables:
        versions = sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
        version = ",".join(versions) or None
    return cases, version
