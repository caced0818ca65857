"""A follower's openid is personal data (it follows one person on the account): logs get its ends only."""

from __future__ import annotations


def mask_openid(openid: str | None) -> str:
    if not openid:
        return "-"
    return openid[:4] + "****" + openid[-4:] if len(openid) > 10 else "****"
