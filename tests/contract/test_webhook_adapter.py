"""The example adapter against the contract and a real peer on loopback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.http import retry_after_seconds
from adapters.webhook.adapter import WebhookAdapter
from hub.domain.clock import ManualClock
from hub.integration.contract import AdapterContext, ConfigurationError, OutboundMessage, PermanentError, TransientError
from hub.integration.registry import build_adapter, contract_problems, discover
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.live import LiveServer, free_port

NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)


def _context() -> AdapterContext:
    return AdapterContext(destination="sink", clock=ManualClock(NOW), mappings_dir=Path("mappings"))


def _message(seq: int = 1) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=f"k-{seq}",
        destination="sink",
        case_number="512000202509260001",
        sequence=seq,
        event_type="case.registered",
        event={"type": "case.registered"},
        case={"number": "512000202509260001"},
    )


@pytest.fixture
def sink():
    state = SinkState()
    with LiveServer(create_sink(state)) as live:
        yield live, state


def _adapter(url: str, **extra) -> WebhookAdapter:
    return build_adapter("sink", "webhook", {"url": url, "timeout": 1.0, "system": "sink", **extra}, _context())  # type: ignore[return-value]


def test_discovered_through_entry_point_and_conforms() -> None:
    adapters = discover()
    assert adapters["webhook"] is WebhookAdapter
    assert contract_problems(WebhookAdapter) == []


def test_delivers_once_per_key_and_returns_peer_ref(sink) -> None:
    live, state = sink
    adapter = _adapter(f"{live.url}/events")
    first = adapter.deliver(_message())
    adapter.deliver(_message())  # a redelivery after a lost ack
    assert first.external_ref is not None and first.external_ref.external_id == "SINK-512000202509260001"
    assert len(state.order) == 1 and state.duplicates == 1
    assert adapter.health().ok


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        ("500", TransientError, None),
        ("429", TransientError, 1.0),
        ("garbage", TransientError, None),
        ("400", PermanentError, None),
    ],
)
def test_faults_are_classified(sink, fault, error, retry_after) -> None:
    live, state = sink
    state.faults = [fault]
    with pytest.raises(error) as raised:
        _adapter(f"{live.url}/events").deliver(_message())
    if retry_after is not None:
        assert raised.value.retry_after == retry_after
    assert state.order == []


def test_timeout_and_refused_connection_are_transient(sink) -> None:
    live, state = sink
    state.faults, state.slow_seconds = ["slow"], 2.0
    with pytest.raises(TransientError, match="timed out"):
        _adapter(f"{live.url}/events").deliver(_message())
    with pytest.raises(TransientError, match="transport"):
        _adapter(f"http://127.0.0.1:{free_port()}/events").deliver(_message())
    assert not _adapter(f"http://127.0.0.1:{free_port()}/events").health().ok


def test_bad_settings_say_where() -> None:
    with pytest.raises(ConfigurationError, match=r"destinations.sink.settings.timeout"):
        build_adapter("sink", "webhook", {"url": "http://127.0.0.1:1/x", "timeout": "soon"}, _context())
    with pytest.raises(ConfigurationError, match=r"destinations.sink.settings.colour"):
        build_adapter("sink", "webhook", {"url": "http://127.0.0.1:1/x", "colour": "red"}, _context())
    with pytest.raises(ConfigurationError, match="no adapter named 'nope'"):
        build_adapter("sink", "nope", {}, _context())


def test_retry_after_forms() -> None:
    assert retry_after_seconds("7", NOW) == 7.0
    assert retry_after_seconds("Fri, 26 Sep 2025 02:00:30 GMT", NOW) == 30.0
    assert retry_after_seconds("soon", NOW) is None


def test_contract_problems_are_specific() -> None:
    from hub.integration.contract import Adapter, AdapterSettings

    class Broken(Adapter):
        name = "broken"
        settings_model = dict  # type: ignore[assignment]
        supports_pull = True

        def deliver(self, msg):  # wrong parameter name
            return None

        def health(self):
            return None

    problems = contract_problems(Broken)
    assert "Broken.settings_model must subclass AdapterSettings" in problems
    assert any("deliver('self', 'msg') does not match" in p for p in problems)
    assert "Broken.pull() is not implemented" in problems
    assert contract_problems(AdapterSettings) == [f"{AdapterSettings!r} is not a subclass of hub.integration.contract.Adapter"]
