"""Which events send an SMS is configurable per event (#17, `channels.sms_events`): with the
reply and the follow-up invitation switched off, the citizen still gets the receipt with the
code, and nothing else is queued for the SMS gateway. Expectations written out here."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hub.settings import ChannelSettings, DestinationConfig, Settings
from tests.integration.test_channels import SEAL_KEY, doors, file_web_case, to_approved_reply  # noqa: F401 - the fixture


@pytest.fixture
def settings(db_url: str) -> Settings:
    sms = DestinationConfig(adapter="sms", settings={"url": "http://127.0.0.1:9/send", "seal_key": SEAL_KEY})
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={"sms": sms},
        channels=ChannelSettings(sms_events={"registered": True, "reply_approved": False, "follow_up_invitation": False, "closed": False}),
    )


def test_an_event_switched_off_sends_no_sms(doors, hub) -> None:  # noqa: F811
    number, _ = file_web_case(doors)
    to_approved_reply(doors, number)
    with hub.db.read() as s:
        rows = s.execute(text("SELECT event_type FROM outbox_messages WHERE destination = 'sms' AND case_number = :n ORDER BY id"), {"n": number}).all()
    assert [r[0] for r in rows] == ["sms.registered"]
