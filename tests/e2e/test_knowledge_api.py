"""The knowledge base over HTTP (real server on loopback, SQLite and PostgreSQL): writing,
versions, review and permissions, search, import, the change feed, suggestions for a
case and the direct answer (直接答复) recorded with the article version."""

from __future__ import annotations

import json

import pytest

from tests.support.factories import draft

pytestmark = pytest.mark.e2e

KB = "/api/v1/knowledge"
ARTICLE = {
    "owner_unit": "ZY-SCJGJ",
    "kind": "service_guide",
    "categories": ["0201"],
    "tags": ["消费维权", "12315"],
    "title": "消费者权益受损如何投诉（12315）",
    "body": "消费者合法权益受到损害的，可以通过全国12315平台或拨打12315、12345投诉，提供购物凭证和问题描述。",
}


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()


def _ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()


def _published(api, body: dict | None = None) -> dict:
    article = _ok(api["unit"].post(f"{KB}/articles", json=body or ARTICLE), 201)
    _ok(api["supervisor"].post(f"{KB}/articles/{article['id']}/review", json={"action": "review"}))
    return _ok(api["supervisor"].post(f"{KB}/articles/{article['id']}/review", json={"action": "publish"}))


def test_review_flow_versions_and_permissions(api) -> None:
    # Only a unit's key writes, and only for its own unit.
    assert "unit" in _problem(api["agent"].post(f"{KB}/articles", json=ARTICLE), 403)["detail"]
    assert "ZY-SCJGJ" in _problem(api["other_unit"].post(f"{KB}/articles", json=ARTICLE), 403)["detail"]
    article = _ok(api["unit"].post(f"{KB}/articles", json=ARTICLE), 201)
    aid = article["id"]
    assert aid.startswith("KB") and article["latest_status"] == "draft" and article["published_version"] is None
    # Drafts are not for other parties; the owner and the centre see them.
    _problem(api["other_unit"].get(f"{KB}/articles/{aid}"), 404)
    assert _ok(api["agent"].get(f"{KB}/articles/{aid}"))["latest_status"] == "draft"
    # A unit neither reviews nor publishes; the refusal names what is allowed.
    refused = _problem(api["unit"].post(f"{KB}/articles/{aid}/review", json={"action": "review"}), 409)
    assert refused["state"] == "draft" and refused["allowed_actions"] == []
    refused = _problem(api["supervisor"].post(f"{KB}/articles/{aid}/review", json={"action": "publish"}), 409)
    assert refused["allowed_actions"] == ["review", "send_back"]
    _ok(api["supervisor"].post(f"{KB}/articles/{aid}/review", json={"action": "review", "note": "内容准确"}))
    published = _ok(api["supervisor"].post(f"{KB}/articles/{aid}/review", json={"action": "publish"}))
    assert published["published_version"] == 1 and published["latest_status"] == "published"
    # Every edit is a new version; the published one stays live until its successor is published.
    edit = {**{k: v for k, v in ARTICLE.items() if k != "owner_unit"}, "body": ARTICLE["body"] + "受理后7个工作日内答复。", "base_version": 1}
    _problem(api["other_unit"].post(f"{KB}/articles/{aid}/versions", json=edit), 403)
    v2 = _ok(api["unit"].post(f"{KB}/articles/{aid}/versions", json=edit), 201)
    assert (v2["latest_version"], v2["latest_status"], v2["published_version"]) == (2, "draft", 1)
    assert "is at version 2" in _problem(api["unit"].post(f"{KB}/articles/{aid}/versions", json=edit), 409)["detail"]
    assert _ok(api["other_unit"].get(f"{KB}/articles/{aid}"))["latest_version"] == 1  # others see the published one
    _ok(api["supervisor"].post(f"{KB}/articles/{aid}/review", json={"action": "review"}))
    v2 = _ok(api["supervisor"].post(f"{KB}/articles/{aid}/review", json={"action": "publish"}))
    assert v2["published_version"] == 2
    versions = _ok(api["unit"].get(f"{KB}/articles/{aid}/versions"))
    assert [(v["version"], v["status"]) for v in versions] == [(1, "superseded"), (2, "published")]
    assert versions[0]["body"] == ARTICLE["body"]  # the old content is kept as it was
    _problem(api["other_unit"].get(f"{KB}/articles/{aid}/history"), 403)
    history = _ok(api["supervisor"].get(f"{KB}/articles/{aid}/history"))
    assert [(h["action"], h["version"], h["to_status"]) for h in history] == [
        ("create", 1, "draft"),
        ("review", 1, "reviewed"),
        ("publish", 1, "published"),
        ("edit", 2, "draft"),
        ("review", 2, "reviewed"),
        ("publish", 2, "published"),
    ]
    assert history[1]["note"] == "内容准确" and history[0]["actor"] == "ZY-SCJGJ"
    # The owner may retire its own article; another unit may not.
    _problem(api["other_unit"].post(f"{KB}/articles/{aid}/review", json={"action": "retire"}), 409)
    retired = _ok(api["unit"].post(f"{KB}/articles/{aid}/review", json={"action": "retire", "note": "政策废止"}))
    assert retired["published_version"] is None and retired["latest_status"] == "retired"
    # Sending back needs a reason.
    other = _ok(api["unit"].post(f"{KB}/articles", json=ARTICLE), 201)
    body = _problem(api["supervisor"].post(f"{KB}/articles/{other['id']}/review", json={"action": "send_back"}), 422)
    assert body["errors"][0]["field"].endswith("note")


def test_bad_input_is_422_naming_the_field(api) -> None:
    body = _problem(api["unit"].post(f"{KB}/articles", json={**ARTICLE, "categories": ["7777"]}), 422)
    assert body["errors"] == [{"field": "categories[0]", "reason": "unknown code '7777'"}]
    body = _problem(api["unit"].post(f"{KB}/articles", json={**ARTICLE, "valid_from": "2025-01-01", "valid_to": "2024-01-01"}), 422)
    assert "valid_to is before valid_from" in body["detail"]
    body = _problem(api["unit"].post(f"{KB}/articles", json={**ARTICLE, "kind": "rumour"}), 422)
    assert body["errors"][0]["field"] == "body.kind"
    _problem(api["unit"].get(f"{KB}/articles/NOPE-1"), 404)
    _problem(api["unit"].get(f"{KB}/search", params={"q": ""}), 422)
    _problem(api["unit"].post(f"{KB}/import", content=b"x", headers={"content-type": "text/plain"}), 415)
    body = _problem(api["unit"].post(f"{KB}/import", content=b"[{", headers={"content-type": "application/json"}), 422)
    assert "not JSON" in body["detail"]


def test_search_endpoint(api) -> None:
    aid = _published(api)["id"]
    found = _ok(api["agent"].get(f"{KB}/search", params={"q": "消费维权怎么投诉"}))
    assert found["hits"][0]["citation"] == f"{aid}@1" and "<mark>" in found["hits"][0]["snippet"]
    assert "消费" in found["terms"] and "怎么" not in found["terms"]
    assert _ok(api["agent"].get(f"{KB}/search", params={"q": "消费维权", "kind": "law"}))["hits"] == []
    assert _ok(api["agent"].get(f"{KB}/search", params={"q": "消费维权", "unit": "ZY-RSJ"}))["hits"] == []


def test_import_json_csv_markdown_and_change_feed(api) -> None:
    items = [{**ARTICLE, "id": "SCJG-IMP-1"}, {**ARTICLE, "id": "SCJG-IMP-2", "owner_unit": "ZY-RSJ"}, {"id": "X"}]
    report = _ok(api["unit"].post(f"{KB}/import", content=json.dumps(items), headers={"content-type": "application/json"}))
    assert report["created"] == ["SCJG-IMP-1"]
    refused = {r["item"]: r for r in report["refused"]}
    assert "ZY-RSJ" in refused["body[1]"]["reason"] and refused["body[2]"]["field"] in ("kind", "title", "body", "owner_unit")
    # The same content again changes nothing; a changed body makes version 2.
    again = _ok(api["unit"].post(f"{KB}/import", content=json.dumps(items[:1]), headers={"content-type": "application/json"}))
    assert again["unchanged"] == ["SCJG-IMP-1"]
    csv_text = (
        "id,owner_unit,kind,title,body,categories,tags\n"
        "SCJG-IMP-1,ZY-SCJGJ,service_guide,消费者权益受损如何投诉（12315）,新的正文：拨打12315投诉。,0201,消费维权;12315\n"
    )
    assert _ok(api["unit"].post(f"{KB}/import", content=csv_text.encode("gb18030"), headers={"content-type": "text/csv"}))["updated"] == ["SCJG-IMP-1"]
    markdown = (
        "---\nid: SCJG-IMP-MD\nowner_unit: ZY-SCJGJ\nkind: faq\ncategories: ['0202']\nvalid_from: 2025-01-01\n---\n"
        "# 外卖食品安全投诉\n\n外卖食品有异物的，可以向12315投诉。\n"
    )
    md = _ok(api["unit"].post(f"{KB}/import", content=markdown.encode(), headers={"content-type": "text/markdown"}))
    assert md["created"] == ["SCJG-IMP-MD"]
    got = _ok(api["unit"].get(f"{KB}/articles/SCJG-IMP-MD"))
    assert got["latest"]["title"] == "外卖食品安全投诉" and got["latest"]["valid_from"] == "2025-01-01"
    # Publishing and retiring are recorded for the province, in order.
    _ok(api["supervisor"].post(f"{KB}/articles/SCJG-IMP-MD/review", json={"action": "review"}))
    _ok(api["supervisor"].post(f"{KB}/articles/SCJG-IMP-MD/review", json={"action": "publish"}))
    _ok(api["supervisor"].post(f"{KB}/articles/SCJG-IMP-MD/review", json={"action": "retire"}))
    feed = _ok(api["province"].get(f"{KB}/changes"))
    assert [(c["article_id"], c["version"], c["event_type"]) for c in feed] == [
        ("SCJG-IMP-MD", 1, "knowledge.published"),
        ("SCJG-IMP-MD", 1, "knowledge.retired"),
    ]
    assert feed[0]["payload"]["title"] == "外卖食品安全投诉"
    assert _ok(api["province"].get(f"{KB}/changes", params={"after": feed[0]["id"]}))[0]["event_type"] == "knowledge.retired"


def _enquiry(api) -> str:
    case = _ok(
        api["agent"].post(
            "/api/v1/cases",
            json=draft(
                request_type="enquiry",
                category_code="0201",
                title="网购商品质量问题如何维权",
                content="市民来电咨询：网购的电器有质量问题，商家不退不换，怎么投诉维权？",
            ),
        ),
        201,
    )
    _ok(api["agent"].post(f"/api/v1/cases/{case['number']}/actions", json={"action": "accept"}))
    return case["number"]


def test_suggest_and_answer_directly_records_the_article_version(api) -> None:
    aid = _published(api)["id"]
    number = _enquiry(api)
    suggested = _ok(api["agent"].get(f"/api/v1/cases/{number}/suggestions"))
    assert suggested["hits"][0]["citation"] == f"{aid}@1"
    answered = _ok(api["agent"].post(f"/api/v1/cases/{number}/answer", json={"answer": "您可以拨打12315或通过全国12315平台投诉。", "articles": [f"{aid}@1"]}))
    assert answered["state"] == "awaiting_follow_up" and answered["links"]["articles"] == [f"{aid}@1"]
    history = _ok(api["agent"].get(f"/api/v1/cases/{number}/history"))
    assert history[-1]["action"] == "answer_directly" and history[-1]["data"]["articles"] == [f"{aid}@1"]
    # The cited version stays readable for everyone, even after a newer one is published.
    assert _ok(api["other_unit"].get(f"{KB}/articles/{aid}/versions/1"))["body"] == ARTICLE["body"]


def test_answer_citing_unpublished_or_retired_articles_is_refused(api) -> None:
    aid = _published(api)["id"]
    draft_only = _ok(api["unit"].post(f"{KB}/articles", json=ARTICLE), 201)["id"]
    number = _enquiry(api)
    answer = {"answer": "请拨打12315。"}
    body = _problem(api["agent"].post(f"/api/v1/cases/{number}/answer", json={**answer, "articles": [f"{draft_only}@1"]}), 422)
    assert body["errors"][0]["field"] == "body.articles[0]" and "not published" in body["errors"][0]["reason"]
    body = _problem(api["agent"].post(f"/api/v1/cases/{number}/answer", json={**answer, "articles": [f"{aid}@2"]}), 422)
    assert "version 1 is published" in body["errors"][0]["reason"]
    _problem(api["agent"].post(f"/api/v1/cases/{number}/answer", json={**answer, "articles": ["bad citation"]}), 422)
    _ok(api["supervisor"].post(f"{KB}/articles/{aid}/review", json={"action": "retire"}))
    # The core action route is checked too, inside the case transaction: nothing is recorded.
    body = _problem(api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "answer_directly", **answer, "articles": [f"{aid}@1"]}), 409)
    assert aid in body["detail"]
    assert _ok(api["agent"].get(f"/api/v1/cases/{number}"))["state"] == "accepted"
