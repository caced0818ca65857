"""The WeChat channel's pieces that need no server (#17): the template-message file's checks at
start, the openid mask, WeChat's query values masked in every log line, and the safe XML
reader. The door itself, over HTTP with signed messages: tests/integration/test_wechat.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.wechat.ids import mask_openid
from channels.wechat import Unreadable, safe_xml
from channels.wechat_push import load_push_templates
from hub.logmask import mask_text
from hub.mappings import MappingError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_templates_fill_in() -> None:
    templates = load_push_templates(REPO_ROOT / "mappings")
    body = templates.message("closed", "oOpenid", {"number": "N1", "title": "T", "status": "已办结"})
    assert body == {
        "touser": "oOpenid",
        "template_id": "sandbox-closed",
        "data": {
            "first": {"value": "您的工单已办结"},
            "keyword1": {"value": "N1"},
            "keyword2": {"value": "已办结"},
            "remark": {"value": "感谢您对12345热线的支持。"},
        },
    }


@pytest.mark.parametrize(
    ("body", "line_no", "reason"),
    [
        ("templates:\n  - event: closed\n    template_id: t1\n    fields: {first: '{phone}'}\n", 2, "unknown placeholder"),
        ("templates:\n  - event: closed\n    template_id: t1\n    fields: {first: '{number}'}\n", 1, "no template for"),
        ("templates:\n  - event: nonsense\n    template_id: t1\n    fields: {first: a}\n", 2, "closed"),
        ("templates:\n  - event: closed\n    template_id: 't 1'\n    fields: {first: a}\n", 2, "template_id"),
    ],
)
def test_a_bad_template_file_names_the_line_and_why(tmp_path: Path, body: str, line_no: int, reason: str) -> None:
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "wechat_templates.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(MappingError) as refused:
        load_push_templates(tmp_path)
    assert refused.value.file.endswith("wechat_templates.yaml")
    assert reason in str(refused.value)
    assert refused.value.line is not None and refused.value.line >= line_no


def test_an_openid_is_masked_to_its_ends() -> None:
    assert mask_openid("oAlice1234567890abcdefghijkl") == "oAli****ijkl"
    assert mask_openid("short") == "****" and mask_openid(None) == "-"


def test_wechat_query_values_are_masked_in_every_log_line() -> None:
    line = "POST /api/v1/channel/wechat?signature=ab12&openid=oAlice1234567890abcdefghijkl&nonce=x 200"
    assert mask_text(line) == "POST /api/v1/channel/wechat?signature=ab12&openid=oAli****ijkl&nonce=x 200"
    token_url = 'GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=s3cr3t "HTTP/1.1"'
    assert mask_text(token_url) == 'GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=**** "HTTP/1.1"'
    assert mask_text("POST /cgi-bin/message/template/send?access_token=ACCESS_TOKEN_1") == "POST /cgi-bin/message/template/send?access_token=****"


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',  # entity expansion
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',  # XXE
        b"<!DOCTYPE xml><xml></xml>",  # any DTD at all
        b"<xml><Content>unclosed</xml>",
        b"",
    ],
)
def test_unsafe_or_broken_xml_is_refused(body: bytes) -> None:
    with pytest.raises(Unreadable):
        safe_xml(body)


def test_a_plain_wechat_message_is_read() -> None:
    safe_xml("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[投诉 噪音]]></Content></xml>".encode())


def test_the_encoding_aes_key_must_be_what_the_platform_shows() -> None:
    from pydantic import ValidationError

    from hub.settings import WeChatSettings

    good = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 base64 characters: 32 bytes
    assert WeChatSettings(app_id="wx1", token="tok", encoding_aes_key=good).encoding_aes_key is not None
    with pytest.raises(ValidationError, match="not base64"):
        WeChatSettings(app_id="wx1", token="tok", encoding_aes_key="!" * 43)
    with pytest.raises(ValidationError, match="43"):
        WeChatSettings(app_id="wx1", token="tok", encoding_aes_key=good[:-1])
