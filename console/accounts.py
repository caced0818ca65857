"""Operator accounts and their sessions: argon2 passwords, lockout, server-side sessions,
and the sign-in audit log. An operator becomes the same `Actor` an API key becomes
(hub/keys.py), so every page applies the API's access rules through the same services.

The party an operator acts as is the username: the case history then says which person
acted, while the role, unit and divisions give the scope, as for a key.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, select, update

from console.tables import OperatorRow, OperatorSessionRow, SigninRow
from hub.db.database import Database
from hub.domain.access import Actor
from hub.domain.clock import Clock
from hub.domain.model import Role

# The people who work in the console; the province, counties' systems and the hub's own
# processes stay API keys (issue #18: "API keys stay for systems").
OPERATOR_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.UNIT, Role.COUNTY)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
MIN_PASSWORD = 10
MAX_FAILURES = 5  # a sixth wrong try within the lock is refused without checking the password
LOCK_FOR = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(hours=8)  # a shift; a session unused longer signs in again
MAX_AGE = timedelta(hours=12)


class AccountError(ValueError):
    """A bad account request (unknown user, bad role scope, weak password); the message says why."""


@dataclass(frozen=True)
class Operator:
    id: int
    username: str
    display_name: str
    role: Role
    unit_code: str | None
    divisions: tuple[str, ...]
    disabled: bool
    locked_until: datetime | None
    created_at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(party=self.username, role=self.role, unit_code=self.unit_code, divisions=self.divisions)


@dataclass(frozen=True)
class Session:
    operator: Operator
    csrf_token: str


@dataclass(frozen=True)
class Signin:
    at: datetime
    username: str
    outcome: str
    remote: str | None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _operator(row: OperatorRow) -> Operator:
    return Operator(
        row.id,
        row.username,
        row.display_name,
        Role(row.role),
        row.unit_code,
        tuple(row.divisions or ()),
        row.disabled_at is not None,
        row.locked_until,
        row.created_at,
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少 {MIN_PASSWORD} 个字符")
    if password.strip() != password or not password.strip():
        raise AccountError("密码首尾不能是空格")


class Accounts:
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher | None = None) -> None:
        self.db, self.clock = db, clock
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None  # made at the first unknown username, not at every hub start

    # -- accounts ------------------------------------------------------------------------
    def create(
        self, username: str, role: Role, password: str, display_name: str | None = None, unit_code: str | None = None, divisions: list[str] | None = None
    ) -> Operator:
        if not USERNAME.match(username):
            raise AccountError(f"username {username!r}: 2-32 lower-case letters, digits or ._-, starting with a letter or digit")
        if role not in OPERATOR_ROLES:
            raise AccountError(f"role {role.value!r}: an operator is one of {', '.join(r.value for r in OPERATOR_ROLES)}")
        if role is Role.UNIT and not unit_code:
            raise AccountError("a unit clerk needs --unit")
        if role is Role.COUNTY and not divisions:
            raise AccountError("a county clerk needs at least one --division")
        if role not in (Role.UNIT,) and unit_code:
            raise AccountError("--unit is only for a unit clerk")
        if role is not Role.COUNTY and divisions:
            raise AccountError("--division is only for a county clerk")
        check_password(password)
        now = self.clock.now()
        with self.db.write() as s:
            if s.execute(select(OperatorRow.id).where(OperatorRow.username == username)).first() is not None:
                raise AccountError(f"username {username!r} exists already")
            row = OperatorRow(
                username=username,
                display_name=display_name or username,
                role=role.value,
                unit_code=unit_code,
                divisions=[d[:6] for d in divisions or []],
                password_hash=self.hasher.hash(password),
                created_at=now,
                password_changed_at=now,
                disabled_at=None,
                failed_signins=0,
                locked_until=None,
            )
            s.add(row)
            s.flush()
            return _operator(row)

    def list(self) -> list[Operator]:
        with self.db.read() as s:
            return [_operator(r) for r in s.execute(select(OperatorRow).order_by(OperatorRow.id)).scalars()]

    def get(self, username: str) -> Operator:
        with self.db.read() as s:
            row = s.execute(select(OperatorRow).where(OperatorRow.username == username)).scalar_one_or_none()
            if row is None:
                raise AccountError(f"no operator {username!r}")
            return _operator(row)

    def disable(self, username: str) -> bool:
        """False if already disabled. Ends the person's sessions at once."""
        with self.db.write() as s:
            row = self._row(s, username)
            if row.disabled_at is not None:
                return False
            row.disabled_at = self.clock.now()
            self._end_sessions(s, row.id)
        return True

    def reset_password(self, username: str, password: str) -> None:
        """An administrator's reset: unlocks the account and ends its sessions."""
        check_password(password)
        with self.db.write() as s:
            row = self._row(s, username)
            row.password_hash, row.password_changed_at = self.hasher.hash(password), self.clock.now()
            row.failed_signins, row.locked_until = 0, None
            self._end_sessions(s, row.id)

    def change_password(self, operator: Operator, current: str, new: str, keep_token: str) -> None:
        """The person's own change: the current password first; other sessions end, this one stays."""
        check_password(new)
        if new == current:
            raise AccountError("新密码不能与当前密码相同")
        with self.db.write() as s:
            row = self._row(s, operator.username)
            if not self._verify(row.password_hash, current):
                raise AccountError("当前密码不正确")
            row.password_hash, row.password_changed_at = self.hasher.hash(new), self.clock.now()
            s.execute(
                update(OperatorSessionRow)
                .where(
                    OperatorSessionRow.operator_id == row.id, OperatorSessionRow.token_hash != _token_hash(keep_token), OperatorSessionRow.ended_at.is_(None)
                )
                .values(ended_at=self.clock.now())
            )

    # -- signing in ------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, remote: str | None) -> tuple[str, Session] | str:
        """(session token, session) or the outcome that refused it (for the audit and the page):
        'unknown', 'bad_password', 'locked', 'disabled'."""
        now = self.clock.now()
        with self.db.write() as s:
            row = s.execute(select(OperatorRow).where(OperatorRow.username == username)).scalar_one_or_none()
            if row is None:
                # Verified against a hash anyway, so a wrong username costs as long as a wrong password.
                if self._dummy is None:
                    self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
                self._verify(self._dummy, password)
                outcome = "unknown"
            elif row.disabled_at is not None:
                outcome = "disabled"
            elif row.locked_until is not None and row.locked_until > now:
                outcome = "locked"
            elif not self._verify(row.password_hash, password):
                row.failed_signins += 1
                if row.failed_signins >= MAX_FAILURES:
                    row.locked_until, row.failed_signins = now + LOCK_FOR, 0
                outcome = "bad_password"
            else:
                row.failed_signins, row.locked_until = 0, None
                if self.hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self.hasher.hash(password)
                token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                s.add(OperatorSessionRow(token_hash=_token_hash(token), operator_id=row.id, csrf_token=csrf, created_at=now, last_seen_at=now, ended_at=None))
                s.add(SigninRow(at=now, username=username[:64], outcome="ok", remote=remote))
                return token, Session(_operator(row), csrf)
            s.add(SigninRow(at=now, username=username[:64], outcome=outcome, remote=remote))
            return outcome

    def session(self, token: str) -> Session | None:
        """The live session of this cookie, or None (unknown, ended, idle too long, too old,
        or its operator disabled)."""
        now = self.clock.now()
        with self.db.write() as s:
            found = self._session_of(s, token)
            if found is None:
                return None
            sess, row = found
            if sess.ended_at is not None or row.disabled_at is not None or now - sess.last_seen_at > IDLE_TIMEOUT or now - sess.created_at > MAX_AGE:
                return None
            if now - sess.last_seen_at > timedelta(minutes=1):  # not a write per page view
                sess.last_seen_at = now
            return Session(_operator(row), sess.csrf_token)

    def sign_out(self, token: str, remote: str | None) -> None:
        now = self.clock.now()
        with self.db.write() as s:
            found = self._session_of(s, token)
            if found is None or found[0].ended_at is not None:
                return
            found[0].ended_at = now
            s.add(SigninRow(at=now, username=found[1].username, outcome="signed_out", remote=remote))

    def signins(self, username: str | None = None, limit: int = 1000) -> builtins.list[Signin]:
        with self.db.read() as s:
            stmt = select(SigninRow).order_by(SigninRow.id.desc()).limit(limit)
            if username:
                stmt = stmt.where(SigninRow.username == username)
            return [Signin(r.at, r.username, r.outcome, r.remote) for r in s.execute(stmt).scalars()]

    # -- helpers ---------------------------------------------------------------------------
    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _session_of(s, token: str) -> Row[OperatorSessionRow, OperatorRow] | None:  # noqa: ANN001 - a SQLAlchemy session
        """The session row of this cookie's token and its operator, whatever their state."""
        return s.execute(
            select(OperatorSessionRow, OperatorRow)
            .join(OperatorRow, OperatorRow.id == OperatorSessionRow.operator_id)
            .where(OperatorSessionRow.token_hash == _token_hash(token))
        ).first()

    @staticmethod
    def _row(s, username: str) -> OperatorRow:  # noqa: ANN001 - a SQLAlchemy session
        row = s.execute(select(OperatorRow).where(OperatorRow.username == username)).scalar_one_or_none()
        if row is None:
            raise AccountError(f"no operator {username!r}")
        return row

    def _end_sessions(self, s, operator_id: int) -> None:  # noqa: ANN001
        s.execute(
            update(OperatorSessionRow)
            .where(OperatorSessionRow.operator_id == operator_id, OperatorSessionRow.ended_at.is_(None))
            .values(ended_at=self.clock.now())
        )
