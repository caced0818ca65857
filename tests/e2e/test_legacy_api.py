"""/api/v1/legacy over loopback: supervisors review duplicate candidates; others may not."""

from __future__ import annotations

import httpx

from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.importing.importer import LegacyImporter
from tests.fixtures.legacy.samples import CSV_12315, JSONL_12369


def test_supervisors_list_confirm_and_dismiss_candidates(hub, api):
    imp = LegacyImporter(hub, hub.handles.get(Legacy).config, progress=None)
    imp.run("12315", CSV_12315)
    imp.run("12369", JSONL_12369)
    listed = api["supervisor"].get("/api/v1/legacy/candidates")
    assert listed.status_code == 200
    body = listed.json()
    assert len(body) == 2 and all(c["status"] == "pending" and c["score"] >= 0.55 for c in body)
    heater = next(c for c in body if c["line_a"] == c["line_b"] == "12315")
    across = next(c for c in body if c["line_b"] == "12369")

    confirmed = api["supervisor"].post(f"/api/v1/legacy/candidates/{heater['id']}/confirm", json={"note": "same heater"})
    assert confirmed.status_code == 200 and confirmed.json()["resolution"] == "merged"
    assert api["supervisor"].get(f"/api/v1/cases/{heater['case_b']}").json()["state"] == "merged"
    again = api["supervisor"].post(f"/api/v1/legacy/candidates/{heater['id']}/confirm")
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")

    dismissed = api["supervisor"].post(f"/api/v1/legacy/candidates/{across['id']}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert api["supervisor"].get("/api/v1/legacy/candidates").json() == []
    assert len(api["supervisor"].get("/api/v1/legacy/candidates", params={"status": "confirmed"}).json()) == 1

    missing = api["supervisor"].post("/api/v1/legacy/candidates/999999/dismiss")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "path.candidate_id"
    bad = api["supervisor"].get("/api/v1/legacy/candidates", params={"min_score": 2})
    assert bad.status_code == 422 and "min_score" in bad.json()["errors"][0]["field"]
    assert api["unit"].get("/api/v1/legacy/candidates").status_code == 403
    assert api["agent"].post(f"/api/v1/legacy/candidates/{across['id']}/confirm").status_code == 403


def test_lines_and_sub_centre_routing(api):
    lines = {ln["line"]: ln for ln in api["agent"].get("/api/v1/legacy/lines").json()}
    assert (lines["12315"]["mode"], lines["12333"]["mode"], lines["12369"]["mode"]) == ("双号并行", "整体并入", "设分中心")
    # No destination in these settings: the 双号并行 lines say they exchange nothing live.
    assert lines["12315"]["bridge_destination"] is None and "no legacy_bridge destination" in lines["12315"]["bridge_gap"]
    assert lines["12333"]["bridge_gap"] is None
    routed = api["agent"].get("/api/v1/legacy/routing", params={"category": "0402"}).json()
    assert routed == {"category": "0402", "line": "12369", "unit": "ZY-STHJJ"}
    assert api["agent"].get("/api/v1/legacy/routing", params={"category": "0201"}).json()["unit"] is None
    unknown = api["agent"].get("/api/v1/legacy/routing", params={"category": "9999"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "query.category"


def test_supervisors_list_retry_and_dismiss_the_cases_a_line_offered_that_the_hub_refused(db_url, clock):
    from adapters.legacy_hotlines.mapping import RowMapper
    from adapters.legacy_hotlines.sandbox import SandboxLine, offer
    from adapters.legacy_hotlines.sandbox import create_app as line_app
    from hub.api.app import create_app
    from hub.domain.model import Role
    from hub.runtime import build_hub
    from hub.settings import DestinationConfig, Settings
    from tests.support.live import LiveServer

    state = SandboxLine(line="12315")
    with LiveServer(line_app(state)) as line:
        dest = DestinationConfig(
            adapter="legacy_bridge", settings={"line": "12315", "base_url": line.url, "timeout": 3.0}, events=["case.*"], personal_data=True
        )
        hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", destinations={"line12315": dest}), clock)
        try:
            sup = {"X-API-Key": hub.keys.create("centre-supervisor", Role.SUPERVISOR, clock.now())}
            agent = {"X-API-Key": hub.keys.create("centre-agent", Role.AGENT, clock.now())}
            odd, junk = offer(state, 问题类别="77"), offer(state, 问题类别="78")
            puller = hub.handles.get(Legacy).pullers["12315"]
            assert len(puller.run_once().refused) == 2
            with LiveServer(create_app(hub)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
                listed = http.get("/api/v1/legacy/refusals", headers=sup)
                assert listed.status_code == 200
                body = {r["line_case_id"]: r for r in listed.json()}
                assert set(body) == {odd, junk} and all(r["stage"] == "map" and r["status"] == "pending" for r in body.values())
                assert "item" not in body[odd] and "测试人" not in listed.text and "13800138000" not in listed.text
                assert http.get("/api/v1/legacy/refusals", headers=agent).status_code == 403
                assert http.get("/api/v1/legacy/refusals", headers=sup, params={"line": "12320"}).json() == []

                first = http.post(f"/api/v1/legacy/refusals/{body[odd]['id']}/retry", headers=sup)
                assert first.status_code == 200 and (first.json()["status"], first.json()["attempts"]) == ("pending", 2)
                dismissed = http.post(f"/api/v1/legacy/refusals/{body[junk]['id']}/dismiss", headers=sup, json={"note": "the line's test case"})
                assert dismissed.status_code == 200 and dismissed.json()["note"] == "the line's test case"
                again = http.post(f"/api/v1/legacy/refusals/{body[junk]['id']}/retry", headers=sup)
                assert again.status_code == 409 and "already dismissed" in again.json()["detail"]
                missing = http.post("/api/v1/legacy/refusals/999999/dismiss", headers=sup)
                assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "path.refusal_id"

                mapping = puller.adapter.mapping  # the code added to the mapping file, the hub restarted
                puller.adapter.mapper = RowMapper(
                    mapping.model_copy(update={"codes": mapping.codes.model_copy(update={"category": mapping.codes.category | {"77": "0205"}})}), hub.catalogue
                )
                hub.handles.get(Legacy).pullers.pop("12315")
                unbridged = http.post(f"/api/v1/legacy/refusals/{body[odd]['id']}/retry", headers=sup)
                assert unbridged.status_code == 409 and unbridged.json()["type"].endswith("no-bridge")
                hub.handles.get(Legacy).pullers["12315"] = puller
                taken = http.post(f"/api/v1/legacy/refusals/{body[odd]['id']}/retry", headers=sup).json()
                assert taken["status"] == "taken" and state.acks == {odd: taken["case_number"]}
                assert http.get(f"/api/v1/cases/{taken['case_number']}", headers=sup).json()["category_code"] == "0205"
                assert http.get("/api/v1/legacy/refusals", headers=sup).json() == []
        finally:
            puller.adapter.close()
            hub.close()
