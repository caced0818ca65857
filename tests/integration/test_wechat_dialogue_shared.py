"""The WeChat guided dialogue kept in the database (#17, table `wechat_dialogues`): two hubs on
one database (two `serve` processes behind a proxy that does not route by openid) continue one
follower's dialogue, a WeChat retry to the other hub gets the same reply, the reply kept for
that retry is sealed (no retrieval code in clear in the table), expired rows are pruned by
the next write and by the retention pass, and the subject-access export by openid lists the
answers given so far. Real HTTP servers on loopback, SQLite and PostgreSQL; expectations
written out here."""

from __future__ import annotations

import re
from datetime import timedelta

from alembic import command
from sqlalchemy import inspect, text

from hub.api.app import create_app
from hub.db.migrate import alembic_config
from hub.runtime import build_hub
from records.privacy import subject_access_wechat
from records.retention import Retention
from tests.integration.test_wechat import (  # noqa: F401 - the fixtures
    ALICE,
    BOB,
    case_count,
    follower,
    settings,
    url,
    wechat_api,
)
from tests.support.live import LiveServer

RECEIPT = re.compile(r"^您的(投诉|咨询|求助|建议|举报)已登记，工单号(\d+)，提取码([0-9A-Z]{6})，请妥善保管。")


def _rows(hub) -> list[tuple]:
    with hub.db.read() as s:
        return [tuple(r) for r in s.execute(text("SELECT openid, last_msg_id, last_reply FROM wechat_dialogues ORDER BY openid"))]


def test_two_hubs_on_one_database_continue_one_dialogue(hub, settings, clock, url) -> None:  # noqa: F811
    other = build_hub(settings, clock)
    try:
        with LiveServer(create_app(other)) as live:
            at_a = follower(hub, url)
            at_b = follower(hub, f"{live.url}/api/v1/channel/wechat")
            assert at_a.say("1").startswith("请选择诉求类型")
            assert at_b.say("2").startswith("请选择事项分类")  # 咨询, on the other hub
            assert at_a.say("跳过").startswith("请描述具体情况")
            assert at_a.say("新生儿医保在哪里办理，需要带哪些材料？").startswith("请告诉我们事情发生的地点")
            assert at_b.say("雁江区").startswith("请留下手机号")
            confirm = at_a.say("13812345678")
            assert confirm.startswith("请确认您的诉求：\n类型：咨询\n内容：新生儿医保在哪里办理，需要带哪些材料？\n地点：雁江区\n手机：138****5678")
            receipt = at_b.say("1", msg_id=77001)
            found = RECEIPT.match(receipt)
            assert found is not None and found.group(1) == "咨询", receipt
            # WeChat retries the message at the first hub: the same reply, no second case, no step.
            assert at_a.say("1", msg_id=77001) == receipt
            assert case_count(hub) == 1
            # The reply kept for that retry does not show the retrieval code in the table.
            ((openid, msg_id, sealed),) = _rows(hub)
            assert (openid, msg_id) == (ALICE, 77001) and found.group(3) not in sealed and found.group(2) not in sealed
            # The dialogue is over on both hubs: the next message is an ordinary one.
            assert "请回复数字" in at_b.say("你好")
    finally:
        other.close()


def test_the_export_lists_the_answers_so_far_and_expired_dialogues_are_pruned(hub, url, clock) -> None:  # noqa: F811
    alice, bob = follower(hub, url), follower(hub, url, BOB)
    alice.say("1")
    alice.say("1")
    alice.say("跳过")
    alice.say("建设路12号工地夜间施工，噪音很大，电话13912345678")
    exported = subject_access_wechat(hub, ALICE)["wechat_dialogue"]
    assert exported["answers_so_far"]["step"] == "place"
    assert exported["answers_so_far"]["phone"] == "13912345678" and exported["answers_so_far"]["kind"] == "complaint"
    assert exported["expires_at"] == (clock.now() + timedelta(minutes=30)).isoformat()
    assert subject_access_wechat(hub, BOB)["wechat_dialogue"] is None

    # Past dialogue_minutes: Bob's first message prunes Alice's row in its own write.
    clock.set(clock.now() + timedelta(minutes=31))
    bob.say("1")
    assert [r[0] for r in _rows(hub)] == [BOB]
    assert subject_access_wechat(hub, ALICE)["wechat_dialogue"] is None

    # An account gone quiet: the retention pass prunes what is left.
    clock.set(clock.now() + timedelta(minutes=31))
    assert Retention(hub).run().dialogues_pruned == 1
    assert _rows(hub) == []
    assert case_count(hub) == 0


def test_the_migration_steps_back_and_forth(hub) -> None:
    cfg = alembic_config(hub.db.writer)
    command.downgrade(cfg, "0022_wechat_dialogues@-1")
    with hub.db.writer.connect() as conn:
        assert "wechat_dialogues" not in inspect(conn).get_table_names()
    command.upgrade(cfg, "heads")
    with hub.db.writer.connect() as conn:
        assert {c["name"] for c in inspect(conn).get_columns("wechat_dialogues")} == {"openid", "state", "last_msg_id", "last_reply", "expires_at"}
