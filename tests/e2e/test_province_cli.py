"""`hotline-hub province poll --once` and `province check` as an operator runs them: real
processes against the sandbox province over real SOAP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.province.sandbox import ProvinceState, create_app
from hub.settings import REPO_ROOT
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_poll_once_takes_an_assigned_case_once(tmp_path: Path) -> None:
    state = ProvinceState()
    province_id = state.assign()
    with LiveServer(create_app(state)) as live:
        config = tmp_path / "hub.yaml"
        config.write_text(
            f"database_url: sqlite:///{tmp_path / 'hub.db'}\ndestinations:\n  province:\n"
            f"    adapter: province\n    settings:\n      endpoint: {live.url}/soap\n",
            encoding="utf-8",
        )
        env = {"HUB_CONFIG_FILE": str(config)}
        first = _run(["province", "poll", "--once"], env)
        assert first.returncode == 0, first.stderr
        assert "created 1" in first.stdout
        second = _run(["province", "poll", "--once"], env)  # the first run released its lease
        assert second.returncode == 0 and "created 0" in second.stdout, second.stdout + second.stderr
        assert list(state.acks) == [province_id]
        check = _run(["province", "check"], env)
        assert check.returncode == 0 and "mappings/province ok" in check.stdout


def test_poll_without_a_province_says_so(tmp_path: Path) -> None:
    result = _run(["province", "poll", "--once"], {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"})
    assert result.returncode == 1 and "no province destination" in result.stderr
