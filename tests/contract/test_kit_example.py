"""Proof for the integrator guide: the example package under examples/, installed through its
own entry point (the Makefile installs it), passes the conformance kit against its sandbox peer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.cli import main
from hub.domain.clock import ManualClock
from hub.integration.contract import AdapterContext, ConfigurationError
from hub.integration.registry import build_adapter
from integration_kit import HttpPeerControl, run_kit
from tests.support.examples import installed_adapter
from tests.support.live import LiveServer

NAME = "example_waterworks"
PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "hotline_hub_example_adapter"


def _installed():
    return installed_adapter("hotline_hub_example_adapter", NAME)


@pytest.fixture
def desk():
    _installed()
    from hotline_hub_example_adapter.peer import DeskState, create_app

    state = DeskState()
    with LiveServer(create_app(state)) as live:
        yield live, state


def _settings(live: LiveServer, **extra) -> dict:
    return {"base_url": f"{live.url}/api/v2", "app_key": "sandbox-key", "timeout": 2.0, **extra}


def test_installed_from_its_own_package_through_the_entry_point() -> None:
    cls = _installed()
    assert cls.__module__ == "hotline_hub_example_adapter.adapter"
    assert Path(__import__("hotline_hub_example_adapter").__file__).resolve().is_relative_to(PACKAGE)


def test_the_example_passes_the_kit_including_pull(desk) -> None:
    live, state = desk
    report = run_kit(NAME, _settings(live), HttpPeerControl(live.url))
    assert report.complete, report.render(verbose=True)
    assert "pulled 1 case(s), acknowledged 1" in report.get("scenario: pull").notes
    assert len(state.acked) == 1
    # the outgoing payload carries the mapped codes and no personal data
    first = state.tickets[state.order[0]]
    assert first["status"] == "NEW" and first["kind"] == "TS" and first["priority"] == "P3"
    assert not any("13800138000" in str(v) or "测试人" in str(v) for v in first.values())


def test_the_kit_cli_passes_it_too(desk, tmp_path: Path, capsys) -> None:
    live, _ = desk
    settings = tmp_path / "waterworks.yaml"
    settings.write_text(f"base_url: {live.url}/api/v2\napp_key: sandbox-key\n", encoding="utf-8")
    assert main(["kit", "check", "--adapter", NAME, "--settings", str(settings), "--peer", live.url]) == 0
    assert "=> conforms" in capsys.readouterr().out


def test_a_bad_code_table_stops_the_start_and_the_kit_with_file_and_line(desk, tmp_path: Path) -> None:
    live, _ = desk
    from hotline_hub_example_adapter.settings import PACKAGED_MAPPING

    text = PACKAGED_MAPPING.read_text(encoding="utf-8")
    broken = tmp_path / "waterworks.yaml"
    broken.write_text(
        text.replace("  - {hub: case.chased, wire: CHASED}\n", "").replace('{wire: FW-01, hub: "0201"}', '{wire: FW-01, hub: "0299"}'), encoding="utf-8"
    )
    line = next(i for i, ln in enumerate(broken.read_text(encoding="utf-8").splitlines(), 1) if "0299" in ln)
    expected = [
        f"{broken}: no mapping for 1 event_types code(s) (see hub.domain.events.EVENT_TYPES): case.chased",
        f"{broken}:{line}: entry 'FW-01': categories code '0299' is not known to the hub (see mappings/categories.yaml)",
    ]
    report = run_kit(NAME, _settings(live, mapping_file=str(broken)), HttpPeerControl(live.url))
    assert report.get("mappings").problems == expected
    context = AdapterContext("waterworks", ManualClock(datetime(2025, 9, 26, tzinfo=UTC)), Path("mappings"))
    with pytest.raises(ConfigurationError) as raised:
        build_adapter("waterworks", NAME, _settings(live, mapping_file=str(broken)), context)
    assert str(raised.value) == "mapping problems:\n  " + "\n  ".join(expected)
