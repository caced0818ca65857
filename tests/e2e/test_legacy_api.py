"""/api/v1/legacy over loopback: supervisors review duplicate candidates; others may not."""

from __future__ import annotations

from adapters.legacy_hotlines.importer import LegacyImporter
from tests.fixtures.legacy.samples import CSV_12315, JSONL_12369


def test_supervisors_list_confirm_and_dismiss_candidates(hub, api):
    imp = LegacyImporter(hub, hub.extras["legacy"]["config"], progress=None)
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
    lines = {l["line"]: l for l in api["agent"].get("/api/v1/legacy/lines").json()}
    assert (lines["12315"]["mode"], lines["12333"]["mode"], lines["12369"]["mode"]) == ("双号并行", "整体并入", "设分中心")
    # No destination in these settings: the 双号并行 lines say they exchange nothing live.
    assert lines["12315"]["bridge_destination"] is None and "no legacy_bridge destination" in lines["12315"]["bridge_gap"]
    assert lines["12333"]["bridge_gap"] is None
    routed = api["agent"].get("/api/v1/legacy/routing", params={"category": "0402"}).json()
    assert routed == {"category": "0402", "line": "12369", "unit": "ZY-STHJJ"}
    assert api["agent"].get("/api/v1/legacy/routing", params={"category": "0201"}).json()["unit"] is None
    unknown = api["agent"].get("/api/v1/legacy/routing", params={"category": "9999"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "query.category"
