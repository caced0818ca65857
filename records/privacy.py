"""Personal data on request (个人信息保护法): a subject-access export of everything the hub
holds about one phone number (or one WeChat follower's openid), with the confidential reads of its cases (hub/read_audit.py)
and the attachments of its cases (name, type, size, who added it, SHA-256: the files
themselves are in the attachments store, handed over beside the export on request) and, for
cases filed on the WeChat official account, the follower's binding (account and openid)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from channels.wechat_dialogue_store import DialogueStore
from hub.db.models import CaseRow, ExternalRefRow
from hub.db.repository import CaseRepository
from hub.domain.access import SYSTEM_ACTOR
from hub.domain.model import Case, normalise_phone
from hub.read_audit import list_reads
from outbox.feature import OutboxHandle
from records.retention import wechat_binding

if TYPE_CHECKING:
    from hub.container import Hub


OPENID = re.compile(r"[0-9A-Za-z_-]{8,64}")


# -- subject access -----------------------------------------------------------------------
def phone_key(phone: str) -> str:
    """One number however it was written: digits only, without the +86 country code."""
    digits = re.sub(r"\D", "", phone)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


# How a number may have been written before normalise_phone kept it (spaces are dropped).
_COUNTRY_PREFIXES = ("", "+86", "86", "+86-", "86-")


def phone_spellings(wanted: str) -> set[str]:
    """Every normalised phone whose phone_key is `wanted` (digits without +86): the country
    prefix or not, with or without the hyphens a landline may carry (area code, extension).
    Finite, so the phone index (a keyed hash of the normalised phone) finds them all."""
    bodies = {wanted}
    for i in range(1, len(wanted)):
        bodies.add(f"{wanted[:i]}-{wanted[i:]}")
        for j in range(i + 1, len(wanted)):
            bodies.add(f"{wanted[:i]}-{wanted[i:j]}-{wanted[j:]}")
    found = set()
    for prefix in _COUNTRY_PREFIXES:
        for body in bodies:
            try:
                spelled = normalise_phone(prefix + body)
            except ValueError:
                continue
            if phone_key(spelled) == wanted:
                found.add(spelled)
    return found


def subject_access(hub: Hub, phone: str) -> dict[str, Any]:
    """Everything the hub holds about the person calling from `phone`: each case that names
    the number (in full, with its history), who read those of them that are confidential,
    and to which destinations the outbox sent them. ValueError for a malformed number.

    The stored documents hold the number sealed (hub.db.person_seal): the cases are found
    through the phone index, by the hash of each way the number may have been written."""
    wanted = phone_key(normalise_phone(phone))
    cases: list[Case] = []
    with hub.db.read() as s:
        repo = CaseRepository(s)
        hashes = sorted({repo.phone_hash(p) for p in phone_spellings(wanted)})
        numbers = list(s.execute(select(CaseRow.number).where(CaseRow.phone_hash.in_(hashes)).order_by(CaseRow.id)).scalars())
        cases = [repo.get(n) for n in numbers]
    return {"phone": phone, **_export(hub, cases, _deliveries(hub, numbers, wanted))}


def subject_access_wechat(hub: Hub, openid: str) -> dict[str, Any]:
    """The same export for a WeChat follower, who may have given no phone: every case they filed
    on the official account (the binding `<openid>:<MsgId>` in the account's ref namespace).
    ValueError for something that is not an openid."""
    if not OPENID.fullmatch(openid):
        raise ValueError("not a WeChat openid (8 to 64 letters, digits, - and _)")
    escaped = openid.replace("_", "\\_")
    with hub.db.read() as s:
        rows = s.execute(
            select(CaseRow.number, ExternalRefRow.external_id)
            .join(ExternalRefRow, ExternalRefRow.case_id == CaseRow.id)
            .where(ExternalRefRow.system.like("channel.%"), ExternalRefRow.external_id.like(escaped + ":%", escape="\\"))
            .order_by(CaseRow.id)
        ).all()
        repo = CaseRepository(s)
        candidates = [repo.get(n) for n, ref in rows if ref.split(":", 1)[0] == openid]
    cases = [c for c in candidates if any(r.external_id.split(":", 1)[0] == openid for r in wechat_binding(c))]
    return {"wechat_openid": openid, **_export(hub, cases, _deliveries(hub, [c.number for c in cases], None)), "wechat_dialogue": _dialogue(hub, openid)}


def _dialogue(hub: Hub, openid: str) -> dict[str, Any] | None:
    """The follower's guided dialogue, if one is kept (what they wrote before confirming: type,
    content, place, phone), until it expires and is pruned."""
    store = hub.handles.find(DialogueStore)
    held = store.held(openid) if store is not None else None
    if held is None:
        return None
    return {"answers_so_far": held.state, "expires_at": held.expires_at.isoformat(), "keeps_the_last_reply_sealed": held.keeps_last_reply}


def _export(hub: Hub, cases: list[Case], sent: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "generated_at": hub.clock.now().isoformat(),
        "cases": [
            {
                "case": case.model_dump(mode="json"),
                "confidential_reads": [r.__dict__ | {"at": r.at.isoformat()} for r in list_reads(hub.db, case.number)],
                "attachments": [a.__dict__ | {"uploaded_at": a.uploaded_at.isoformat()} for a in hub.attachments.list_for(case, SYSTEM_ACTOR)],
                "sent_to": sent.get(case.number, []),
                "wechat": [
                    {"account": r.system.removeprefix("channel."), "openid": r.external_id.split(":", 1)[0], "message_id": r.external_id.split(":", 1)[-1]}
                    for r in wechat_binding(case)
                ],
            }
            for case in cases
        ],
    }


def _deliveries(hub: Hub, numbers: list[str], wanted: str | None) -> dict[str, list[dict[str, Any]]]:
    """The outbox messages of these cases still kept (delivered ones are pruned after
    outbox.keep_delivered_hours), each saying whether it carried the number readable; none
    when the outbox feature is not installed."""
    outbox = hub.handles.find(OutboxHandle)
    out: dict[str, list[dict[str, Any]]] = {}
    if outbox is None:
        return out
    for m in outbox.kept_messages(numbers):
        carried = ((m.body.get("case") or {}).get("person") or {}).get("phone")
        out.setdefault(m.case_number, []).append(
            {
                "destination": m.destination,
                "event_type": m.event_type,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
                "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
                # By openid, no number is asked about: whether the message carried one at all.
                "carried_the_phone": (phone_key(carried) == wanted if wanted else True) if carried else False,
            }
        )
    return out
