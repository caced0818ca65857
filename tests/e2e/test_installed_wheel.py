"""The built wheel on its own (issue #19, "Install like a product"): installed not editable into
a fresh virtual environment, run from a directory that is not the source tree, it inits a
directory, migrates, serves, takes a case over HTTP and delivers it through the outbox to a
sandbox peer; its state stays in the data directory, none in the install."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from sandbox.webhook_sink import SinkState, create_sink
from tests.support.factories import draft
from tests.support.live import LiveServer, free_port
from tests.support.wheel import WheelVenv, installed_wheel  # noqa: F401 - the session fixture

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(venv: WheelVenv, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv.cli), *args], cwd=cwd, env=venv.env(**env), capture_output=True, text=True, timeout=120)


def _wait(predicate, timeout: float, what: str, log: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_installed_hub_imports_nothing_from_the_source_tree(installed_wheel: WheelVenv, tmp_path: Path) -> None:  # noqa: F811
    probe = (
        "import hub, mappings, deploy, console, sys; from importlib.metadata import distribution as d; "
        "print(hub.__file__); print(list(mappings.__path__)[0]); print(list(deploy.__path__)[0]); "
        "print(console.__file__); print(d('hotline-hub').locate_file('hub')); "
        "print(any(p.rstrip('/') == sys.argv[1] for p in sys.path))"
    )
    done = subprocess.run(
        [str(installed_wheel.python), "-c", probe, str(REPO_ROOT)], cwd=tmp_path, env=installed_wheel.env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    *paths, on_path = done.stdout.split()
    assert on_path == "False"
    for path in paths:
        assert Path(path).is_relative_to(installed_wheel.site_packages), path


def _files(root: Path, pattern: str = "*") -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize(
    "folder, pattern",
    [
        ("mappings", "*"),
        ("deploy", "*"),
        ("console/templates", "*"),
        ("console/static", "*"),
        ("hub/api/swagger_ui", "*"),
        ("hub/db/migrations", "*.py"),
        ("adapters", "*.wsdl"),
    ],
)
def test_the_wheel_ships_every_data_file_of_the_tree(installed_wheel: WheelVenv, folder: str, pattern: str) -> None:  # noqa: F811
    shipped = _files(REPO_ROOT / folder, pattern)
    assert shipped == _files(installed_wheel.site_packages / folder, pattern)
    assert shipped, folder


def test_init_migrate_serve_and_deliver_from_the_installed_wheel(installed_wheel: WheelVenv, tmp_path: Path) -> None:  # noqa: F811
    venv, site = installed_wheel, installed_wheel.site_packages
    work = tmp_path / "cwd"  # neither the source tree nor the install
    work.mkdir()
    home = tmp_path / "hub-home"

    done = _cli(venv, work, "init", str(home))
    assert done.returncode == 0, done.stderr
    assert f"export HUB_CONFIG_FILE={home / 'hub.yaml'}" in done.stdout
    assert (home / "mappings" / "categories.yaml").is_file() and (home / "mappings" / "county" / "lezhi.yaml").is_file()
    assert (home / "deploy" / "systemd" / "hotline-hub-api@.service").is_file()
    assert (home / "deploy" / "docker" / "Dockerfile").is_file() and (home / "deploy" / "prometheus" / "alerts.yml").is_file()

    state = SinkState()
    with LiveServer(create_sink(state)) as sink:
        config = home / "hub.yaml"
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        assert settings["data_dir"] == str(home / "var") and settings["mappings_dir"] == str(home / "mappings")
        settings["destinations"] = {"peer": {"adapter": "webhook", "events": ["case.*"], "settings": {"url": f"{sink.url}/events", "timeout": 5}}}
        settings["outbox"] = {"idle_poll_seconds": 0.2, "backoff_base_seconds": 0.05}
        config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        env = {"HUB_CONFIG_FILE": str(config)}

        migrated = _cli(venv, work, "db", "upgrade", **env)
        assert migrated.returncode == 0, migrated.stderr
        assert (home / "var" / "hub.db").is_file()
        key = _cli(venv, work, "keys", "create", "--party", "centre-agent", "--role", "agent", **env)
        assert key.returncode == 0, key.stderr

        port = free_port()
        log = tmp_path / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(venv.cli), "serve", "--port", str(port)], cwd=work, env=venv.env(**env), stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: _answers(url) or proc.poll() is not None, 60, "serve to answer", log)
            assert proc.poll() is None, log.read_text(errors="replace")
            assert httpx.get(f"{url}/api/v1/docs", timeout=5).status_code == 200  # swagger ui: shipped assets
            assert httpx.get(f"{url}/console/login", timeout=5).status_code == 200  # console templates
            made = httpx.post(f"{url}/api/v1/cases", json=draft(), headers={"X-API-Key": key.stdout.strip()}, timeout=10)
            assert made.status_code == 201, made.text
            number = made.json()["number"]

            def arrived() -> bool:
                with state.lock:
                    return any(m.get("case_number") == number for m in state.received.values())

            _wait(arrived, 30, "the case at the peer", log)
            status = _cli(venv, work, "outbox", "status", "--json", **env)
            assert status.returncode == 0, status.stderr
            assert [d["destination"] for d in json.loads(status.stdout)] == ["peer"]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    with state.lock:
        events = [m["event_type"] for m in state.received.values() if m.get("case_number") == number]
    assert events == ["case.registered"]
    # State lives in the data directory; the install holds none.
    assert (home / "var" / "phone-index.key").is_file()
    assert not (site / "var").exists() and not (work / "var").exists()
