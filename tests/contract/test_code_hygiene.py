"""ruff and mypy over the code, at the configuration pyproject.toml writes down (issue #19,
"Code hygiene in CI"): part of `make test` and `.ci/run`, so a finding fails the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run(str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_every_file_has_ruff_formats_layout() -> None:
    done = _run(str(BIN / "ruff"), "format", "--no-cache", "--check", ".")
    assert done.returncode == 0, "run `ruff format .`:\n" + done.stdout[-6000:] + done.stderr[-2000:]


def test_mypy_finds_nothing() -> None:
    # Its cache (.mypy_cache, ignored by git) makes a second run take seconds.
    done = _run(sys.executable, "-m", "mypy")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
