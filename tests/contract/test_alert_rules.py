"""deploy/prometheus/alerts.yml through Prometheus's own checker (issue #19: "promtool if
available from Debian"): `promtool check rules` parses every rule as Prometheus would load it,
and `promtool test rules` runs deploy/prometheus/alerts_test.yml, made-up series with the alerts
that must fire and those that must not. tests/e2e/test_deploy_monitoring.py checks the other
half: that each metric named here is one the hub really exports.

promtool comes with Debian's `prometheus` package, which .ci/run installs; without it these tests
skip saying so, and under CI=true they fail."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hub.settings import REPO_ROOT
from tests.support.databases import UNDER_CI

RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO_ROOT / "deploy" / "prometheus" / "alerts_test.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool not installed (Debian's package `prometheus`; .ci/run installs it)"
        if UNDER_CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_prometheus_loads_every_alert_rule() -> None:
    done = _run("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_alerts_fire_when_and_only_when_their_tests_say() -> None:
    done = _run("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_expectation_fails_the_rule_tests(tmp_path) -> None:
    # The rule tests can fail: the same file expecting the stalled relay's alert for the paused
    # destination instead of the running one is refused.
    wrong = tmp_path / "alerts_test.yml"
    text = RULE_TESTS.read_text(encoding="utf-8").replace("  - alerts.yml", f"  - {RULES}")
    wrong.write_text(text.replace("              destination: county-yanjiang", "              destination: province", 1), encoding="utf-8")
    done = _run("test", "rules", str(wrong))
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr
