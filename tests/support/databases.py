"""Real databases for the integration tiers: a SQLite file and a PostgreSQL database.

PostgreSQL: HUB_TEST_PG_URL (default the local server's `test` database, trust auth).
Each test session creates its own database there and drops it after, so parallel runs
never see each other. Without a server the PostgreSQL tests are skipped with the reason,
except under CI=true, where a missing server fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.db.engine import make_engine
from hub.db.migrate import upgrade
from hub.db.models import Base

PG_ADMIN_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_unavailable_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        return f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}: {type(exc).__name__}"


class PgDatabase:
    """A throwaway database on the server, migrated once, emptied between tests."""

    def __init__(self) -> None:
        self.name = f"hub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(hide_password=False)
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()

    def clean(self) -> None:
        engine = create_engine(self.url)
        tables = [t.name for t in Base.metadata.sorted_tables]
        with engine.begin() as conn:
            existing = {r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))}
            names = ", ".join(f'"{t}"' for t in existing if t != "alembic_version")
            if names:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        del tables

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


class SqliteTemplate:
    """A migrated SQLite file copied for each test: migrating once keeps the suite quick."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        engine = make_engine(f"sqlite:///{self.path}")
        upgrade(engine)
        engine.dispose()  # the last connection to close checkpoints the WAL into the file

    def fresh(self, directory: Path) -> str:
        target = directory / f"hub-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"


def skip_or_fail_without_pg() -> None:
    reason = pg_unavailable_reason()
    if reason is None:
        return
    if UNDER_CI:
        pytest.fail(f"CI=true and {reason}: PostgreSQL tests must run under CI", pytrace=False)
    pytest.skip(reason)
