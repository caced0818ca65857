"""Open311 GeoReport v2 (/open311/v2, #17): discovery, services in Chinese, a channel key filing a
request through the channel intake and reading back only its own, in JSON and XML, and every
refusal as GeoReport's error list with a proper 4xx. In-process (ASGI) on a real database
(SQLite file and PostgreSQL). Expected values are written out here from the GeoReport v2
specification and mappings/channels/open311.yaml, not computed with channels/."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from hub.domain.model import Role
from hub.settings import ChannelSettings, Settings
from tests.support.factories import draft

REPORT = {
    "service_code": "0102",
    "lat": "30.1286",
    "long": "104.6278",
    "address_string": "雁江区建设路12号",
    "description": "路灯不亮，夜间行人看不清路。",
    "phone": "13800138000",
    "first_name": "三",
    "last_name": "张",
    "email": "zhangsan@example.com",
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", channels=ChannelSettings(intake_per_minute=4))


@pytest.fixture
def keys(hub) -> dict[str, str]:
    now = hub.clock.now()
    return {
        "app": hub.keys.create("zy-app", Role.CHANNEL, now, channel="app"),
        "portal": hub.keys.create("city-portal", Role.CHANNEL, now, channel="web"),
        "agent": hub.keys.create("centre-agent", Role.AGENT, now),
    }


def file(client, key: str, **changes) -> str:
    resp = client.post("/open311/v2/requests.json", data={**REPORT, "api_key": key, **changes})
    assert resp.status_code == 201, resp.text
    [created] = resp.json()
    return created["service_request_id"]


def test_discovery_and_services_in_chinese(client) -> None:
    found = client.get("/open311/v2/discovery.json").json()
    [endpoint] = found["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}

    services = client.get("/open311/v2/services.json").json()
    lights = next(s for s in services if s["service_code"] == "0102")
    assert lights == {
        "service_code": "0102",
        "service_name": "市政道路与设施",
        "description": "市政道路与设施",
        "metadata": True,
        "type": "realtime",
        "keywords": "道路,路灯,井盖,坑洼",
        "group": "城乡建设",
    }
    assert len(services) == 15  # the entries of mappings/channels/open311.yaml
    assert "0302" not in {s["service_code"] for s in services}  # 社会保险: a person's matter, not offered

    definition = client.get("/open311/v2/services/0102.json").json()
    [attribute] = definition["attributes"]
    assert attribute["code"] == "division_code" and attribute["datatype"] == "singlevaluelist"
    assert attribute["required"] is False
    assert {"key": "512002", "name": "雁江区"} in attribute["values"]
    assert client.get("/open311/v2/services.json", params={"jurisdiction_id": "512000"}).status_code == 200


def test_services_and_discovery_in_xml(client) -> None:
    resp = client.get("/open311/v2/services.xml")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == "services"
    first = root.find("service")
    assert first.findtext("service_code") == "0101" and first.findtext("service_name") == "城市管理与市容环境"
    assert first.findtext("metadata") == "true"
    definition = ET.fromstring(client.get("/open311/v2/services/0102.xml").content)
    assert definition.tag == "service_definition"
    assert definition.find("attributes/attribute/values/value/key") is not None
    assert ET.fromstring(client.get("/open311/v2/discovery.xml").content).findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"


def test_a_channel_files_a_request_and_reads_it_back(client, keys, hub) -> None:
    resp = client.post("/open311/v2/requests.json", data={**REPORT, "api_key": keys["app"], "jurisdiction_id": "512000"})
    assert resp.status_code == 201, resp.text
    [created] = resp.json()
    number = created["service_request_id"]
    assert number.startswith("512000") and created["service_notice"] == "可凭工单号和短信中的提取码在12345查询办理进度"

    # The case is the channel's: its channel, the mapping's type, the city's division (no attribute given).
    agent = {"X-API-Key": keys["agent"]}
    case = client.get(f"/api/v1/cases/{number}", headers=agent).json()
    assert case["intake"]["channel"] == "app" and case["request_type"] == "complaint"
    assert case["category_code"] == "0102" and case["place"]["division_code"] == "512000"
    assert case["place"]["latitude"] == 30.1286 and case["place"]["longitude"] == 104.6278
    assert case["person"]["name"] == "张三" and case["person"]["phone"] == "13800138000"
    assert case["title"] == "路灯不亮，夜间行人看不清路。"
    assert "zhangsan@example.com" not in str(case)  # the e-mail is not kept

    [read] = client.get(f"/open311/v2/requests/{number}.json", params={"api_key": keys["app"]}).json()
    assert read == {
        "service_request_id": number,
        "status": "open",
        "status_notes": "已登记，等待受理",
        "service_name": "市政道路与设施",
        "service_code": "0102",
        "agency_responsible": "资阳市12345政务服务便民热线",
        "service_notice": "可凭工单号和短信中的提取码在12345查询办理进度",
        "requested_datetime": "2025-09-26T10:00:00+08:00",
        "updated_datetime": "2025-09-26T10:00:00+08:00",
        "address": "雁江区建设路12号",
        "lat": 30.1286,
        "long": 104.6278,
    }
    # No personal data in what a channel reads back.
    text = client.get(f"/open311/v2/requests/{number}.json", headers={"X-API-Key": keys["app"]}).text
    for personal in ("张三", "13800138000", "138****8000", "路灯不亮"):
        assert personal not in text

    # Another channel, and the centre's key, do not read it here.
    assert client.get(f"/open311/v2/requests/{number}.json", params={"api_key": keys["portal"]}).status_code == 404
    assert client.get(f"/open311/v2/requests/{number}.json", params={"api_key": keys["agent"]}).status_code == 403


def test_status_follows_the_case_and_the_unit_becomes_responsible(client, keys) -> None:
    number = file(client, keys["app"], **{"attribute[division_code]": "512002"})
    agent = {"X-API-Key": keys["agent"]}
    for action in ({"action": "accept"}, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"}):
        assert client.post(f"/api/v1/cases/{number}/actions", json=action, headers=agent).status_code == 200
    [read] = client.get(f"/open311/v2/requests/{number}.json", params={"api_key": keys["app"]}).json()
    assert read["status"] == "open" and read["status_notes"] == "办理中"
    assert read["agency_responsible"] == "资阳市市场监督管理局"
    other = file(client, keys["app"])
    assert (
        client.post(f"/api/v1/cases/{other}/actions", json={"action": "reject", "reason_code": "other", "reason": "重复诉求"}, headers=agent).status_code == 200
    )
    [rejected] = client.get(f"/open311/v2/requests/{other}.json", params={"api_key": keys["app"]}).json()
    assert rejected["status"] == "closed" and rejected["status_notes"] == "不予受理"

    listed = client.get("/open311/v2/requests.json", params={"api_key": keys["app"], "status": "closed"}).json()
    assert [r["service_request_id"] for r in listed] == [other]
    listed = client.get("/open311/v2/requests.json", params={"api_key": keys["app"], "status": "open"}).json()
    assert [r["service_request_id"] for r in listed] == [number]
    both = client.get("/open311/v2/requests.json", params={"api_key": keys["app"], "service_request_id": f"{number},{other},51200020259999999"}).json()
    assert {r["service_request_id"] for r in both} == {number, other}


def test_list_only_the_keys_own_by_service_and_date(client, keys) -> None:
    lights = file(client, keys["app"])
    noise = file(client, keys["app"], service_code="0403")
    file(client, keys["portal"])
    # A case the channel API registered is the key's too; one the centre registered is not.
    client.post("/api/v1/cases", json=draft(), headers={"X-API-Key": keys["agent"]})
    mine = client.get("/open311/v2/requests.json", params={"api_key": keys["app"]}).json()
    assert [r["service_request_id"] for r in mine] == [noise, lights]  # newest first
    only_noise = client.get("/open311/v2/requests.json", params={"api_key": keys["app"], "service_code": "0403"}).json()
    assert [r["service_request_id"] for r in only_noise] == [noise]
    # The cases were received at 2025-09-26T10:00+08:00 (the test clock).
    before = client.get("/open311/v2/requests.json", params={"api_key": keys["app"], "end_date": "2025-09-26T09:00:00+08:00"})
    assert before.json() == []
    window = client.get(
        "/open311/v2/requests.json", params={"api_key": keys["app"], "start_date": "2025-09-26T09:00:00+08:00", "end_date": "2025-09-26T11:00:00+08:00"}
    )
    assert len(window.json()) == 2

    xml = client.get("/open311/v2/requests.xml", params={"api_key": keys["app"]})
    root = ET.fromstring(xml.content)
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [noise, lights]
    assert root.find("request").findtext("status") == "open"


def test_the_key_in_the_url_is_taken_too(client, keys) -> None:
    resp = client.post("/open311/v2/requests.json", params={"api_key": keys["app"]}, data=REPORT)
    assert resp.status_code == 201, resp.text


def test_json_body_idempotency_key_and_xml_answer(client, keys) -> None:
    body = {**REPORT, "lat": 30.1286, "long": 104.6278}
    headers = {"X-API-Key": keys["app"], "Idempotency-Key": "app-88121"}
    first = client.post("/open311/v2/requests.xml", json=body, headers=headers)
    assert first.status_code == 201 and first.headers["content-type"].startswith("text/xml")
    number = ET.fromstring(first.content).findtext("request/service_request_id")
    again = client.post("/open311/v2/requests.json", json=body, headers=headers)
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == number


@pytest.mark.parametrize(
    "changes, status, names",
    [
        ({"service_code": "0302"}, 400, "service_code"),  # not offered
        ({"lat": None, "long": None, "address_string": None}, 400, "address_string"),
        ({"phone": "电话号码"}, 400, "phone"),
        ({"lat": "north"}, 400, "lat"),
        ({"attribute[division_code]": "110101"}, 400, "attribute[division_code]"),
        ({"colour": "red"}, 400, "colour"),
        ({"jurisdiction_id": "110000"}, 404, "jurisdiction_id"),
    ],
)
def test_bad_requests_are_refused_in_georeport_shape(client, keys, changes, status, names) -> None:
    data = {k: v for k, v in {**REPORT, "api_key": keys["app"], **changes}.items() if v is not None}
    resp = client.post("/open311/v2/requests.json", data=data)
    assert resp.status_code == status, resp.text
    [error] = resp.json()
    assert error["code"] == status and names in error["description"]


def test_keys_and_refusals_in_xml(client, keys) -> None:
    no_key = client.post("/open311/v2/requests.json", data=REPORT)
    assert no_key.status_code == 401 and no_key.json()[0]["code"] == 401
    bad_key = client.get("/open311/v2/requests.json", params={"api_key": "hub_0123456789ab_" + "x" * 40})
    assert bad_key.status_code == 401
    centre = client.post("/open311/v2/requests.json", data={**REPORT, "api_key": keys["agent"]})
    assert centre.status_code == 403 and "channel" in centre.json()[0]["description"]
    xml = client.get("/open311/v2/services/9999.xml")
    assert xml.status_code == 404 and xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "errors" and root.findtext("error/code") == "404"
    assert "9999" in root.findtext("error/description")
    unknown = client.get("/open311/v2/services.json", params={"colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.json()[0]["description"]
    naive = client.get("/open311/v2/requests.json", params={"api_key": keys["app"], "start_date": "2025-09-01T00:00:00"})
    assert naive.status_code == 400 and "start_date" in naive.json()[0]["description"]
    text = client.post("/open311/v2/requests.json", content=b"<x/>", headers={"content-type": "text/plain", "X-API-Key": keys["app"]})
    assert text.status_code == 415


def test_the_channel_rate_limit_holds_for_open311(client, keys) -> None:
    for _ in range(4):  # intake_per_minute=4 in these settings
        file(client, keys["app"])
    limited = client.post("/open311/v2/requests.json", data={**REPORT, "api_key": keys["app"]})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()[0]["code"] == 429


def test_a_token_is_the_request_id_given_at_once(client, keys) -> None:
    # The POST answers with the id at once; a client asking tokens/{token} anyway gets it back.
    number = file(client, keys["app"])
    resp = client.get(f"/open311/v2/tokens/{number}.json", params={"api_key": keys["app"]})
    assert resp.status_code == 200 and resp.json() == [{"service_request_id": number, "token": number}]
    xml = ET.fromstring(client.get(f"/open311/v2/tokens/{number}.xml", params={"api_key": keys["app"]}).content)
    assert xml.tag == "service_requests"
    assert (xml.findtext("request/service_request_id"), xml.findtext("request/token")) == (number, number)
    # Not another channel's, not an unknown one, not without a key: GeoReport's error list.
    other = client.get(f"/open311/v2/tokens/{number}.json", params={"api_key": keys["portal"]})
    assert other.status_code == 404 and other.json()[0]["code"] == 404
    assert client.get("/open311/v2/tokens/51200020259999.json", params={"api_key": keys["app"]}).status_code == 404
    assert client.get(f"/open311/v2/tokens/{number}.json").status_code == 401


def test_media_url_is_a_link_line_in_the_content_never_fetched(client, keys) -> None:
    url = "https://img.example.cn/reports/42.jpg"
    number = file(client, keys["app"], media_url=url)
    case = client.get(f"/api/v1/cases/{number}", headers={"X-API-Key": keys["agent"]}).json()
    assert case["content"] == f"路灯不亮，夜间行人看不清路。\n图片：{url}"
    assert case["links"]["attachments"] == []  # nothing fetched, nothing stored
