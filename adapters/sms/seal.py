"""The sealed part of an SMS message in the outbox: the phone and the text (which may carry
the retrieval code) are Fernet-encrypted (AES-128-CBC + HMAC-SHA256, from `cryptography`)
under the SMS destination's `seal_key`, so the outbox table, its dead letters and its
backups never hold a citizen's phone or code in clear. Only the adapter opens it, at the
moment it hands the text to the gateway."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken


def _fernet(seal_key: str) -> Fernet:
    # Any passphrase the operator sets becomes a 32-byte Fernet key.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(seal_key.encode("utf-8")).digest()))


def seal(seal_key: str, phone: str, text: str) -> str:
    return _fernet(seal_key).encrypt(json.dumps({"to": phone, "text": text}, ensure_ascii=False).encode()).decode("ascii")


class Unsealable(ValueError):
    """Sealed under another key (the key was changed) or damaged."""


def unseal(seal_key: str, token: str) -> tuple[str, str]:
    try:
        data = json.loads(_fernet(seal_key).decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError) as exc:
        raise Unsealable("the sealed SMS cannot be opened with this seal_key") from exc
    return data["to"], data["text"]
