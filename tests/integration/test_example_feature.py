"""Proof for docs/CONTRIBUTING-FEATURES.md: an integrator's feature, installed from its own
package (examples/hotline_hub_example_feature, the Makefile installs it) through the
`hotline_hub.features` entry point, shows in the CLI and the API with no change to the hub."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.cli import main
from hub.domain.model import Role
from hub.openapi_export import export_openapi
from hub.runtime import build_hub
from hub.settings import Settings
from tests.integration.test_openapi_rules import OPERATION_ID, PROBLEM
from tests.support.examples import installed_feature

NAME = "example_hours"
PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "hotline_hub_example_feature"
ROUTE = "/api/v1/example/service-hours"


def _installed():
    return installed_feature("hotline_hub_example_feature", NAME)


def test_installed_from_its_own_package_through_the_entry_point() -> None:
    feature = _installed()
    assert type(feature).__module__ == "hotline_hub_example_feature.feature"
    assert Path(__import__("hotline_hub_example_feature").__file__).resolve().is_relative_to(PACKAGE)


@pytest.fixture
def hub(db_url: str, clock):
    _installed()
    h = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL"), clock)
    yield h
    h.close()


def test_its_route_answers_in_the_api_with_a_key_and_refuses_without(hub, clock) -> None:
    key = hub.keys.create("ZY-SCJGJ", Role.UNIT, clock.now(), unit_code="ZY-SCJGJ")
    with TestClient(create_app(hub)) as client:
        answer = client.get(ROUTE, headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"number": "12345", "hours": "全天24小时", "today": clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()}
        refused = client.get(ROUTE)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_its_route_follows_the_hubs_rules_in_the_running_hubs_document(hub) -> None:
    spec = create_app(hub).openapi()
    op = spec["paths"][ROUTE]["get"]
    assert OPERATION_ID.match(op["operationId"]), op["operationId"]
    assert op["responses"]["401"]["content"] == PROBLEM


def test_the_committed_document_is_the_hubs_own_without_the_integrators_route() -> None:
    _installed()
    assert ROUTE not in export_openapi()


def test_its_command_is_in_the_cli(capsys, tmp_path: Path, monkeypatch) -> None:
    _installed()
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    assert main(["example-hours"]) == 0
    assert "12345 服务时间：全天24小时" in capsys.readouterr().out
