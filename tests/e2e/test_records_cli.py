"""`hotline-hub retention run` and the scheduler process running the retention pass, as an
operator runs them (the real clock in the subprocess; the case archived on 2025-09-26)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hub.db.migrate import upgrade
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.runtime import build_hub
from hub.settings import REPO_ROOT, Settings
from tests.conftest import START
from tests.integration.test_retention import archived_case

pytestmark = pytest.mark.e2e

AGENT = Actor(party="centre-agent", role=Role.AGENT)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def _person(url: str, number: str, clock) -> tuple[str | None, list[str]]:
    hub = build_hub(Settings(database_url=url), clock)
    try:
        case = hub.cases.get(number, AGENT)
        return case.person.phone, [h.action for h in case.history]
    finally:
        hub.close()


def test_retention_command_and_the_scheduler_process(tmp_path: Path, clock) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = build_hub(Settings(database_url=url), clock)
    try:
        upgrade(hub.db.writer)
        first = archived_case(hub, clock, START)
        second = archived_case(hub, clock, START)
    finally:
        hub.close()
    env = {"HUB_DATABASE_URL": url, "HUB_RETENTION__ARCHIVED_YEARS": "1"}  # archived 2025-09-26: due 2026-09-26

    dry = _run(["retention", "run", "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert "2 archived cases are past 1 years" in dry.stdout and first in dry.stdout and second in dry.stdout
    assert _person(url, first, clock)[0] == "13800138000"
    assert _run(["retention", "run"], {"HUB_DATABASE_URL": url}).stdout.startswith(
        "personal data erased from 0 archived cases (retention 3 years)"
    )  # the default keeps them

    # The scheduler process runs the pass when it starts, then once a day.
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "scheduler"], cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        waiting = threading.Event()
        for _ in range(600):  # up to 60 s on a busy machine
            if _person(url, first, clock)[0] is None and _person(url, second, clock)[0] is None:
                break
            waiting.wait(0.1)
        phone, actions = _person(url, first, clock)
        assert phone is None and actions[-1] == "erase_personal_data"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    again = _run(["retention", "run"], env)
    assert again.returncode == 0 and again.stdout.startswith("personal data erased from 0 archived cases")
