"""Personal data never reaches a log line readable: phones and ID numbers are masked in
every record, whatever logger wrote it."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# A mobile number, also written with the country code and spaces or dashes: 13812345678,
# +86 138 1234 5678, 0086-138-1234-5678. The country code and separators stay; the middle goes.
_MOBILE = re.compile(r"(?<![\d+])((?:\+|00)86[\s-]?)?(1[3-9]\d)([ -]?)(\d{4})([ -]?)(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)(\d{3,4})(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<![\dXx])(\d{6})(\d{8})(\d{3}[\dXx])(?![\dXx])")
# WeChat's query parameters (channels/wechat.py, adapters/wechat/): a follower's openid is
# personal data (its ends stay, to tell lines apart), the AppSecret and access tokens are secrets.
_WECHAT_QUERY = re.compile(r"(?<![A-Za-z0-9_])(openid|secret|access_token)=([^&\s\"']+)")


def _wechat_value(m: re.Match[str]) -> str:
    value = m.group(2)
    if m.group(1) == "openid" and len(value) > 10:
        return f"openid={value[:4]}****{value[-4:]}"
    return f"{m.group(1)}=****"


def mask_text(text: str) -> str:
    if "=" in text:
        text = _WECHAT_QUERY.sub(_wechat_value, text)
    text = _ID_CARD.sub(lambda m: m.group(1) + "********" + m.group(3)[-1:].rjust(4, "*"), text)
    text = _MOBILE.sub(lambda m: (m.group(1) or "") + m.group(2) + m.group(3) + "****" + m.group(5) + m.group(6), text)
    return _LANDLINE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# The id of the HTTP request being served (hub.api.request_context), on every log line it causes.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextmanager
def carrying_request_id(rid: str | None) -> Iterator[None]:
    """Work done for a request outside it (the relay delivering the message the request
    caused) carries its id: on log lines, and as X-Request-ID on the peer call (hub.integration.http)."""
    token = request_id.set(rid)
    try:
        yield
    finally:
        request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on the record (`-` outside a request; the text format
    shows ` [id]` only inside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        record.request_id = rid or "-"
        record.request_tag = f" [{rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log shipper: time, level, logger, message, request id,
    and the traceback (masked as the message is) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "-")
        if rid != "-":
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def formatter(fmt: str = "text") -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s%(request_tag)s %(message)s")


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """The root handler for a process: masked, with the request id; `fmt` is the setting
    `log_format` (text for a terminal, json for a log shipper)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(MaskingFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
