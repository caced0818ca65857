"""Fixtures shared by the tiers. Integration and end-to-end tests run once per database:
a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from hub.domain.clock import LOCAL_TZ, ManualClock
from hub.domain.model import Role
from hub.settings import Settings
from tests.support.databases import PgDatabase, SqliteTemplate, skip_or_fail_without_pg
from tests.support.live import LiveServer

# Friday before the 2025 National Day holiday: deadlines cross 调休 days from here.
START = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def pg_database():
    skip_or_fail_without_pg()
    db = PgDatabase()
    yield db
    db.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_template.fresh(tmp_path)
    pg: PgDatabase = request.getfixturevalue("pg_database")
    pg.clean()
    return pg.url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Attachment files in the test's own directory (on PostgreSQL the default would be the repository's var/).
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", attachments={"directory": tmp_path / "attachments"})


@pytest.fixture
def hub(settings: Settings, clock: ManualClock):
    from hub.runtime import build_hub

    h = build_hub(settings, clock)
    yield h
    h.close()


@pytest.fixture
def keys(hub) -> dict[str, str]:
    """One key per kind of party the tests act as."""
    now = hub.clock.now()
    k = hub.keys
    return {
        "agent": k.create("centre-agent", Role.AGENT, now),
        "supervisor": k.create("centre-supervisor", Role.SUPERVISOR, now),
        "unit": k.create("ZY-SCJGJ", Role.UNIT, now, unit_code="ZY-SCJGJ"),
        "other_unit": k.create("ZY-RSJ", Role.UNIT, now, unit_code="ZY-RSJ"),
        "yanjiang": k.create("yanjiang", Role.COUNTY, now, divisions=["512002"]),
        "anyue": k.create("anyue", Role.COUNTY, now, divisions=["512021"]),
        "province": k.create("province", Role.PROVINCE, now),
        "system": k.create("hub-system", Role.SYSTEM, now),
    }


@pytest.fixture
def server(hub):
    from hub.api.app import create_app

    with LiveServer(create_app(hub)) as live:
        yield live


@pytest.fixture
def api(server, keys):
    """A client per party, talking to the live server over loopback."""
    clients = {name: httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30) for name, key in keys.items()}
    clients["anonymous"] = httpx.Client(base_url=server.url, timeout=30)
    yield clients
    for c in clients.values():
        c.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is in the e2e tier, whether or not its file says so, so that
    `-m "not e2e"` really leaves out the slow tier (real servers and processes on loopback)."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        if e2e in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
