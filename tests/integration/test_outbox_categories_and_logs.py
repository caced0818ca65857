"""A destination scoped by category (`cases: {categories: [...]}`), checked at the start and
applied where case events are routed; and the relay's one line per delivery, so an operator
sees a destination's first cases go out (delivered, the adapter's "not sent", a retried
failure, a dead letter). On a real SQLite file and PostgreSQL, through the webhook adapter
and the sandbox sink over loopback HTTP."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.integration.contract import Delivery
from hub.integration.destinations import DestinationErrors, check_destinations
from hub.mappings import load_catalogue
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DEAD, DELIVERED, OutboxMessageRow
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)


@pytest.fixture
def settings(db_url: str, sink) -> Settings:
    _, url = sink
    hook = {"url": f"{url}/events", "timeout": 2.0}
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        outbox=OutboxSettings(concurrency=1, backoff_base_seconds=0.01, backoff_max_seconds=0.5, max_attempts=2, breaker_failures=50),
        destinations={
            "water": {"adapter": "webhook", "settings": hook, "events": ["case.*"], "cases": {"categories": ["0105"]}},
            "market": {"adapter": "webhook", "settings": hook, "events": ["case.registered"], "cases": {"categories": ["02"]}},  # a group: every item under 02
            "water-anyue": {"adapter": "webhook", "settings": hook, "events": ["case.registered"], "cases": {"categories": ["0105"], "divisions": ["512021"]}},
        },
    )


def _register(hub, **changes):
    return hub.cases.register(CaseDraft.model_validate(draft(**changes)), AGENT).case


def _routed(hub) -> set[tuple[str, str, str]]:
    with hub.db.read() as s:
        return {(m.destination, m.case_number, m.event_type) for m in s.execute(select(OutboxMessageRow)).scalars()}


# -- routing by category -----------------------------------------------------------------------
def test_a_category_scope_routes_only_cases_of_its_codes_or_groups(hub) -> None:
    noise = _register(hub)  # 0101: nobody's category
    water = _register(hub, category_code="0105")
    food = _register(hub, category_code="0202")
    water_anyue = _register(hub, category_code="0105", **{"place.division_code": "512021", "place.address": "安岳县岳阳镇外南街8号"})
    hub.cases.act(water.number, c.Accept(), AGENT)
    assert _routed(hub) == {
        ("water", water.number, "case.registered"),
        ("water", water.number, "case.accepted"),
        ("water", water_anyue.number, "case.registered"),
        ("market", food.number, "case.registered"),
        # categories narrow the divisions: only the water case in 512021
        ("water-anyue", water_anyue.number, "case.registered"),
    }
    assert not any(number == noise.number for _, number, _ in _routed(hub))


def test_an_unknown_category_in_a_scope_stops_the_start_with_file_and_line(tmp_path: Path, clock) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "destinations:\n"
        "  gas:\n"
        "    adapter: webhook\n"
        "    events: ['case.*']\n"
        "    cases:\n"
        "      categories: ['0105', '0199']\n"
        "    settings: {url: 'http://127.0.0.1:9/events'}\n",
        encoding="utf-8",
    )
    import yaml

    settings = Settings(destinations=yaml.safe_load(config.read_text(encoding="utf-8"))["destinations"])
    catalogue = load_catalogue(settings.mappings_dir)
    with pytest.raises(DestinationErrors) as raised:
        check_destinations(settings, clock, config=config, catalogue=catalogue)
    assert raised.value.problems == [
        f"destination 'gas': {config}:6: destinations.gas.cases.categories[1]: no category '0199' in "
        "mappings/categories.yaml (give an item code such as '0105' or a group such as '01')"
    ]
    # the same scope with known codes builds
    settings.destinations["gas"].cases.categories[1] = "02"
    check_destinations(settings, clock, config=config, catalogue=catalogue)


def test_an_unknown_key_in_a_scope_is_refused_with_the_valid_keys() -> None:
    from pydantic import ValidationError

    from hub.integration.registry import describe_errors

    with pytest.raises(ValidationError) as raised:
        Settings(destinations={"gas": {"adapter": "webhook", "cases": {"category": ["0105"]}}})
    assert describe_errors(Settings, raised.value.errors()) == [
        "destinations.gas.cases.category: unknown field; valid keys: with_ref, units, divisions, categories"
    ]


# -- one line per delivery ---------------------------------------------------------------------
def _lines(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "hub.outbox"]


def test_the_relay_logs_each_delivery_a_retry_and_a_dead_letter_with_destination_case_and_sequence(hub, sink, clock, caplog) -> None:
    state, _ = sink
    caplog.set_level(logging.DEBUG, logger="hub.outbox")
    case = _register(hub, category_code="0105")
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(120)
    assert (logging.INFO, f"water case {case.number} seq 1 case.registered (attempt 1): delivered") in _lines(caplog)
    assert (logging.INFO, f"water-anyue case {case.number} seq 1 case.registered (attempt 1): delivered") not in _lines(
        caplog
    )  # not routed there: not in 512021

    caplog.clear()
    state.faults = ["500", "500"]
    hub.cases.act(case.number, c.Accept(), AGENT)
    relay.drain(120)
    [retried] = [m for level, m in _lines(caplog) if level == logging.INFO]
    assert retried.startswith(f"water case {case.number} seq 2 case.accepted (attempt 1): failed, retried in ")
    assert "TransientError: peer answered 500" in retried and "(attempt 1 of 2)" in retried
    clock.advance(timedelta(seconds=1))
    relay.drain(120)
    assert [(level, m.split(": dead letter: ")[0]) for level, m in _lines(caplog) if "dead letter" in m] == [
        (logging.WARNING, f"water case {case.number} seq 2 case.accepted (attempt 2)")
    ]
    with hub.db.read() as s:
        assert [m.status for m in s.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.id)).scalars()] == [DELIVERED, DEAD]
    relay.close()


def test_an_adapters_not_sent_note_is_logged_and_personal_data_is_masked(hub, sink, caplog, monkeypatch) -> None:
    from adapters.webhook.adapter import WebhookAdapter

    caplog.set_level(logging.DEBUG, logger="hub.outbox")
    monkeypatch.setattr(WebhookAdapter, "deliver", lambda self, message: Delivery(detail="not sent: the desk takes no case of 13800138000"))
    case = _register(hub, category_code="0105")
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(120)
    said = [m for level, m in _lines(caplog) if level == logging.INFO and case.number in m]
    assert said == [f"water case {case.number} seq 1 case.registered (attempt 1): not sent: the desk takes no case of 138****8000"]
    relay.close()
