"""The assessment as CSV and XLSX: one row per scope (the city or county total, then each
unit), and a sheet of the case lines behind every figure.

Only case numbers, unit and division codes, times and figures are written: an assessment
never reads the person, the address or the content of a case, so it cannot leak them.
"""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

from hub.domain.clock import LOCAL_TZ
from hub.supervision.assessment import COUNTS, RATES, Assessment

FIGURE_KEYS = list(RATES) + list(COUNTS)


def _header() -> list[str]:
    cols = ["period", "scope", "unit", "county"]
    for key in RATES:
        cols += [f"{key}_numerator", f"{key}_denominator", f"{key}_value"]
    cols += list(COUNTS)
    return cols


def _header_zh() -> list[str]:
    cols = ["期间", "范围", "单位", "区县"]
    for key, (name, _) in RATES.items():
        cols += [f"{name}分子", f"{name}分母", name]
    cols += [name for name, _ in COUNTS.values()]
    return cols


def _row(a: Assessment) -> list[object]:
    scope = a.unit or (a.county and f"county {a.county}") or "city"
    row: list[object] = [a.period, scope, a.unit or "", a.county or ""]
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
                rows.append([a.period, scope, f.key, i.case, i.seq, i.at.astimezone(LOCAL_TZ).isoformat(),
                             i.unit or "", i.county, "yes" if i.counted else "no"])
    return rows


CASE_HEADER = ["period", "scope", "figure", "case", "history_seq", "at", "unit", "county", "in_numerator"]


def to_csv(assessments: list[Assessment]) -> bytes:
    """UTF-8 with a BOM: Excel on Chinese Windows opens it without mangling 签收率."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(_header_zh())
    w.writerow(_header())
    for a in assessments:
        w.writerow(_row(a))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(assessments: list[Assessment]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "assessment"
    ws.append(_header_zh())
    ws.append(_header())
    for a in assessments:
        ws.append(_row(a))
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
