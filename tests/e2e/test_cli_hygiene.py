"""A user's mistakes at the console, as real processes: a one-line reason on stderr, the
documented exit code (0 done, 1 nothing done / not found, 2 usage or bad input, 3 cannot run
now), never a traceback; `--version`; `--json` on the listing commands; the start-up warnings
only where they matter; `serve` on an empty database says how to get the first key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hub.settings import REPO_ROOT
from tests.support.live import free_port, start_serve

pytestmark = pytest.mark.e2e

UNBRIDGED = "is 双号并行 but has no live bridge"


def _run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}


def test_version_is_the_installed_distribution() -> None:
    expected = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    result = _run(["--version"], {})
    assert result.returncode == 0 and result.stdout.strip() == f"hotline-hub {expected}"


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["keys", "create", "--party", "x", "--role", "unit", "--unit", "NOPE"], 2, "unknown code 'NOPE'"),
        (["keys", "create", "--party", "x", "--role", "county", "--division", "999999"], 2, "unknown code '999999'"),
        (["keys", "create", "--party", "x", "--role", "king"], 2, "invalid choice: 'king'"),
        (["calendar", "set", "2027-13-01", "--holiday"], 2, "'2027-13-01' is not a date YYYY-MM-DD"),
        (["calendar", "unset", "2027-02-30"], 2, "'2027-02-30' is not a date YYYY-MM-DD"),
        (["calendar", "unset", "2027-02-03"], 1, "no override on 2027-02-03"),
        (["keys", "revoke", "nosuchkey"], 1, "no active key nosuchkey"),
        (["calendar", "import", "/nonexistent/2027.yaml"], 2, "/nonexistent/2027.yaml"),
        (["knowledge", "import", "/nonexistent/articles.json"], 2, "/nonexistent/articles.json"),
        (["legacy", "import", "--line", "12315", "/nonexistent/export.csv"], 2, "/nonexistent/export.csv"),
        (["outbox", "replay", "--destination", "nowhere"], 2, "'nowhere'"),
        (["nosuchcommand"], 2, "invalid choice: 'nosuchcommand'"),
    ],
)
def test_a_mistake_is_one_reason_and_an_exit_code_not_a_traceback(env, args, code, said) -> None:
    result = _run(args, env)
    assert result.returncode == code, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_a_database_that_is_not_migrated_or_not_there_cannot_run_now(tmp_path: Path) -> None:
    fresh = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "HUB_AUTO_MIGRATE": "false"}
    result = _run(["keys", "list"], fresh)
    assert result.returncode == 3 and "no such table" in result.stderr and "hotline-hub db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    down = {"HUB_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"}
    result = _run(["calendar", "list"], down)
    assert result.returncode == 3 and "Connection refused" in result.stderr and "Traceback" not in result.stderr


def test_listings_as_json(env) -> None:
    created = _run(["keys", "create", "--party", "yanjiang", "--role", "county", "--division", "512002", "--note", "县平台"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert _run(["calendar", "set", "2027-01-01", "--holiday", "--note", "元旦"], env).returncode == 0

    (listed,) = json.loads(_run(["keys", "list", "--json"], env).stdout)
    assert listed["key_id"] == key.split("_")[1] and key not in json.dumps(listed)
    assert (listed["party"], listed["role"], listed["unit"], listed["divisions"], listed["note"], listed["revoked_at"]) == (
        "yanjiang",
        "county",
        None,
        ["512002"],
        "县平台",
        None,
    )
    assert listed["created_at"][:4].isdigit()  # ISO text

    assert json.loads(_run(["calendar", "list", "--json"], env).stdout) == [{"day": "2027-01-01", "workday": False, "note": "元旦"}]
    assert json.loads(_run(["outbox", "dead", "--json"], env).stdout) == []
    status = json.loads(_run(["outbox", "status", "--json"], env).stdout)
    assert isinstance(status, list) and all({"destination", "backlog", "dead", "paused"} <= set(d) for d in status)
    assert json.loads(_run(["legacy", "candidates", "--json"], env).stdout) == []
    assert json.loads(_run(["legacy", "refusals", "list", "--json"], env).stdout) == []


def test_the_other_listings_as_json(env) -> None:
    """Apart from the test above, so neither outlasts the per-test timeout on a busy machine
    (each command is a process that imports the hub)."""
    assert json.loads(_run(["knowledge", "search", "噪音", "--json"], env).stdout) == []  # no article published
    assert json.loads(_run(["attachments", "orphans", "--json"], env).stdout) == []
    due = json.loads(_run(["retention", "run", "--dry-run", "--json"], env).stdout)
    assert (due["dry_run"], due["archived_years"], due["erased"]) == (True, 3, [])  # the default rule; nothing archived
    calendar = _run(["calendar", "status", "--json"], env)
    status = json.loads(calendar.stdout)
    assert {"years", "today", "year_known", "next_year", "next_year_known", "warning"} <= set(status)
    assert status["next_year"] == int(status["today"][:4]) + 1
    assert calendar.returncode == (1 if status["warning"] else 0)  # the same exit code as without --json


def test_the_no_bridge_warnings_only_where_they_matter(env) -> None:
    """A default install declares 12315 and 12320 as 双号并行 with no bridge: a one-shot command
    says nothing about it; `legacy check` and the long-running processes do."""
    quiet = _run(["keys", "list"], env)
    assert quiet.returncode == 0 and UNBRIDGED not in quiet.stderr
    checked = _run(["legacy", "check"], env)
    assert checked.returncode == 0 and checked.stderr.count(UNBRIDGED) == 2


def test_serve_on_an_empty_database_says_how_to_get_the_first_key(env) -> None:
    proc, _ = start_serve(env, timeout=60)
    proc.terminate()  # ready: what it said on the way there is what counts
    output = proc.communicate(timeout=30)[0]
    assert "no API key yet" in output and "hotline-hub keys create --party centre --role supervisor" in output
    assert output.count(UNBRIDGED) == 2  # the long-running process does say it


def test_a_one_shot_run_while_another_process_leads_cannot_run_now(env) -> None:
    from datetime import timedelta

    from hub.db.database import Database
    from hub.db.migrate import upgrade
    from hub.domain.clock import SystemClock
    from hub.leases import Lease

    db = Database(env["HUB_DATABASE_URL"])
    try:
        upgrade(db.writer)
        assert Lease(db, SystemClock(), "scheduler", timedelta(hours=1), holder="another-host:1").acquire()
    finally:
        db.dispose()
    result = _run(["scheduler", "--once"], env)
    assert result.returncode == 3 and "another scheduler holds the lease; nothing done" in result.stderr
