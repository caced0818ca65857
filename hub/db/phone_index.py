"""The phone index: a keyed hash (HMAC-SHA256) of the caller's normalised phone, kept in
`cases.phone_hash`. The database alone cannot be searched by phone in clear, nor a phone
recovered from it by trying every number, without the key (settings.phone_index_key).

Without a configured key, one is generated once and kept in a file
(settings.phone_index_key_file, mode 0600): right for one machine (SQLite, the sandbox);
every process of a PostgreSQL deployment must be given the same `phone_index_key`.
Changing the key needs the index rebuilt (`hotline-hub db reindex-phones`), or earlier
cases are no longer found by phone.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

# Relative to the working directory, like settings.data_dir's default (./var): a process given
# no key and no settings (a test's Database) shares the key file of a hub started here.
DEFAULT_KEY_FILE = Path("var") / "phone-index.key"


def phone_hash(key: bytes, phone: str) -> str:
    """64 hex characters; `phone` already normalised (hub.domain.model.normalise_phone)."""
    # hmac.digest: OpenSSL's one-shot HMAC, the same value as hmac.new(...).hexdigest() without
    # building an HMAC object per phone (a bulk import hashes one per case).
    return hmac.digest(key, phone.encode("utf-8"), "sha256").hex()


def key_from_file(path: Path = DEFAULT_KEY_FILE) -> bytes:
    """The key kept in `path`, created there (32 random bytes, hex, mode 0600) if missing.

    Processes that start together (serve and scheduler, parallel test workers) may all find
    it missing: the key is written whole to a file of this process's own, then linked into
    place, which succeeds for one of them only; the others read the winner's complete file,
    never a half-written one (an empty read would have given an empty key)."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
    finally:
        draft.unlink()
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def resolve_key(configured: str | None, key_file: Path = DEFAULT_KEY_FILE) -> bytes:
    if configured:
        return configured.encode("utf-8")
    return key_from_file(key_file)


# The key each engine's Database was built with: a migration given only the engine (the
# backfill of 0013_phone_index) hashes with the same key as the hub that runs it.
_ENGINE_KEYS: WeakKeyDictionary[Any, bytes] = WeakKeyDictionary()


def remember_engine_key(engine: Any, key: bytes) -> None:
    _ENGINE_KEYS[engine] = key


def engine_key(engine: Any) -> bytes | None:
    return _ENGINE_KEYS.get(engine)
