"""Fill a hub database (SQLite or PostgreSQL) with N cases of realistic spread, fast.

The rows are the hub's own: a handful of template cases are walked through the real lifecycle
(`hub.cases.register` and `act`, on a scratch SQLite hub with a manual clock) to each state a
case can rest in, and their stored rows (the case document, its history lines, its events) are
copied N times with the case's own number, caller, place, unit, category, type, channel, text
and times (every instant of the template shifted by the case's receipt time). So the documents,
history and events have the shapes and sizes the hub writes; no domain rule is bypassed in
what they say, only in how fast they are written.

Spread: receipt times over five years before --now, numbered per day as intake numbers them;
the newest --running cases are the ones still being handled (registered, accepted, awaiting
sign-off, in progress, replied, awaiting follow-up), received in the last three days; the older
ones are finished (archived 80 %, closed 15 %, rejected 4 %, transferred 1 %). Running cases are
a fixed count, not a share: a province's open work depends on its daily traffic, not on how
many years of cases the database keeps, and the scheduler's pass should show that.
Callers come from a pool of N/3 phones (repeat callers), places from the divisions mapping with
township suffixes, units from the units mapping, categories from the categories mapping.
One delivered outbox message per case (the unit system's copy of its last event).

Writes: SQLite through sqlite3's executemany in one transaction per batch (synchronous=OFF
while loading: the file is a benchmark fixture, rebuilt if the load dies); PostgreSQL through
COPY (psycopg). The schema is the hub's own migrations (`hotline-hub db upgrade`), run first.

    .venv/bin/python -m bench.scale_generate --url sqlite:////tmp/scale-1m.db --cases 1000000
    .venv/bin/python -m bench.scale_generate --url postgresql+psycopg://postgres@127.0.0.1:5432/scale1m --cases 1000000
    # 10M (about 40 GB on SQLite; hours on a 2-core box):
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.db.migrate import upgrade
from hub.db.models import CASE_TEXT_TABLE
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


@dataclass
class Template:
    """A resting state's rows as format strings. Every instant (in the JSON texts and in the
    time columns) is an index into `instants`: a row is rendered with the case's shifted ones."""

    state: str
    instants: list[tuple[datetime, bool]]  # (instant, written with Z)
    doc: str
    columns: dict[str, Any]  # the case row's other columns; times as instant indexes
    history: list[tuple[int, int, str, str, str, str | None, str, str | None, str]]  # seq, at, actor, role, action, from, to, note, data
    events: list[tuple[str, int, str]]  # type, occurred_at, payload
    units: list[tuple[str, str]]  # (unit code or T_UNIT, role)


def _literals(number: str) -> dict[str, str]:
    return {
        f'"{number}"': '"' + _MARK + "v:number" + _MARK + '"',
        f'"{T_PHONE}"': '"' + _MARK + "v:phone" + _MARK + '"',
        f'"{T_TITLE}"': '"' + _MARK + "v:title" + _MARK + '"',
        f'"{T_CONTENT}"': '"' + _MARK + "v:content" + _MARK + '"',
        f'"{T_DIVISION}"': '"' + _MARK + "v:division" + _MARK + '"',
        f'"{T_CATEGORY}"': '"' + _MARK + "v:category" + _MARK + '"',
        f'"{T_UNIT}"': '"' + _MARK + "v:unit" + _MARK + '"',
        '"request_type": "complaint"': '"request_type": "' + _MARK + "v:rtype" + _MARK + '"',
        '"channel": "phone"': '"channel": "' + _MARK + "v:channel" + _MARK + '"',
    }


def _compile(text: str, number: str) -> list[Any]:
    # The literals carry their own markers: undo the double wrapping compile_text would add.
    parts = compile_text(text, {})
    out: list[Any] = []
    for p in parts:
        if isinstance(p, str):
            for literal, marked in _literals(number).items():
                p = p.replace(literal, marked)
            out.extend(compile_text(p, {}) if _MARK in p else [p])
        else:
            out.append(p)
    return out


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


def build_templates() -> dict[str, Template]:
    """One case per resting state, made by the hub itself on a scratch SQLite file."""
    from sqlalchemy import select

    from hub.db.models import CaseRow, CaseUnitRow, EventRow, HistoryRow

    out: dict[str, Template] = {}
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
                    "person": {"name": "张三", "phone": T_PHONE, "kind": "person"},
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
                    row = s.execute(select(CaseRow).where(CaseRow.number == number)).scalar_one()
                    assert row.state == state, (state, row.state)
                    doc = _compile(json.dumps(row.doc, ensure_ascii=False), number)
                    kept = ("version", "state", "urgency", "lead_unit", "sign_off_due", "due_at", "overdue", "created_at", "updated_at")
                    columns = {k: getattr(row, k) for k in kept}
                    history = [
                        (
                            h.seq,
                            h.at,
                            _compile(json.dumps(h.actor), number),
                            h.role,
                            h.action,
                            h.from_state,
                            h.to_state,
                            h.note,
                            _compile(json.dumps(h.data, ensure_ascii=False), number),
                        )
                        for h in s.execute(select(HistoryRow).where(HistoryRow.case_id == row.id).order_by(HistoryRow.seq)).scalars()
                    ]
                    events = [
                        (e.type, e.occurred_at, _compile(json.dumps(e.payload, ensure_ascii=False), number))
                        for e in s.execute(select(EventRow).where(EventRow.case_id == row.id).order_by(EventRow.id)).scalars()
                    ]
                    units = [(u.unit_code, u.role) for u in s.execute(select(CaseUnitRow).where(CaseUnitRow.case_id == row.id)).scalars()]
                index: dict[tuple[datetime, bool], int] = {}

                def at(x: datetime | None, index: dict = index) -> int | None:
                    return None if x is None else index.setdefault((x, False), len(index))

                out[state] = Template(
                    state=state,
                    instants=[],
                    doc=to_format(doc, index),
                    columns={k: at(v) if isinstance(v, datetime) else v for k, v in columns.items()},
                    history=[(seq, at(t), to_format(a, index)[1:-1], r, act, f, to, n, to_format(d, index)) for seq, t, a, r, act, f, to, n, d in history],  # type: ignore[misc]
                    events=[(typ, at(t), to_format(pl, index)) for typ, t, pl in events],  # type: ignore[misc]
                    units=units,
                )
                out[state].instants = list(index)
        finally:
            hub.close()
    return out


# -- the spread ------------------------------------------------------------------------------


def _mapping_codes() -> tuple[list[str], list[str], list[str]]:
    units = [u["code"] for u in yaml.safe_load((ROOT / "mappings" / "units.yaml").read_text(encoding="utf-8"))["units"] if u.get("active", True)]
    cats = yaml.safe_load((ROOT / "mappings" / "categories.yaml").read_text(encoding="utf-8"))["categories"]
    leaves = [x["code"] for x in cats if x.get("parent")]
    divs = [d["code"] for d in yaml.safe_load((ROOT / "mappings" / "divisions.yaml").read_text(encoding="utf-8"))["divisions"] if d.get("level") == "county"]
    return units, leaves, divs


def _pick(mix: list[tuple[str, int]], rnd: random.Random, k: int) -> list[str]:
    return rnd.choices([m[0] for m in mix], weights=[m[1] for m in mix], k=k)


@dataclass
class Spec:
    case_id: int
    number: str
    received: datetime
    state: str
    values: dict[str, str]
    phone: str


def spread(n: int, running: int, seed: int) -> Iterator[Spec]:
    """The cases in id order (receipt order), oldest first."""
    rnd = random.Random(seed)
    units, categories, divisions = _mapping_codes()
    phones = [f"1{rnd.choice('3578')}{rnd.randrange(10**9):09d}" for _ in range(max(1, n // 3))]
    running = min(running, n)
    old = n - running
    start, recent = NOW - timedelta(days=365 * YEARS), NOW - timedelta(days=3)
    span_old, span_new = (recent - start).total_seconds(), (NOW - recent).total_seconds()
    per_day: dict[str, int] = {}
    case_id = 0
    for block_start in range(0, n, 100_000):
        k = min(100_000, n - block_start)
        times = []
        for i in range(block_start, block_start + k):
            if i < old:
                times.append(start + timedelta(seconds=span_old * (i + rnd.random()) / max(old, 1)))
            else:
                times.append(recent + timedelta(seconds=span_new * (i - old + rnd.random()) / max(running, 1)))
        states = [*_pick(FINISHED_MIX, rnd, max(0, min(k, old - block_start))), *_pick(RUNNING_MIX, rnd, k - max(0, min(k, old - block_start)))]
        for received, state in zip(times, states):
            case_id += 1
            day = received.astimezone(LOCAL_TZ).strftime("%Y%m%d")
            seq = per_day[day] = per_day.get(day, 0) + 1
            title, content = rnd.choice(TEXTS)
            county = rnd.choice(divisions)
            phone = rnd.choice(phones)
            values = {
                "number": f"{REGION}{day}{seq:06d}",
                "phone": phone,
                "title": title,
                "content": content,
                "division": f"{county}{rnd.randrange(1, 21):03d}",
                "category": rnd.choice(categories),
                "unit": rnd.choice(units),
                "rtype": rnd.choice(TYPES),
                "channel": rnd.choice(CHANNELS),
            }
            yield Spec(case_id, values["number"], received, state, values, phone)
    spread.per_day = per_day  # type: ignore[attr-defined]


# -- writers ---------------------------------------------------------------------------------

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


def rows_for(spec: Spec, t: Template, key: bytes, when: Callable[[datetime], Any]) -> tuple[tuple, list[tuple], list[tuple], list[tuple], tuple]:
    delta = spec.received - T0
    v = spec.values
    shifted = [x + delta for x, _ in t.instants]
    iso = [x.isoformat().replace("+00:00", "Z") if z else x.isoformat() for x, (_, z) in zip(shifted, t.instants)]
    col = [when(x) for x in shifted]
    cols = t.columns

    def ts(i: int | None) -> Any:
        return None if i is None else col[i]

    unit = v["unit"] if cols["lead_unit"] else None
    case = (
        spec.case_id,
        spec.number,
        cols["version"],
        t.state,
        v["rtype"],
        v["category"],
        v["division"],
        v["division"][:6],
        cols["urgency"],
        v["channel"],
        unit,
        ts(cols["sign_off_due"]),
        ts(cols["due_at"]),
        bool(cols["overdue"]),
        False,  # warned: the generated running cases are young, none near a deadline
        ts(cols["created_at"]),
        ts(cols["updated_at"]),
        f"{v['title']}\n{v['content']}",
        t.doc.format(*iso, **v),
        phone_hash(key, spec.phone),
        when(spec.received),
    )
    cid = spec.case_id
    history = [
        (cid, seq, col[at], actor.format(*iso, **v), role, action, frm, to, note, data.format(*iso, **v))
        for seq, at, actor, role, action, frm, to, note, data in t.history
    ]
    events = [(cid, spec.number, i + 1, typ, col[at], payload.format(*iso, **v)) for i, (typ, at, payload) in enumerate(t.events)]
    units = [(cid, v["unit"] if code == T_UNIT else code, role) for code, role in t.units]
    last_type, last_at, _ = t.events[-1]
    outbox = (
        "unit-system",
        spec.number,
        len(t.events),
        f"unit-system:{spec.number}:{len(t.events)}",
        last_type,
        spec.number,
        json.dumps({"case_number": spec.number, "type": last_type}),
        "delivered",
        1,
        col[last_at],
        col[last_at],
        col[last_at],
    )
    return case, history, events, units, outbox


def _sqlite_when(x: datetime) -> str:
    return x.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_BIG = "'cases', 'case_history', 'case_events', 'case_units', 'outbox_messages'"


def _ins(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _day_rows() -> list[tuple[str, int]]:
    return sorted(getattr(spread, "per_day", {}).items())


def load_sqlite(path: str, n: int, running: int, seed: int, batch: int, templates: dict[str, Template], key: bytes) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    # Secondary indexes are dropped for the load and built after it, from sorted runs: a
    # B-tree grown one random key at a time is several times slower at this size.
    indexes = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({_BIG})").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    # Likewise the triggers (the cases' text index, 0025): its index is built once, after the load.
    triggers = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({_BIG})").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    case_sql = _ins("cases", ("id", *CASE_COLUMNS))
    hist_sql, ev_sql = _ins("case_history", HISTORY_COLUMNS), _ins("case_events", EVENT_COLUMNS)
    unit_sql, out_sql = _ins("case_units", ("case_id", "unit_code", "role")), _ins("outbox_messages", OUTBOX_COLUMNS)
    _stream(n, running, seed, batch, templates, key, _sqlite_when, lambda b: _sqlite_batch(conn, case_sql, hist_sql, ev_sql, unit_sql, out_sql, b))
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
    conn.execute("ANALYZE")
    conn.close()


def _sqlite_batch(conn: sqlite3.Connection, case_sql: str, hist_sql: str, ev_sql: str, unit_sql: str, out_sql: str, b: Any) -> None:
    cases, history, events, units, outbox = b
    conn.execute("BEGIN")
    conn.executemany(case_sql, cases)
    conn.executemany(hist_sql, history)
    conn.executemany(ev_sql, events)
    conn.executemany(unit_sql, units)
    conn.executemany(out_sql, outbox)
    conn.execute("COMMIT")


def load_postgres(url: str, n: int, running: int, seed: int, batch: int, templates: dict[str, Template], key: bytes) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=False) as conn:
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

        _stream(n, running, seed, batch, templates, key, lambda x: x, write)
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


def check(templates: dict[str, Template], n: int, running: int, seed: int) -> None:
    """Every template, rendered with the first cases' values, is a case the hub reads back."""
    from hub.domain.model import Case, HistoryEntry

    seen: set[str] = set()
    for spec in spread(min(n, 2000), min(running, 1000), seed):
        if spec.state in seen:
            continue
        seen.add(spec.state)
        case, history, *_ = rows_for(spec, templates[spec.state], b"k", lambda x: x)
        lines = [
            HistoryEntry(seq=h[1], at=h[2], actor=h[3], role=h[4], action=h[5], from_state=h[6], to_state=h[7], note=h[8], data=json.loads(h[9]))
            for h in history
        ]
        Case.model_validate({**json.loads(case[18]), "history": lines})


def _stream(n: int, running: int, seed: int, batch: int, templates: dict[str, Template], key: bytes, when: Callable[[datetime], Any], write: Callable) -> None:
    started = time.monotonic()
    cases: list[tuple] = []
    history: list[tuple] = []
    events: list[tuple] = []
    units: list[tuple] = []
    outbox: list[tuple] = []
    done = 0
    for spec in spread(n, running, seed):
        case, h, e, u, o = rows_for(spec, templates[spec.state], key, when)
        cases.append(case)
        history.extend(h)
        events.extend(e)
        units.extend(u)
        outbox.append(o)
        if len(cases) >= batch:
            write((cases, history, events, units, outbox))
            done += len(cases)
            cases, history, events, units, outbox = [], [], [], [], []
            if done % (batch * 10) == 0:
                rate = done / (time.monotonic() - started)
                print(f"  {done:,} cases, {rate:,.0f}/s", flush=True)
    if cases:
        write((cases, history, events, units, outbox))
        done += len(cases)
    print(f"loaded {done:,} cases in {time.monotonic() - started:.0f} s", flush=True)


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="sqlite:////path/file.db or postgresql+psycopg://user@host/db (an empty database)")
    p.add_argument("--cases", type=int, required=True)
    p.add_argument("--running", type=int, default=5000, help="cases still being handled, the newest (default 5000)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--batch", type=int, default=10_000)
    args = p.parse_args(argv)
    started = time.monotonic()
    templates = build_templates()
    print(f"templates: {', '.join(f'{s} ({len(t.history)} lines, {len(t.events)} events)' for s, t in templates.items())}", flush=True)
    check(templates, args.cases, args.running, args.seed)
    migrate(args.url)
    key = PHONE_KEY.encode("utf-8")
    if args.url.startswith("sqlite:///"):
        load_sqlite(args.url.removeprefix("sqlite:///"), args.cases, args.running, args.seed, args.batch, templates, key)
    else:
        load_postgres(args.url, args.cases, args.running, args.seed, args.batch, templates, key)
    build_items(args.url)
    print(f"done: {args.cases:,} cases in {time.monotonic() - started:.0f} s (with ANALYZE)", flush=True)


if __name__ == "__main__":
    main()
