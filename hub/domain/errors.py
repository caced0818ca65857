"""Domain refusals. The API turns each into a problem+json answer; none is a 500."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse."""


class ActionNotAllowed(DomainError):
    """The action is not in the lifecycle table for this state, or not for this role."""

    def __init__(self, action: str, state: str, role: str, allowed: list[str], why: str) -> None:
        self.action, self.state, self.role, self.allowed = action, state, role, allowed
        super().__init__(f"{why}: action '{action}' by role '{role}' in state '{state}'; allowed here: {', '.join(allowed) or 'none'}")


class RuleViolation(DomainError):
    """The table allows the action, but a rule of the case does not (e.g. no pending request)."""


class AccessDenied(DomainError):
    """The caller's party may not see or touch this case."""


class CaseNotFound(DomainError):
    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(f"no case {number}")


class StaleCase(DomainError):
    """Somebody changed the case since the caller read it (optimistic concurrency)."""

    def __init__(self, number: str, expected: int, actual: int | None) -> None:
        self.number, self.expected, self.actual = number, expected, actual
        super().__init__(f"case {number} is at version {actual}, not {expected}: read it again")
