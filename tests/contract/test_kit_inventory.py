"""Every in-tree adapter through the conformance kit, against its own sandbox peer on loopback.

The webhook sink and the county sandbox are driven over their /_kit endpoints, as `kit check
--peer` drives them (every county, each in its own shape); the province through its state.
Adapters with no sandbox peer yet fail `test_every_discovered_adapter_is_covered` until they
get a run here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.integration.registry import discover
from integration_kit import HttpPeerControl, Received, run_kit
from integration_kit.peer import UnsupportedFault
from sandbox.webhook_sink import create_sink
from tests.support.live import LiveServer

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
# The adapters this file runs the kit for. Integrators' packages (examples/) have their own tests.
COVERED = {"webhook", "county", "province", "legacy_bridge", "sms", "wechat"}
OUTSIDE_THE_TREE = {"example_waterworks"}


def tables_checked(report) -> set[str]:  # noqa: ANN001
    """'<file name> <kind>' of every mapping table the kit checked coverage of (its notes)."""
    return {f"{Path(note.split(': ')[0]).name} {note.split(': ')[1].split(' via ')[0]}" for note in report.get("mappings").notes if " via " in note}


def test_every_discovered_adapter_is_covered() -> None:
    in_tree = {name for name, cls in discover().items() if cls.__module__.startswith("adapters.")}
    missing = in_tree - COVERED
    assert not missing, f"in-tree adapters with no kit run in {__file__}: {sorted(missing)}"


def test_sms_static_checks() -> None:
    """The sms adapter's messages are sealed SMS that channels/sms.py queues, not case events:
    the kit's scenarios (which send sample case events) do not apply, so only its static checks
    run here (contract, settings, mappings). tests/e2e/test_channels_citizen.py drives it against
    the sandbox gateway, down and up again."""
    report = run_kit("sms", {"url": "http://127.0.0.1:9/send", "seal_key": "kit-seal-key-0123456789"}, None)
    assert [c.name for c in report.checks if not c.ok] == [], report.render(verbose=True)
    assert report.get("contract").ok and report.get("settings").ok


def test_wechat_static_checks() -> None:
    """As the sms adapter: its messages are sealed template messages that channels/wechat_push.py
    queues, not case events, so only the static checks run here. tests/integration/test_wechat.py
    drives it against the sandbox WeChat API (an expired token, a busy WeChat, a refusal)."""
    report = run_kit("wechat", {"api_base": "http://127.0.0.1:9", "app_id": "wx-kit", "app_secret": "kit-secret", "seal_key": "kit-seal-key-0123456789"}, None)
    assert [c.name for c in report.checks if not c.ok] == [], report.render(verbose=True)
    assert report.get("contract").ok and report.get("settings").ok


def test_webhook() -> None:
    with LiveServer(create_sink()) as live:
        report = run_kit("webhook", {"url": f"{live.url}/events", "timeout": 2.0}, HttpPeerControl(live.url))
    assert report.complete, report.render(verbose=True)


@pytest.mark.parametrize("county", ["yanjiang", "anyue", "lezhi", "gaoxin", "linkong"])
def test_county(county: str) -> None:
    from adapters.county.config import load_counties
    from adapters.county.sandbox import CountySandboxState, create_app
    from hub.mappings import load_catalogue

    cfg = load_counties(MAPPINGS, load_catalogue(MAPPINGS))[county]
    events = list(cfg.outbound.events)[:4]  # the county takes only these event types
    unit = next(iter(cfg.codes.unit.values()))  # a unit of this county holds the sample case
    state = CountySandboxState(cfg)
    with LiveServer(create_app(state)) as live:
        path = cfg.outbound.url.split("://", 1)[1].split("/", 1)[1]
        # Over the county sandbox's own /_kit endpoints, as `kit check --peer` drives it.
        report = run_kit(
            "county",
            {"county": county, "url": f"{live.url}/{path}", "timeout": 2.0},
            HttpPeerControl(live.url),
            events=events,
            division=cfg.divisions[0],
            unit=unit,
        )
    assert report.complete, report.render(verbose=True)
    assert tables_checked(report) == {f"{county}.yaml event_types", f"{county}.yaml states"}


class _SandboxControl:
    """PeerControl over an in-process sandbox peer's state: a fault the kit plans is appended,
    as the peer's own name for it (MODES), to the faults list the peer takes from."""

    MODES: dict[str, str] = {}

    def __init__(self, state) -> None:  # noqa: ANN001
        self.state = state

    def fail_next(self, mode: str) -> None:
        if mode not in self.MODES:
            raise UnsupportedFault(mode)
        with self.state.lock:
            self.state.faults.append(self.MODES[mode])


class ProvinceControl(_SandboxControl):
    """PeerControl over the sandbox province's state (its faults list and what it keeps)."""

    MODES = {"500": "transient", "400": "permanent", "garbage": "malformed", "429": "http503"}

    def reset(self) -> None:
        with self.state.lock:
            for store in (
                self.state.reported,
                self.state.report_requests,
                self.state.statuses,
                self.state.status_requests,
                self.state.acks,
                self.state.accepted,
            ):
                store.clear()
            self.state.assigned.clear()
            self.state.faults.clear()

    def received(self) -> list[Received]:
        with self.state.lock:
            return [Received(key=k) for k in self.state.accepted]

    def offer_case(self) -> str | None:
        return self.state.assign()


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_province(transport: str) -> None:
    from adapters.province.sandbox import ProvinceState, create_app

    state = ProvinceState()
    with LiveServer(create_app(state)) as live:
        endpoint = f"{live.url}/{transport}"
        report = run_kit("province", {"transport": transport, "endpoint": endpoint, "timeout": 3.0}, ProvinceControl(state))
    assert report.complete, report.render(verbose=True)
    assert tables_checked(report) == {
        "codes.yaml request_types",
        "codes.yaml urgencies",
        "codes.yaml satisfactions",
        "codes.yaml person_kinds",
        "statuses.yaml event_types",
        "categories.yaml categories",
        "divisions.yaml divisions",
        "units.yaml units",
    }


class LegacyLineControl(_SandboxControl):
    """PeerControl over the sandbox legacy line's state (adapters/legacy_hotlines/sandbox.py)."""

    MODES = {"500": "500", "400": "400", "429": "429", "garbage": "garbage"}

    def reset(self) -> None:
        with self.state.lock:
            for store in (self.state.received, self.state.by_key, self.state.acks):
                store.clear()
            self.state.order.clear()
            self.state.outgoing.clear()
            self.state.faults.clear()

    def received(self) -> list[Received]:
        with self.state.lock:
            return [Received(key=k) for k in self.state.order]

    def offer_case(self) -> str | None:
        from adapters.legacy_hotlines.sandbox import offer

        return offer(self.state)


def test_legacy_bridge() -> None:
    from adapters.legacy_hotlines.sandbox import SandboxLine, create_app

    state = SandboxLine(line="12315")
    with LiveServer(create_app(state)) as live:
        # The kit's sample case is a 城乡建设 case; widen the line's domain so it goes over (as 其他).
        report = run_kit(
            "legacy_bridge", {"line": "12315", "base_url": live.url, "timeout": 3.0, "categories": ["0"]}, LegacyLineControl(state), events=["case.accepted"]
        )
    assert report.complete, report.render(verbose=True)
    assert tables_checked(report) == {
        "lines.yaml categories",
        "12315.yaml categories",
        "12315.yaml states",
        "12315.yaml request_types",
        "12315.yaml urgencies",
        "12315.yaml units",
        "12315.yaml divisions",
    }
