"""Issue #17: "Tested end to end with an off-the-shelf Open311 client library from PyPI against
the running hub". The client is civicbot's `Open311Client` (PyPI `civicbot`, a GeoReport v2
client written for city APIs, standard library only; in the test extras): it discovers the
services, validates and files a request with the api_key in the form, and reads it back, over
real HTTP on loopback. The hub reads requests back only to the key that filed them, so the
client's own transport hook (its documented `transport=` argument) adds the key to its reads of
requests and tokens, as
it would for any deployment that keys reads. Expected values written from the specification and
the request filed, not from the hub's code. XML is covered on the wire by
test_open311_http.py: this client speaks JSON only."""

from __future__ import annotations

from typing import Any

import pytest

from hub.domain.model import Role

civicbot_open311 = pytest.importorskip("civicbot.open311", reason="civicbot not installed (pip install -e '.[test]')")
from civicbot.http import HttpError, HttpTransport  # noqa: E402
from civicbot.registry import Endpoint  # noqa: E402


class _KeyedReads(HttpTransport):
    def __init__(self, api_key: str) -> None:
        super().__init__(timeout=30)
        self.api_key = api_key

    def get_json(self, url: str, params: Any = None, headers: Any = None) -> Any:
        keyed = "/requests" in url or "/tokens/" in url  # the service list is public and takes no key
        return super().get_json(url, {**dict(params or {}), "api_key": self.api_key} if keyed else params, headers)


def _client(server_url: str, transport: HttpTransport) -> Any:
    endpoint = Endpoint(id="ziyang-12345", name="资阳 12345", base_url=server_url + "/open311/v2", write=True)
    return civicbot_open311.Open311Client(endpoint, transport=transport)


def test_an_off_the_shelf_open311_client_files_and_reads_a_request(hub, server) -> None:
    key = hub.keys.create("zy-app", Role.CHANNEL, hub.clock.now(), channel="app")
    client = _client(server.url, _KeyedReads(key))

    services = client.list_services()
    assert services and all({"service_code", "service_name"} <= s.keys() for s in services)
    code = str(services[0]["service_code"])

    filed = client.create_request(
        code,
        dry_run=False,
        confirm="SEND",
        api_key=key,
        validate_remote=True,
        lat=30.1286,
        lng=104.6278,
        address_string="雁江区建设路12号",
        description="垃圾堆放无人清理",
        phone="13800138000",
    )
    [answer] = filed.response
    number = answer["service_request_id"]
    assert number

    request = client.get_request(number)
    assert request["service_request_id"] == number
    assert str(request["service_code"]) == code
    assert request["status"] == "open"
    assert float(request["lat"]) == pytest.approx(30.1286) and float(request["long"]) == pytest.approx(104.6278)
    assert "13800138000" not in str(request)  # the citizen view carries no phone

    [listed] = client.list_requests(service_request_ids=[number])
    assert listed["service_request_id"] == number

    [token] = client.get_token(number)
    assert token["service_request_id"] == number


def test_the_client_meets_the_hubs_refusals(hub, server) -> None:
    key = hub.keys.create("zy-app", Role.CHANNEL, hub.clock.now(), channel="app")
    filed = _client(server.url, _KeyedReads(key)).create_request(
        str(_client(server.url, HttpTransport(timeout=30)).list_services()[0]["service_code"]),
        dry_run=False,
        confirm="SEND",
        api_key=key,
        address_string="安岳县岳阳镇",
        description="路灯不亮",
    )
    number = filed.response[0]["service_request_id"]

    # Without a key the hub does not say whether the request exists: 401, as GeoReport's error list.
    with pytest.raises(HttpError) as unkeyed:
        _client(server.url, HttpTransport(timeout=30)).get_request(number)
    assert unkeyed.value.status == 401

    # A service the hub does not offer is refused by the hub, not only by the client's own check.
    with pytest.raises(HttpError) as unknown:
        _client(server.url, _KeyedReads(key)).create_request(
            "no-such-service", dry_run=False, confirm="SEND", api_key=key, address_string="雁江区", description="x"
        )
    assert 400 <= unknown.value.status < 500
