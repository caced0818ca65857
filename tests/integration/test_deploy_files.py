"""deploy/ says how the scaled-out hub runs: systemd units, a compose file, a Dockerfile, a
reverse proxy and Prometheus. What a test here can hold them to (no systemd, Docker registry or
nginx on this machine; docs/operations.md says which parts are exercised):

- every command they run is a command the installed `hotline-hub` accepts, with those options;
- every HUB_* variable they set is a setting the hub has;
- the processes of the topology run every background worker of a hub exactly once: the relays
  the outbox, the scheduler 督办 and retention, `work` the rest;
- Prometheus scrapes the ports the compose file gives the API and the relays;
- the proxy's body limit is above the hub's own, so the hub's 413 problem+json is what callers read."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml

from hub.cli import parser
from hub.runtime import build_hub, pick_workers
from hub.settings import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
# A sample instance for the template units (%i): an API port, a relay number.
INSTANCE = {"hotline-hub-api@.service": "8000", "hotline-hub-relay@.service": "1"}


def _cli_args(argv: list[str]) -> list[str]:
    """What follows the hotline-hub program in a command line."""
    at = next(i for i, a in enumerate(argv) if Path(a).name == "hotline-hub")
    return argv[at + 1 :]


def _unit(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # systemd keys are case-sensitive
    cp.read(path, encoding="utf-8")
    return cp


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_the_units_are_the_topology_and_run_commands_the_cli_accepts() -> None:
    assert {p.name for p in UNITS} == {
        "hotline-hub-migrate.service",
        "hotline-hub-api@.service",
        "hotline-hub-relay@.service",
        "hotline-hub-scheduler.service",
        "hotline-hub-work.service",
    }
    cli = parser()
    for path in UNITS:
        unit = _unit(path)
        service = unit["Service"]
        assert service["User"] == "hotline-hub", path.name
        assert Path(service["EnvironmentFile"]).name == "hotline-hub.env", path.name
        argv = shlex.split(service["ExecStart"].replace("%i", INSTANCE.get(path.name, "")))
        args = cli.parse_args(_cli_args(argv))  # SystemExit (a failure) on a command or option it lacks
        assert callable(args.func), path.name
        if path.name != "hotline-hub-migrate.service":
            assert unit["Unit"]["Requires"] == "hotline-hub-migrate.service", path.name
    # The scheduler stops on SIGINT (its Ctrl-C path gives the lease back); the others on SIGTERM.
    assert _unit(DEPLOY / "systemd" / "hotline-hub-scheduler.service")["Service"]["KillSignal"] == "SIGINT"


def test_every_variable_the_env_file_sets_is_a_setting() -> None:
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "systemd" / "hotline-hub.env").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "HUB_DATABASE_URL" in names and "HUB_PHONE_INDEX_KEY_FILE" in names
    compose_env = _compose()["x-hub"]["environment"]
    for name in [*names, *compose_env]:
        if name == "HUB_CONFIG_FILE":  # not a setting: names the YAML file of the others (hub.settings.config_file)
            continue
        # A nested setting (HUB_ATTACHMENTS__DIRECTORY) is a field of its section.
        section, *inner = name.removeprefix("HUB_").lower().split("__")
        assert name.startswith("HUB_") and section in Settings.model_fields, name
        if inner:
            assert inner[0] in Settings.model_fields[section].annotation.model_fields, name


def test_the_compose_services_run_commands_the_cli_accepts() -> None:
    compose = _compose()
    services = compose["services"]
    cli = parser()
    hub_services = {name: s for name, s in services.items() if s.get("command", [None])[0] == "hotline-hub"}
    assert {"migrate", "scheduler", "work"} <= set(hub_services)
    assert len([n for n in hub_services if n.startswith("api-")]) >= 2
    assert len([n for n in hub_services if n.startswith("relay-")]) >= 2  # relays share the work and take over
    for name, service in hub_services.items():
        assert callable(cli.parse_args(service["command"][1:]).func), name
    docker_cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert docker_cmd is not None
    assert callable(cli.parse_args(yaml.safe_load(docker_cmd.group(1))[1:]).func)


def test_the_topology_runs_every_worker_of_the_hub_once(tmp_path: Path) -> None:
    """A hub with a province and a 双号并行 line: its workers split over the relay, scheduler and
    work processes of the compose file with none left out and none twice."""
    config = yaml.safe_load((DEPLOY / "hub.example.yaml").read_text(encoding="utf-8"))
    config["destinations"]["line12320"] = {"adapter": "legacy_bridge", "settings": {"line": "12320", "base_url": "http://127.0.0.1:9/api"}}
    hub = build_hub(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", destinations=config["destinations"]))
    try:
        names = [w.name for w in hub.workers]
    finally:
        hub.close()
    assert {"outbox-relay", "scheduler", "retention", "province-poller:province", "legacy-puller-12320"} <= set(names)
    work = parser().parse_args(_compose()["services"]["work"]["command"][1:])
    by_work = set(pick_workers(names, work.only or [], work.skip or []))
    by_relay, by_scheduler = {"outbox-relay"}, {"scheduler", "retention"}  # `relay`; `scheduler` runs retention too
    assert by_work.isdisjoint(by_relay | by_scheduler)
    assert by_work | by_relay | by_scheduler == set(names)
    unit_work = shlex.split(_unit(DEPLOY / "systemd" / "hotline-hub-work.service")["Service"]["ExecStart"])
    assert _cli_args(unit_work)[1:] == _compose()["services"]["work"]["command"][2:]  # systemd and compose agree


def test_prometheus_scrapes_the_ports_the_processes_listen_on() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in prom["scrape_configs"]}
    services = _compose()["services"]
    cli = parser()
    for target in jobs["hotline-hub-api"]:
        host, port = target.split(":")
        assert cli.parse_args(services[host]["command"][1:]).port == int(port), target
    for target in jobs["hotline-hub-relay"]:
        host, port = target.split(":")
        assert cli.parse_args(services[host]["command"][1:]).metrics_port == int(port), target


@pytest.mark.parametrize("size", ["11m"])
def test_the_proxy_lets_the_hub_answer_an_oversized_body(size: str) -> None:
    conf = (DEPLOY / "nginx" / "hotline-hub.conf").read_text(encoding="utf-8")
    assert f"client_max_body_size {size};" in conf
    assert int(size[:-1]) * 1024 * 1024 > Settings().max_body_bytes
    assert int(size[:-1]) * 1024 * 1024 > Settings().attachments.max_bytes + 64 * 1024  # an upload and its multipart framing
    assert "X-Request-ID" in conf and "ssl_certificate " in conf
