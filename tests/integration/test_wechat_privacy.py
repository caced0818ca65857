"""The WeChat follower's binding (#17) is personal data: the openid in the ref `<openid>:<MsgId>`
that ties a follower to the cases they filed on the official account. Retention erases it with
the caller's other data (from the case and from the index of refs, so "我的工单" and a lookup by
openid no longer find the case); the subject-access export, by phone or by openid, includes it.
The hub is a real HTTP server on loopback and the follower the sandbox's, which signs as the
WeChat server does. Expectations are written out here."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import text

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import Role
from records.privacy import subject_access, subject_access_wechat
from records.retention import Retention
from tests.integration.test_wechat import ALICE, BOB, follower, settings, url, wechat_api  # noqa: F401 - the fixtures

AGENT = Actor(party="centre-agent", role=Role.AGENT)
SUPERVISOR = Actor(party="centre-supervisor", role=Role.SUPERVISOR)


def _archive(hub, number: str) -> None:
    for command, actor in (
        (c.Accept(), AGENT),
        (c.AnswerDirectly(answer="已联系城管处理"), AGENT),
        (c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT),
        (c.Archive(), SUPERVISOR),
    ):
        hub.cases.act(number, command, actor)


def _refs(hub) -> list[tuple[str, str, str]]:
    with hub.db.read() as s:
        return [
            tuple(r)
            for r in s.execute(text("SELECT c.number, r.system, r.external_id FROM case_external_refs r JOIN cases c ON c.id = r.case_id ORDER BY c.id"))
        ]


def test_the_export_names_the_binding_and_retention_erases_it(hub, url, clock) -> None:  # noqa: F811
    alice = follower(hub, url)
    first = re.search(r"工单号(\d+)", alice.say("投诉 建设路12号门口垃圾三天没人清运，联系电话13812345678", msg_id=9101)).group(1)
    second = re.search(r"工单号(\d+)", alice.say("建议 建设路公交站增设遮雨棚，雨天候车很不方便", msg_id=9102)).group(1)
    bob = re.search(r"工单号(\d+)", follower(hub, url, BOB).say("求助 楼道灯坏了一周，老人上下楼不安全", msg_id=9201)).group(1)

    # Subject access by openid: both of Alice's cases and their binding, none of Bob's.
    body = subject_access_wechat(hub, ALICE)
    assert body["wechat_openid"] == ALICE
    assert [e["case"]["number"] for e in body["cases"]] == [first, second]
    assert body["cases"][0]["wechat"] == [{"account": "zy-wechat", "openid": ALICE, "message_id": "9101"}]
    assert body["cases"][1]["wechat"] == [{"account": "zy-wechat", "openid": ALICE, "message_id": "9102"}]
    # By the phone she gave in the first message: that case, with its binding.
    (by_phone,) = subject_access(hub, "13812345678")["cases"]
    assert by_phone["case"]["number"] == first and by_phone["wechat"] == [{"account": "zy-wechat", "openid": ALICE, "message_id": "9101"}]
    assert subject_access_wechat(hub, "oNobody_1234567890")["cases"] == []

    _archive(hub, first)
    clock.set(clock.now() + timedelta(days=3 * 366))  # past the default three years
    result = Retention(hub).run()
    assert result.erased == [first]

    case = hub.cases.get(first, AGENT)
    assert case.person.phone is None and case.external_refs == []
    assert "external_refs.wechat" in case.history[-1].data["fields"]
    # Gone from the index of refs too; the other cases keep theirs.
    assert _refs(hub) == [(second, "channel.zy-wechat", f"{ALICE}:9102"), (bob, "channel.zy-wechat", f"{BOB}:9201")]
    assert [e["case"]["number"] for e in subject_access_wechat(hub, ALICE)["cases"]] == [second]
    mine = follower(hub, url).say("我的工单")
    assert second in mine and first not in mine
    assert Retention(hub).run().erased == []  # nothing personal left to erase


def test_the_export_command_takes_an_openid(hub, url, monkeypatch, tmp_path, capsys) -> None:  # noqa: F811
    import json

    from hub.cli import main

    number = re.search(r"工单号(\d+)", follower(hub, url).say("咨询 新生儿医保在哪里办理，需要哪些材料？", msg_id=9301)).group(1)
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.database_url)
    out = tmp_path / "sar.json"
    assert main(["privacy", "export", "--wechat-openid", ALICE, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 cases" in printed and ALICE not in printed  # the console names the count and the file only
    body = json.loads(out.read_text(encoding="utf-8"))
    assert [e["case"]["number"] for e in body["cases"]] == [number] and body["cases"][0]["wechat"][0]["openid"] == ALICE
    assert main(["privacy", "export", "--wechat-openid", "a%b", "--out", str(out)]) == 2
    assert "--wechat-openid" in capsys.readouterr().err
