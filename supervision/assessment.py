"""考核: the assessment figures of a period, from the case history alone.

Pure: it reads history lines and a period, no database and no clock of its own, so every
figure is the same whoever computes it and each one lists the history lines behind it.
The formulas are written down in docs/supervision.md; keep the two in step.

A dispatch (or re-dispatch) opens an *obligation* of the lead unit: sign off by its
sign-off deadline, reply by its completion deadline (moved by approved extensions). It
ends with the next dispatch, an approved return or a redo. It opens one for each co-unit
too (协办): sign off and reply its part by the part's own deadlines; a part the centre
waives before a deadline is not judged on it. A county's 二次派单 opens one for its township
unit (sign off and reply up by the step's own deadlines, moved by the county's approved
extensions); a step given back up in time is not judged. The figures count
obligations, follow-up needs and follow-ups, each naming its case and history line.

The same walk, watched line by line, gives each case's items over time (`facts_of`): stored
at every write (supervision.items, migration 0024), a period reads those in force at its end
(`gather`) instead of walking every case's lines; tests/unit/test_assessment_facts.py holds
the two readings equal.

Over 400 lines on purpose: the reading of the history, the formulas and the 三率 ranking
built on them are one computation, kept in one module so it reads in step with
docs/supervision.md and tools/mutate.py mutates it against tests/unit/test_assessment_formulas.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from typing import Any

from pydantic import BaseModel, Field

from hub.domain.clock import LOCAL_TZ
from hub.domain.model import Satisfaction

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
MAX_RANGE_DAYS = 731
PERIOD_FORMS = (
    "a period is a month written YYYY-MM (e.g. 2025-10), a day YYYY-MM-DD, an ISO week YYYY-Www, "
    "a quarter YYYY-Qn, a year YYYY, or days YYYY-MM-DD..YYYY-MM-DD (both included)"
)


class _NotAPeriod(ValueError):
    pass


def _day(text: str) -> date:
    m = _DAY.match(text)
    if not m:
        raise _NotAPeriod(text)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _period_days(label: str) -> tuple[date, date]:
    """(first day, the day after the last) of a period label; ValueError if it is none."""
    try:
        if m := _PERIOD.match(label):
            year, month = int(m.group(1)), int(m.group(2))
            return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
        if m := _YEAR.match(label):
            year = int(m.group(1))
            return date(year, 1, 1), date(year + 1, 1, 1)
        if m := _QUARTER.match(label):
            year, q = int(m.group(1)), int(m.group(2))
            return date(year, 3 * q - 2, 1), (date(year, 3 * q + 1, 1) if q < 4 else date(year + 1, 1, 1))
        if m := _WEEK.match(label):
            monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return monday, monday + timedelta(days=7)
        if ".." in label:
            a, b = label.split("..", 1)
            first, last = _day(a), _day(b)
            if last < first:
                raise ValueError("the last day is before the first")
            if (last - first).days + 1 > MAX_RANGE_DAYS:
                raise ValueError(f"a range is at most {MAX_RANGE_DAYS} days")
            return first, last + timedelta(days=1)
        first = _day(label)
        return first, first + timedelta(days=1)
    except _NotAPeriod:
        raise ValueError(PERIOD_FORMS) from None
    except OverflowError:
        raise ValueError("outside the calendar") from None


PLEASED = {Satisfaction.SATISFIED.value, Satisfaction.BASICALLY_SATISFIED.value}


@dataclass(frozen=True)
class Line:
    """One history line, as the assessment reads it."""

    seq: int
    at: datetime
    action: str
    role: str
    data: dict[str, Any]


@dataclass(frozen=True)
class CaseLines:
    number: str
    county_code: str
    lines: list[Line]


@dataclass(frozen=True)
class Period:
    """A span of local days (Asia/Shanghai): [start, end). Written as a month YYYY-MM, a day
    YYYY-MM-DD, an ISO week YYYY-Www (Monday to Sunday), a quarter YYYY-Qn, a year YYYY, or
    any days FROM..TO (YYYY-MM-DD..YYYY-MM-DD, both days included, at most MAX_RANGE_DAYS)."""

    label: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, label: str) -> Period:
        try:
            first, after = _period_days(label)
        except ValueError as exc:  # not a period, or a day that does not exist (2025-02-30)
            raise ValueError(str(exc) if str(exc) == PERIOD_FORMS else f"{label}: {exc}") from None
        return cls(label, datetime.combine(first, time(), LOCAL_TZ), datetime.combine(after, time(), LOCAL_TZ))

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


# -- what the figures show --------------------------------------------------------------


class Item(BaseModel):
    """One thing a figure counts: which case, which history line, whose, and whether it is
    in the numerator (for a count, always true)."""

    case: str
    seq: int = Field(description="The history line (seq) that put the case in this figure.")
    at: datetime
    unit: str | None
    county: str
    counted: bool
    appeal: str | None = Field(
        default=None, description="考核申诉 on this item: pending, upheld (the figure already counts it in the unit's favour) or refused."
    )
    part: bool = Field(default=False, description="协办: a co-unit's part (its sign-off or reply), not the lead's.")
    township: bool = Field(default=False, description="二次派单: a township's step (its sign-off or reply up to its county), not the lead's.")


class Figure(BaseModel):
    key: str
    name_zh: str
    formula: str
    numerator: int
    denominator: int | None = Field(description="None for a count.")
    value: int | float | None = Field(description="numerator / denominator (4 places), or the count; None when nothing was due.")
    cases: list[str] = Field(description="Case numbers in the numerator (for a count: the cases counted).")
    denominator_cases: list[str] = Field(default_factory=list, description="Case numbers in the denominator.")
    items: list[Item]


class Assessment(BaseModel):
    period: str
    period_start: datetime
    period_end: datetime
    as_of: datetime = Field(description="Figures are judged at min(now, end of period).")
    unit: str | None
    county: str | None
    figures: list[Figure]

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


RATES: dict[str, tuple[str, str]] = {
    "sign_off_rate": (
        "签收率",
        "obligations (the lead's, each co-unit's part, each township step) signed off by their sign-off deadline / obligations due to sign in the period",
    ),
    "on_time_rate": (
        "按时办结率",
        "obligations replied by their completion deadline (the lead: the case's reply, approved "
        "extensions included; a co-unit: its part's reply by the part's deadline; a township: its reply up by the "
        "step's deadline, its county's approved extensions included) / obligations due to close in the period",
    ),
    "follow_up_rate": ("回访率", "follow-up needs arising in the period whose person was reached / follow-up needs arising in the period"),
    "satisfaction_rate": ("满意率", "reached follow-ups in the period answering 满意 or 基本满意 / reached follow-ups in the period"),
    "resolution_rate": ("解决率", "reached follow-ups in the period answering resolved / reached follow-ups in the period"),
}
COUNTS: dict[str, tuple[str, str]] = {
    "overdue": ("超期件数", "obligations (the lead's, the co-units' parts, the township steps) due to close in the period and not replied by the deadline"),
    "returned": ("退回件数", "returns approved in the period, by the unit that asked"),
    "redone": ("重办件数", "redos in the period, by the unit whose reply was redone"),
    "supervised": ("督办件数", "cases supervised in the period (once per case), by the lead unit at the time"),
    "unreasonable": ("不合理诉求件数", "不合理诉求 approved in the period, by the unit that applied; their follow-ups are left out of 满意率 and 解决率"),
    "chased": ("催办件数", "cases chased in the period (once per case however often chased), by the lead unit at the first chase"),
    "appealed": ("考核申诉件数", "考核申诉 made in the period, by the unit that appealed"),
    "appeals_upheld": (
        "申诉成立件数",
        "考核申诉 upheld in the period, by the unit that appealed: an upheld 超期 "
        "counts the reply as on time; an upheld 不满意 leaves the unit's unpleased follow-ups out of 满意率 and 解决率",
    ),
}


# -- reading the history ------------------------------------------------------------------


@dataclass
class _Obligation:
    case: str
    county: str
    seq: int
    unit: str | None
    sign_off_due: datetime | None
    due: datetime | None
    signed_at: datetime | None = None
    replied_at: datetime | None = None
    return_asked_at: datetime | None = None
    returned: bool = False
    appeal: str | None = None  # 考核申诉 on 超期: pending, upheld, refused
    part: bool = False  # 协办: a co-unit's part
    waived_at: datetime | None = None  # the centre released the co-unit from its part
    township: bool = False  # 二次派单: a township's step, dispatched on to it by its county


@dataclass
class _Need:
    case: str
    county: str
    seq: int
    at: datetime
    unit: str | None
    reached_at: datetime | None = None


@dataclass
class _Read:
    obligations: list[_Obligation] = field(default_factory=list)
    needs: list[_Need] = field(default_factory=list)
    follow_ups: list[tuple[Item, bool, bool]] = field(default_factory=list)  # item, pleased, resolved
    returned: list[Item] = field(default_factory=list)
    redone: list[Item] = field(default_factory=list)
    supervised: list[Item] = field(default_factory=list)
    chased: list[Item] = field(default_factory=list)
    unreasonable: list[Item] = field(default_factory=list)
    appealed: list[Item] = field(default_factory=list)
    appeals_upheld: list[Item] = field(default_factory=list)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _read_case(case: CaseLines, out: _Read) -> None:
    for _ in _walk(case, out):
        pass


def _walk(case: CaseLines, out: _Read) -> Iterator[tuple[Line, list[tuple[Item, bool, bool]], bool]]:
    """Read one case's lines into `out`, yielding after each line: the line, the case's
    follow-ups so far and whether a 不合理诉求 was approved (`facts_of` watches the items change)."""
    current: _Obligation | None = None
    need: _Need | None = None
    supervised_once = False
    follow_ups: list[tuple[Item, bool, bool]] = []
    approved_unreasonable = False
    mine: list[_Obligation] = []  # this case's obligations, to find the one an appeal is about
    parts: dict[str, _Obligation] = {}  # the co-units' parts of the current dispatch
    step: _Obligation | None = None  # 二次派单: the township step still open (one at a time)

    def part_of(unit: object) -> _Obligation | None:  # a history line's unit, as it was written
        return parts.get(unit) if isinstance(unit, str) else None

    def last_of(unit: str | None) -> _Obligation | None:
        return next((ob for ob in reversed(mine) if ob.unit == unit), None)

    def unpleased_of(unit: str | None, before: int) -> list[int]:
        return [i for i, (it, pleased, resolved) in enumerate(follow_ups) if it.unit == unit and it.seq < before and not (pleased and resolved)]

    def item(line: Line, unit: str | None, counted: bool = True) -> Item:
        return Item(case=case.number, seq=line.seq, at=line.at, unit=unit, county=case.county_code, counted=counted)

    for line in sorted(case.lines, key=lambda ln: ln.seq):
        d, a = line.data, line.action
        if a in ("dispatch", "redispatch"):
            current = _Obligation(case.number, case.county_code, line.seq, d.get("lead_unit"), _when(d.get("sign_off_due")), _when(d.get("due_at")))
            out.obligations.append(current)
            mine.append(current)
            parts = {}
            for p in d.get("parts") or []:
                parts[p["unit"]] = _Obligation(
                    case.number, case.county_code, line.seq, p["unit"], _when(p.get("sign_off_due")), _when(p.get("due_at")), part=True
                )
                out.obligations.append(parts[p["unit"]])
            step = None
        elif a == "forward":
            step = _Obligation(case.number, case.county_code, line.seq, d.get("unit"), _when(d.get("sign_off_due")), _when(d.get("due_at")), township=True)
            out.obligations.append(step)
        elif a == "sign_off_forward" and step is not None and step.signed_at is None:
            step.signed_at = line.at
        elif a == "reply_forward" and step is not None:
            step.replied_at, step = line.at, None
        elif a == "return_forward" and step is not None:
            # Given back up to its county: judged as an approved return is (asked in time: not judged).
            step.returned, step.return_asked_at, step = True, line.at, None
        elif a == "decide_forward_extension" and step is not None and d.get("approved") and d.get("due_at"):
            step.due = _when(d["due_at"])
        elif a == "sign_off" and current is not None and current.signed_at is None:
            current.signed_at = line.at
        elif a == "sign_off_part" and (ob := part_of(d.get("unit"))) is not None and ob.signed_at is None:
            ob.signed_at = line.at
        elif a == "reply_part" and (ob := part_of(d.get("unit"))) is not None and ob.replied_at is None:
            ob.replied_at = line.at
        elif a == "waive_part" and (ob := part_of(d.get("unit"))) is not None and ob.waived_at is None:
            ob.waived_at = line.at
        elif a == "decide_extension" and current is not None and d.get("approved") and d.get("due_at"):
            current.due = _when(d["due_at"])
        elif a == "request_return" and current is not None:
            current.return_asked_at = line.at
        elif a == "decide_return" and d.get("approved"):
            unit = d.get("unit") or (current.unit if current else None)
            out.returned.append(item(line, unit))
            if current is not None:
                current.returned = True
                # The case went back with the lead: the co-units' open parts end with it, judged
                # as the lead's obligation is (asked in time: not judged).
                for ob in [*parts.values(), *([step] if step else [])]:
                    ob.returned, ob.return_asked_at = True, current.return_asked_at
                current = None
            parts, step = {}, None
        elif a == "reply" and current is not None:
            current.replied_at = line.at  # the last reply of the obligation is the one judged
        elif (a == "review_reply" and d.get("approved")) or a == "answer_directly":
            need = _Need(case.number, case.county_code, line.seq, line.at, current.unit if current and a == "review_reply" else None)
            out.needs.append(need)
        elif a == "follow_up" and d.get("reached"):
            unit = need.unit if need else (current.unit if current else None)
            if need is not None and need.reached_at is None:
                need.reached_at = line.at
            follow_ups.append((item(line, unit), d.get("satisfaction") in PLEASED, d.get("resolved") is True))
        elif a == "redo":
            out.redone.append(item(line, d.get("previous_unit") or (current.unit if current else None)))
            current, need, parts, step = None, None, {}, None
        elif a == "supervise" and not supervised_once:
            supervised_once = True  # counted once per case; later supervisions add nothing
            out.supervised.append(item(line, current.unit if current else d.get("unit")))
        elif a == "chase":
            out.chased.append(item(line, current.unit if current else d.get("unit")))
        elif a == "decide_unreasonable" and d.get("approved"):
            approved_unreasonable = True
            out.unreasonable.append(item(line, d.get("unit") or (current.unit if current else None)))
        elif a == "appeal_assessment":
            out.appealed.append(item(line, d.get("unit")))
            if d.get("grounds") == "overdue" and (ob := last_of(d.get("unit"))) is not None:
                ob.appeal = "pending"
            elif d.get("grounds") == "unsatisfied":
                for i in unpleased_of(d.get("unit"), line.seq):
                    follow_ups[i] = (follow_ups[i][0].model_copy(update={"appeal": "pending"}), *follow_ups[i][1:])
        elif a == "decide_appeal":
            upheld = bool(d.get("upheld"))
            if upheld:
                out.appeals_upheld.append(item(line, d.get("unit")))
            if d.get("grounds") == "overdue" and (ob := last_of(d.get("unit"))) is not None:
                ob.appeal = "upheld" if upheld else "refused"
            elif d.get("grounds") == "unsatisfied":
                hit = unpleased_of(d.get("unit"), line.seq)
                if upheld:  # 剔除: the unit's unpleased follow-ups leave both rates
                    follow_ups[:] = [fu for i, fu in enumerate(follow_ups) if i not in hit]
                else:
                    for i in hit:
                        follow_ups[i] = (follow_ups[i][0].model_copy(update={"appeal": "refused"}), *follow_ups[i][1:])
        yield line, follow_ups, approved_unreasonable
    # 不合理诉求 approved (by the end of the period read): the case's follow-ups leave 满意率 and
    # 解决率 in every period, counted apart in 不合理诉求件数.
    if not approved_unreasonable:
        out.follow_ups.extend(follow_ups)


# -- the formulas ---------------------------------------------------------------------------


def _signing(ob: _Obligation) -> tuple[datetime, bool, bool] | None:
    """An obligation's sign-off as judged: (its deadline, signed by it, not signed yet), or
    None when it is not judged on one. A deadline after the cutoff not yet signed is still running."""
    due = ob.sign_off_due
    if due is None:
        return None
    if ob.signed_at is None and ob.returned and ob.return_asked_at is not None and ob.return_asked_at <= due:
        return None  # the unit asked in time to give it back and the centre agreed: not its case
    if ob.signed_at is None and ob.waived_at is not None and ob.waived_at <= due:
        return None  # 协办 part waived by the centre before it was due: not the co-unit's to sign
    return due, ob.signed_at is not None and ob.signed_at <= due, ob.signed_at is None


def _closing(ob: _Obligation) -> tuple[datetime, bool, bool] | None:
    """An obligation's close as judged: (its deadline, met, not replied yet), or None."""
    due = ob.due
    if due is None:
        return None
    if ob.returned and ob.return_asked_at is not None and ob.return_asked_at <= due:
        return None
    if ob.replied_at is None and ob.waived_at is not None and ob.waived_at <= due:
        return None  # 协办 part waived before it was due
    # An upheld 考核申诉 on 超期 counts the obligation as met (the centre accepted the
    # unit's reason, e.g. the deadline was set wrong); the item says so.
    on_time = (ob.replied_at is not None and ob.replied_at <= due) or ob.appeal == "upheld"
    return due, on_time, ob.replied_at is None


def _sign_items(read: _Read, period: Period, cutoff: datetime) -> list[Item]:
    items = []
    for ob in read.obligations:
        judged = _signing(ob)
        if judged is None or not period.holds(judged[0]) or (judged[0] > cutoff and judged[2]):
            continue  # not judged, another period's, or still running when judged
        due, on_time, _ = judged
        items.append(Item(case=ob.case, seq=ob.seq, at=due, unit=ob.unit, county=ob.county, counted=on_time, part=ob.part, township=ob.township))
    return items


def _close_items(read: _Read, period: Period, cutoff: datetime) -> list[Item]:
    items = []
    for ob in read.obligations:
        judged = _closing(ob)
        if judged is None or not period.holds(judged[0]) or (judged[0] > cutoff and judged[2]):
            continue
        due, on_time, _ = judged
        items.append(
            Item(case=ob.case, seq=ob.seq, at=due, unit=ob.unit, county=ob.county, counted=on_time, appeal=ob.appeal, part=ob.part, township=ob.township)
        )
    return items


def _need_items(read: _Read, period: Period) -> list[Item]:
    return [Item(case=n.case, seq=n.seq, at=n.at, unit=n.unit, county=n.county, counted=n.reached_at is not None) for n in read.needs if period.holds(n.at)]


# A stored fact as the read gives it (supervision.queries.items_in_period), a plain row: its
# case's number and county, then the fact's figure, seq, ordinal, at, unit, counted, resolved,
# open, part and township (anything after those is the reader's). Positional: a period reads
# tens of thousands, and a row unpacked costs a fraction of one read by name.
FactRow = Sequence[Any]


@dataclass
class PeriodItems:
    """Every item of a period's figures, before scoping to a unit or a county."""

    period: Period
    cutoff: datetime
    raw: dict[str, list[Item]]


def gather(cases: list[CaseLines], period: Period, now: datetime, facts: Iterable[FactRow] = ()) -> PeriodItems:
    """The period's items: from the cases' lines, walked, and from stored facts (`facts_of`, in
    force at the end of the period and dated in it) of other cases."""
    cutoff = min(now, period.end)
    read = _Read()
    for case in cases:
        _read_case(case, read)

    def in_period(items: list[Item]) -> list[Item]:
        return [i for i in items if period.holds(i.at)]

    close = _close_items(read, period, cutoff)
    follow_ups = [fu for fu in read.follow_ups if period.holds(fu[0].at)]
    raw: dict[str, list[Item]] = {
        "sign_off_rate": _sign_items(read, period, cutoff),
        "on_time_rate": close,
        "follow_up_rate": _need_items(read, period),
        "satisfaction_rate": [i.model_copy(update={"counted": pleased}) for i, pleased, _ in follow_ups],
        "resolution_rate": [i.model_copy(update={"counted": resolved}) for i, _, resolved in follow_ups],
        "overdue": [],
        "returned": in_period(read.returned),
        "redone": in_period(read.redone),
        "supervised": in_period(read.supervised),
        "unreasonable": in_period(read.unreasonable),
        "chased": in_period(read.chased),
        "appealed": in_period(read.appealed),
        "appeals_upheld": in_period(read.appeals_upheld),
    }
    # In the order the walk gives them: items of one line (a dispatch's lead and parts) keep it.
    # Compared in UTC, the zone the rows come in: the same zone compares without conversions.
    start, end, judged = period.start.astimezone(UTC), period.end.astimezone(UTC), cutoff.astimezone(UTC)
    for number, county, figure, seq, _, at, unit, counted, resolved, still_open, part, township, *_ in sorted(facts, key=itemgetter(0, 3, 4)):
        if figure == "appeal" or not start <= at < end or (still_open and at > judged):
            continue  # a case to walk (the caller walks it), another period's, or a deadline still running when judged
        if figure in _DEADLINES:
            at = at.astimezone(LOCAL_TZ)  # as the history line wrote it
        made = Item(case=number, seq=seq, at=at, unit=unit, county=county, counted=counted, part=part, township=township)
        if figure == "follow_up":
            raw["satisfaction_rate"].append(made)
            raw["resolution_rate"].append(Item(case=number, seq=seq, at=at, unit=unit, county=county, counted=resolved))
        else:
            raw[_FIGURE_OF[figure]].append(made)
    raw["overdue"] = [i.model_copy(update={"counted": True}) for i in raw["on_time_rate"] if not i.counted]
    raw["chased"] = _first_per_case(raw["chased"])
    return PeriodItems(period, cutoff, raw)


def scoped(items: PeriodItems, unit: str | None = None, county: str | None = None) -> Assessment:
    """The figures of the period's items for one unit, one county or (neither) the whole city."""
    figures = [_figure(key, _scope(raw, unit, county)) for key, raw in items.raw.items()]
    p = items.period
    return Assessment(period=p.label, period_start=p.start, period_end=p.end, as_of=items.cutoff, unit=unit, county=county, figures=figures)


def compute(cases: list[CaseLines], period: Period, now: datetime, unit: str | None = None, county: str | None = None) -> Assessment:
    """The figures of `period` for one unit, one county or (neither) the whole city."""
    return scoped(gather(cases, period, now), unit, county)


# -- the facts stored at write time --------------------------------------------------------

# A stored fact's figure -> the figure its item is in (a follow-up is in two: 满意率 and 解决率).
_FIGURE_OF = {
    "sign_off": "sign_off_rate",
    "close": "on_time_rate",
    "need": "follow_up_rate",
    "returned": "returned",
    "redone": "redone",
    "supervised": "supervised",
    "chased": "chased",
    "unreasonable": "unreasonable",
}
_DEADLINES = ("sign_off", "close")  # dated by a deadline, not by a line
_APPEALS = ("appeal_assessment", "decide_appeal")
_EVENTS = ("returned", "redone", "supervised", "chased", "unreasonable")


@dataclass(frozen=True)
class Fact:
    """One item of a case's figures while its history said so: from `since` (the time of the
    line that made it so) to `until` (of the line that changed it; None: still so). A period
    judged at its end reads the facts in force then, as a walk of the lines before its end would.

    A case with a 考核申诉 line ('appeal' facts, one per line) is walked instead when assessed: an
    appeal counts whenever it came and changes items of earlier periods, which no fact in force
    at a period's end says. Its other facts are kept without the appeals, to find it by."""

    figure: str  # sign_off, close, need, follow_up, returned, redone, supervised, chased, unreasonable, appeal
    seq: int
    ordinal: int  # the obligation's or need's place among the case's (lead, then its parts)
    at: datetime
    unit: str | None
    since: datetime
    until: datetime | None = None
    counted: bool = True  # sign_off/close: met; need: reached; follow_up: 满意 or 基本满意
    resolved: bool = False  # follow_up: 解决
    open: bool = False  # sign_off/close: not signed / replied yet
    part: bool = False
    township: bool = False


_Standing = dict[tuple[str, int], tuple[int, datetime, str | None, bool, bool, bool, bool, bool]]


def _standing(out: _Read, follow_ups: list[tuple[Item, bool, bool]], unreasonable: bool) -> _Standing:
    """The case's items as its lines so far make them: (figure, ordinal) -> (seq, at, unit,
    counted, resolved, open, part, township)."""
    now: _Standing = {}
    for i, ob in enumerate(out.obligations):
        if (j := _signing(ob)) is not None:
            now[("sign_off", i)] = (ob.seq, j[0], ob.unit, j[1], False, j[2], ob.part, ob.township)
        if (j := _closing(ob)) is not None:
            now[("close", i)] = (ob.seq, j[0], ob.unit, j[1], False, j[2], ob.part, ob.township)
    for i, n in enumerate(out.needs):
        now[("need", i)] = (n.seq, n.at, n.unit, n.reached_at is not None, False, False, False, False)
    if not unreasonable:
        for it, pleased, resolved in follow_ups:
            now[("follow_up", it.seq)] = (it.seq, it.at, it.unit, pleased, resolved, False, False, False)
    return now


def _fact(key: tuple[str, int], value: tuple[int, datetime, str | None, bool, bool, bool, bool, bool], since: datetime, until: datetime | None) -> Fact:
    seq, at, unit, counted, resolved, open_, part, township = value
    return Fact(key[0], seq, key[1], at, unit, since, until, counted, resolved, open_, part, township)


def facts_of(case: CaseLines) -> list[Fact]:
    """The case's items over time, from the whole of its history: what is stored at each write
    (supervision.items) so a period reads its items instead of walking every case's lines."""
    out = _Read()
    facts = [Fact("appeal", ln.seq, 0, ln.at, ln.data.get("unit"), ln.at) for ln in case.lines if ln.action in _APPEALS]
    live: dict[tuple[str, int], tuple[tuple[int, datetime, str | None, bool, bool, bool, bool, bool], datetime]] = {}
    plain = CaseLines(case.number, case.county_code, [ln for ln in case.lines if ln.action not in _APPEALS])
    for line, follow_ups, unreasonable in _walk(plain, out):
        now = _standing(out, follow_ups, unreasonable)
        for key, (value, since) in list(live.items()):
            if now.get(key) != value:
                facts.append(_fact(key, value, since, line.at))
                del live[key]
        for key, value in now.items():
            live.setdefault(key, (value, line.at))
    facts.extend(_fact(key, value, since, None) for key, (value, since) in live.items())
    for figure in _EVENTS:
        facts.extend(Fact(figure, i.seq, 0, i.at, i.unit, i.at) for i in getattr(out, figure))
    return facts


def _first_per_case(items: list[Item]) -> list[Item]:
    """One item per case: its first in the period (催办 is counted per case, not per chase)."""
    first: dict[str, Item] = {}
    for i in sorted(items, key=lambda i: (i.case, i.seq)):
        first.setdefault(i.case, i)
    return list(first.values())


def _scope(items: list[Item], unit: str | None, county: str | None) -> list[Item]:
    return sorted((i for i in items if (unit is None or i.unit == unit) and (county is None or i.county == county)), key=lambda i: (i.case, i.seq))


def _figure(key: str, items: list[Item]) -> Figure:
    counted = [i for i in items if i.counted]
    cases = sorted({i.case for i in counted})
    if key in COUNTS:
        name, formula = COUNTS[key]
        return Figure(key=key, name_zh=name, formula=formula, numerator=len(counted), denominator=None, value=len(counted), cases=cases, items=items)
    name, formula = RATES[key]
    n, d = len(counted), len(items)
    return Figure(
        key=key,
        name_zh=name,
        formula=formula,
        numerator=n,
        denominator=d,
        value=round(n / d, 4) if d else None,
        cases=cases,
        denominator_cases=sorted({i.case for i in items}),
        items=items,
    )


def units_in(cases: list[CaseLines] | PeriodItems, period: Period, now: datetime, county: str | None = None) -> list[str]:
    """Every unit that appears in some figure of the period (for a per-unit breakdown)."""
    items = cases if isinstance(cases, PeriodItems) else gather(cases, period, now)
    whole = scoped(items, county=county)
    return sorted({i.unit for f in whole.figures for i in f.items if i.unit})


# -- 三率排名: units ranked by the three rates ---------------------------------------------------

RANKED_RATES = ("sign_off_rate", "on_time_rate", "satisfaction_rate")
RANKING_FORMULA = (
    "score = the mean of the unit's 签收率, 按时办结率 and 满意率 that have a value (a rate with "
    "nothing due in the period is left out, not counted as 0), 4 places; rank 1 = highest score; "
    "equal scores share a rank (1, 2, 2, 4), listed by unit code; a unit with none of the three "
    "rates has no score and no rank and is listed last"
)


class RankedRate(BaseModel):
    numerator: int
    denominator: int
    value: float | None


class RankRow(BaseModel):
    rank: int | None = Field(description="1 = best; None when the unit has none of the three rates.")
    unit: str
    unit_name: str | None = Field(description="The unit's name (mappings/units.yaml).")
    score: float | None
    sign_off_rate: RankedRate
    on_time_rate: RankedRate
    satisfaction_rate: RankedRate


class Ranking(BaseModel):
    period: str
    period_start: datetime
    period_end: datetime
    as_of: datetime
    county: str | None
    formula: str
    rows: list[RankRow]


def rank_units(
    cases: list[CaseLines] | PeriodItems, period: Period, now: datetime, county: str | None = None, unit_names: dict[str, str] | None = None
) -> Ranking:
    """三率排名: every unit with a figure in the period, ranked by RANKING_FORMULA."""
    names = unit_names or {}
    rows: list[RankRow] = []
    items = cases if isinstance(cases, PeriodItems) else gather(cases, period, now)
    for unit in units_in(items, period, now, county):
        a = scoped(items, unit, county)
        rates = {k: RankedRate(numerator=a.figure(k).numerator, denominator=a.figure(k).denominator or 0, value=a.figure(k).value) for k in RANKED_RATES}
        values = [r.value for r in rates.values() if r.value is not None]
        score = round(sum(values) / len(values), 4) if values else None
        rows.append(RankRow(rank=None, unit=unit, unit_name=names.get(unit), score=score, **rates))
    rows.sort(key=lambda r: (r.score is None, -(r.score or 0), r.unit))
    for r in rows:
        if r.score is not None:
            r.rank = 1 + sum(1 for other in rows if other.score is not None and other.score > r.score)
    return Ranking(
        period=period.label, period_start=period.start, period_end=period.end, as_of=min(now, period.end), county=county, formula=RANKING_FORMULA, rows=rows
    )
