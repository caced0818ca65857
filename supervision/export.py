"""The assessment as CSV and XLSX: one row per scope (the city or county total, then each
unit), and a sheet of the case lines behind every figure.

Only case numbers, unit and division codes, times and figures are written: an assessment
never reads the person, the address or the content of a case, so it cannot leak them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from openpyxl import Workbook

from hub.domain.clock import LOCAL_TZ
from supervision.assessment import COUNTS, RATES, Assessment, Ranking

FIGURE_KEYS = list(RATES) + list(COUNTS)


def _header() -> list[str]:
    cols = ["period", "scope", "unit", "county", "unit_name"]
    for key in RATES:
        cols += [f"{key}_numerator", f"{key}_denominator", f"{key}_value"]
    cols += list(COUNTS)
    return cols


def _header_zh() -> list[str]:
    cols = ["期间", "范围", "单位", "区县", "单位名称"]
    for name, _ in RATES.values():
        cols += [f"{name}分子", f"{name}分母", name]
    cols += [name for name, _ in COUNTS.values()]
    return cols


def _row(a: Assessment, unit_names: Mapping[str, str] | None = None) -> list[object]:
    scope = a.unit or (a.county and f"county {a.county}") or "city"
    row: list[object] = [a.period, scope, a.unit or "", a.county or "", (unit_names or {}).get(a.unit or "", "")]
    for key in RATES:
        f = a.figure(key)
        row += [f.numerator, f.denominator, "" if f.value is None else f.value]
    row += [a.figure(key).numerator for key in COUNTS]
    return row


def _case_rows(assessments: list[Assessment]) -> list[list[object]]:
    rows: list[list[object]] = []
    for a in assessments:
        scope = a.unit or (a.county and f"county {a.county}") or "city"
        for f in a.figures:
            for i in f.items:
                rows.append(
                    [a.period, scope, f.key, i.case, i.seq, i.at.astimezone(LOCAL_TZ).isoformat(), i.unit or "", i.county, "yes" if i.counted else "no"]
                )
    return rows


CASE_HEADER = ["period", "scope", "figure", "case", "history_seq", "at", "unit", "county", "in_numerator"]


def to_csv(assessments: list[Assessment], unit_names: Mapping[str, str] | None = None) -> bytes:
    """UTF-8 with a BOM: Excel on Chinese Windows opens it without mangling 签收率."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(_header_zh())
    w.writerow(_header())
    for a in assessments:
        w.writerow(_row(a, unit_names))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(assessments: list[Assessment], unit_names: Mapping[str, str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "assessment"
    ws.append(_header_zh())
    ws.append(_header())
    for a in assessments:
        ws.append(_row(a, unit_names))
    cases = wb.create_sheet("cases")
    cases.append(CASE_HEADER)
    for row in _case_rows(assessments):
        cases.append(row)
    formulas = wb.create_sheet("formulas")
    formulas.append(["figure", "名称", "formula"])
    for key, (name, formula) in {**RATES, **COUNTS}.items():
        formulas.append([key, name, formula])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- 三率排名 ------------------------------------------------------------------------------------

RANKING_HEADER_ZH = [
    "排名",
    "单位代码",
    "单位名称",
    "综合得分",
    "签收率分子",
    "签收率分母",
    "签收率",
    "按时办结率分子",
    "按时办结率分母",
    "按时办结率",
    "满意率分子",
    "满意率分母",
    "满意率",
]
RANKING_HEADER = [
    "rank",
    "unit",
    "unit_name",
    "score",
    "sign_off_rate_numerator",
    "sign_off_rate_denominator",
    "sign_off_rate_value",
    "on_time_rate_numerator",
    "on_time_rate_denominator",
    "on_time_rate_value",
    "satisfaction_rate_numerator",
    "satisfaction_rate_denominator",
    "satisfaction_rate_value",
]


def _ranking_rows(ranking: Ranking) -> list[list[object]]:
    out: list[list[object]] = []
    for r in ranking.rows:
        row: list[object] = ["" if r.rank is None else r.rank, r.unit, r.unit_name or "", "" if r.score is None else r.score]
        for rate in (r.sign_off_rate, r.on_time_rate, r.satisfaction_rate):
            row += [rate.numerator, rate.denominator, "" if rate.value is None else rate.value]
        out.append(row)
    return out


def ranking_to_csv(ranking: Ranking) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(RANKING_HEADER_ZH)
    w.writerow(RANKING_HEADER)
    for row in _ranking_rows(ranking):
        w.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def ranking_to_xlsx(ranking: Ranking) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "ranking"
    ws.append(RANKING_HEADER_ZH)
    ws.append(RANKING_HEADER)
    for row in _ranking_rows(ranking):
        ws.append(row)
    about = wb.create_sheet("formula")
    about.append(["period", ranking.period])
    about.append(["county", ranking.county or "city"])
    about.append(["formula", ranking.formula])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
