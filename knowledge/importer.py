"""Bulk import of articles: JSON (a list, or {"articles": [...]}), CSV (one row per
article, UTF-8 or the GBK that legacy exports use), Markdown with YAML front matter (one
article per file; the body is the text after the front matter).

Each article is its own transaction: a bad one is reported by position and field and the
others go in. An article with a known id gets a new version only if its content changed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from hub.domain.access import Actor
from hub.domain.errors import DomainError
from hub.mappings import UnknownCode
from knowledge.model import ArticleContent, ArticleInput, ArticleStatus
from knowledge.review import ReviewAction
from knowledge.store import ArticleNotFound, KnowledgeStore

log = logging.getLogger("hub.knowledge")

Format = Literal["json", "csv", "markdown"]
_LIST_SPLIT = str.maketrans({";": " ", "；": " ", ",": " ", "，": " ", "|": " "})


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (not JSON, no front matter, ...)."""


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)  # {"item", "field", "reason"}


def format_of(name: str) -> Format:
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".md", ".markdown"):
        return "markdown"
    raise ImportFormatError(f"{name}: cannot tell the format from the suffix (.json, .csv, .md)")


def decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFormatError("neither UTF-8 nor GBK/GB18030")


def parse(content: str, fmt: Format, source: str = "input") -> list[tuple[str, dict[str, Any]]]:
    """(label, raw fields) per article; the label says where it came from."""
    if fmt == "json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
        items = data.get("articles") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ImportFormatError(f'{source}: expected a list of articles or {{"articles": [...]}}')
        return [(f"{source}[{i}]", item if isinstance(item, dict) else {"_not_an_object": item}) for i, item in enumerate(items)]
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(content))
        out = []
        for i, row in enumerate(reader):
            item: dict[str, Any] = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k and v not in (None, "")}
            for key in ("categories", "tags"):
                if key in item:
                    item[key] = item[key].translate(_LIST_SPLIT).split()
            out.append((f"{source} line {i + 2}", item))
        return out
    return [(source, _front_matter(content, source))]


def _front_matter(content: str, source: str) -> dict[str, Any]:
    lines = content.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ImportFormatError(f"{source}: a Markdown article starts with '---' and YAML front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ImportFormatError(f"{source}: the front matter is not closed with '---'") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise ImportFormatError(f"{source}: front matter is not YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ImportFormatError(f"{source}: front matter must be a mapping of fields")
    body = "\n".join(lines[end + 1 :]).strip()
    if "title" not in meta and body.startswith("# "):
        first, _, rest = body.partition("\n")
        meta["title"], body = first[2:].strip(), rest.strip()
    meta["body"] = body
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in meta.items()}


def load_file(path: Path) -> list[tuple[str, dict[str, Any]]]:
    return parse(decode(path.read_bytes()), format_of(path.name), path.name)


def run_import(store: KnowledgeStore, items: list[tuple[str, dict[str, Any]]], actor: Actor, publish: bool = False, note: str = "imported") -> ImportReport:
    """Create or update each article; with `publish` (operators only) review and publish it too."""
    report = ImportReport()
    for label, raw in items:
        try:
            new = ArticleInput.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors()[:5]:
                report.refused.append({"item": label, "field": ".".join(str(p) for p in err["loc"]) or "item", "reason": err["msg"]})
            continue
        try:
            article_id = _upsert(store, new, actor, note, report)
            if publish and article_id is not None:
                article = store.get(article_id, actor)
                if article.latest_status is ArticleStatus.DRAFT:
                    store.act(article_id, ReviewAction.REVIEW, actor, note=note)
                    # The operator's initial load publishes what the source holds, old
                    # policies included (kept for reference, found with any_validity).
                    if new.valid_to is not None and new.valid_to < store.today():
                        log.warning("import: %s is published although its validity ended on %s", article_id, new.valid_to)
                    article = store.act(article_id, ReviewAction.PUBLISH, actor, note=note, publish_expired=True)
                    report.published.append(f"{article_id}@{article.published_version}")
        except UnknownCode as exc:
            report.refused.append({"item": label, "field": exc.field, "reason": f"unknown code {exc.code!r}"})
        except DomainError as exc:
            report.refused.append({"item": label, "field": getattr(exc, "field", "item"), "reason": str(exc)})
    return report


def _upsert(store: KnowledgeStore, new: ArticleInput, actor: Actor, note: str, report: ImportReport) -> str | None:
    if new.id is not None:
        try:
            current = store.get(new.id, actor)
        except ArticleNotFound:
            current = None
        if current is not None:
            content = ArticleContent.model_validate(new.model_dump(exclude={"id", "owner_unit"}))
            if current.owner_unit != new.owner_unit:
                raise _Refused("owner_unit", f"article {new.id} belongs to {current.owner_unit}; owners do not change on import")
            if _same(current.latest, content):
                report.unchanged.append(new.id)
                return new.id
            store.edit(new.id, content, actor, current.latest_version, note)
            report.updated.append(new.id)
            return new.id
    created = store.create(new, actor, note)
    report.created.append(created.id)
    return created.id


def _same(version: Any, content: ArticleContent) -> bool:
    keys = set(ArticleContent.model_fields)
    return version.model_dump(include=keys) == content.model_dump(include=keys)


class _Refused(DomainError):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(reason)
