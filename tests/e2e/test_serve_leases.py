"""Worker leases as processes see them: a real `serve` stopped by SIGTERM gives every lease
back (scheduler, province poller, legacy puller), and a one-shot command that cannot run
because another process leads says so and exits non-zero."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, select

from hub.db.models import LeaseRow
from tests.support.live import free_port

HUB_CLI = str(Path(sys.executable).with_name("hotline-hub"))
REPO_ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600.0


def _config(tmp_path: Path) -> Path:
    """A province and a 12320 line nobody answers (port 9), polled hourly with hour-long leases:
    a lease left behind would block the next process for an hour."""
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "destinations": {
                    "province": {
                        "adapter": "province",
                        "settings": {
                            "transport": "rest",
                            "endpoint": "http://127.0.0.1:9/rest",
                            "timeout": 1.0,
                            "connect_timeout": 0.5,
                            "poll_interval": HOUR,
                            "lease_seconds": HOUR,
                        },
                    },
                    "line12320": {
                        "adapter": "legacy_bridge",
                        "settings": {"line": "12320", "base_url": "http://127.0.0.1:9/api", "poll_interval": HOUR, "timeout": 1.0},
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    return config


def _leases(url: str) -> dict[str, tuple[str, datetime]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(LeaseRow.name, LeaseRow.holder, LeaseRow.expires_at)).all()
    finally:
        engine.dispose()
    out = {}
    for name, holder, expires in rows:
        if isinstance(expires, str):  # a raw SQLite read
            expires = datetime.fromisoformat(expires)
        out[name] = (holder, expires if expires.tzinfo else expires.replace(tzinfo=UTC))
    return out


def _wait(predicate, timeout: float, what: str, log: Path | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.read_text(errors='replace')}" if log else ""))
        time.sleep(0.1)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_stopped_by_sigterm_releases_every_worker_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_CONFIG_FILE": str(_config(tmp_path)), "HUB_LOG_LEVEL": "INFO"}
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([HUB_CLI, "serve", "--port", str(port)], env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _ready(f"http://127.0.0.1:{port}") or proc.poll() is not None, 60, "serve to be ready", log)
        assert proc.poll() is None, log.read_text(errors="replace")
        wanted = {"scheduler", "province-poller:province", "legacy-puller-12320"}
        _wait(lambda: wanted <= set(_leases(url)), 60, "every worker to take its lease", log)
        now = datetime.now(UTC)
        assert all(expires > now for _, expires in _leases(url).values())  # held, for up to an hour
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGTERM  # still ends as a SIGTERM does, after the clean stop
    now = datetime.now(UTC)
    left = {name: expires for name, (_, expires) in _leases(url).items() if expires > now}
    assert left == {}, f"leases still held after the stop: {left}\n{log.read_text(errors='replace')}"
    assert "leases released" in log.read_text(errors="replace")


def test_one_shot_commands_say_another_process_leads_and_exit_non_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_CONFIG_FILE": str(_config(tmp_path)), "HUB_LOG_LEVEL": "WARNING"}
    assert subprocess.run([HUB_CLI, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    engine = create_engine(url)
    until = datetime.now(UTC) + timedelta(hours=1)
    try:
        with engine.begin() as conn:  # a serving process somewhere leads both
            conn.execute(
                LeaseRow.__table__.insert(),
                [
                    {"name": "province-poller:province", "holder": "hub-a:4242:abc123", "expires_at": until},
                    {"name": "legacy-puller-12320", "holder": "hub-a:4242:abc123", "expires_at": until},
                ],
            )
    finally:
        engine.dispose()

    poll = subprocess.run([HUB_CLI, "province", "poll", "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert poll.returncode == 3, (poll.stdout, poll.stderr)
    assert "province: not polled: another process leads" in poll.stderr and "hub-a:4242:abc123" in poll.stderr
    assert "created" not in poll.stdout  # no empty summary

    pull = subprocess.run([HUB_CLI, "legacy", "pull", "--line", "12320"], env=env, capture_output=True, text=True, timeout=120)
    assert pull.returncode == 3, (pull.stdout, pull.stderr)
    assert "line 12320: not pulled: another process leads" in pull.stderr and "hub-a:4242:abc123" in pull.stderr
    assert "created" not in pull.stdout
    assert {name: holder for name, (holder, _) in _leases(url).items()} == {
        "province-poller:province": "hub-a:4242:abc123",
        "legacy-puller-12320": "hub-a:4242:abc123",
    }  # left alone


def test_work_runs_the_chosen_workers_apart_from_the_api_and_gives_their_leases_back(tmp_path: Path) -> None:
    """`hotline-hub work` is the scaled-out topology's worker process: with `--skip scheduler`
    it leads the province poller and the 12320 puller (not the scheduler, which runs as its own
    command there), serves no HTTP, and a SIGTERM gives the leases back."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_CONFIG_FILE": str(_config(tmp_path)), "HUB_LOG_LEVEL": "INFO"}
    bad = subprocess.run([HUB_CLI, "work", "--only", "nobody"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--only nobody" in bad.stderr and "province-poller:province" in bad.stderr
    log = tmp_path / "work.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([HUB_CLI, "work", "--skip", "scheduler", "--skip", "retention"], env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wanted = {"province-poller:province", "legacy-puller-12320"}
        _wait(lambda: wanted <= set(_leases(url)) or proc.poll() is not None, 60, "the workers to take their leases", log)
        assert proc.poll() is None, log.read_text(errors="replace")
        assert "scheduler" not in _leases(url)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGTERM
    now = datetime.now(UTC)
    assert {name for name, (_, expires) in _leases(url).items() if expires > now} == set()
    text = log.read_text(errors="replace")
    assert "working: " in text and "outbox-relay" in text.split("working: ", 1)[1].splitlines()[0]
    assert "hub serving on" not in text
