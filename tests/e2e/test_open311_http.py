"""Open311 GeoReport v2 over real HTTP (#17): a GeoReport client's calls as it makes them
(form-encoded POST with the api_key in the form, GET with it in the query, XML by extension)
against the hub on loopback. The routes' every branch is in tests/integration/test_open311.py;
this is the wire. Expected values written from the specification."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx

from hub.domain.model import Role


def test_a_georeport_client_files_and_follows_a_request(hub, server) -> None:
    key = hub.keys.create("zy-app", Role.CHANNEL, hub.clock.now(), channel="app")
    with httpx.Client(base_url=server.url + "/open311/v2", timeout=30) as open311:
        services = ET.fromstring(open311.get("services.xml").content)
        code = services.find("service/service_code").text
        created = open311.post(
            "requests.json",
            data={
                "api_key": key,
                "service_code": code,
                "lat": "30.1286",
                "long": "104.6278",
                "address_string": "雁江区建设路12号",
                "description": "垃圾堆放无人清理",
                "phone": "13800138000",
            },
        )
        assert created.status_code == 201, created.text
        assert created.headers["content-type"] == "application/json"
        number = created.json()[0]["service_request_id"]

        read = open311.get(f"requests/{number}.xml", params={"api_key": key})
        assert read.status_code == 200 and read.headers["content-type"] == "text/xml; charset=utf-8"
        request = ET.fromstring(read.content).find("request")
        assert request.findtext("service_request_id") == number and request.findtext("status") == "open"
        assert request.findtext("service_code") == code and request.findtext("lat") == "30.1286"
        assert "13800138000" not in read.text

        refused = open311.get(f"requests/{number}.json")
        assert refused.status_code == 401 and refused.json()[0]["code"] == 401

        # A client that asks tokens/{token} after the POST (GeoReport's deferred ids) gets the id back.
        token = ET.fromstring(open311.get(f"tokens/{number}.xml", params={"api_key": key}).content).find("request")
        assert (token.findtext("service_request_id"), token.findtext("token")) == (number, number)
