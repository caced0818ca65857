"""`hotline-hub keys create --role channel --channel web` (#17): the key names its channel, and
works on the channel route; a channel key without its channel is refused as a usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import REPO_ROOT

pytestmark = pytest.mark.e2e


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_a_channel_key_from_the_cli(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    assert _run(["db", "upgrade"], env).returncode == 0
    missing = _run(["keys", "create", "--party", "city-portal", "--role", "channel"], env)
    assert missing.returncode == 2 and "needs --channel" in missing.stderr and "Traceback" not in missing.stderr
    created = _run(["keys", "create", "--party", "city-portal", "--role", "channel", "--channel", "web"], env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("hub_")
    listed = json.loads(_run(["keys", "list", "--json"], env).stdout)
    assert [(k["party"], k["role"], k["channel"]) for k in listed] == [("city-portal", "channel", "web")]
    wrong = _run(["keys", "create", "--party", "ZY-SCJGJ", "--role", "unit", "--unit", "ZY-SCJGJ", "--channel", "web"], env)
    assert wrong.returncode == 2 and "for role channel only" in wrong.stderr
