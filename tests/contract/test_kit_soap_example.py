"""Proof for the integrator guide, section B: the SOAP example under examples/, installed through
its own entry point (the Makefile installs it), passes the conformance kit against its sandbox
platform over real SOAP over HTTP, and says exactly what and where when it is set up wrong."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.cli import main
from hub.domain.clock import ManualClock
from hub.integration.contract import AdapterContext, AdapterError, ConfigurationError, PermanentError, TransientError
from hub.integration.registry import build_adapter
from hub.mappings import load_catalogue
from integration_kit import HttpPeerControl, run_kit
from integration_kit.runner import default_mappings_dir
from integration_kit.scenarios import SampleCases
from tests.support.examples import installed_adapter
from tests.support.live import LiveServer

NAME = "example_neighbour"
PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "hotline_hub_example_soap_adapter"
NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)


def _installed():
    return installed_adapter("hotline_hub_example_soap_adapter", NAME)


@pytest.fixture
def platform():
    _installed()
    from hotline_hub_example_soap_adapter.peer import PlatformState, create_app

    state = PlatformState()
    with LiveServer(create_app(state)) as live:
        yield live, state


def _settings(live: LiveServer, **extra) -> dict:
    return {"endpoint": f"{live.url}/ws/CrossRegionExchange", "username": "city-512000", "password": "sandbox-secret", "timeout": 2.0, **extra}


def _context() -> AdapterContext:
    return AdapterContext("neighbour", ManualClock(NOW), default_mappings_dir())


def _samples() -> SampleCases:
    return SampleCases(load_catalogue(default_mappings_dir()), NOW, "neighbour")


def test_installed_from_its_own_package_through_the_entry_point() -> None:
    cls = _installed()
    assert cls.__module__ == "hotline_hub_example_soap_adapter.adapter"
    assert Path(__import__("hotline_hub_example_soap_adapter").__file__).resolve().is_relative_to(PACKAGE)


def test_the_example_passes_the_kit_including_pull(platform) -> None:
    live, state = platform
    report = run_kit(NAME, _settings(live), HttpPeerControl(live.url))
    assert report.complete, report.render(verbose=True)
    assert "pulled 1 case(s), acknowledged 1" in report.get("scenario: pull").notes
    assert len(state.acked) == 1
    # What the platform parsed out of the SOAP envelopes: mapped codes, and no personal data.
    first = state.tickets[state.order[0]]
    assert {k: first[k] for k in ("EventCode", "AppealType", "Urgency", "Seq")} == {"EventCode": "DJ", "AppealType": "03", "Urgency": "1", "Seq": "1"}
    assert first["RegionCode"].isdigit() and first["CityCaseNo"].startswith("512000")
    series = [state.tickets[k]["EventCode"] for k in state.order[1:7]]
    assert series == ["DJ", "SL", "PF", "QS", "BL", "DF"]
    for ticket in state.tickets.values():
        assert not any(p in str(ticket) for p in ("13800138000", "测试人", "测试地址")), ticket


def test_the_kit_cli_passes_it_too(platform, tmp_path: Path, capsys) -> None:
    live, _ = platform
    settings = tmp_path / "neighbour.yaml"
    settings.write_text((PACKAGE / "settings.example.yaml").read_text(encoding="utf-8").replace("http://127.0.0.1:9100", live.url), encoding="utf-8")
    assert main(["kit", "check", "--adapter", NAME, "--settings", str(settings), "--peer", live.url]) == 0
    assert "=> conforms" in capsys.readouterr().out


def test_result_codes_in_a_200_answer_and_hostile_xml_are_classified(platform) -> None:
    live, state = platform
    adapter = build_adapter("neighbour", NAME, _settings(live), _context())
    samples = _samples()
    try:
        for mode, error, text in [
            ("result:9001", TransientError, "result code 9001"),
            ("result:1003", PermanentError, "result code 1003"),
            ("result:7777", PermanentError, "result code 7777"),  # not in the code book
            ("xxe", PermanentError, "refused an answer with"),
        ]:
            with state.lock:
                state.faults.append(mode)
            with pytest.raises(AdapterError) as raised:
                adapter.deliver(samples.message(samples.new_number(), 0))
            assert type(raised.value) is error and text in str(raised.value), (mode, raised.value)
            assert "root:" not in str(raised.value)  # the external entity was never expanded
        # The platform's own refusal: an update for a ticket it never got.
        with pytest.raises(PermanentError, match=r"UpdateTicket: result code 1002"):
            adapter.deliver(samples.message(samples.new_number(), 1))
        assert state.order == []
    finally:
        adapter.close()


def test_envelopes_are_logged_masked(platform, caplog) -> None:
    live, state = platform
    adapter = build_adapter("neighbour", NAME, _settings(live), _context())
    samples = _samples()
    message = samples.message(samples.new_number(), 0)
    message = message.model_copy(update={"case": {**message.case, "title": "回电 13800138000 路灯损坏"}})
    state.transfer(ContactName="王五", ContactPhone="13700137000", Address="雁江区娇子大道88号")
    try:
        with caplog.at_level(logging.DEBUG, logger="hotline_hub_example_soap_adapter.wire"):
            adapter.deliver(message)
            batch = adapter.pull(None)
    finally:
        adapter.close()
    assert batch.items[0].draft.person.phone == "13700137000"  # the hub gets the contact; the log does not
    logged = caplog.text
    assert "SOAP ReportTicket request" in logged and "SOAP FetchTransfers answer" in logged
    assert "138****8000" in logged
    for secret in ("13800138000", "13700137000", "王五", "娇子大道", "sandbox-secret"):
        assert secret not in logged


def test_a_start_without_its_wsdl_says_which_file(platform, tmp_path: Path) -> None:
    live, _ = platform
    missing = tmp_path / "CrossRegionExchange.wsdl"
    with pytest.raises(ConfigurationError) as raised:
        build_adapter("neighbour", NAME, _settings(live, wsdl=str(missing)), _context())
    assert str(raised.value) == f"wsdl {missing}: cannot read {missing}: No such file or directory"

    # The WSDL saved without the XSD it imports: the missing schema is named.
    from hotline_hub_example_soap_adapter.settings import PACKAGED_WSDL

    shutil.copy(PACKAGED_WSDL, missing)
    report = run_kit(NAME, _settings(live, wsdl=str(missing)), HttpPeerControl(live.url))
    assert report.get("build").problems == [
        f"NeighbourAdapter(settings, context) raised ConfigurationError: wsdl {missing}: "
        f"cannot read {tmp_path / 'CrossRegionExchange.xsd'}: No such file or directory"
    ]


def test_a_wrong_settings_type_is_named_with_file_and_line(platform, tmp_path: Path, capsys) -> None:
    live, _ = platform
    settings = tmp_path / "neighbour.yaml"
    settings.write_text(f"endpoint: {live.url}/ws/CrossRegionExchange\nusername: city-512000\npassword: sandbox-secret\ntimeout: soon\n", encoding="utf-8")
    assert main(["kit", "check", "--adapter", NAME, "--settings", str(settings), "--peer", live.url]) == 1
    assert f"{settings}:4: timeout: Input should be a valid number, unable to parse string as a number (got 'soon')" in capsys.readouterr().out
    with pytest.raises(ConfigurationError) as raised:
        build_adapter("neighbour", NAME, _settings(live, timeout="soon"), _context())
    assert str(raised.value) == (
        "destination 'neighbour': bad settings: destinations.neighbour.settings.timeout: "
        "Input should be a valid number, unable to parse string as a number (got 'soon')"
    )
