"""Retrieval codes (提取码): issued once per case, stored as a keyed hash, checked with lockouts.

Why a keyed hash (HMAC-SHA256) and not argon2/scrypt: a code is six characters from 25, about
28 bits. A slow hash does not save so small a secret from an offline search of a stolen
table (2^28 candidates is within reach of a few machines even at argon2's cost), and it would
make every lookup cost tens of milliseconds of CPU, a gift to whoever floods the public route. A keyed hash under a key that
is not in the database (derived from the phone index key, hub.db.phone_index) makes the
stolen table useless without the key, and online guessing is what the lockouts stop: a few
wrong codes per case number and per client address, then 429 for a while.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from channels.tables import LookupFailureRow, RetrievalCodeRow
from hub.db.cursor import CursorStatement

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: a code read out or typed from an SMS is not misread.
ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
LENGTH = 6


def new_code() -> str:
    # One uniform draw below 25^6, written in base 25: the same distribution as six
    # secrets.choice calls, for one call to the system's random source instead of about eight
    # (a code is issued on every registration: the hot path).
    n = secrets.randbelow(len(ALPHABET) ** LENGTH)
    chars = []
    for _ in range(LENGTH):
        n, digit = divmod(n, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "".join(chars)


def normalise_code(raw: str) -> str:
    """What a citizen types: spaces dropped, any case."""
    return raw.replace(" ", "").upper()


def derive_key(phone_index_key: bytes) -> bytes:
    """A key of its own for codes, from the phone index key (one secret to manage, two uses apart)."""
    return hmac.new(phone_index_key, b"12345-hub retrieval codes v1", hashlib.sha256).digest()


class Locked(Exception):
    """Too many wrong codes: for this case number or this client address, until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until

    def retry_after(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class Limits:
    per_case: int
    per_client: int
    lockout: timedelta


class Codes:
    def __init__(self, key: bytes, limits: Limits) -> None:
        self.key = key
        self.limits = limits

    def _hash(self, number: str, code: str) -> str:
        # The number is in the message: the same code on two cases hashes differently.
        return hmac.new(self.key, f"{number}:{code}".encode(), hashlib.sha256).hexdigest()

    def _subject(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def issue(self, session: Session, number: str, now: datetime) -> str:
        """A new code for the case (replacing any earlier one), in the caller's transaction."""
        code = new_code()
        row = session.get(RetrievalCodeRow, number)
        if row is None:
            session.add(RetrievalCodeRow(case_number=number, code_hash=self._hash(number, code), issued_at=now))
        else:
            row.code_hash, row.issued_at = self._hash(number, code), now
        return code

    def issue_new(self, session: Session, number: str, now: datetime) -> str:
        """The first code of a case registered in the caller's transaction (none can exist yet):
        one insert, no lookup; intake is the hot path."""
        code = new_code()
        _INSERT_CODE.run(session, {"case_number": number, "code_hash": self._hash(number, code), "issued_at": now})
        return code

    def check(self, session: Session, number: str, code: str, client: str, now: datetime) -> bool:
        """True for the right code. Raises Locked while the number or the client is locked out
        (checked before the code, so a locked-out guesser learns nothing from a right guess).
        A wrong code counts against both; the right one clears the number's count."""
        subjects = {"case": self._subject("case", number), "client": self._subject("client", client)}
        rows = {kind: session.get(LookupFailureRow, s) for kind, s in subjects.items()}
        for row in rows.values():
            if row is not None and row.locked_until is not None and row.locked_until > now:
                raise Locked(row.locked_until)
        stored = session.get(RetrievalCodeRow, number)
        right = stored is not None and hmac.compare_digest(stored.code_hash, self._hash(number, normalise_code(code)))
        if right:
            if rows["case"] is not None:
                session.delete(rows["case"])
            return True
        self._count(session, subjects, rows, now)
        return False

    def attempt(self, session: Session, number: str, client: str, now: datetime) -> None:
        """A request for a new code (reissue): raises Locked while the number or the client is
        locked out, and counts every request, whether its phone matched or not, under the same
        limits as wrong codes (counters of their own). Counting them all is what keeps the
        answer from telling whether a phone matched: a matching phone neither clears nor spares
        a count, so a lockout comes after the same number of tries either way."""
        subjects = {"case": self._subject("reissue-case", number), "client": self._subject("reissue-client", client)}
        rows = {kind: session.get(LookupFailureRow, s) for kind, s in subjects.items()}
        for row in rows.values():
            if row is not None and row.locked_until is not None and row.locked_until > now:
                raise Locked(row.locked_until)
        self._count(session, subjects, rows, now)

    def _count(self, session: Session, subjects: dict[str, str], rows: dict[str, LookupFailureRow | None], now: datetime) -> None:
        limit = {"case": self.limits.per_case, "client": self.limits.per_client}
        for kind, subject in subjects.items():
            row = rows[kind]
            if row is None or (row.locked_until is not None and row.locked_until <= now):
                if row is not None:
                    session.delete(row)
                    session.flush()
                row = LookupFailureRow(subject=subject, failures=0, first_at=now, locked_until=None)
                session.add(row)
            row.failures += 1
            if row.failures >= limit[kind]:
                row.locked_until = now + self.limits.lockout


_INSERT_CODE = CursorStatement(RetrievalCodeRow.__table__.insert(), ("case_number", "code_hash", "issued_at"))  # hub/db/cursor.py
