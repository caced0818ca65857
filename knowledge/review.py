"""The review flow of an article version as a table: (status, action) -> status, and who.

草稿 draft -> 已审核 reviewed -> 已发布 published -> 已废止 retired. A reviewer may send a
draft or reviewed version back (it stays a draft, with the reason in the history). An
edit is not a row here: it makes a new version (draft) and supersedes the open one, while
a published version stays live until its successor is published. No catch-all: a pair
not in the table is refused naming the status and the actions allowed in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.domain.access import Actor
from hub.domain.errors import AccessDenied, ActionNotAllowed
from hub.domain.model import Role as R
from knowledge.model import ArticleStatus as S


class ReviewAction(StrEnum):
    REVIEW = "review"  # 审核通过
    SEND_BACK = "send_back"  # 退回修改
    PUBLISH = "publish"  # 发布
    RETIRE = "retire"  # 废止


# Who acts on an article beside its owner: the centre's supervisors review and publish; the
# hub itself (imports run by an operator) may do what they do.
REVIEWERS = frozenset({R.SUPERVISOR, R.SYSTEM})
OWNER = "owner"  # the owning unit's key: a marker, checked against the article's unit


@dataclass(frozen=True)
class Step:
    source: S
    action: ReviewAction
    target: S
    roles: frozenset[R]
    owner_may: bool = False


TABLE: tuple[Step, ...] = (
    Step(S.DRAFT, ReviewAction.REVIEW, S.REVIEWED, REVIEWERS),
    Step(S.DRAFT, ReviewAction.SEND_BACK, S.DRAFT, REVIEWERS),
    Step(S.REVIEWED, ReviewAction.SEND_BACK, S.DRAFT, REVIEWERS),
    Step(S.REVIEWED, ReviewAction.PUBLISH, S.PUBLISHED, REVIEWERS),
    # The owner may withdraw its own article at once (a repealed policy must not be cited
    # one minute longer); the centre may too.
    Step(S.PUBLISHED, ReviewAction.RETIRE, S.RETIRED, REVIEWERS, owner_may=True),
)

# Statuses a new edit supersedes; a published or retired version stays as it is.
OPEN = (S.DRAFT, S.REVIEWED)


def allowed(status: S, actor: Actor | None = None, owner_unit: str | None = None) -> list[str]:
    return [s.action.value for s in TABLE if s.source == status and (actor is None or _may(s, actor, owner_unit))]


def step(status: S, action: ReviewAction, actor: Actor, owner_unit: str) -> Step:
    """The row for this move, or ActionNotAllowed naming what is allowed instead."""
    rows = [s for s in TABLE if s.source == status and s.action == action]
    if not rows:
        raise ActionNotAllowed(action.value, status.value, actor.role.value, allowed(status, actor, owner_unit), "not allowed for a version in this status")
    row = rows[0]
    if not _may(row, actor, owner_unit):
        raise ActionNotAllowed(action.value, status.value, actor.role.value, allowed(status, actor, owner_unit), "not allowed for this role")
    return row


def _may(row: Step, actor: Actor, owner_unit: str | None) -> bool:
    if actor.role in row.roles:
        return True
    return row.owner_may and actor.role is R.UNIT and actor.unit_code is not None and actor.unit_code == owner_unit


def check_may_edit(actor: Actor, owner_unit: str) -> None:
    """Only the owning unit's key writes an article; the hub itself may (operator imports)."""
    if actor.role is R.SYSTEM:
        return
    if actor.role is not R.UNIT:
        raise AccessDenied(f"role '{actor.role.value}' does not write articles: the owning unit's key does")
    if actor.unit_code != owner_unit:
        raise AccessDenied(f"the article belongs to unit {owner_unit}; this key is unit {actor.unit_code}")


def may_see_drafts(actor: Actor, owner_unit: str) -> bool:
    """Drafts and history: the owner, the centre and the hub; other parties see what is published."""
    if actor.role in (R.AGENT, R.SUPERVISOR, R.SYSTEM):
        return True
    return actor.role is R.UNIT and actor.unit_code == owner_unit


def may_see_all_drafts(actor: Actor) -> bool:
    """The centre and the hub read every unit's drafts."""
    return actor.role in (R.AGENT, R.SUPERVISOR, R.SYSTEM)


# Statuses whose content was public once: a case's history may cite them.
PUBLIC = (S.PUBLISHED, S.RETIRED)


def may_read_version(actor: Actor, owner_unit: str, status: S, ever_published: bool = False) -> bool:
    """THE rule for reading one version of an article; every projection (get, list, versions,
    search, suggestions, the change feed, import answers) follows it: a version that is or
    was published is readable by every party; any other (draft, reviewed, superseded before
    publication) only by the owning unit and the centre."""
    return status in PUBLIC or ever_published or may_see_drafts(actor, owner_unit)
