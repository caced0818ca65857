"""docs/adapter-contract.md shows a real message, a `case.registered` and a later
`case.replied`, as an adapter's deliver() receives them. They are made here by a real hub on
a SQLite file: a category-scoped destination (the webhook adapter, to the sandbox sink over
loopback), a case taken from registration to reply, the relay delivering both. The doc's
blocks must equal what the sink received, so the sample stays true when the model changes.

After a deliberate change to the message or the case, rewrite the blocks with
`UPDATE_DOC_SAMPLES=1 pytest tests/integration/test_contract_doc_sample.py` and read the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.factories import draft
from tests.support.live import LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapter-contract.md"
AGENT = Actor(party="centre-agent", role=Role.AGENT)
UNIT = Actor(party="ZY-ZJJ", role=Role.UNIT, unit_code="ZY-ZJJ")


def _block(text: str, event_type: str) -> re.Match[str]:
    found = re.search(rf"<!-- sample: {re.escape(event_type)} -->\n```json\n(.*?)```\n", text, re.S)
    assert found is not None, f"{DOC} has no block after '<!-- sample: {event_type} -->'"
    return found


@pytest.fixture
def received(tmp_path: Path, clock) -> dict[str, dict]:
    from hub.runtime import build_hub

    state = SinkState()
    with LiveServer(create_sink(state)) as live:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'hub.db'}",
            sqlite_synchronous="NORMAL",
            outbox=OutboxSettings(concurrency=1),
            destinations={
                "gas-desk": {
                    "adapter": "webhook",
                    "events": ["case.registered", "case.replied"],
                    "cases": {"categories": ["0105"]},
                    "settings": {"url": f"{live.url}/events", "system": "gas_desk"},
                }
            },
        )
        hub = build_hub(settings, clock)
        try:
            from hub.db.migrate import upgrade

            upgrade(hub.db.writer)
            number = hub.cases.register(
                CaseDraft.model_validate(draft(category_code="0105", title="小区停水", content="小区自昨晚起停水，请求尽快恢复供水。")), AGENT
            ).case.number
            relay = hub.handles.get(OutboxHandle).relay()
            relay.drain(120)
            for command, actor in [
                (c.Accept(), AGENT),
                (c.Dispatch(lead_unit="ZY-ZJJ"), AGENT),
                (c.SignOff(), UNIT),
                (c.ReplyCmd(text="已联系供水公司抢修，今日已恢复供水。"), UNIT),
            ]:
                clock.advance(timedelta(minutes=40))
                hub.cases.act(number, command, actor)
            relay.drain(120)
            relay.close()
        finally:
            hub.close()
    with state.lock:
        return {state.received[k]["event_type"]: state.received[k] for k in state.order}


def test_the_contract_docs_message_samples_are_what_an_adapter_receives(received) -> None:
    assert list(received) == ["case.registered", "case.replied"]
    # What the sample is meant to show, said independently of the rendering below:
    registered, replied = received["case.registered"], received["case.replied"]
    assert registered["external_id"] is None and registered["sequence"] == 1
    assert replied["sequence"] == 2 and replied["external_id"]  # the id the peer gave for the first message
    assert replied["case"]["person"]["name"] == "张*"  # personal_data: false masks the person
    text = DOC.read_text(encoding="utf-8")
    for event_type, message in received.items():
        rendered = json.dumps(message, ensure_ascii=False, indent=2) + "\n"
        found = _block(text, event_type)
        if os.environ.get("UPDATE_DOC_SAMPLES"):
            text = text[: found.start(1)] + rendered + text[found.end(1) :]
            continue
        assert found.group(1) == rendered, (
            f"the {event_type} sample in {DOC} is not what an adapter receives; rewrite it with UPDATE_DOC_SAMPLES=1 (see this file's docstring)"
        )
    if os.environ.get("UPDATE_DOC_SAMPLES"):
        DOC.write_text(text, encoding="utf-8")
