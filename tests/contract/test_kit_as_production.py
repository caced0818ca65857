"""The kit tests what production does: sample cases of the categories a destination takes, the
peer's id filled in as the outbox fills it, a peer's occasional 503 retried as the relay
retries it, an adapter's "not sent" shown, a settings address that is not the peer's said,
and an entry point that no longer matches its class explained. Against the webhook adapter
(or small subclasses of it that behave like an integrator's) and its sink over loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adapters.webhook.adapter import WebhookAdapter
from hub.cli import main
from hub.integration.contract import ConfigurationError, Delivery, OutboundMessage, PermanentError, TransientError
from hub.integration.registry import discover
from integration_kit import run_kit
from sandbox.webhook_sink import SinkState, create_sink
from tests.contract.test_kit_webhook import SinkControl
from tests.support.live import LiveServer


@pytest.fixture
def sink():
    state = SinkState()
    with LiveServer(create_sink(state)) as live:
        yield live, state


def _settings(live: LiveServer) -> dict:
    return {"url": f"{live.url}/events", "timeout": 2.0, "system": "sink"}


class GasDesk(WebhookAdapter):
    """Takes only 供水供气 (0105) cases, as a repair desk would: anything else is not sent."""

    name = "gas_desk"

    def deliver(self, message: OutboundMessage) -> Delivery:
        if message.case["category_code"] != "0105":
            return Delivery(detail=f"not sent: category {message.case['category_code']} is not the desk's")
        return super().deliver(message)


def test_an_adapter_for_some_categories_fails_without_them_and_its_not_sent_notes_are_shown(sink) -> None:
    live, state = sink
    report = run_kit("gas_desk", _settings(live), SinkControl(state), available={"gas_desk": GasDesk})
    assert not report.ok
    new_case = report.get("scenario: send a new case")
    assert new_case.problems == ["a new case: the peer recorded 0 message(s), expected 1"]
    assert new_case.warnings == ["deliver(case.registered, seq 1, attempt 1): not sent: category 0101 is not the desk's"]
    shown = report.render()  # without -v
    assert "! deliver(case.registered, seq 1, attempt 1): not sent: category 0101 is not the desk's" in shown


@pytest.mark.parametrize(
    "shape", [{"category": "0105"}, {"cases": {"categories": ["0105"]}}, {"cases": {"categories": ["0105", "02"], "divisions": ["512021"]}}]
)
def test_an_adapter_for_some_categories_passes_with_the_category_or_the_destinations_scope(sink, shape) -> None:
    live, state = sink
    report = run_kit("gas_desk", _settings(live), SinkControl(state), available={"gas_desk": GasDesk}, **shape)
    assert report.complete, report.render(verbose=True)
    with state.lock:
        assert {m["case"]["category_code"] for m in state.received.values()} == {"0105"}
        divisions = {m["case"]["place"]["division_code"] for m in state.received.values()}
    if "cases" in shape and shape["cases"].get("divisions"):
        assert divisions == {"512021"}


def test_an_unknown_category_is_said() -> None:
    report = run_kit("webhook", {"url": "http://127.0.0.1:9/events"}, SinkControl(SinkState()), category="0199")
    assert report.get("scenarios").problems == ["cannot build sample cases: category '0199' is not in mappings/categories.yaml"]


class ByPeerId(WebhookAdapter):
    """Addresses every update by the peer's own id, as many ticket systems do: without
    message.external_id on a later message it cannot say which ticket to update."""

    name = "by_peer_id"
    first_ids: dict[str, str] = {}

    def deliver(self, message: OutboundMessage) -> Delivery:
        if message.event_type != "case.registered" and not message.external_id:
            raise PermanentError(f"{message.event_type}: no ticket id to update (message.external_id is empty)")
        delivery = super().deliver(message)
        if message.external_id:
            assert message.external_id == ByPeerId.first_ids[message.case_number]
        elif delivery.external_ref is not None:
            ByPeerId.first_ids[message.case_number] = delivery.external_ref.external_id
        return delivery


def test_the_ordered_series_carries_the_peers_id_as_the_outbox_fills_it(sink) -> None:
    live, state = sink
    report = run_kit("by_peer_id", _settings(live), SinkControl(state), available={"by_peer_id": ByPeerId})
    assert report.complete, report.render(verbose=True)
    with state.lock:
        series = [m for m in state.received.values() if m["sequence"] > 1]
    assert len(series) == 5  # accepted ... replied, each with the id the first delivery of its case returned
    assert all(m["external_id"] == ByPeerId.first_ids[m["case_number"]] for m in series)


class Flaky(WebhookAdapter):
    """A peer behind a proxy that answers 503 now and then: here, the first attempt of the
    second and fourth message of every case."""

    name = "flaky"

    def deliver(self, message: OutboundMessage) -> Delivery:
        if message.attempt == 1 and message.sequence in (2, 4):
            raise TransientError("peer answered 503", retry_after=0.0)
        return super().deliver(message)


def test_a_transient_failure_in_a_scenario_is_retried_as_the_relay_would_and_reported(sink) -> None:
    live, state = sink
    report = run_kit("flaky", _settings(live), SinkControl(state), available={"flaky": Flaky})
    assert report.complete, report.render(verbose=True)
    assert report.get("scenario: send an ordered series of changes").warnings == [
        "deliver(case.accepted, seq 2, attempt 1): TransientError(peer answered 503); retried after 0.0s, as the relay would",
        "deliver(case.signed_off, seq 4, attempt 1): TransientError(peer answered 503); retried after 0.0s, as the relay would",
    ]


class AlwaysBusy(WebhookAdapter):
    name = "always_busy"

    def deliver(self, message: OutboundMessage) -> Delivery:
        raise TransientError("peer answered 503", retry_after=0.0)


def test_a_peer_that_never_recovers_still_fails_the_scenario_after_the_retries(sink) -> None:
    live, state = sink
    report = run_kit("always_busy", _settings(live), SinkControl(state), available={"always_busy": AlwaysBusy})
    assert report.get("scenario: send a new case").problems == [
        "unexpected TransientError: deliver(case.registered, seq 1, attempt 5): peer answered 503 (still failing after 5 attempts)"
    ]


def test_the_cli_says_when_the_settings_address_is_not_the_peer(sink, tmp_path: Path, capsys) -> None:
    live, _ = sink
    settings = tmp_path / "webhook.yaml"
    settings.write_text(f"url: {live.url}/events\ntimeout: 2.0\n", encoding="utf-8")
    assert main(["kit", "check", "--adapter", "webhook", "--settings", str(settings), "--peer", live.url]) == 0
    assert "peer address" not in capsys.readouterr().out

    settings.write_text("url: http://127.0.0.1:9/events\ntimeout: 2.0\n", encoding="utf-8")
    main(["kit", "check", "--adapter", "webhook", "--settings", str(settings), "--peer", live.url])
    out = capsys.readouterr().out
    assert f"! {settings}: the settings send to http://127.0.0.1:9/events but --peer is {live.url}" in out


def test_the_cli_takes_the_category_or_the_destinations_scope(sink, tmp_path: Path, capsys, monkeypatch) -> None:
    live, _ = sink
    settings = tmp_path / "webhook.yaml"
    settings.write_text(f"url: {live.url}/events\ntimeout: 2.0\nsystem: sink\n", encoding="utf-8")
    monkeypatch.setattr("integration_kit.runner.discover", lambda: {"webhook": GasDesk})
    args = ["kit", "check", "--adapter", "webhook", "--settings", str(settings), "--peer", live.url]
    assert main(args) == 1
    assert "not sent: category 0101 is not the desk's" in capsys.readouterr().out

    assert main([*args, "--category", "0105"]) == 0
    assert "=> conforms" in capsys.readouterr().out

    config = tmp_path / "hub.yaml"
    config.write_text(
        "destinations:\n  gas:\n    adapter: webhook\n    events: ['case.*']\n"
        "    cases: {categories: ['0105']}\n    settings: {url: 'http://127.0.0.1:9/events'}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HUB_CONFIG_FILE", str(config))
    assert main([*args, "--destination", "gas"]) == 0
    assert "=> conforms" in capsys.readouterr().out


def test_an_entry_point_whose_class_is_gone_says_to_install_the_package_again(tmp_path: Path, monkeypatch) -> None:
    """What an integrator meets after renaming MyAdapter in adapter.py and pyproject.toml
    without installing again: the installed metadata still names the old class."""
    info = tmp_path / "hub_adapter_renamed-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-adapter-renamed\nVersion: 0.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[hotline_hub.adapters]\nrenamed = json:MyAdapter\n", encoding="utf-8")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(ConfigurationError) as raised:
        discover()
    said = str(raised.value)
    assert said.startswith("adapter entry point 'renamed' (json:MyAdapter) failed to import: ")
    assert said.endswith(
        "the installed entry point still names json:MyAdapter: after renaming the class or module "
        "(or changing the entry point in pyproject.toml), run `pip install -e .` in the adapter's "
        "package again"
    )
