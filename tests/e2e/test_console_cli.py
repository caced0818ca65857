"""`hotline-hub users ...` as real processes: create (generated or stdin password), list,
disable, reset-password, the sign-in log; mistakes are one line and the documented exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import REPO_ROOT


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", "users", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, input=stdin
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}


def test_users_from_creation_to_disabling(env) -> None:
    made = _run(["create", "wang", "--role", "agent", "--name", "王芳"], env)
    assert made.returncode == 0, made.stderr
    password = next(line.split(": ", 1)[1] for line in made.stdout.splitlines() if line.startswith("password: "))
    assert len(password) >= 10
    clerk = _run(["create", "scj", "--role", "unit", "--unit", "ZY-SCJGJ", "--password-stdin"], env, stdin="a-chosen-password\n")
    assert clerk.returncode == 0 and "password:" not in clerk.stdout
    listed = json.loads(_run(["list", "--json"], env).stdout)
    assert [(u["username"], u["role"], u["unit"], u["disabled"]) for u in listed] == [("wang", "agent", None, False), ("scj", "unit", "ZY-SCJGJ", False)]
    assert "a-chosen-password" not in json.dumps(listed) and password not in json.dumps(listed)
    reset = _run(["reset-password", "scj"], env)
    assert reset.returncode == 0 and "password: " in reset.stdout
    assert _run(["disable", "wang"], env).returncode == 0
    again = _run(["disable", "wang"], env)
    assert again.returncode == 1 and "already disabled" in again.stderr
    assert json.loads(_run(["list", "--json"], env).stdout)[0]["disabled"] is True
    assert json.loads(_run(["signins", "--json"], env).stdout) == []


@pytest.mark.parametrize(
    "args,code,said",
    [
        (["create", "x1", "--role", "unit"], 2, "a unit clerk needs --unit"),
        (["create", "x2", "--role", "unit", "--unit", "NOPE"], 2, "unknown code 'NOPE'"),
        (["create", "x3", "--role", "county", "--division", "999999"], 2, "unknown code '999999'"),
        (["create", "x4", "--role", "province"], 2, "invalid choice: 'province'"),
        (["create", "Bad Name", "--role", "agent"], 2, "username"),
        (["disable", "nobody"], 1, "no operator 'nobody'"),
        (["reset-password", "nobody"], 1, "no operator 'nobody'"),
    ],
)
def test_a_mistake_is_one_reason_and_an_exit_code(env, args, code, said) -> None:
    result = _run(args, env)
    assert result.returncode == code, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def test_a_short_password_is_refused(env) -> None:
    result = _run(["create", "li", "--role", "agent", "--password-stdin"], env, stdin="short\n")
    assert result.returncode == 2 and "10" in result.stderr
