"""Likely duplicates: the same person (same normalised phone), close in time, saying much
the same thing. Pairs scoring at or above the threshold become candidates for an operator;
nothing is merged here.

Score = text_weight * Jaccard(character bigrams of title + content)
      + (1 - text_weight) * (1 - hours apart / window).
Character bigrams rather than words: Chinese has no spaces, and bigrams need no segmenter
yet still see that "小区噪音扰民" and "噪音扰民严重" share most of their meaning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, exists, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from adapters.legacy_hotlines.config import Dedupe
from adapters.legacy_hotlines.tables import PENDING, LegacyCandidateRow, LegacyRecordRow, ensure_phone_index
from hub.db import bulk
from hub.db.models import CaseRow
from hub.db.person_seal import seal_of

if TYPE_CHECKING:
    from hub.db.database import Database

HUB_LINE = "12345"  # the index's name for 12345's own cases
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
_NOT_DIGITS = re.compile(r"\D")


def phone_key(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = _NOT_DIGITS.sub("", phone)
    if len(digits) == 13 and digits.startswith("86"):  # +86 / 0086 before a mobile
        digits = digits[2:]
    return hashlib.sha256(f"legacy-dedupe:{digits}".encode()).hexdigest()[:32]


def index_text(title: str, content: str, limit: int) -> str:
    text = _NOISE.sub("", f"{title}{content}")
    return text[:limit]


def bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text} if text else set()


def jaccard(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


def score(text_a: str, text_b: str, hours_apart: float, rules: Dedupe) -> tuple[float, float]:
    """(score, text similarity); 0 outside the window."""
    return _score(bigrams(text_a), bigrams(text_b), hours_apart, rules)


def _score(a: set[str], b: set[str], hours_apart: float, rules: Dedupe) -> tuple[float, float]:
    window = rules.window_days * 24
    if hours_apart > window:
        return 0.0, 0.0
    similarity = len(a & b) / len(a | b) if a and b else 0.0
    closeness = 1.0 - hours_apart / window
    return round(rules.text_weight * similarity + (1 - rules.text_weight) * closeness, 4), round(similarity, 4)


@dataclass
class DedupeResult:
    indexed_hub_cases: int = 0
    compared: int = 0
    candidates: list[tuple[str, str, float]] = field(default_factory=list)


def index_hub_cases(s: Session, limit_chars: int, batch: int = 1000, limit: int | None = None, after: int = 0) -> tuple[int, int]:
    """Bring the cases an import did not index into the index: 12345's own (line '12345',
    keyed by case number) and those the live bridge pulled from a 双号并行 line (channel
    legacy, keyed by the line and its id, as an import of that id would be: the importer then
    finds it held). Imported cases have their record from the import (written in the batch's
    transaction), so they are recognised by it, not by channel.

    Every case without a record, not only those above the highest id indexed: on PostgreSQL
    ids come from a sequence in the order transactions started, so a case can commit after
    one with a higher id was indexed. Returns (added, the last case id looked at): with
    `limit` it returns once about that many are added, and the next call goes on `after` it."""
    t = LegacyRecordRow
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    added, last = 0, after
    while True:
        rows = s.execute(
            select(CaseRow.id, CaseRow.number, CaseRow.channel, CaseRow.doc)
            .where(CaseRow.id > last, ~exists().where(t.case_id == CaseRow.id))
            .order_by(CaseRow.id)
            .limit(batch)
        ).all()
        if not rows:
            return added, last
        values = []
        seal = seal_of(s)
        for case_id, number, channel, doc in rows:
            line, original_id = _origin(channel, number, doc)
            phone = (seal.open(doc).get("person") or {}).get("phone")
            values.append(
                dict(
                    line=line,
                    original_id=original_id,
                    case_id=case_id,
                    case_number=number,
                    run_id=None,
                    row=None,
                    phone_key=phone_key(phone),
                    received_at=datetime.fromisoformat(doc["intake"]["received_at"]),
                    text=index_text(doc.get("title", ""), doc.get("content", ""), limit_chars),
                    compared=False,
                )
            )
        # Another search indexing the same cases at the same moment: the first one's record stands.
        s.execute(insert(t.__table__).on_conflict_do_nothing(index_elements=["line", "original_id"]), values)
        added += len(values)
        last = rows[-1][0]
        if limit is not None and added >= limit:  # the caller commits and comes back for more
            return added, last


def _origin(channel: str, number: str, doc: dict) -> tuple[str, str]:
    """(line, original id) of a case for the index: a live-bridged case (channel legacy) is the
    line's, by the line's id; anything else is 12345's, by its number. A 12345 case that went
    over to a line also carries the line's ref, but it began in 12345."""
    if channel == "legacy":
        for ref in doc.get("external_refs") or []:
            system = str(ref.get("system", ""))
            if system.startswith("legacy."):
                return system.removeprefix("legacy."), str(ref["external_id"])
    return HUB_LINE, number


INDEX_BATCH = 200
# The most pairs one scoring round keeps in memory: a phone with thousands of records in the
# window (a frequent caller, a placeholder number) makes millions of pairs, and a batch of
# records stops being taken once its pairs reach this; the rest go to the next round.
MAX_PAIRS = 20_000
# The most pairs one write transaction stores. On SQLite the search's writer is every other
# writer's (the running hub's API included): each short transaction lets them in between.
STORE_CHUNK = 500


# Told (records compared so far, fraction of the search done) after each batch: report.Progress.update.
OnProgress = Callable[[int, float], None]


def find_candidates(db: Database, rules: Dedupe, now: datetime, batch: int = 1000, progress: OnProgress | None = None) -> DedupeResult:
    """Compare every record not yet compared with the records of the same phone in the window.

    Read and scored outside any write transaction (a read of the WAL snapshot, which never
    waits for the writer); the pairs found are stored STORE_CHUNK at a time, each chunk its
    own short transaction, and the records are marked compared last, in one more. A search
    over a million imported rows takes minutes, and one transaction would hold the writer (on
    SQLite, every other writer of the running hub) all that time. Stopped half way, the next
    search goes on from the records not yet marked compared; a pair found twice is stored once.

    `progress` is told after each batch how far the comparing has come, against the records
    not yet compared once the 12345 cases are indexed (an import running beside it may add
    more: the fraction then stops short of 1 until the last batch)."""
    result = DedupeResult()
    with db.write() as s:
        ensure_phone_index(s)  # an import that crashed may have left it out (importer._defer_phone_index)
        if s.get_bind().dialect.name == "sqlite":  # and the cases' too (only there is it left out)
            bulk.ensure_phone_index(s)
    after = 0
    while True:
        db.yield_writer()  # the waiting writers of other processes (the running hub's API) first
        with db.write() as s:
            # Smaller than the compare batch: the documents are read and indexed in the transaction.
            step = min(batch, INDEX_BATCH)
            added, after = index_hub_cases(s, rules.max_text_chars, batch=step, limit=step, after=after)
        if not added:
            break
        result.indexed_hub_cases += added
    total = 0
    if progress is not None:
        with db.read() as s:
            total = s.execute(select(func.count()).select_from(LegacyRecordRow).where(LegacyRecordRow.compared.is_(False))).scalar_one()
    while True:
        with db.read() as s:
            todo, found = _score_batch(s, rules, now, batch)
        if not todo:
            if progress is not None:
                progress(result.compared, 1.0)
            return result
        _store_batch(db, todo, found, result)
        result.compared += len(todo)
        if progress is not None:
            progress(result.compared, min(result.compared / max(total, 1), 0.999))


def _score_batch(s: Session, rules: Dedupe, now: datetime, batch: int, max_pairs: int | None = None) -> tuple[list[Any], dict[tuple[str, str], dict[str, Any]]]:
    """One batch of records not yet compared and the pairs they make: every other record of
    their phones, read in one query, scored in memory. Once the pairs reach `max_pairs`
    (MAX_PAIRS) no further record of the batch is taken: the batch returned is the records
    whose pairs are all in `found` (and those without a phone, which make none)."""
    max_pairs = MAX_PAIRS if max_pairs is None else max_pairs
    t = LegacyRecordRow
    todo = s.execute(select(t.line, t.original_id, t.case_number, t.phone_key, t.received_at, t.text).where(t.compared.is_(False)).limit(batch)).all()
    if not todo:
        return [], {}
    window = timedelta(days=rules.window_days)
    keyed = [r for r in todo if r.phone_key is not None]
    by_phone: dict[str, list[Any]] = {}
    if keyed:
        earliest, latest = min(r.received_at for r in keyed) - window, max(r.received_at for r in keyed) + window
        for o in s.execute(
            select(t.line, t.case_number, t.phone_key, t.received_at, t.text).where(
                t.phone_key.in_({r.phone_key for r in keyed}), t.received_at >= earliest, t.received_at <= latest
            )
        ):
            by_phone.setdefault(o.phone_key, []).append(o)
    grams: dict[str, set[str]] = {}

    def grams_of(number: str, text: str) -> set[str]:
        found = grams.get(number)
        if found is None:
            found = grams[number] = bigrams(text)
        return found

    found: dict[tuple[str, str], dict[str, Any]] = {}
    taken = [r for r in todo if r.phone_key is None]
    for r in keyed:
        if len(found) >= max_pairs:
            break
        taken.append(r)
        for o in by_phone.get(r.phone_key, ()):
            if o.case_number == r.case_number or abs(o.received_at - r.received_at) > window:
                continue
            hours = abs((r.received_at - o.received_at).total_seconds()) / 3600
            value, similarity = _score(grams_of(r.case_number, r.text), grams_of(o.case_number, o.text), hours, rules)
            if value < rules.threshold:
                continue
            # The earlier case is `a`; the later one would be the duplicate merged into it.
            (a, la, _), (b, lb, _) = sorted([(r.case_number, r.line, r.received_at), (o.case_number, o.line, o.received_at)], key=lambda x: (x[2], x[0]))
            found.setdefault(
                (a, b),
                dict(
                    case_a=a,
                    case_b=b,
                    line_a=la,
                    line_b=lb,
                    score=value,
                    text_similarity=similarity,
                    hours_apart=round(hours, 2),
                    status=PENDING,
                    created_at=now,
                ),
            )
    return taken, found


def _store_batch(db: Database, todo: list[Any], found: dict[tuple[str, str], dict[str, Any]], result: DedupeResult, chunk: int | None = None) -> None:
    """The batch's new pairs, `chunk` (STORE_CHUNK) a transaction, then the batch marked
    compared. A stop between them leaves the batch not compared: the next search scores it
    again and stores only the pairs not stored yet."""
    chunk = STORE_CHUNK if chunk is None else chunk
    pairs = list(found.values())
    for i in range(0, len(pairs), chunk):
        db.yield_writer()
        with db.write() as s:
            result.candidates.extend(_insert_pairs(s, pairs[i : i + chunk]))
    # By primary key: a filter on case_number would walk every record not yet compared.
    table = LegacyRecordRow.__table__
    db.yield_writer()
    with db.write() as s:
        s.execute(
            update(table).where(table.c.line == bindparam("l"), table.c.original_id == bindparam("o")).values(compared=True),
            [{"l": r.line, "o": r.original_id} for r in todo],
        )


def _insert_pairs(s: Session, pairs: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """Insert the pairs not stored yet; the ones inserted as (case_a, case_b, score)."""
    c = LegacyCandidateRow
    held = {
        (x.case_a, x.case_b) for x in s.execute(select(c.case_a, c.case_b).where(tuple_(c.case_a, c.case_b).in_([(v["case_a"], v["case_b"]) for v in pairs])))
    }
    new = [v for v in pairs if (v["case_a"], v["case_b"]) not in held]
    if new:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        # A search running beside this one may store the same pair first: its row stands.
        s.execute(insert(c.__table__).on_conflict_do_nothing(index_elements=["case_a", "case_b"]), new)
    return [(v["case_a"], v["case_b"], v["score"]) for v in new]
