"""Knowledge-base articles: what a unit writes, and the versions and review around it.

An article belongs to one unit (its owner) for life. Its content lives in versions: every
edit makes a new version, and a version's content never changes afterwards. Each version
has a review status (see review.py); at most one version of an article is published, and
that is the one agents find and cite as "id@version".
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

ARTICLE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$"
_CITATION = re.compile(r"^(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]{0,47})@(?P<version>[1-9]\d{0,5})$")

ArticleId = Annotated[str, Field(pattern=ARTICLE_ID, description="Stable id; letters, digits, '.', '_' and '-'.")]
# Stripped before the length check: a tag of spaces only is refused, not stored empty.
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class ArticleKind(StrEnum):
    LAW = "law"  # 法律
    REGULATION = "regulation"  # 法规、规章
    POLICY = "policy"  # 政策文件
    DUTY = "duty"  # 部门职责
    SERVICE_GUIDE = "service_guide"  # 办事指南
    FAQ = "faq"  # 常见问题


class ArticleStatus(StrEnum):
    DRAFT = "draft"  # 草稿
    REVIEWED = "reviewed"  # 已审核
    PUBLISHED = "published"  # 已发布
    RETIRED = "retired"  # 已废止
    SUPERSEDED = "superseded"  # replaced by a later version (history only)


class ArticleContent(BaseModel):
    """What a unit writes: one version's content. The owner unit is the article's, not here."""

    model_config = ConfigDict(extra="forbid")

    kind: ArticleKind
    title: Annotated[str, Field(min_length=2, max_length=200)]
    body: Annotated[str, Field(min_length=2, max_length=50_000)]
    valid_from: date | None = Field(default=None, description="First day the article applies; none: always did.")
    valid_to: date | None = Field(default=None, description="Last day the article applies; none: open-ended.")
    categories: list[Annotated[str, Field(pattern=r"^(\d{2}){1,4}$")]] = Field(
        default_factory=list, max_length=20, description="Category codes from mappings/categories.yaml."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=30)

    @field_validator("title", "body")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 2:
            raise ValueError("must hold at least 2 characters besides spaces")
        return value

    @field_validator("categories", "tags")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip() for v in values))

    @model_validator(mode="after")
    def _period(self) -> ArticleContent:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


class ArticleInput(ArticleContent):
    """A new article: content plus its owner, and optionally a stable id (imports keep theirs)."""

    id: ArticleId | None = None
    owner_unit: Annotated[str, Field(min_length=1, max_length=32)]


class ArticleVersion(ArticleContent):
    article_id: str
    version: int
    status: ArticleStatus
    created_at: datetime
    created_by: str
    note: str | None = None

    @property
    def citation(self) -> str:
        return f"{self.article_id}@{self.version}"


class Article(BaseModel):
    """The article with its latest version and, if any, the published one."""

    id: str
    owner_unit: str
    latest_version: int
    latest_status: ArticleStatus
    published_version: int | None
    created_at: datetime
    updated_at: datetime
    latest: ArticleVersion
    published: ArticleVersion | None = None


class ReviewEntry(BaseModel):
    """One line of an article's append-only history."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    version: int
    from_status: ArticleStatus | None
    to_status: ArticleStatus
    note: str | None = None


def parse_citation(value: str) -> tuple[str, int]:
    """'KB000042@3' -> ('KB000042', 3); ValueError naming the expected shape otherwise."""
    match = _CITATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not 'article_id@version'")
    return match["id"], int(match["version"])
