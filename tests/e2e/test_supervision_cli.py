"""`hotline-hub scheduler --once` and `hotline-hub assessment` as an operator runs them."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from hub.db.migrate import upgrade
from hub.domain import commands as c
from hub.domain.access import SYSTEM_ACTOR
from hub.domain.clock import LOCAL_TZ, SystemClock
from hub.domain.errors import RuleViolation
from hub.domain.model import Role
from hub.runtime import build_hub
from hub.settings import REPO_ROOT, Settings
from tests.integration.test_supervision_scheduler import AGENT, dispatched

pytestmark = pytest.mark.e2e


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_scheduler_once_and_assessment_export(tmp_path: Path, clock) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = build_hub(Settings(database_url=url), clock)  # the case is dispatched on 2025-09-26
    try:
        upgrade(hub.db.writer)
        number = dispatched(hub, "enquiry")
        # The real clock decides "now" in the subprocess: make the next days known working
        # days so the response due can be set whatever year the test runs in.
        today = SystemClock().now().astimezone(LOCAL_TZ).date()
        for i in range(1, 8):
            hub.calendars.set(today + timedelta(days=i), True, "test", "test", clock.now())
    finally:
        hub.close()
    env = {"HUB_DATABASE_URL": url}
    first = _run(["scheduler", "--once"], env)
    assert first.returncode == 0, first.stderr
    assert "overdue 2, supervised 1" in first.stdout and f"{number}:completion" in first.stdout
    again = _run(["scheduler", "--once"], env)
    assert "warned 0, overdue 0, supervised 0" in again.stdout  # idempotent across processes

    out = tmp_path / "sept.csv"
    export = _run(["assessment", "--period", "2025-09", "--format", "csv", "--out", str(out)], env)
    assert export.returncode == 0, export.stderr
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    city = dict(zip(rows[1], rows[2]))
    # Due to sign on Sep 28 and to close on Sep 30, neither done: 0/1 and 0/1, one overdue.
    assert (city["sign_off_rate_denominator"], city["on_time_rate_numerator"], city["overdue"]) == ("1", "0", "1")
    bad = _run(["assessment", "--period", "2025-9"], env)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr

    hub = build_hub(Settings(database_url=url), clock)
    try:
        case = hub.cases.get(number, AGENT)
        assert case.flags.supervised and case.flags.overdue
        assert [h.role for h in case.history if h.action == "supervise"] == [Role.SYSTEM]
        clock.set(SystemClock().now())
        with pytest.raises(RuleViolation, match="already marked"):
            hub.cases.act(number, c.MarkOverdue(deadline=c.Deadline.COMPLETION), SYSTEM_ACTOR)
    finally:
        hub.close()
