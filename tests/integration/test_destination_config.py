"""A destination's configuration, checked when the hub starts and handled when the relay
still meets a bad one: on a real SQLite file and a real PostgreSQL, through the real webhook
adapter and the sandbox sink over loopback HTTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.integration.contract import ConfigurationError
from hub.integration.destinations import DestinationErrors, check_destinations
from hub.settings import OutboxSettings, Settings
from outbox.admin import backlog, resume
from outbox.feature import OutboxHandle
from outbox.tables import DELIVERED, PENDING, OutboxMessageRow
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
PAUSE = 60.0


@pytest.fixture
def settings(db_url: str, sink) -> Settings:
    _, url = sink
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        outbox=OutboxSettings(concurrency=1, backoff_base_seconds=0.01, breaker_pause_seconds=PAUSE),
        destinations={"sink": {"adapter": "webhook", "events": ["case.*"], "settings": {"url": f"{url}/events", "timeout": 2.0}}},
    )


def _messages(hub) -> list[OutboxMessageRow]:
    with hub.db.read() as s:
        return list(s.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.id)).scalars())


def _status(hub, destination: str) -> dict:
    return next(d for d in backlog(hub) if d["destination"] == destination)


# -- at the start -----------------------------------------------------------------------------
def test_the_start_names_each_bad_destination_with_file_line_field_and_why(tmp_path: Path, clock) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "destinations:\n"
        "  sink:\n"
        "    adapter: webhook\n"
        "    settings:\n"
        "      url: http://127.0.0.1:9/events\n"
        "      timeout: soon\n"
        "  typo:\n"
        "    adapter: nope\n"
        "  spare:\n"
        "    adapter: nope\n"
        "    enabled: false\n"
        "  county:\n"
        "    adapter: county\n"
        "    settings: {county: atlantis}\n",
        encoding="utf-8",
    )
    import yaml

    settings = Settings(destinations=yaml.safe_load(config.read_text(encoding="utf-8"))["destinations"])
    with pytest.raises(DestinationErrors) as raised:
        check_destinations(settings, clock, config=config)
    installed = "county, example_neighbour, example_waterworks, legacy_bridge, province, sms, webhook, wechat"
    assert raised.value.problems[:2] == [
        f"destination 'sink': bad settings: {config}:6: destinations.sink.settings.timeout: Input should be a valid "
        "number, unable to parse string as a number (got 'soon')",
        f"destination 'typo': {config}:8: destinations.typo.adapter: no adapter named 'nope'; installed: {installed}",
    ]
    # The adapter is built, so what only its constructor knows is said too; 'spare' is disabled: not checked.
    assert raised.value.problems[2].startswith("destination 'county': no mappings/county/atlantis.yaml; configured: ")
    assert len(raised.value.problems) == 3 and str(raised.value).startswith("3 destinations are misconfigured:\n  ")


def test_a_secret_of_the_wrong_type_is_named_but_not_shown(clock) -> None:
    settings = Settings(destinations={"prov": {"adapter": "province", "settings": {"endpoint": "http://127.0.0.1:9/soap", "token": 8812345}}})
    with pytest.raises(ConfigurationError) as raised:
        check_destinations(settings, clock, config=None)
    assert str(raised.value) == (
        "destination 'prov': bad settings: destinations.prov.settings.token: Input should be a valid string (the value is not shown: a secret)"
    )


def test_build_hub_refuses_to_start_with_a_bad_destination(db_url: str, clock) -> None:
    from hub.runtime import build_hub

    settings = Settings(database_url=db_url, destinations={"sink": {"adapter": "webhook", "settings": {"url": "nowhere"}}})
    with pytest.raises(ConfigurationError, match=r"^destination 'sink': bad settings: destinations\.sink\.settings\.url: "):
        build_hub(settings, clock)


# -- in the relay ---------------------------------------------------------------------------
def test_a_destination_misconfigured_after_the_start_waits_paused_without_using_attempts(hub, sink, clock) -> None:
    """The settings changed under a running relay (here: in memory; in life, a mapping or WSDL
    file edited or gone). Not the peer's fault and not the message's: no attempt used, no dead
    letter, the destination paused with the reason; once fixed, the message goes after the pause."""
    state, _ = sink
    hub.cases.register(CaseDraft.model_validate(draft()), AGENT)
    hub.settings.destinations["sink"].settings["timeout"] = "soon"
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(120)
    why = (
        "misconfigured: destination 'sink': bad settings: destinations.sink.settings.timeout: Input should be a "
        "valid number, unable to parse string as a number (got 'soon')"
    )
    (m,) = _messages(hub)
    assert (m.status, m.attempts, m.last_error) == (PENDING, 0, f"not sent: {why}")
    status = _status(hub, "sink")
    assert status["paused"] and not status["paused_by_operator"] and status["pause_reason"] == why
    assert status["consecutive_failures"] == 0 and status["dead"] == 0 and state.order == []

    relay.drain(120)  # paused: nothing claimed, nothing used up
    assert _messages(hub)[0].attempts == 0

    hub.settings.destinations["sink"].settings["timeout"] = 2.0
    clock.advance(timedelta(seconds=PAUSE + 1))
    relay.drain(120)
    (m,) = _messages(hub)
    assert (m.status, m.attempts) == (DELIVERED, 1) and len(state.order) == 1
    relay.close()


def test_an_adapter_that_raises_configuration_error_on_delivery_pauses_its_destination(hub, sink, monkeypatch) -> None:
    from adapters.webhook.adapter import WebhookAdapter

    state, _ = sink
    hub.cases.register(CaseDraft.model_validate(draft()), AGENT)

    def broken(self, message):  # noqa: ANN001
        raise ConfigurationError("mapping file mappings/sink.yaml is gone")

    monkeypatch.setattr(WebhookAdapter, "deliver", broken)
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(120)
    (m,) = _messages(hub)
    assert (m.status, m.attempts) == (PENDING, 0)
    assert _status(hub, "sink")["pause_reason"] == "misconfigured: mapping file mappings/sink.yaml is gone"

    monkeypatch.undo()
    assert resume(hub, "sink")  # an operator who fixed it need not wait for the pause
    relay.drain(120)
    assert (_messages(hub)[0].status, len(state.order)) == (DELIVERED, 1)
    relay.close()


def test_a_destination_this_relay_does_not_have_is_left_to_the_relays_that_do(hub, db_url, clock) -> None:
    """A message for a destination missing from (or disabled in) this relay's settings is not
    claimed: another relay with newer settings delivers it, and pausing it here would stop that one."""
    with hub.db.write() as s:
        hub.handles.get(OutboxHandle).enqueue(s, destination="elsewhere", ordering_key="k", event_type="kb.updated", payload={})
    relay = hub.handles.get(OutboxHandle).relay()
    assert relay.drain(2) == 0
    (m,) = _messages(hub)
    assert (m.status, m.attempts, m.last_error) == (PENDING, 0, None)
    assert not _status(hub, "elsewhere")["paused"]
    relay.close()
