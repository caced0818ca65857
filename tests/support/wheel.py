"""The hub as an operator gets it: the wheel built from this tree and installed, not editable,
into a fresh virtual environment, run from a directory that is not the source tree.

Offline and quick: the wheel is built without build isolation from a copy of the tree (so
the build leaves nothing in the checkout), and installed with --no-deps; the new environment
finds the dependencies through a .pth file naming a directory of links to the project's own
.venv site-packages, less everything of the hub itself (its editable install, the example
adapters installed from examples/) so that nothing of the source tree can be imported.

Built once per test run: pytest-xdist workers share one build under the run's common
temporary directory, behind a file lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from (pyproject.toml's packages, README for the metadata).
_SOURCES = [
    "pyproject.toml",
    "README.md",
    "hub",
    "outbox",
    "adapters",
    "knowledge",
    "supervision",
    "records",
    "integration_kit",
    "sandbox",
    "channels",
    "console",
    "mappings",
    "deploy",
]
# Entries of the project's site-packages that are the hub or come from this tree.
_OWN = ("hotline_hub", "__editable__", "_hotline_hub", "hotline-hub")


@dataclass(frozen=True)
class WheelVenv:
    root: Path
    python: Path
    cli: Path
    wheel: Path
    site_packages: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a command run from the installed hub: no HUB_* setting, no
        PYTHONPATH and no virtual environment of the caller leak in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env.update({"PATH": f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONDONTWRITEBYTECODE": "1"})
        env.update(extra)
        return env


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


def _build(base: Path) -> WheelVenv:
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in _SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(wheels), str(source)], cwd=base)
    wheel = next(wheels.glob("hotline_hub-*.whl"))

    # The dependencies: links to the project's site-packages, less the hub's own entries and
    # the .pth files (an editable install is a .pth file pointing into the source tree).
    deps = base / "deps"
    deps.mkdir()
    own_site = Path(sysconfig.get_paths()["purelib"])
    for entry in own_site.iterdir():
        lowered = entry.name.lower()
        if lowered.endswith(".pth") or lowered.startswith(_OWN) or "example" in lowered:
            continue
        (deps / entry.name).symlink_to(entry)

    root = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=base)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True, cwd=base
        ).stdout.strip()
    )
    (site / "_hub_test_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], cwd=base)
    return WheelVenv(root=root, python=python, cli=root / "bin" / "hotline-hub", wheel=wheel, site_packages=site)


def wheel_venv(shared: Path) -> WheelVenv:
    """The installed wheel under `shared` (the run's temporary directory, common to the
    xdist workers), built by whichever worker asks first."""
    base = shared / "hotline-hub-wheel"
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared / "hotline-hub-wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = base / "done"
            if not done.exists():
                if base.exists():
                    shutil.rmtree(base)  # a build that failed half-way
                base.mkdir()
                built = _build(base)
                done.write_text("ok", encoding="utf-8")
                return built
            root = base / "venv"
            python = root / "bin" / "python"
            site = next(root.glob("lib/python*/site-packages"))
            return WheelVenv(
                root=root, python=python, cli=root / "bin" / "hotline-hub", wheel=next((base / "wheels").glob("hotline_hub-*.whl")), site_packages=site
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """Import it into a test module to use it; one build per run (see wheel_venv)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return wheel_venv(shared)
