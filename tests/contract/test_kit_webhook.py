"""The conformance kit against the in-tree webhook adapter and its sink over loopback, and
the kit's own bad-input messages: a broken contract, a mapping that misses or invents
codes, a settings file with a wrong type, an adapter that misbehaves at the wire."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from adapters.webhook.adapter import WebhookAdapter, WebhookSettings
from hub.cli import main
from hub.integration.contract import Adapter, AdapterSettings, Delivery, HealthReport, OutboundMessage
from hub.mappings import load_catalogue
from integration_kit import HttpPeerControl, MappingTable, Received, run_kit
from integration_kit.peer import UnsupportedFault
from integration_kit.runner import default_mappings_dir
from sandbox.webhook_sink import KIT_FAULTS, SinkState, create_sink
from tests.support.live import LiveServer

SCENARIOS = [
    "scenario: health",
    "scenario: send a new case",
    "scenario: send an ordered series of changes",
    "scenario: pull",
    "scenario: transient failure",
    "scenario: permanent failure",
    "scenario: duplicate delivery",
    "scenario: batch delivery",
]


@pytest.fixture
def sink():
    state = SinkState()
    with LiveServer(create_sink(state)) as live:
        yield live, state


def _settings(live: LiveServer) -> dict:
    return {"url": f"{live.url}/events", "timeout": 2.0, "system": "sink"}


class SinkControl:
    """In-process PeerControl over the sink's state: the Python side of the protocol."""

    def __init__(self, state: SinkState) -> None:
        self.state = state

    def reset(self) -> None:
        with self.state.lock:
            self.state.received.clear()
            self.state.order.clear()
            self.state.faults.clear()

    def fail_next(self, mode: str) -> None:
        if mode not in KIT_FAULTS:
            raise UnsupportedFault(mode)
        self.state.faults.append(mode)

    def received(self) -> list[Received]:
        with self.state.lock:
            return [Received(k, self.state.received[k]["case_number"], self.state.received[k]["event_type"]) for k in self.state.order]

    def offer_case(self) -> str | None:
        return None


def test_webhook_passes_the_kit_over_the_http_peer_control(sink) -> None:
    live, state = sink
    report = run_kit("webhook", _settings(live), HttpPeerControl(live.url))
    assert report.complete, report.render(verbose=True)
    assert [c.name for c in report.checks] == ["contract", "settings", "mappings", "build", *SCENARIOS]
    # the scenarios really reached the peer: 1 + 6 + 3 retried + 1 deduped (the 400 is refused)
    assert len(state.order) == 11 and state.duplicates == 1
    assert "fault '429': TransientError(peer answered 429), retry_after=1.0" in report.get("scenario: transient failure").notes


def test_webhook_in_batch_mode_passes_the_kit_batch_included(sink) -> None:
    live, state = sink
    settings = {**_settings(live), "batch_url": f"{live.url}/events/batch", "batch_size": 10}
    report = run_kit("webhook", settings, HttpPeerControl(live.url))
    assert report.complete, report.render(verbose=True)
    assert report.get("scenario: batch delivery").problems == []
    assert state.batches == [4]  # three new cases and one already delivered, in one request
    assert len(state.order) == 11 + 4 and state.duplicates == 2


def test_the_kit_names_a_batch_that_answers_for_the_wrong_messages(sink) -> None:
    live, _ = sink

    class ShortBatch(WebhookAdapter):
        def deliver_batch(self, messages):  # noqa: ANN001, ANN202 - drops the last result
            return super().deliver_batch(messages)[:-1]

    ShortBatch.name = "short_batch"
    settings = {**_settings(live), "batch_url": f"{live.url}/events/batch", "batch_size": 5}
    report = run_kit("short_batch", settings, HttpPeerControl(live.url), available={"short_batch": ShortBatch})
    problems = report.get("scenario: batch delivery").problems
    assert any("it must return one result per message" in p for p in problems), problems


def test_webhook_passes_the_kit_with_an_in_process_peer_control(sink) -> None:
    live, state = sink
    report = run_kit("webhook", _settings(live), SinkControl(state))
    assert report.complete, report.render(verbose=True)


def test_the_cli_runs_the_kit_and_exits_0(sink, tmp_path: Path, capsys) -> None:
    live, _ = sink
    settings = tmp_path / "webhook.yaml"
    settings.write_text(f"url: {live.url}/events\ntimeout: 2.0\nsystem: sink\n", encoding="utf-8")
    assert main(["kit", "check", "--adapter", "webhook", "--settings", str(settings), "--peer", live.url]) == 0
    out = capsys.readouterr().out
    assert "[PASS] scenario: duplicate delivery" in out and "=> conforms" in out


def test_a_settings_file_with_a_wrong_type_names_file_line_and_field(tmp_path: Path, capsys) -> None:
    settings = tmp_path / "webhook.yaml"
    settings.write_text("url: http://127.0.0.1:9/events\n# a comment\ntimeout: soon\ncolour: red\n", encoding="utf-8")
    assert main(["kit", "check", "--adapter", "webhook", "--settings", str(settings), "--static"]) == 1
    out = capsys.readouterr().out
    assert (f"{settings}:3: timeout: Input should be a valid number, unable to parse string as a number (got 'soon')") in out
    assert f"{settings}:4: colour: unknown field" in out
    assert "does NOT conform" in out


def test_settings_from_python_name_the_field() -> None:
    report = run_kit("webhook", {"timeout": -1}, None)
    assert report.get("settings").problems == [
        "settings: url: required field is missing",
        "settings: timeout: Input should be greater than 0 (got -1)",
    ]


def test_without_a_peer_the_cli_refuses_unless_static(tmp_path: Path, capsys) -> None:
    settings = tmp_path / "s.yaml"
    settings.write_text("url: http://127.0.0.1:9/events\n", encoding="utf-8")
    assert main(["kit", "check", "--adapter", "webhook", "--settings", str(settings)]) == 2
    assert "give --peer URL" in capsys.readouterr().err
    assert main(["kit", "check", "--adapter", "webhook", "--settings", str(settings), "--static"]) == 0
    assert "not run: scenarios" in capsys.readouterr().out


# -- an adapter that breaks the contract ---------------------------------------------------
class LeakySettings(AdapterSettings):
    url: str
    api_token: str = Field(description="plain str: the kit must object")


class Broken(Adapter):
    name = "broken"
    settings_model = LeakySettings
    supports_pull = True

    def deliver(self, msg):  # noqa: ANN001, ANN201 - wrong parameter name on purpose
        return None

    def health(self):  # noqa: ANN201
        return HealthReport(ok=True)

    @staticmethod
    def mapping_tables(settings, mappings_dir):  # noqa: ANN001, ANN205 - not a classmethod on purpose
        return []


def test_a_broken_contract_is_named_exactly() -> None:
    report = run_kit("broken", {"url": "x", "api_token": "t"}, None, available={"broken": Broken})
    assert report.get("contract").problems == [
        "Broken.deliver('self', 'msg') does not match the contract ('self', 'message')",
        "Broken.pull() is not implemented",
        "Broken.acknowledge() is not implemented",
        "settings field 'api_token' looks like a secret but is str: declare it as SecretStr (or SecretStr | None) so it never shows in logs",
        "Broken.mapping_tables must be a classmethod",
    ]
    assert [c.status for c in report.checks] == ["failed", "not run"]
    assert not report.ok


def test_an_unknown_adapter_name_lists_the_installed_ones() -> None:
    report = run_kit("nope", {}, None)
    (problem,) = report.get("contract").problems
    assert problem.startswith("no adapter named 'nope' in entry-point group 'hotline_hub.adapters'; installed: ")
    assert "webhook" in problem


# -- mappings that miss codes or name unknown ones ------------------------------------------
class CodeEntry(BaseModel):
    wire: str
    hub: str


class CodesFile(BaseModel):
    categories: list[CodeEntry]
    urgencies: dict[str, str]


class MappedSettings(WebhookSettings):
    mapping_file: Path = Field(description="the YAML code table")


class MappedWebhook(WebhookAdapter):
    name = "mapped"
    settings_model = MappedSettings

    @classmethod
    def mapping_tables(cls, settings: MappedSettings, mappings_dir: Path) -> list[MappingTable]:
        return [
            MappingTable(settings.mapping_file, CodesFile, "categories", "categories", "hub", cover="leaves", entry_key="wire"),
            MappingTable(settings.mapping_file, CodesFile, "urgencies", "urgencies"),
        ]


def test_a_mapping_that_misses_codes_or_names_unknown_ones_says_which_and_where(tmp_path: Path) -> None:
    codes = tmp_path / "codes.yaml"
    codes.write_text(
        'categories:\n  - {wire: A1, hub: "0101"}\n  - {wire: A2, hub: "9999"}\nurgencies:\n  normal: P3\n  urgent: P2\n  rush: P1\n', encoding="utf-8"
    )
    report = run_kit("mapped", {"url": "http://127.0.0.1:9/e", "mapping_file": str(codes)}, None, available={"mapped": MappedWebhook})
    problems = report.get("mappings").problems
    catalogue = load_catalogue(default_mappings_dir())
    leaves = [c for c in catalogue.categories if not any(o != c and o.startswith(c) for o in catalogue.categories)]
    missing = [c for c in leaves if c != "0101"]
    assert problems == [
        f"{codes}: no mapping for {len(missing)} categories code(s) (see mappings/categories.yaml): {', '.join(missing)}",
        f"{codes}:3: entry 'A2': categories code '9999' is not known to the hub (see mappings/categories.yaml)",
        f"{codes}: no mapping for 1 urgencies code(s) (see hub.domain.model.Urgency): critical",
        f"{codes}:7: urgencies code 'rush' is not known to the hub (see hub.domain.model.Urgency)",
    ]
    assert "01" not in missing  # a parent group is not required under cover="leaves"


def test_a_mapping_file_that_does_not_load_says_file_and_line(tmp_path: Path) -> None:
    codes = tmp_path / "codes.yaml"
    codes.write_text("categories:\n  - {wire: A1}\nurgencies: {}\n", encoding="utf-8")
    report = run_kit("mapped", {"url": "http://127.0.0.1:9/e", "mapping_file": str(codes)}, None, available={"mapped": MappedWebhook})
    assert f"{codes}:2: entry 'A1': hub: required field is missing" in report.get("mappings").problems


# -- adapters that misbehave on the wire: the scenarios must catch it -----------------------
class Forgetful(WebhookAdapter):
    """Sends a fresh key on every attempt (so the peer cannot dedupe) and calls a 400 transient."""

    name = "forgetful"

    def deliver(self, message: OutboundMessage) -> Delivery:
        import httpx

        response = self._client.post(str(self.settings.url), json=message.model_dump(mode="json"), headers={"Idempotency-Key": uuid.uuid4().hex})
        if response.status_code >= 400:
            from hub.integration.contract import TransientError

            raise TransientError(f"peer answered {response.status_code}")
        if response.text.startswith("<"):
            raise httpx.DecodingError("not JSON")  # outside the error tree on purpose
        return Delivery()


def test_the_scenarios_name_what_a_misbehaving_adapter_gets_wrong(sink) -> None:
    live, state = sink
    report = run_kit("forgetful", _settings(live), SinkControl(state), available={"forgetful": Forgetful})
    assert not report.ok
    transient = report.get("scenario: transient failure").problems
    assert any("fault 'garbage' raised DecodingError: not JSON" in p and "adapters raise only TransientError or PermanentError" in p for p in transient), (
        transient
    )
    permanent = report.get("scenario: permanent failure").problems
    assert permanent == [
        "fault '400': raised TransientError(peer answered 400); a request the peer refuses as wrong "
        "never succeeds on retry: raise PermanentError so it goes to dead letters"
    ]
    duplicate = report.get("scenario: duplicate delivery").problems
    assert duplicate[0].startswith("the same key ") and "the peer recorded 2 message(s), expected 1" in duplicate[0]
    assert report.get("scenario: send a new case").problems[0].startswith("a new case: the peer got key ")
