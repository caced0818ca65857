"""API keys per party. A key is shown once, at creation; only its SHA-256 is stored.

Format: `hub_<key_id>_<secret>`; the key id finds the row, the hash is compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from hub.db.database import Database
from hub.db.models import ApiKeyRow
from hub.domain.access import Actor
from hub.domain.model import Role


class KeyError_(Exception):
    """A key that is missing, malformed, unknown or revoked."""


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    party: str
    role: Role
    unit_code: str | None
    divisions: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    note: str | None
    channel: str | None = None


def _split(key: str) -> tuple[str, str, str]:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "hub" or not parts[1] or len(parts[1]) > 16 or len(parts[2]) < 16:
        raise KeyError_("malformed API key")
    return parts[0], parts[1], parts[2]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Keys are checked on every request: a verified key is remembered for `cache_seconds`
    so that a request costs no extra read. A revocation takes effect at once in the process
    that made it and within `cache_seconds` in the others."""

    def __init__(self, db: Database, cache_seconds: float = 10.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Actor, float]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        party: str,
        role: Role,
        now: datetime,
        unit_code: str | None = None,
        divisions: list[str] | None = None,
        note: str | None = None,
        key: str | None = None,
        channel: str | None = None,
    ) -> str:
        if role is Role.UNIT and not unit_code:
            raise ValueError("a unit key needs --unit")
        if role is Role.CHANNEL and not channel:
            raise ValueError("a channel key needs --channel (web, wechat, weibo, app, ...)")
        if role is not Role.CHANNEL and channel:
            raise ValueError("--channel is for role channel only")
        if role is Role.COUNTY and not divisions:
            raise ValueError("a county key needs at least one --division")
        if key is not None:  # a key chosen by the operator (sandbox, bootstrap)
            _, key_id, secret = _split(key)
        else:
            key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.db.write() as s:
            s.add(
                ApiKeyRow(
                    key_id=key_id,
                    key_hash=_hash(secret),
                    party=party,
                    role=role.value,
                    unit_code=unit_code,
                    divisions=[d[:6] for d in divisions or []],
                    note=note,
                    created_at=now,
                    revoked_at=None,
                    channel=channel,
                )
            )
        return f"hub_{key_id}_{secret}"

    def authenticate(self, presented: str) -> Actor:
        fingerprint = _hash(presented)
        with self._lock:
            hit = self._cache.get(fingerprint)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        actor = self._authenticate(presented)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[fingerprint] = (actor, time.monotonic() + self.cache_seconds)
        return actor

    def _authenticate(self, presented: str) -> Actor:
        _, key_id, secret = _split(presented)
        with self.db.read() as s:
            row = s.execute(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).scalar_one_or_none()
            if row is None or not hmac.compare_digest(row.key_hash, _hash(secret)):
                raise KeyError_("unknown API key")
            if row.revoked_at is not None:
                raise KeyError_("revoked API key")
            return Actor(party=row.party, role=Role(row.role), unit_code=row.unit_code, divisions=tuple(row.divisions or ()), channel=row.channel)

    def list(self) -> list[KeyInfo]:
        with self.db.read() as s:
            rows = s.execute(select(ApiKeyRow).order_by(ApiKeyRow.id)).scalars()
            return [
                KeyInfo(r.key_id, r.party, Role(r.role), r.unit_code, tuple(r.divisions or ()), r.created_at, r.revoked_at, r.note, r.channel) for r in rows
            ]

    def revoke(self, key_id: str, now: datetime) -> bool:
        with self.db.write() as s:
            row = s.execute(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now
        with self._lock:
            self._cache.clear()
        return True

    def count(self) -> int:
        return len(self.list())
