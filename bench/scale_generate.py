"""Fill a hub database (SQLite or PostgreSQL) with N cases of realistic spread, fast.

The rows are the hub's own: a handful of template cases are walked through the real lifecycle
(`hub.cases.register` and `act`, on a scratch SQLite hub with a manual clock) to each state a
case can rest in, and their stored rows (the case document, its history lines, its events) are
copied N times with the case's own number, caller, place, unit, category, type, channel, text
and times (every instant of the template shifted by the case's receipt time). So the documents,
history and events have the shapes and sizes the hub writes; no domain rule is bypassed in
what they say, only in how fast they are written. Each case's caller (name and phone) is sealed
into its document under SEAL_KEY as the hub seals it, and its phone hash is of that phone:
the hub opens every document, and the phone search finds the caller's cases.

Spread: receipt times (whole seconds) over five years before --now, numbered per day as intake
numbers them; the newest --running cases are the ones still being handled (registered,
accepted, awaiting sign-off, in progress, replied, awaiting follow-up), received in the last
three days; the older ones are finished (archived 80 %, closed 15 %, rejected 4 %, transferred
1 %). Running cases are a fixed count, not a share: a province's open work depends on its daily
traffic, not on how many years of cases the database keeps, and the scheduler's pass should
show that. Callers come from a pool of N/3 phones (repeat callers), places from the divisions
mapping with township suffixes, units from the units mapping, categories from the categories
mapping. One delivered outbox message per case (the unit system's copy of its last event).

Speed (the bound is this process's Python, ~0.35 ms a case before): a template is one
str.format string for all of a case's texts (document, history lines, event payloads), rendered
by one C call and split; instants are written from integer seconds through tables of dates and
times of day (no datetime per instant: China keeps +08:00 all year); the phone hash and sealed
caller are made once per phone; the spread's random picks are drawn a block at a time.
SQLite is written through sqlite3's executemany, one transaction per batch, with no journal and
no syncs while loading (the file is a benchmark fixture, rebuilt if the load dies); PostgreSQL
through COPY (psycopg), synchronous_commit off. Secondary indexes are dropped for the load and
built after it, from sorted runs (SQLite: or kept through it, --indexes during). The schema is the hub's own migrations (`hotline-hub db
upgrade`), run first; check() renders a case of each template the slow way (datetimes) and
compares, and reads it back as the hub does, before anything is written.

    .venv/bin/python -m bench.scale_generate --url sqlite:////tmp/scale-1m.db --cases 1000000
    .venv/bin/python -m bench.scale_generate --url postgresql+psycopg://postgres@127.0.0.1:5432/scale1m --cases 1000000
    # 10M: about 100 GB on SQLite (82 GB on PostgreSQL), see bench/RESULTS.md "The growth curve to 3M"
    .venv/bin/python -m bench.scale_generate --url sqlite:////data/scale-10m.db --cases 10000000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.db.migrate import upgrade
from hub.db.models import CASE_TEXT_TABLE
from hub.db.person_seal import PersonSeal
from hub.db.phone_index import phone_hash
from hub.db.repository import CASE_COLUMNS
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ, ManualClock
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PHONE_KEY = "scale-bench-phone-index-key"  # bench/scale.py opens the hub with the same key
SEAL_KEY = "scale-bench-person-seal-key"  # the templates' callers are sealed under it; bench/scale.py opens them with it
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LOCAL_TZ)
YEARS = 5
REGION = "512000"

AGENT = Actor("centre-agent", Role.AGENT)
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
T_UNIT = "ZY-SCJGJ"  # the template's lead unit, replaced per case
UNIT = Actor(T_UNIT, Role.UNIT, unit_code=T_UNIT)
T0 = datetime(2025, 9, 26, 9, 58, tzinfo=LOCAL_TZ)  # the template's receipt
T_PHONE, T_TITLE, T_CONTENT, T_DIVISION, T_CATEGORY = "13800138000", "TPLTITLE", "TPLCONTENT", "512002001", "0101"
NAMES = ["张三", "李四", "王芳", "刘洋", "陈静", "杨帆", "赵磊", "黄丽"]  # callers' names, sealed with their phones

TEXTS = [
    ("小区夜间施工噪音扰民", "某小区旁工地夜间施工，噪音持续到凌晨，严重影响休息，请求处理。"),
    ("购买的电暖器无法加热", "购买的电暖器使用三天后无法加热，商家拒绝退换，请求维权。"),
    ("餐馆后厨卫生条件差", "某餐馆后厨卫生条件差，老鼠出没，请求食品安全部门查处。"),
    ("单位拖欠工资", "所在公司已拖欠三个月工资，多次讨要无果，请求劳动监察介入。"),
    ("小区电梯频繁故障", "小区电梯频繁故障困人，物业不予维修，请求特种设备部门督促。"),
    ("路灯损坏", "某路段路灯损坏多日，夜间出行不安全，请求维修。"),
    ("咨询社保转移", "从外省调入，咨询养老保险关系转移需要哪些材料。"),
    ("垃圾清运不及时", "小区垃圾桶满溢，清运不及时，异味严重。"),
    ("供水水压不足", "高层住户水压不足，早晚用水高峰无水，请求供水公司处理。"),
    ("占道经营", "农贸市场外占道经营，堵塞交通，请求城管处理。"),
]
TYPES = ["complaint", "complaint", "enquiry", "enquiry", "help", "report", "suggestion", "praise", "other"]
CHANNELS = ["phone", "phone", "phone", "phone", "web", "wechat", "app", "weibo", "province", "county"]

# Where a case rests, and which templates make it; weights among the running / finished.
RUNNING_MIX = [("registered", 5), ("accepted", 5), ("awaiting_sign_off", 20), ("in_progress", 50), ("replied", 10), ("awaiting_follow_up", 10)]
FINISHED_MIX = [("archived", 80), ("closed", 15), ("rejected", 4), ("transferred", 1)]


# -- templates -----------------------------------------------------------------------------

_INSTANT = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"')
_MARK = "\x01"


def compile_text(text: str, literals: dict[str, str]) -> list[Any]:
    """`text` as parts: plain strings, ("t", datetime) for an instant to shift, ("v", name) for
    a per-case value; `literals` maps the template's JSON literal (quoted) to the value's name."""
    for literal, name in literals.items():
        text = text.replace(literal, f"{_MARK}v:{name}{_MARK}")
    text = _INSTANT.sub(lambda m: f'"{_MARK}t:{m.group(1)}{_MARK}"', text)
    parts: list[Any] = []
    for i, piece in enumerate(text.split(_MARK)):
        if i % 2 == 0:
            if piece:
                parts.append(piece)
        elif piece.startswith("t:"):
            parts.append(("t", datetime.fromisoformat(piece[2:]), piece.endswith("Z")))
        else:
            parts.append(("v", piece[2:]))
    return parts


def to_format(parts: list[Any], instants: dict[tuple[datetime, bool], int]) -> str:
    """The parts as a str.format string: instants as {i} (indexes into `instants`, which grows),
    per-case values as {name}; rendered by one C call per row."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p.replace("{", "{{").replace("}", "}}"))
        elif p[0] == "v":
            out.append("{" + p[1] + "}")
        else:
            out.append("{" + str(instants.setdefault((p[1], p[2]), len(instants))) + "}")
    return "".join(out)


def _paths() -> dict[str, list[tuple[c.Command, Actor]]]:
    dispatch = [(c.Accept(), AGENT), (c.Dispatch(lead_unit=T_UNIT), AGENT)]
    signed = [*dispatch, (c.SignOff(), UNIT)]
    replied = [*signed, (c.ReplyCmd(text="已现场核查并责令整改，问题已解决。"), UNIT)]
    awaiting = [*replied, (c.ReviewReply(approved=True), AGENT)]
    closed = [*awaiting, (c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT)]
    return {
        "registered": [],
        "accepted": [(c.Accept(), AGENT)],
        "awaiting_sign_off": dispatch,
        "in_progress": signed,
        "replied": replied,
        "awaiting_follow_up": awaiting,
        "closed": closed,
        "archived": [*closed, (c.Archive(), SUPERVISOR)],
        "rejected": [(c.Reject(reason_code="litigation", reason="已进入诉讼程序"), AGENT)],
        "transferred": [(c.TransferEmergency(line="110"), AGENT)],
    }


def _literals(number: str, sealed: str) -> dict[str, str]:
    return {
        f'"{number}"': '"' + _MARK + "v:number" + _MARK + '"',
        f'"{sealed}"': '"' + _MARK + "v:sealed" + _MARK + '"',
        f'"{T_PHONE}"': '"' + _MARK + "v:phone" + _MARK + '"',
        f'"{T_TITLE}"': '"' + _MARK + "v:title" + _MARK + '"',
        f'"{T_CONTENT}"': '"' + _MARK + "v:content" + _MARK + '"',
        f'"{T_DIVISION}"': '"' + _MARK + "v:division" + _MARK + '"',
        f'"{T_CATEGORY}"': '"' + _MARK + "v:category" + _MARK + '"',
        f'"{T_UNIT}"': '"' + _MARK + "v:unit" + _MARK + '"',
        '"request_type": "complaint"': '"request_type": "' + _MARK + "v:rtype" + _MARK + '"',
        '"channel": "phone"': '"channel": "' + _MARK + "v:channel" + _MARK + '"',
    }


def _compile(text: str, number: str, sealed: str) -> list[Any]:
    # The literals carry their own markers: undo the double wrapping compile_text would add.
    parts = compile_text(text, {})
    out: list[Any] = []
    for p in parts:
        if isinstance(p, str):
            for literal, marked in _literals(number, sealed).items():
                p = p.replace(literal, marked)
            out.extend(compile_text(p, {}) if _MARK in p else [p])
        else:
            out.append(p)
    return out


SEP = "\x00"  # between a case's texts in its one format string: JSON text never holds it raw


@dataclass
class Template:
    """A resting state's rows, rendered per case by `render`.

    `text` is every text of the case in one str.format string (the document; each history
    line's actor, then each line's data; each event's payload; joined by SEP): its positional
    fields are instants, written as `iso` says (seconds after the receipt, plus the zone's
    offset; the fraction and zone as written), its named fields the case's values. The time
    columns hold the instants of `col` (seconds after the receipt; the fraction); the rows name
    those by their place in `col`. `instants` / `col_instants` are the template's own, for
    check()."""

    state: str
    text: str
    iso: list[tuple[int, str]]
    col: list[tuple[int, str]]
    columns: dict[str, Any]  # the case row's other columns; times as places in `col`
    history: list[tuple[int, int, str, str, str | None, str, str | None]]  # seq, at, role, action, from, to, note
    events: list[tuple[str, int, int]]  # type, case_version, occurred_at
    units: list[tuple[str, str]]  # (unit code or T_UNIT, role)
    instants: list[tuple[datetime, bool]]
    col_instants: list[datetime]


def _after_receipt(x: datetime) -> tuple[int, int]:
    """(whole seconds, microseconds) from the template's receipt to `x`."""
    return divmod((x - T0) // timedelta(microseconds=1), 1_000_000)


def _template(state: str, doc: list[Any], columns: dict[str, Any], history: list[tuple], events: list[tuple], units: list[tuple[str, str]]) -> Template:
    index: dict[tuple[datetime, bool], int] = {}
    cindex: dict[datetime, int] = {}

    def at(x: datetime | None) -> int | None:
        return None if x is None else cindex.setdefault(x, len(cindex))

    texts = [to_format(doc, index)]
    texts += [to_format(actor, index)[1:-1] for _, _, actor, *_ in history]  # the actor's JSON string, unquoted
    texts += [to_format(data, index) for *_, data in history]
    texts += [to_format(payload, index) for *_, payload in events]
    iso = []
    for x, z in index:
        seconds, micro = _after_receipt(x)
        offset = x.utcoffset()
        assert offset is not None
        iso.append((seconds + int(offset.total_seconds()), (f".{micro:06d}" if micro else "") + ("Z" if z else x.isoformat()[-6:])))
    cols = {k: at(v) if isinstance(v, datetime) else v for k, v in columns.items()}
    hist = [(seq, at(t), role, action, f, to, note) for seq, t, _, role, action, f, to, note, _ in history]
    evs = [(typ, version, at(t)) for typ, version, t, _ in events]
    col = [(seconds, f".{micro:06d}") for seconds, micro in map(_after_receipt, cindex)]
    return Template(state, SEP.join(texts), iso, col, cols, hist, evs, units, list(index), list(cindex))  # type: ignore[arg-type]


def build_templates() -> tuple[dict[str, Template], PersonSeal]:
    """One case per resting state, made by the hub itself on a scratch SQLite file; and the
    seal (SEAL_KEY) the hub sealed their callers with."""
    from sqlalchemy import select

    from hub.db.models import CaseRow, CaseUnitRow, EventRow, HistoryRow
    from hub.db.person_seal import seal_of

    out: dict[str, Template] = {}
    seal: PersonSeal | None = None
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(T0)
        settings = Settings(
            database_url=f"sqlite:///{tmp}/t.db", sqlite_synchronous="NORMAL", phone_index_key=PHONE_KEY, person_seal_key=SEAL_KEY, data_dir=Path(tmp)
        )
        hub = build_hub(settings, clock)
        try:
            upgrade(hub.db.writer)
            for state, steps in _paths().items():
                clock.set(T0)
                draft = {
                    "intake": {"channel": "phone", "received_at": T0.isoformat(), "agent": "A017"},
                    "person": {"name": NAMES[0], "phone": T_PHONE, "kind": "person"},
                    "request_type": "complaint",
                    "category_code": T_CATEGORY,
                    "title": T_TITLE,
                    "content": T_CONTENT,
                    "place": {"address": "建设路12号", "division_code": T_DIVISION},
                    "urgency": "normal",
                }
                number = hub.cases.register(CaseDraft.model_validate(draft), AGENT).case.number
                for i, (command, actor) in enumerate(steps):
                    clock.set(T0 + timedelta(minutes=20 * (i + 1)))
                    hub.cases.act(number, command, actor)
                with hub.db.read() as s:
                    seal = seal_of(s)
                    row = s.execute(select(CaseRow).where(CaseRow.number == number)).scalar_one()
                    assert row.state == state, (state, row.state)
                    sealed = row.doc["person"]["sealed"]

                    def compiled(value: Any, number: str = number, sealed: str = sealed) -> list[Any]:
                        return _compile(json.dumps(value, ensure_ascii=False), number, sealed)

                    kept = ("version", "state", "urgency", "lead_unit", "sign_off_due", "due_at", "overdue", "created_at", "updated_at")
                    history = [
                        (h.seq, h.at, compiled(h.actor), h.role, h.action, h.from_state, h.to_state, h.note, compiled(h.data))
                        for h in s.execute(select(HistoryRow).where(HistoryRow.case_id == row.id).order_by(HistoryRow.seq)).scalars()
                    ]
                    events = [
                        (e.type, e.case_version, e.occurred_at, compiled(e.payload))
                        for e in s.execute(select(EventRow).where(EventRow.case_id == row.id).order_by(EventRow.id)).scalars()
                    ]
                    units = [(u.unit_code, u.role) for u in s.execute(select(CaseUnitRow).where(CaseUnitRow.case_id == row.id)).scalars()]
                    out[state] = _template(state, compiled(row.doc), {k: getattr(row, k) for k in kept}, history, events, units)
        finally:
            hub.close()
    assert seal is not None
    return out, seal


# -- instants as text --------------------------------------------------------------------------

# Every instant a fill writes is a count of seconds since 1970 (UTC) written through these:
# a day's date (by day number) and a time of day (by second of the day). The local zone is
# +08:00 all year (China has kept no summer time since 1991; _spread_bounds checks the span).
LOCAL_OFFSET = 8 * 3600
_DAYS = [date(1970, 1, 1) + timedelta(days=d) for d in range(25_600)]  # to 2040
DATE_T = [d.isoformat() + "T" for d in _DAYS]  # ISO 8601, as the documents hold them
DATE_S = [d.isoformat() + " " for d in _DAYS]  # as the time columns hold them
DAY_NUMBER = [d.strftime("%Y%m%d") for d in _DAYS]  # as case numbers hold the day
HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def epoch(x: datetime) -> int:
    return int(x.timestamp())


# -- the spread ------------------------------------------------------------------------------


def _mapping_codes() -> tuple[list[str], list[str], list[str]]:
    units = [u["code"] for u in yaml.safe_load((ROOT / "mappings" / "units.yaml").read_text(encoding="utf-8"))["units"] if u.get("active", True)]
    cats = yaml.safe_load((ROOT / "mappings" / "categories.yaml").read_text(encoding="utf-8"))["categories"]
    leaves = [x["code"] for x in cats if x.get("parent")]
    divs = [d["code"] for d in yaml.safe_load((ROOT / "mappings" / "divisions.yaml").read_text(encoding="utf-8"))["divisions"] if d.get("level") == "county"]
    return units, leaves, divs


def _pick(mix: list[tuple[str, int]], rnd: random.Random, k: int) -> list[str]:
    return rnd.choices([m[0] for m in mix], weights=[m[1] for m in mix], k=k)


@dataclass(slots=True)
class Spec:
    case_id: int
    number: str
    received: int  # seconds since 1970, UTC
    state: str
    values: dict[str, str]
    phone: str


BLOCK = 100_000
TOWNS = [f"{t:03d}" for t in range(1, 21)]


def _spread_bounds() -> tuple[int, int, int]:
    start, recent = NOW - timedelta(days=365 * YEARS), NOW - timedelta(days=3)
    for x in (start - timedelta(days=1), T0, NOW + timedelta(days=400)):
        assert x.utcoffset() == timedelta(seconds=LOCAL_OFFSET), "the local zone is not +08:00 over the fill's years"
    return epoch(start), epoch(recent), epoch(NOW)


def spread(n: int, running: int, seed: int) -> Iterator[Spec]:
    """The cases in id order (receipt order), oldest first."""
    rnd = random.Random(seed)
    units, categories, divisions = _mapping_codes()
    phones = [f"1{rnd.choice('3578')}{rnd.randrange(10**9):09d}" for _ in range(max(1, n // 3))]
    running = min(running, n)
    old = n - running
    start, recent, now = _spread_bounds()
    per_day: dict[str, int] = {}
    spread.per_day = per_day  # type: ignore[attr-defined]
    case_id = 0
    for block_start in range(0, n, BLOCK):
        k = min(BLOCK, n - block_start)
        k_old = max(0, min(k, old - block_start))
        times = [
            start + int((recent - start) * (i + rnd.random()) / old) if i < old else recent + int((now - recent) * (i - old + rnd.random()) / running)
            for i in range(block_start, block_start + k)
        ]
        states = [*_pick(FINISHED_MIX, rnd, k_old), *_pick(RUNNING_MIX, rnd, k - k_old)]
        picks = zip(
            times,
            states,
            rnd.choices(TEXTS, k=k),
            rnd.choices(divisions, k=k),
            rnd.choices(TOWNS, k=k),
            rnd.choices(categories, k=k),
            rnd.choices(units, k=k),
            rnd.choices(TYPES, k=k),
            rnd.choices(CHANNELS, k=k),
            rnd.choices(phones, k=k),
        )
        for received, state, (title, content), county, town, category, unit, rtype, channel, phone in picks:
            case_id += 1
            day = DAY_NUMBER[(received + LOCAL_OFFSET) // 86400]
            seq = per_day[day] = per_day.get(day, 0) + 1
            number = f"{REGION}{day}{seq:06d}"
            values = {
                "number": number,
                "title": title,
                "content": content,
                "division": county + town,
                "category": category,
                "unit": unit,
                "rtype": rtype,
                "channel": channel,
            }
            yield Spec(case_id, number, received, state, values, phone)


# -- rows ------------------------------------------------------------------------------------

HISTORY_COLUMNS = ("case_id", "seq", "at", "actor", "role", "action", "from_state", "to_state", "note", "data")
EVENT_COLUMNS = ("case_id", "case_number", "case_version", "type", "occurred_at", "payload")
OUTBOX_COLUMNS = (
    "destination",
    "ordering_key",
    "sequence",
    "idempotency_key",
    "event_type",
    "case_number",
    "body",
    "status",
    "attempts",
    "available_at",
    "created_at",
    "delivered_at",
)


class Callers:
    """Each phone's keyed hash and sealed caller (a name and the phone), made once per phone:
    a phone calls three times on average."""

    def __init__(self, key: bytes, seal: PersonSeal) -> None:
        self.key, self.seal = key, seal
        self.known: dict[str, tuple[str, str]] = {}

    def __call__(self, phone: str) -> tuple[str, str]:
        got = self.known.get(phone)
        if got is None:
            name = NAMES[int(phone[-3:]) % len(NAMES)]
            got = self.known[phone] = (phone_hash(self.key, phone), self.seal.token({"name": name, "phone": phone}))
        return got


def render(spec: Spec, t: Template, callers: Callers, zone: str) -> tuple[tuple, list[tuple], list[tuple], list[tuple], tuple]:
    """One case's rows from its template. `zone`: what follows a time column's value ("" on
    SQLite, which keeps UTC without a zone as SQLAlchemy writes it; "+00" for PostgreSQL)."""
    r = spec.received
    iso = [DATE_T[(q := r + o) // 86400] + HMS[q % 86400] + tail for o, tail in t.iso]
    col = [DATE_S[(q := r + o) // 86400] + HMS[q % 86400] + tail + zone for o, tail in t.col]
    hashed, sealed = callers(spec.phone)
    v = spec.values
    texts = t.text.format(*iso, sealed=sealed, **v).split(SEP)
    h = len(t.history)
    cols = t.columns
    sign_off_due, due_at = cols["sign_off_due"], cols["due_at"]
    cid, number = spec.case_id, spec.number
    case = (
        cid,
        number,
        cols["version"],
        t.state,
        v["rtype"],
        v["category"],
        v["division"],
        v["division"][:6],
        cols["urgency"],
        v["channel"],
        v["unit"] if cols["lead_unit"] else None,
        None if sign_off_due is None else col[sign_off_due],
        None if due_at is None else col[due_at],
        bool(cols["overdue"]),
        False,  # warned: the generated running cases are young, none near a deadline
        col[cols["created_at"]],
        col[cols["updated_at"]],
        f"{v['title']}\n{v['content']}",
        texts[0],
        hashed,
        DATE_S[r // 86400] + HMS[r % 86400] + ".000000" + zone,
    )
    history = [
        (cid, seq, col[at], texts[1 + j], role, action, frm, to, note, texts[1 + h + j]) for j, (seq, at, role, action, frm, to, note) in enumerate(t.history)
    ]
    events = [(cid, number, version, typ, col[at], texts[1 + 2 * h + j]) for j, (typ, version, at) in enumerate(t.events)]
    units = [(cid, v["unit"] if code == T_UNIT else code, role) for code, role in t.units]
    last_type, _, last = t.events[-1]
    sent = col[last]
    outbox = (
        "unit-system",
        number,
        len(t.events),
        f"unit-system:{number}:{len(t.events)}",
        last_type,
        number,
        f'{{"case_number": "{number}", "type": "{last_type}"}}',  # json.dumps of the two
        "delivered",
        1,
        sent,
        sent,
        sent,
    )
    return case, history, events, units, outbox


def check(templates: dict[str, Template], seal: PersonSeal, n: int, running: int, seed: int) -> None:
    """Every template, rendered with the first cases' values, is what the hub would have
    written: its instants equal the template's shifted as datetimes (written as Python and
    SQLAlchemy write them), its document opens under the seal and reads back as a Case with
    the case's phone, whose hash is the phone's."""
    from hub.domain.model import Case, HistoryEntry

    key = PHONE_KEY.encode("utf-8")
    seen: set[str] = set()
    for spec in spread(min(n, 2000), min(running, 1000), seed):
        t = templates[spec.state]
        if t.state in seen:
            continue
        seen.add(t.state)
        delta = timedelta(seconds=spec.received) - (T0 - datetime(1970, 1, 1, tzinfo=UTC))
        shifted = ((x + delta).isoformat().replace("+00:00", "Z") if z else (x + delta).isoformat() for x, z in t.instants)
        expected = t.text.format(*shifted, sealed="S", **spec.values)
        case, history, events, _, outbox = render(spec, t, lambda phone: ("H", "S"), "")  # type: ignore[arg-type]
        got = SEP.join([case[18], *(h[3] for h in history), *(h[9] for h in history), *(e[5] for e in events)])
        assert got == expected, (t.state, got[:300], expected[:300])
        columns = [(x + delta).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds") for x in t.col_instants]
        assert [h[2] for h in history] == [columns[at] for _, at, *_ in t.history], t.state
        assert case[15] == columns[t.columns["created_at"]] and outbox[9] == columns[t.events[-1][2]], t.state
        assert case[20] == datetime.fromtimestamp(spec.received, UTC).replace(tzinfo=None).isoformat(" ", "microseconds"), t.state
        case, history, *_ = render(spec, t, Callers(key, seal), "")
        lines = [
            HistoryEntry(
                seq=h[1],
                at=datetime.fromisoformat(h[2]).replace(tzinfo=UTC),
                actor=h[3],
                role=h[4],
                action=h[5],
                from_state=h[6],
                to_state=h[7],
                note=h[8],
                data=json.loads(h[9]),
            )
            for h in history
        ]
        read = Case.model_validate({**seal.open(json.loads(case[18])), "history": lines})
        assert read.person.phone == spec.phone and case[19] == phone_hash(key, spec.phone), t.state
        assert read.number == spec.number and read.state.value == t.state, t.state


# -- writers ---------------------------------------------------------------------------------

_BIG = "'cases', 'case_history', 'case_events', 'case_units', 'outbox_messages'"


def _ins(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _day_rows() -> list[tuple[str, int]]:
    return sorted(getattr(spread, "per_day", {}).items())


def load_sqlite(path: str, n: int, running: int, seed: int, batch: int, templates: dict[str, Template], callers: Callers, indexes_after: bool = True) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    # A benchmark fixture, rebuilt if the load dies: no rollback journal (nor WAL, which would
    # write every page twice), no syncs, one connection.
    mode = conn.execute("PRAGMA journal_mode=OFF").fetchone()[0]
    if mode != "off":
        print(f"journal_mode stays {mode}", flush=True)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA threads=2")  # the index builds' sorts
    # Secondary indexes are dropped for the load and built after it, from sorted runs; or kept
    # (--indexes during): the rows come in id order, and nearly every index ends in the rowid,
    # so each index grows at the end of each of its keys (the phone hash's alone at random).
    indexes = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({_BIG})").fetchall()
    indexes = indexes if indexes_after else []
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    # Likewise the triggers (the cases' text index, 0025): its index is built once, after the load.
    triggers = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({_BIG})").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    case_sql = _ins("cases", ("id", *CASE_COLUMNS))
    hist_sql, ev_sql = _ins("case_history", HISTORY_COLUMNS), _ins("case_events", EVENT_COLUMNS)
    unit_sql, out_sql = _ins("case_units", ("case_id", "unit_code", "role")), _ins("outbox_messages", OUTBOX_COLUMNS)

    def write(b: Any) -> None:
        cases, history, events, units, outbox = b
        conn.execute("BEGIN")
        conn.executemany(case_sql, cases)
        conn.executemany(hist_sql, history)
        conn.executemany(ev_sql, events)
        conn.executemany(unit_sql, units)
        conn.executemany(out_sql, outbox)
        conn.execute("COMMIT")

    _stream(n, running, seed, batch, templates, callers, "", write)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO case_number_seq (day, last) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET last = max(last, excluded.last)", _day_rows())
    conn.execute("COMMIT")
    started = time.monotonic()
    for _, sql in indexes:
        conn.execute(sql)
    print(f"indexes built in {time.monotonic() - started:.0f} s", flush=True)
    for _, sql in triggers:
        conn.execute(sql)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (CASE_TEXT_TABLE,)).fetchone():
        started = time.monotonic()
        conn.execute(f"INSERT INTO {CASE_TEXT_TABLE} ({CASE_TEXT_TABLE}) VALUES ('rebuild')")
        print(f"text index built in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    conn.execute("ANALYZE")
    print(f"ANALYZE in {time.monotonic() - started:.0f} s", flush=True)
    conn.execute("PRAGMA journal_mode=WAL")  # as the hub keeps it
    conn.close()


def load_postgres(url: str, n: int, running: int, seed: int, batch: int, templates: dict[str, Template], callers: Callers) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SET synchronous_commit = off")  # a benchmark fixture: a crash means a new fill
        conn.execute("SET maintenance_work_mem = '1GB'")  # the index builds' sorts
        indexes = conn.execute(
            f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({_BIG}) AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.commit()

        def write(b: Any) -> None:
            cases, history, events, units, outbox = b
            with conn.cursor() as cur:
                for table, columns, rows in (
                    ("cases", ("id", *CASE_COLUMNS), cases),
                    ("case_history", HISTORY_COLUMNS, history),
                    ("case_events", EVENT_COLUMNS, events),
                    ("case_units", ("case_id", "unit_code", "role"), units),
                    ("outbox_messages", OUTBOX_COLUMNS, outbox),
                ):
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
            conn.commit()

        _stream(n, running, seed, batch, templates, callers, "+00", write)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO case_number_seq (day, last) VALUES (%s, %s) ON CONFLICT (day) DO UPDATE SET last = greatest(case_number_seq.last, excluded.last)",
                _day_rows(),
            )
            for table in ("cases", "case_events", "outbox_messages"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 1))")
        conn.commit()
        started = time.monotonic()
        for _, sql in indexes:
            conn.execute(sql)
        conn.commit()
        print(f"indexes built in {time.monotonic() - started:.0f} s", flush=True)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def _stream(n: int, running: int, seed: int, batch: int, templates: dict[str, Template], callers: Callers, zone: str, write: Callable) -> None:
    started = time.monotonic()
    cases: list[tuple] = []
    history: list[tuple] = []
    events: list[tuple] = []
    units: list[tuple] = []
    outbox: list[tuple] = []
    done = 0
    for spec in spread(n, running, seed):
        case, h, e, u, o = render(spec, templates[spec.state], callers, zone)
        cases.append(case)
        history += h
        events += e
        units += u
        outbox.append(o)
        if len(cases) >= batch:
            write((cases, history, events, units, outbox))
            done += len(cases)
            cases, history, events, units, outbox = [], [], [], [], []
            if done % (batch * 10) == 0:
                print(f"  {done:,} cases, {done / (time.monotonic() - started):,.0f}/s", flush=True)
    if cases:
        write((cases, history, events, units, outbox))
        done += len(cases)
    print(f"loaded {done:,} cases in {time.monotonic() - started:.0f} s ({done / max(time.monotonic() - started, 1e-9):,.0f}/s)", flush=True)


def build_items(url: str, batch: int = 2000) -> None:
    """The assessment items (migration 0024) of the cases loaded, from their history, as the
    migration's backfill builds them for a database filled before it: the rows above are copied,
    not written through the hub, so its event sink never saw them."""
    from sqlalchemy import text

    from supervision.items import rebuild_batch

    started, after, rows = time.monotonic(), 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        hub = build_hub(Settings(database_url=url, phone_index_key=PHONE_KEY, person_seal_key=SEAL_KEY, data_dir=Path(tmp), sqlite_synchronous="NORMAL"))
        try:
            while True:
                with hub.db.writer.begin() as conn:
                    after, written = rebuild_batch(conn, after, batch)
                if not after:
                    break
                rows += written
            with hub.db.writer.begin() as conn:
                conn.execute(text("ANALYZE assessment_items"))
        finally:
            hub.close()
    print(f"assessment items: {rows:,} rows in {time.monotonic() - started:.0f} s", flush=True)


def migrate(url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hub = build_hub(Settings(database_url=url, phone_index_key=PHONE_KEY, person_seal_key=SEAL_KEY, data_dir=Path(tmp)))
        try:
            upgrade(hub.db.writer)
        finally:
            hub.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--url", required=True, help="sqlite:////path/file.db or postgresql+psycopg://user@host/db (an empty database)")
    p.add_argument("--cases", type=int, required=True)
    p.add_argument("--running", type=int, default=5000, help="cases still being handled, the newest (default 5000)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--indexes", choices=("after", "during"), default="after", help="SQLite: build the secondary indexes after the load (default), or keep them")
    args = p.parse_args(argv)
    started = time.monotonic()
    templates, seal = build_templates()
    print(f"templates: {', '.join(f'{s} ({len(t.history)} lines, {len(t.events)} events)' for s, t in templates.items())}", flush=True)
    check(templates, seal, args.cases, args.running, args.seed)
    migrate(args.url)
    callers = Callers(PHONE_KEY.encode("utf-8"), seal)
    if args.url.startswith("sqlite:///"):
        load_sqlite(args.url.removeprefix("sqlite:///"), args.cases, args.running, args.seed, args.batch, templates, callers, args.indexes == "after")
    else:
        load_postgres(args.url, args.cases, args.running, args.seed, args.batch, templates, callers)
    build_items(args.url)
    print(f"done: {args.cases:,} cases in {time.monotonic() - started:.0f} s (with indexes, assessment items and ANALYZE)", flush=True)


if __name__ == "__main__":
    main()
