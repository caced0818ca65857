"""三率排名 and unit names in the exports on the hand-counted October of
tests/integration/test_assessment_figures.py (SQLite and PostgreSQL), through the API."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.integration.test_assessment_figures import R, S, build_october, follow_up
from tests.integration.test_supervision_scheduler import local

S_NAME, R_NAME = "资阳市市场监督管理局", "资阳市人力资源和社会保障局"  # mappings/units.yaml


def _client(hub, key: str) -> TestClient:
    from hub.api.app import create_app

    client = TestClient(create_app(hub))
    client.headers["X-API-Key"] = key
    return client


def test_the_ranking_of_october_and_its_exports(hub, clock, keys) -> None:
    numbers = build_october(hub, clock)
    clock.set(local(2025, 11, 3, 10))
    follow_up(hub, numbers["C3"], True, "satisfied")  # a November line: October does not move
    clock.set(local(2025, 11, 5, 9))
    sup = _client(hub, keys["supervisor"])

    resp = sup.get("/api/v1/assessment/ranking", params={"period": "2025-10"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # From the hand count: R 签收率 2/3, 按时办结率 1/1, 满意率 1/1 -> (0.6667 + 1 + 1) / 3 = 0.8889;
    # S 2/4, 2/4, 2/3 -> (0.5 + 0.5 + 0.6667) / 3 = 0.5556.
    assert [(r["rank"], r["unit"], r["unit_name"], r["score"]) for r in body["rows"]] == [(1, R, R_NAME, 0.8889), (2, S, S_NAME, 0.5556)]
    s_row = body["rows"][1]
    assert [(s_row[k]["numerator"], s_row[k]["denominator"]) for k in ("sign_off_rate", "on_time_rate", "satisfaction_rate")] == [(2, 4), (2, 4), (2, 3)]

    # 雁江区 (512002) without C3 and C5 (安岳): S 签收率 1/3 (C1 yes; C2, C4 late), 按时办结率 1/3,
    # 满意率 2/3 (C1, C7 yes; C2 no) -> (0.3333 + 0.3333 + 0.6667) / 3 = 0.4444; R unchanged.
    county = _client(hub, keys["yanjiang"]).get("/api/v1/assessment/ranking", params={"period": "2025-10"}).json()
    assert (county["county"], [(r["rank"], r["unit"], r["score"]) for r in county["rows"]]) == ("512002", [(1, R, 0.8889), (2, S, 0.4444)])

    # Week 41 (Mon 6 - Sun 12 Oct): S's sign-off deadlines Oct 10 (C1, C2, C3) and Oct 11 (C4 after
    # its re-dispatch); C1 and C3 signed on time -> 2/4. No completion deadline of S falls in it
    # (C1, C2: Oct 13) -> 0/0. The one follow-up of S's in it: C7, Oct 10, 基本满意 -> 1/1.
    week = sup.get("/api/v1/assessment/ranking", params={"period": "2025-W41"}).json()
    s_week = next(r for r in week["rows"] if r["unit"] == S)
    assert [(s_week[k]["numerator"], s_week[k]["denominator"]) for k in ("sign_off_rate", "on_time_rate", "satisfaction_rate")] == [(2, 4), (0, 0), (1, 1)]
    assert s_week["score"] == 0.75  # (0.5 + 1) / 2: 按时办结率 has nothing due and is left out

    resp = sup.get("/api/v1/assessment/ranking/export", params={"period": "2025-10"})
    assert resp.status_code == 200 and "spreadsheetml" in resp.headers["content-type"]
    sheet = list(load_workbook(io.BytesIO(resp.content), read_only=True)["ranking"].iter_rows(values_only=True))
    assert sheet[0][:4] == ("排名", "单位代码", "单位名称", "综合得分")
    assert [row[:4] for row in sheet[2:]] == [(1, R, R_NAME, 0.8889), (2, S, S_NAME, 0.5556)]
    text = sup.get("/api/v1/assessment/ranking/export", params={"period": "2025-10", "format": "csv"}).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert [dict(zip(rows[1], r))["unit_name"] for r in rows[2:]] == [R_NAME, S_NAME]

    # The assessment export names each unit beside its code.
    text = sup.get("/api/v1/assessment/export", params={"period": "2025-10", "format": "csv"}).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["期间", "范围", "单位", "区县", "单位名称"]
    assert [(r[2], r[4]) for r in rows[2:]] == [("", ""), (R, R_NAME), (S, S_NAME)]


def test_the_ranking_is_refused_to_units_and_bad_periods_name_the_field(hub, keys) -> None:
    for who in ("unit", "province"):
        assert _client(hub, keys[who]).get("/api/v1/assessment/ranking", params={"period": "2025-10"}).status_code == 403
    sup = _client(hub, keys["supervisor"])
    for period in ("2025-W53", "2025-10-08..2025-10-01", "2025-02-30", "0001", "9999-12-31..9999-12-31"):
        resp = sup.get("/api/v1/assessment/ranking", params={"period": period})
        assert resp.status_code == 422 and "query.period" in resp.text, (period, resp.text)
    for period in ("2025-Q4", "2025", "2025-10-01", "2025-09-26..2025-10-08"):
        assert sup.get("/api/v1/assessment", params={"period": period}).status_code == 200, period
