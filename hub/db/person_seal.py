"""The caller's name and phone sealed at rest in the stored case document (`cases.doc`).

`person.name` and `person.phone` are written into the document as one Fernet token
(AES-128-CBC + HMAC-SHA256, from `cryptography`) under `person.sealed`, the clear fields left
null; the database, its dumps and its backups hold no caller's name or number in clear.
The hub opens the token whenever it builds a `Case` from a document (CaseRepository, and the
few readers that read documents themselves: docs/phone-at-rest.md).

The key (settings.person_seal_key) is any secret: its SHA-256 is the Fernet key. Without a
configured key, one is generated once and kept in a file (settings.person_seal_key_file,
mode 0600, like the phone index's key): right for one machine; every process of a PostgreSQL
deployment must be given the same `person_seal_key`. It is backed up APART from the database's
backups (docs/operations.md): a backup without its key holds no readable name or phone.
A key change needs the documents sealed again (`hotline-hub db reseal --old-key ...`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from json.encoder import encode_basestring  # what json.dumps writes a str as, with ensure_ascii=False
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.models import CaseRow
from hub.db.phone_index import key_from_file

# Relative to the working directory, like phone_index.DEFAULT_KEY_FILE.
DEFAULT_KEY_FILE = Path("var") / "person-seal.key"
SEALED = "sealed"  # the member of doc["person"] that holds the token
FIELDS = ("name", "phone")


class PersonSealKeyMismatch(RuntimeError):
    """A sealed document that this key cannot open: the hub was given another key than the
    one the documents were sealed with (or a document was damaged)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "the stored case documents cannot be opened with this person_seal_key"
            + (f" ({detail})" if detail else "")
            + ": give the hub the key they were sealed with (HUB_PERSON_SEAL_KEY, or the key file "
            "settings.person_seal_key_file), or seal them again under this one with "
            "`hotline-hub db reseal --old-key-file FILE` (docs/operations.md, Key rotation)"
        )


def _json_text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


@lru_cache(maxsize=16)
def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))


class PersonSeal:
    """Seals and opens the person of a case document (a dict as stored in `cases.doc`)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = _fernet(key)

    def seal(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document with name and phone sealed (a new dict; `doc` is not changed). A person
        with neither, or one already sealed, is left as it is."""
        person = doc.get("person")
        if not isinstance(person, dict) or SEALED in person:
            return doc
        clear = {f: person.get(f) for f in FIELDS}
        if not any(clear.values()):
            return doc
        return {**doc, "person": {**person, **dict.fromkeys(FIELDS), SEALED: self.token(clear)}}

    def token(self, clear: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(clear, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).decode("ascii")

    def person_token(self, name: str | None, phone: str | None) -> str:
        """`token({"name": name, "phone": phone})`, its JSON written directly: a bulk import seals
        one person per case, and json.dumps costs more than the encryption."""
        return self._fernet.encrypt(f'{{"name":{_json_text(name)},"phone":{_json_text(phone)}}}'.encode()).decode("ascii")

    def open(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document with name and phone in clear again (a new dict when it was sealed).
        PersonSealKeyMismatch when the token was sealed under another key."""
        person = doc.get("person")
        if not isinstance(person, dict) or SEALED not in person:
            return doc
        person = dict(person)
        token = person.pop(SEALED)
        try:
            clear = json.loads(self._fernet.decrypt(str(token).encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise PersonSealKeyMismatch(f"case {doc.get('number')}") from exc
        person.update({f: clear.get(f) for f in FIELDS})
        return {**doc, "person": person}


def seal_of(session: Session) -> PersonSeal:
    """The seal of the Database that made this session (its key in the session's info)."""
    return PersonSeal(session.info.get("person_seal_key") or key_from_file(DEFAULT_KEY_FILE))


def open_doc(session: Session, doc: dict[str, Any]) -> dict[str, Any]:
    """For readers that build a Case from a document themselves: the document opened."""
    return seal_of(session).open(doc)


def check_key(session: Session) -> None:
    """At start: the newest and the oldest sealed documents open with this session's key, or
    PersonSealKeyMismatch says so before any request meets it."""
    seal = seal_of(session)
    sealed = CaseRow.phone_hash.is_not(None)  # a case with a phone has its person sealed
    for order in (CaseRow.id.desc(), CaseRow.id.asc()):
        doc = session.execute(select(CaseRow.doc).where(sealed).order_by(order).limit(1)).scalar_one_or_none()
        if doc is not None:
            seal.open(doc)


# The seal key each engine's Database was built with: migration 0019 (given only the engine)
# seals with the same key as the hub that runs it.
_ENGINE_KEYS: WeakKeyDictionary[Any, bytes] = WeakKeyDictionary()


def remember_engine_seal_key(engine: Any, key: bytes) -> None:
    _ENGINE_KEYS[engine] = key


def engine_seal_key(engine: Any) -> bytes | None:
    return _ENGINE_KEYS.get(engine)
