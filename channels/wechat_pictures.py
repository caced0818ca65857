"""A WeChat follower's pictures (MsgType image: PicUrl and MediaId) as attachments of their case.

A picture sent during the guided dialogue, before the follower confirms, is held by its MediaId
in the dialogue's state (channels/wechat_dialogue.py `State.photos`) and attached once the case
is registered; one sent within `channels.wechat.dialogue_minutes` after a case was registered
(the dialogue's `photos` step) is attached to that case at once. The file is fetched from
WeChat's `/cgi-bin/media/get` through the `wechat` adapter (adapters/wechat/adapter.py
`fetch_media`, the destination `channels.wechat.destination`), read no further than the image
limit (hub/attachments.py `limit_for`: `attachments.citizen_max_bytes` and the image kind's
`attachments.kind_max_bytes`), and stored by the one attachment service: its type is read from
the content, not from WeChat's header, and a citizen's count per case applies. The PicUrl is
not fetched: it is an open URL anyone holding it could read, and the MediaId comes signed.
Every refusal is answered in Chinese; nothing is attached then.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import TYPE_CHECKING

from adapters.wechat.adapter import MediaTooLarge, WeChatAdapter
from adapters.wechat.ids import mask_openid
from hub.attachments import AttachmentTooLarge, UnsupportedAttachment
from hub.domain.access import Actor
from hub.domain.errors import DomainError, RuleViolation
from hub.integration.contract import AdapterContext, AdapterError
from hub.integration.registry import build_adapter

if TYPE_CHECKING:
    from hub.container import Hub
    from hub.settings import WeChatSettings

log = logging.getLogger("channels.wechat")

IMAGE = "image/jpeg"  # any image type: the limit asked of the fetch is the image kind's
NAME = "微信图片"
ADDED = "图片已作为工单{number}的附件登记。"
HELD = "已收到图片（共{count}张），提交诉求后将作为附件登记。请继续回答上面的问题。"
TOO_MANY = "图片已达{limit}张的上限，这张未能登记。"
TOO_LARGE = "图片太大（超过{size}），未能作为附件登记，请压缩后重新发送。"
WRONG_TYPE = "只能接收JPG、PNG、WebP、HEIC格式的图片，这个文件未能登记。"
CLOSED = "工单{number}已不能再添加图片（已达上限或已办结）。"
FAILED = "暂时无法接收图片，请稍后重新发送，或拨打12345。"
NO_CASE = "如需发送图片，请先回复“1”反映问题，或在提交诉求后{minutes}分钟内发送，图片将作为工单附件。"
NOT_NOW = "这一步请回复文字。"


class Pictures:
    def __init__(self, hub: Hub, config: WeChatSettings, actor: Actor) -> None:
        self.hub = hub
        self.config = config
        self.actor = actor
        self._adapter: WeChatAdapter | None = None
        self._lock = threading.Lock()

    @property
    def per_case(self) -> int:
        return self.hub.settings.attachments.citizen_max_per_case

    def _wechat(self) -> WeChatAdapter | None:
        """The adapter of `channels.wechat.destination` (built once, its client kept)."""
        with self._lock:
            if self._adapter is None:
                name = self.config.destination
                destination = self.hub.settings.destinations.get(name) if name else None
                if name is None or destination is None or destination.adapter != "wechat":
                    return None
                built = build_adapter(name, "wechat", destination.settings, AdapterContext(name, self.hub.clock, self.hub.settings.mappings_dir))
                assert isinstance(built, WeChatAdapter)
                self._adapter = built
            return self._adapter

    def attach(self, openid: str, number: str, media_id: str) -> str:
        """Fetch the picture and attach it to the case; what to tell the follower."""
        limit = self.hub.attachments.limit_for(IMAGE, self.hub.settings.attachments.citizen_max_bytes)
        try:
            wechat = self._wechat()
        except AdapterError as exc:  # the destination's settings are refused
            log.warning("wechat: a picture from %s not fetched: %s", mask_openid(openid), exc)
            return FAILED
        if wechat is None:
            log.warning("wechat: a picture from %s not fetched: no destination of adapter 'wechat' (channels.wechat.destination)", mask_openid(openid))
            return FAILED
        try:
            data = wechat.fetch_media(media_id, limit)
        except MediaTooLarge:
            return TOO_LARGE.format(size=_size(limit))
        except AdapterError as exc:
            log.warning("wechat: a picture from %s for case %s not fetched: %s", mask_openid(openid), number, type(exc).__name__)
            return FAILED
        try:
            self.hub.attachments.add(number, io.BytesIO(data), NAME, "public", self.actor, citizen=True)
        except AttachmentTooLarge:
            return TOO_LARGE.format(size=_size(limit))
        except UnsupportedAttachment:
            return WRONG_TYPE
        except RuleViolation:
            return CLOSED.format(number=number)
        except DomainError as exc:  # an empty file, a case the account no longer sees, the store unavailable
            log.warning("wechat: a picture from %s for case %s not attached: %s", mask_openid(openid), number, type(exc).__name__)
            return FAILED
        log.info("wechat: a picture from %s attached to case %s", mask_openid(openid), number)
        return ADDED.format(number=number)

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()


def _size(limit: int) -> str:
    return f"{limit / 1048576:.0f}MB" if limit >= 1048576 else f"{limit // 1024}KB"
