"""The console command as a newcomer runs it: real processes, real files, real HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hub.settings import REPO_ROOT
from tests.support.live import free_port, start_serve

pytestmark = pytest.mark.e2e


def _run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def test_serve_migrates_the_embedded_default_and_keys_work(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    created = _run(["keys", "create", "--party", "centre", "--role", "agent"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("hub_") and "only its hash" in created.stderr
    assert key not in (tmp_path / "hub.db").read_bytes().decode("latin-1")  # stored hashed
    proc, url = start_serve(env, timeout=30)
    try:
        me = httpx.get(f"{url}/api/v1/me", headers={"X-API-Key": key})
        assert me.json()["role"] == "agent"
        listed = _run(["keys", "list"], env)
        assert "centre" in listed.stdout and key not in listed.stdout
        key_id = key.split("_")[1]
        assert _run(["keys", "revoke", key_id], env).returncode == 0
        # The serving process cached the key for at most 10 seconds; a fresh check refuses it.
        from hub.db.database import Database
        from hub.keys import KeyError_, KeyStore

        db = Database(env["HUB_DATABASE_URL"])
        with pytest.raises(KeyError_, match="revoked"):
            KeyStore(db).authenticate(key)
        db.dispose()
    finally:
        proc.terminate()
        proc.wait(10)


def test_db_upgrade_and_openapi_export(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'up.db'}"}
    up = _run(["db", "upgrade"], env)
    assert up.returncode == 0 and "database at" in up.stdout
    out = tmp_path / "spec.json"
    assert _run(["openapi", "export", "--out", str(out)], env).returncode == 0
    assert out.read_text(encoding="utf-8") == (REPO_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")


def test_a_bad_mapping_stops_the_start_with_file_line_and_reason(tmp_path: Path) -> None:
    broken = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", broken)
    units = broken / "units.yaml"
    lines = units.read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if "YJ-GOV" in line and "code" in line)
    lines[target] = lines[target].replace("512002", "599999")
    units.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "HUB_MAPPINGS_DIR": str(broken)}
    for args in (["mappings", "check"], ["serve", "--port", str(free_port())]):
        result = _run(args, env)
        assert result.returncode == 2
        assert f"units.yaml:{target + 1}" in result.stderr and "599999" in result.stderr


def test_calendar_commands(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    assert _run(["calendar", "set", "2027-01-01", "--holiday", "--note", "元旦"], env).returncode == 0
    listed = _run(["calendar", "list"], env)
    assert "2027-01-01  off   元旦" in listed.stdout


def test_calendar_import_refuses_a_bad_file_whole_and_loads_a_good_one(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    sample = REPO_ROOT / "examples" / "calendar" / "2027.sample.yaml"
    text = sample.read_text(encoding="utf-8")
    # Two mistakes: a make-up day on a Friday, and the Dragon Boat festival left out.
    bad_text = text.replace("date: 2027-10-09}", "date: 2027-10-08}").replace("  - {name: 端午节, from: 2027-06-09}\n", "")
    bad = tmp_path / "2027-bad.yaml"
    bad.write_text(bad_text, encoding="utf-8")
    workday_line = next(i for i, t in enumerate(bad_text.splitlines(), 1) if "2027-10-08" in t)
    holidays_line = next(i for i, t in enumerate(bad_text.splitlines(), 1) if t == "holidays:")
    refused = _run(["calendar", "import", str(bad)], env)
    assert refused.returncode == 2
    assert "calendar refused, nothing loaded" in refused.stderr
    assert f"{bad}:{workday_line}: entry '国庆节调休上班': workdays[3].date: 2027-10-08 is a Friday" in refused.stderr
    assert f"{bad}:{holidays_line}: holidays: no days off for 端午节" in refused.stderr
    status = _run(["calendar", "status"], env)
    assert "imported" not in status.stdout  # nothing loaded

    loaded = _run(["calendar", "import", str(sample)], env)
    assert loaded.returncode == 0, loaded.stderr
    assert "2027: loaded, 7 holidays (28 days off), 4 make-up working days (SAMPLE DATA" in loaded.stdout
    assert "deadlines counted again: 0 moved, 0 confirmed" in loaded.stdout
    status = _run(["calendar", "status"], env)
    assert status.stdout.startswith("2027  imported ") and "by cli  SAMPLE" in status.stdout
    again = _run(["calendar", "import", str(sample)], env)
    assert again.returncode == 1 and "already loaded" in again.stderr and "--replace" in again.stderr
    assert _run(["calendar", "import", "--replace", str(sample)], env).stdout.startswith("2027: replaced")


def test_python_dash_m_and_console_script_agree() -> None:
    exe = Path(sys.executable).parent / "hotline-hub"
    a = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    b = subprocess.run([sys.executable, "-m", "hub", "--help"], capture_output=True, text=True)
    assert a.returncode == b.returncode == 0
    for command in ("serve", "db", "openapi", "keys", "calendar", "sandbox"):
        assert command in a.stdout and command in b.stdout
