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
        self.cleaner = create_engine(self.url)

    def clean(self) -> None:
        """Empty every table and restart the sequences the tables own, as TRUNCATE ... RESTART
        IDENTITY would. DELETE with the foreign-key triggers off (session_replication_role, a
        superuser's right, which the test server's trust login has) is why: TRUNCATE makes new
        files for each of the ~40 tables and took 0.3-1 s a test, DELETE on a test's few rows
        takes milliseconds, and ~800 tests run on PostgreSQL. Without superuser it falls back
        to TRUNCATE."""
        with self.cleaner.begin() as conn:
            tables = [r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
            owned = [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT DISTINCT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid"
                        " AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
                        " JOIN pg_class t ON t.oid = d.refobjid"
                        " WHERE s.relkind = 'S' AND t.relnamespace = 'public'::regnamespace"
                    )
                )
            ]
            superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            if superuser:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for name in tables:
                    conn.execute(text(f'DELETE FROM "{name}"'))
                # setval, not ALTER SEQUENCE RESTART, which rewrites each sequence's file.
                conn.execute(
                    text(
                        "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass,"
                        " start_value, false) FROM pg_sequences"
                        " WHERE schemaname = 'public' AND sequencename = ANY(:names)"
                    ),
                    {"names": owned},
                )
            elif tables:
                names = ", ".join(f'"{t}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))

    def drop(self) -> None:
        self.cleaner.dispose()
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
