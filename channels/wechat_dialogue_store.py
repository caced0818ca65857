"""Where the WeChat guided dialogues live: the table `wechat_dialogues` (channels/tables.py), one
row per follower, so that every `serve` process behind a proxy, and every hub on one database,
continues the same dialogue (no routing by openid needed).

A row holds the step and the answers so far (channels/wechat_dialogue.py `State`), which may
hold a phone and a place, and expires `channels.wechat.dialogue_minutes` after the follower's
last message; expired rows are deleted by every write here and by the retention pass
(`prune`), and the subject-access export lists a follower's row (`held`).

The row also keeps the last reply by MsgId: WeChat sends a message again when it had no answer
within 5 seconds, and a step must not be taken twice. That reply may carry a retrieval code,
so it is sealed (Fernet, adapters/sms/seal.py, under a key derived from the hub's key) and,
once the dialogue is over, kept for `REPLAY_SECONDS` only. The state and the reply of one turn
are written in one transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.sms.seal import Unsealable, seal, unseal
from channels.tables import WeChatDialogueRow
from channels.wechat_dialogue import State
from hub.db.database import Database
from hub.domain.model import RequestType

REPLAY_SECONDS = 60  # WeChat retries three times, 5 seconds apart


def state_to_doc(state: State) -> dict[str, Any]:
    doc = asdict(state)
    doc["at"] = state.at.isoformat()
    doc["kind"] = state.kind.value if state.kind is not None else None
    return doc


def state_from_doc(doc: dict[str, Any]) -> State:
    fields = dict(doc)
    fields["at"] = datetime.fromisoformat(fields["at"])
    fields["kind"] = RequestType(fields["kind"]) if fields.get("kind") else None
    fields["photos"] = tuple(fields.get("photos") or ())
    known = State.__dataclass_fields__
    return State(**{k: v for k, v in fields.items() if k in known})


@dataclass(frozen=True)
class Held:
    """A follower's row as the subject-access export shows it."""

    state: dict[str, Any] | None
    expires_at: datetime
    keeps_last_reply: bool


class DialogueStore:
    """The dialogue of each follower, by openid, in the database (see the module's docstring)."""

    def __init__(self, db: Database, ttl: timedelta, key: bytes) -> None:
        self.db = db
        self.ttl = ttl
        self._seal_key = hashlib.sha256(b"wechat-dialogue-replay:" + key).hexdigest()

    def get(self, openid: str, now: datetime) -> State | None:
        with self.db.read() as s:
            row = s.get(WeChatDialogueRow, openid)
            if row is None or row.state is None or row.expires_at <= now:
                return None
            return state_from_doc(row.state)

    def replay(self, openid: str, msg_id: int | None, now: datetime) -> str | None:
        """The reply already given to this MsgId of this follower, if it is still kept."""
        if msg_id is None:
            return None
        with self.db.read() as s:
            row = s.get(WeChatDialogueRow, openid)
            if row is None or row.last_msg_id != msg_id or row.last_reply is None or row.expires_at <= now:
                return None
            sealed = row.last_reply
        try:
            return unseal(self._seal_key, sealed)[1]
        except Unsealable:  # sealed by a hub with another key: take the step as new
            return None

    def save(self, openid: str, state: State | None, msg_id: int | None, reply: str | None, now: datetime) -> None:
        """The dialogue's state after this turn, and the reply given to `msg_id`, in one
        transaction; expired rows of every follower go in it too."""
        with self.db.write() as s:
            s.execute(delete(WeChatDialogueRow).where(WeChatDialogueRow.expires_at <= now))
            if state is None and (msg_id is None or reply is None):
                s.execute(delete(WeChatDialogueRow).where(WeChatDialogueRow.openid == openid))
                return
            values = {
                "state": state_to_doc(state) if state is not None else None,
                "last_msg_id": msg_id if reply is not None else None,
                "last_reply": seal(self._seal_key, openid, reply) if reply is not None and msg_id is not None else None,
                "expires_at": state.at + self.ttl if state is not None else now + timedelta(seconds=REPLAY_SECONDS),
            }
            insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            stmt = insert(WeChatDialogueRow).values(openid=openid, **values)
            s.execute(stmt.on_conflict_do_update(index_elements=[WeChatDialogueRow.openid], set_=values))

    def prune(self, now: datetime) -> int:
        """Delete the expired rows (the retention pass calls this); how many."""
        with self.db.write() as s:
            return s.execute(delete(WeChatDialogueRow).where(WeChatDialogueRow.expires_at <= now)).rowcount or 0  # type: ignore[attr-defined]

    def held(self, openid: str) -> Held | None:
        """What is kept about this follower's dialogue (expired or not, until pruned)."""
        with self.db.read() as s:
            row = s.execute(select(WeChatDialogueRow).where(WeChatDialogueRow.openid == openid)).scalar_one_or_none()
            if row is None:
                return None
            return Held(row.state, row.expires_at, row.last_reply is not None)
