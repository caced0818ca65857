"""Why a county's request is refused, as data the API turns into problem+json.

Inbound work (push, update, poll) raises TicketRefused naming the county's own field, so
the county sees `caller.mobile`, not the hub's `person.phone`. Domain refusals from the
case service are translated here, in one place, for single requests and batch items alike.
"""

from __future__ import annotations

from typing import Any

from hub.api.problems import PROBLEM_BASE
from hub.db.repository import DuplicateExternalRef
from hub.domain.errors import AccessDenied, ActionNotAllowed, CaseNotFound, RuleViolation, StaleCase
from hub.mappings import UnknownCode
from hub.service import ContentTooLarge, IdempotencyConflict


class TicketRefused(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors = errors or []
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


def invalid(field: str, reason: str) -> TicketRefused:
    return TicketRefused(422, "validation", "The request is not valid", f"{field}: {reason}", [{"field": field, "reason": reason}])


def unknown_code(field: str, code: object, where: str) -> TicketRefused:
    return TicketRefused(
        422,
        "unknown-code",
        "Unknown code",
        f"{field}: unknown code {code!r}; valid codes are in {where}",
        [{"field": field, "reason": f"unknown code {code!r}"}],
        valid_codes_at=where,
    )


def forbidden(detail: str, field: str | None = None) -> TicketRefused:
    errors = [{"field": field, "reason": detail}] if field else []
    return TicketRefused(403, "forbidden", "Not allowed for this party", detail, errors)


def translate(exc: Exception, field_names: dict[str, str] | None = None) -> TicketRefused:
    """A domain refusal as TicketRefused; `field_names` maps hub fields to the county's."""
    names = field_names or {}
    if isinstance(exc, TicketRefused):
        return exc
    if isinstance(exc, UnknownCode):
        return unknown_code(names.get(exc.field, exc.field), exc.code, exc.valid_codes_at)
    if isinstance(exc, ContentTooLarge):
        field = names.get("content", "content")
        return TicketRefused(413, "content-too-large", "Content too large", str(exc), [{"field": field, "reason": str(exc)}])
    if isinstance(exc, IdempotencyConflict):
        return TicketRefused(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused with a different body",
            str(exc),
            [{"field": "header.Idempotency-Key", "reason": "already used for a different request"}],
        )
    if isinstance(exc, DuplicateExternalRef):
        return TicketRefused(409, "duplicate-ticket", "Ticket already held", str(exc))
    if isinstance(exc, ActionNotAllowed):
        return TicketRefused(409, "action-not-allowed", "Action not allowed", str(exc), state=exc.state, allowed_actions=exc.allowed)
    if isinstance(exc, StaleCase):
        return TicketRefused(409, "stale-case", "The case changed since it was read", str(exc))
    if isinstance(exc, RuleViolation):
        return TicketRefused(409, "rule-violation", "Refused by the case rules", str(exc))
    if isinstance(exc, CaseNotFound):
        return TicketRefused(404, "case-not-found", "No such case", str(exc))
    if isinstance(exc, AccessDenied):
        return forbidden(str(exc))
    raise exc
