"""The WeChat official account's server endpoint (公众号 服务器配置): what the door does with a
message the WeChat server forwards from a follower, and the passive reply (被动回复) it answers.

wechatpy does the protocol: the signature check, the message types, the reply XML and the AES
of 兼容模式/安全模式. Every XML body is first read by defusedxml, which refuses a DTD and so any
entity trick, before wechatpy (xmltodict over expat) reads it.

What a follower may write (docs/channels.md, "WeChat"):
- 投诉/咨询/求助/建议/举报 + content: a case of channel `wechat`, registered as the account's
  channel party, with `<openid>:<MsgId>` as its ref in `channel.<party>` (the follower's openid,
  so that "我的工单" finds their cases and progress reaches them); answered with the number and
  the retrieval code. WeChat retries a message it had no answer to: the MsgId is the
  Idempotency-Key, so a retry registers nothing twice.
- 查询 <工单号> <提取码>: the citizen view's state and its latest public step; wrong codes count
  against the number and against the openid, as the public lookup's do.
- 我的工单: this openid's cases, state and title only.
- 1/2/3/4, or a tap on a button of the custom menu (channels/wechat_menu.py): the guided
  dialogue (channels/wechat_dialogue.py, kept in the database by
  channels/wechat_dialogue_store.py), step by step to a case, its progress or a rating.
- a picture during the dialogue, or within `dialogue_minutes` after a case was filed: an
  attachment of the case (channels/wechat_pictures.py).
- anything else: the help text, which is the numbered menu.

Over 400 lines on purpose: every kind of message a follower sends is answered here, in one
place a reader follows; the dialogue's steps, its store and the pictures live apart.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException
from pydantic import ValidationError
from sqlalchemy import select
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.utils import WeChatSigner

from adapters.wechat.ids import mask_openid
from channels.citizen import TYPE_TEXT, CitizenView
from channels.codes import Locked
from channels.rates import RateLimited
from channels.service import ChannelService, NoSuchCaseOrCode
from channels.wechat_dialogue import ASK_RATING, STARTS, Categories, State, Turn, start, step
from channels.wechat_dialogue_store import DialogueStore
from channels.wechat_menu import MENU_KEYS
from channels.wechat_pictures import HELD, NO_CASE, NOT_NOW, TOO_MANY, Pictures
from hub.db.models import CaseRow, ExternalRefRow
from hub.db.repository import CaseRepository
from hub.domain.access import Actor, registrant
from hub.domain.errors import DomainError
from hub.domain.model import Case, CaseDraft, Channel, ExternalRef, Intake, Person, Place, RequestType, Role, Satisfaction

if TYPE_CHECKING:
    from hub.container import Hub
    from hub.settings import WeChatSettings

log = logging.getLogger("channels.wechat")

KINDS: dict[str, RequestType] = {
    "投诉": RequestType.COMPLAINT,
    "咨询": RequestType.ENQUIRY,
    "求助": RequestType.HELP,
    "建议": RequestType.SUGGESTION,
    "举报": RequestType.REPORT,
}
FILING = re.compile(r"^(投诉|咨询|求助|建议|举报)[\s:：,，、]*(.*)$", re.S)
QUERY = re.compile(r"^查询[\s:：]*([0-9A-Za-z-]{8,40})[\s,，]+([0-9A-Za-z ]{4,16})$")
RATE = re.compile(r"^评价[\s:：]*([0-9A-Za-z-]{8,40})[\s,，]+([0-9A-Za-z]{4,16})[\s,，]+(满意|基本满意|不满意)$")
RATINGS = {"满意": Satisfaction.SATISFIED, "基本满意": Satisfaction.BASICALLY_SATISFIED, "不满意": Satisfaction.UNSATISFIED}
MINE = ("我的工单", "我的诉求")
MOBILE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
OTHER_CATEGORY = "9901"  # 其他事项: the agent sets the category when accepting (改单 before dispatch)
MIN_CONTENT = 5  # characters: "投诉 噪音" says too little for a unit to act on
MAX_LISTED = 10
LISTED_TITLE_CHARS = 24  # ten lines stay well inside what a passive text reply carries (about 2 KB)
TITLE_CHARS = 30
REPORT_STEPS = ("kind", "category", "content", "place", "phone", "confirm")  # before the case exists

HELP = (
    "您好，这里是资阳12345政务服务便民热线。请回复数字：\n"
    "1 反映问题\n2 查询进度\n3 评价答复\n4 我的工单\n"
    "也可直接回复“投诉/咨询/求助/建议/举报 + 具体内容”，如“投诉 建设路12号工地夜间施工扰民”"
    "（内容中可留手机号以便联系）；“查询 工单号 提取码”；“评价 工单号 提取码 满意/基本满意/不满意”；“我的工单”。\n"
    "紧急情况请拨打110、119、120。"
)
TOO_SHORT = "请写明具体情况（时间、地点、事情经过），如“投诉 建设路12号工地夜间施工扰民”。"
NOT_TEXT = "目前只能办理文字消息。" + HELP
NOT_RATEABLE = "工单{number}现在不能评价：答复尚未审核通过，或已经评价、已过评价期限。"
BUSY = "提交过于频繁，请稍后再试，或拨打12345。"
FAILED = "暂时无法登记您的诉求，请稍后再试，或拨打12345。"
NOT_FOUND = "未找到该工单，请核对工单号和提取码。"


class Forged(Exception):
    """The request is not signed by WeChat with the account's token (or is stale): 403, nothing recorded."""


class Unreadable(Exception):
    """The body is not an XML message the door takes (bad XML, a DTD, an encrypted body with no key)."""


def safe_xml(body: bytes | str) -> dict[str, str]:
    """The top-level fields of the message; refuses what defusedxml refuses (DTDs, entities,
    external references) and what is not XML."""
    try:
        root = SafeXml.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ParseError) as exc:
        raise Unreadable(f"not a WeChat XML message: {type(exc).__name__}") from None
    return {child.tag: child.text or "" for child in root}


def signed_by(token: str, signature: str, *parts: str) -> bool:
    """wechatpy's signature (SHA-1 of the sorted parts with the token), compared in constant time
    (wechatpy's own check compares with !=)."""
    signer = WeChatSigner()
    signer.add_data(token, *parts)
    return hmac.compare_digest(signer.signature, signature.lower())


@dataclass(frozen=True)
class Signed:
    """The query WeChat puts on every request."""

    signature: str
    timestamp: str
    nonce: str


class WeChatDoor:
    def __init__(self, hub: Hub, service: ChannelService, config: WeChatSettings, dialogue: DialogueStore, categories: Categories = ()) -> None:
        self.hub = hub
        self.service = service
        self.config = config
        self.token = config.token.get_secret_value()
        aes = config.encoding_aes_key.get_secret_value() if config.encoding_aes_key else None
        self.crypto = WeChatCrypto(self.token, aes, config.app_id) if aes else None
        self.actor = Actor(party=config.party, role=Role.CHANNEL, channel=Channel.WECHAT.value)
        self.ref_system = f"channel.{config.party}"
        self.dialogue = dialogue
        self.pictures = Pictures(hub, config, self.actor)
        self.categories = categories

    # -- the protocol ----------------------------------------------------------------------------
    def verify(self, signed: Signed) -> None:
        if not signed_by(self.token, signed.signature, signed.timestamp, signed.nonce):
            raise Forged("signature does not match the account's token")
        try:
            stamp = int(signed.timestamp)
        except ValueError:
            raise Forged("timestamp is not a number") from None
        if abs(self.hub.clock.now().timestamp() - stamp) > self.config.max_skew_seconds:
            raise Forged(f"timestamp is more than {self.config.max_skew_seconds} s from the hub's clock")

    def handle(self, signed: Signed, body: bytes, encrypt_type: str | None, msg_signature: str | None) -> str:
        """The reply XML for one message (verified first), or "success" when there is nothing to say."""
        self.verify(signed)
        fields = safe_xml(body)
        encrypted = (encrypt_type or "raw").lower() == "aes"
        if encrypted:
            if self.crypto is None:
                raise Unreadable("an encrypted message, but no encoding_aes_key is set")
            ciphertext = fields.get("Encrypt", "")
            if not signed_by(self.token, msg_signature or "", signed.timestamp, signed.nonce, ciphertext):
                raise Forged("msg_signature does not match the encrypted message")
            try:  # wechatpy checks the msg_signature again, decrypts and checks the AppID inside
                body = self.crypto.decrypt_message({"Encrypt": ciphertext}, (msg_signature or "").lower(), signed.timestamp, signed.nonce).encode()
            except InvalidAppIdException:
                raise Forged("the encrypted message is for another AppID") from None
            except Exception as exc:  # noqa: BLE001  (a damaged ciphertext: base64, padding, no <Encrypt>)
                raise Unreadable(f"the encrypted message cannot be opened: {type(exc).__name__}") from None
            safe_xml(body)
        try:
            message = parse_message(body)
        except Exception as exc:  # noqa: BLE001  (xmltodict or a field converter on a malformed message)
            raise Unreadable(f"not a WeChat message: {type(exc).__name__}") from None
        try:
            text = self.answer(message)
        except (ValueError, TypeError) as exc:  # wechatpy converts fields on access: a CreateTime or MsgId not a number
            raise Unreadable(f"not a WeChat message: {type(exc).__name__}") from None
        if text is None:
            return "success"  # WeChat's "nothing to reply"
        xml = create_reply(text, message).render()
        if encrypted:
            assert self.crypto is not None
            return self.crypto.encrypt_message(xml, signed.nonce, signed.timestamp)
        return xml

    # -- what the follower asked ---------------------------------------------------------------------
    def answer(self, message) -> str | None:
        openid = message.source or ""
        if message.type == "event":
            event = getattr(message, "event", "")
            if event == "subscribe":
                return "感谢关注资阳12345！\n" + HELP
            if event == "click" and (what := MENU_KEYS.get(getattr(message, "key", None) or "")):
                return self._play(message, openid, start(what, self.hub.clock.now()))
            return None  # unsubscribe, link taps, location reports: nothing to say
        held = self.dialogue.get(openid, self.hub.clock.now())
        if message.type == "image":
            return self.picture(message, openid, held)
        # After a case, the dialogue waits for pictures only: any other message is a new one.
        state = held if held is not None and held.step != "photos" else None
        if message.type == "location" and state is not None and state.step == "place":
            return self.converse(message, openid, state, _normalise(getattr(message, "label", "") or "")[:200] or "跳过")
        if message.type != "text":
            return NOT_TEXT
        content = _normalise(message.content or "")
        if state is not None or content in STARTS:
            return self.converse(message, openid, state, content)
        if content in MINE:
            return self.mine(openid)
        if found := QUERY.match(content):
            return self.query(openid, found.group(1), found.group(2))
        if found := RATE.match(content):
            return self.rate(openid, found.group(1), found.group(2), RATINGS[found.group(3)])
        if found := FILING.match(content):
            return self.file(message, openid, KINDS[found.group(1)], found.group(2).strip())
        return HELP

    def file(self, message, openid: str, kind: RequestType, content: str) -> str:
        if len(content) < MIN_CONTENT:
            return TOO_SHORT
        phone = MOBILE.search(content)
        answer, number = self._register(message, openid, kind, content, phone.group(1) if phone else None, None, None)
        if number is not None:  # pictures sent in the next minutes are attached to this case
            now = self.hub.clock.now()
            self.dialogue.save(openid, State("photos", now, number=number), message.id, answer, now)
        return answer

    def picture(self, message, openid: str, state: State | None) -> str:
        """A picture: held for the case the dialogue is about to register, attached to the case
        just registered, or explained (channels/wechat_pictures.py)."""
        now = self.hub.clock.now()
        again = self.dialogue.replay(openid, message.id, now)
        if again is not None:
            return again
        media_id = str(getattr(message, "media_id", "") or "")[:128]
        if state is None or not media_id:
            return NO_CASE.format(minutes=self.config.dialogue_minutes)
        if state.step == "photos":
            answer = self.pictures.attach(openid, state.number, media_id)
            kept: State | None = replace(state, at=now)
        elif state.step in REPORT_STEPS:
            if len(state.photos) >= self.pictures.per_case:
                answer, kept = TOO_MANY.format(limit=self.pictures.per_case), state
            else:
                kept = replace(state, at=now, photos=(*state.photos, media_id))
                answer = HELD.format(count=len(kept.photos))
        else:
            return NOT_NOW
        self.dialogue.save(openid, kept, message.id, answer, now)
        return answer

    def _register(
        self, message, openid: str, kind: RequestType, content: str, phone: str | None, address: str | None, category: str | None
    ) -> tuple[str, str | None]:
        """What to answer, and the case's number when one is registered."""
        try:
            received = datetime.fromtimestamp(message.time, tz=UTC) if message.time else self.hub.clock.now()
        except (OverflowError, OSError):  # a CreateTime no calendar holds
            return FAILED, None
        try:
            draft = self._draft(openid, message.id, kind, content, received, phone, address, category)
        except ValidationError as exc:  # e.g. a CreateTime outside the service years
            log.warning("wechat: message from %s not registered: %s", mask_openid(openid), exc.errors()[0].get("loc"))
            return FAILED, None
        try:
            intake = self.service.register(draft, self.actor, f"wechat:{message.id}" if message.id else None)
        except RateLimited:
            return BUSY, None
        except DomainError as exc:  # content too long, the same MsgId with other content, ...
            log.warning("wechat: message from %s not registered: %s", mask_openid(openid), type(exc).__name__)
            return FAILED, None
        number = intake.view.number
        log.info("wechat: case %s registered for %s", number, mask_openid(openid))
        if intake.code is None:  # WeChat's retry of a message already registered: the code was given once
            return f"您的{TYPE_TEXT[kind]}已登记，工单号{number}。提取码已在首次回复中给出。", number
        return (
            f"您的{TYPE_TEXT[kind]}已登记，工单号{number}，提取码{intake.code}，请妥善保管。\n"
            f"回复“查询 {number} {intake.code}”查询办理进度，回复“我的工单”查看您提交的工单。\n"
            f"如有现场照片，可在{self.config.dialogue_minutes}分钟内直接发送，作为工单附件。"
        ), number

    def _draft(
        self, openid: str, msg_id: int | None, kind: RequestType, content: str, received: datetime, phone: str | None, address: str | None, category: str | None
    ) -> CaseDraft:
        return CaseDraft(
            intake=Intake(channel=Channel.WECHAT, received_at=received),
            person=Person(phone=phone),
            request_type=kind,
            category_code=category or OTHER_CATEGORY,
            title=f"微信{TYPE_TEXT[kind]}：{content[:TITLE_CHARS]}",
            content=content,
            place=Place(division_code=self.hub.settings.region_code, address=address),
            external_refs=[ExternalRef(system=self.ref_system, external_id=f"{openid}:{msg_id or 'x' + secrets.token_hex(6)}"[:128])],
        )

    # -- the guided dialogue (channels/wechat_dialogue.py) ----------------------------------------------
    def converse(self, message, openid: str, state: State | None, content: str) -> str:
        """One message of a dialogue: a retry of one already answered gets the same answer (a
        step is not taken twice), anything else the next step."""
        now = self.hub.clock.now()
        again = self.dialogue.replay(openid, message.id, now)
        if again is not None:
            return again
        if state is None:
            turn = start(STARTS[content], now)
        else:
            phone = MOBILE.search(content) if state.step == "content" else None
            turn = step(state, content, now, phone.group(1) if phone else None, self.categories)
        return self._play(message, openid, turn)

    def _play(self, message, openid: str, turn: Turn) -> str:
        """Do what the turn says, then keep the dialogue's state and the answer together (one
        transaction, channels/wechat_dialogue_store.py), and say it."""
        answer, kept = self._act(message, openid, turn)
        self.dialogue.save(openid, kept, message.id, answer, self.hub.clock.now())
        return answer

    def _act(self, message, openid: str, turn: Turn) -> tuple[str, State | None]:
        held = turn.state
        kept = None if turn.over else held
        if turn.do == "mine":
            return self.mine(openid), kept
        if turn.do == "register":
            assert held is not None and held.kind is not None
            answer, number = self._register(message, openid, held.kind, held.content, held.phone, held.place, held.category)
            if number is None:
                return answer, None
            notes = [self.pictures.attach(openid, number, media_id) for media_id in held.photos]
            # The dialogue now waits for pictures of this case (the next messages are new ones).
            return "\n".join([answer, *notes]), State("photos", self.hub.clock.now(), number=number)
        if turn.do == "query":
            assert held is not None
            return self.query(openid, held.number, held.code), kept
        if turn.do == "check_for_rating":
            assert held is not None
            case = self._checked(openid, held.number, held.code)
            if isinstance(case, str):
                return case, None
            if not self.service.view_of(case).evaluation.open:
                return NOT_RATEABLE.format(number=held.number), None
            return ASK_RATING.format(number=held.number), State("rate_choice", held.at, number=held.number, code=held.code)
        if turn.do == "rate":
            assert held is not None and turn.rating is not None
            return self.rate(openid, held.number, held.code, turn.rating), kept
        return turn.say + ("\n" + HELP if turn.menu else ""), kept

    def _checked(self, openid: str, number: str, code: str) -> Case | str:
        """The case behind number and code, or the answer that refuses it (wrong codes count
        against the number and the follower, as the public lookup's do)."""
        try:
            return self.service.check_code(number, code, f"wechat:{openid}")
        except Locked as exc:
            minutes = max(1, (exc.retry_after(self.hub.clock.now()) + 59) // 60)
            return f"提取码错误次数过多，请{minutes}分钟后再试。"
        except NoSuchCaseOrCode:
            return NOT_FOUND

    def query(self, openid: str, number: str, code: str) -> str:
        case = self._checked(openid, number, code)
        return case if isinstance(case, str) else describe(self.service.view_of(case))

    def rate(self, openid: str, number: str, code: str, satisfaction: Satisfaction) -> str:
        """The citizen's evaluation, recorded as the follow-up (回访) by `citizen@<party>`."""
        case = self._checked(openid, number, code)
        if isinstance(case, str):
            return case
        try:
            case = self.service.evaluate(case, satisfaction, None, None, self.actor.party)
        except DomainError:
            return NOT_RATEABLE.format(number=number)
        log.info("wechat: case %s rated by %s", number, mask_openid(openid))
        return f"感谢您的评价！工单{number}：{self.service.view_of(case).status}。"

    def mine(self, openid: str) -> str:
        cases = self.cases_of(openid)
        if not cases:
            return "您还没有通过本公众号提交的工单。\n" + HELP
        lines = [f"您通过本公众号提交的工单（最近{len(cases)}件）："]
        for view in cases:
            title = view.title if len(view.title) <= LISTED_TITLE_CHARS else view.title[:LISTED_TITLE_CHARS] + "…"
            lines.append(f"{view.number} {view.status}｜{title}")
        lines.append("回复“查询 工单号 提取码”查看办理详情。")
        return "\n".join(lines)

    def cases_of(self, openid: str) -> list[CitizenView]:
        """The citizen views of the cases this openid filed here, newest first (its refs are
        `<openid>:<MsgId>` in the account's namespace; only cases the account registered)."""
        if not openid:
            return []
        escaped = openid.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.hub.db.read() as s:
            rows = s.execute(
                select(CaseRow.number, ExternalRefRow.external_id)
                .join(ExternalRefRow, ExternalRefRow.case_id == CaseRow.id)
                .where(ExternalRefRow.system == self.ref_system, ExternalRefRow.external_id.like(escaped + ":%", escape="\\"))
                .order_by(CaseRow.id.desc())
                .limit(MAX_LISTED)
            ).all()
            repo = CaseRepository(s)
            cases = [repo.get(number) for number, ref in rows if ref.split(":", 1)[0] == openid]
        own = (self.actor.party, Role.CHANNEL)
        return [self.service.view_of(c) for c in cases if registrant(c) == own]


def describe(view: CitizenView) -> str:
    """The citizen view as a short WeChat text: state, latest public step, the approved reply."""
    lines = [f"工单{view.number}（{view.request_type}）", f"状态：{view.status}"]
    if view.timeline:
        last = view.timeline[-1]
        lines.append(f"最新进展：{last.text}（{_local(last.at)}）")
    if view.reply is not None:
        reply = view.reply.text if len(view.reply.text) <= 300 else view.reply.text[:300] + "…"
        lines.append(f"答复：{reply}")
    if view.evaluation.open:
        lines.append("您可以对答复进行评价（满意/基本满意/不满意）。")
    return "\n".join(lines)


def _local(at: datetime) -> str:
    return at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def _normalise(text: str) -> str:
    return text.replace("\u3000", " ").strip()
