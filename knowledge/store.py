"""The knowledge store: articles, versions, review steps and the search index, one
transaction per action. Publishing and retiring update the search rows and the full-text
index in the same transaction, and record the change for the province (sharing.py).

Over 400 lines on purpose: each action (draft, review, publish, retire, reindex) with the index
upkeep it must do in the same transaction; apart, an article and its search rows could drift.
"""

from __future__ import annotations

import builtins
import uuid
from collections import Counter
from datetime import date, datetime

from sqlalchemy import bindparam, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from hub.db.database import Database
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ, Clock
from hub.domain.errors import AccessDenied, DomainError, RuleViolation
from hub.mappings import Catalogue
from knowledge import review
from knowledge.model import (
    Article,
    ArticleContent,
    ArticleInput,
    ArticleKind,
    ArticleStatus,
    ArticleVersion,
    ReviewEntry,
    parse_citation,
)
from knowledge.review import ReviewAction
from knowledge.search import ARTICLES, Hit, SearchQuery, run, term_weights, to_hits
from knowledge.segment import Segmenter
from knowledge.sharing import Sharing
from knowledge.tables import FTS_TABLE, KbArticleRow, KbHistoryRow, KbSearchRow, KbTermRow, KbTermWeightRow, KbVersionRow


class ArticleNotFound(DomainError):
    def __init__(self, article_id: str, version: int | None = None) -> None:
        self.article_id, self.version = article_id, version
        super().__init__(f"no article {article_id}" + (f" version {version}" if version else ""))


class StaleArticle(RuleViolation):
    """The article has a newer version than the one the edit was based on."""


class InvalidField(DomainError):
    """A value that is well-formed but refers to nothing usable; the API answers 422 naming the field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


class KnowledgeStore:
    def __init__(self, db: Database, clock: Clock, catalogue: Catalogue, segmenter: Segmenter, sharing: Sharing) -> None:
        self.db, self.clock, self.catalogue, self.segmenter, self.sharing = db, clock, catalogue, segmenter, sharing
        self.dialect = "sqlite" if db.is_sqlite else "postgresql"

    def today(self) -> date:
        return self.clock.now().astimezone(LOCAL_TZ).date()

    # -- writing -----------------------------------------------------------------------
    def create(self, new: ArticleInput, actor: Actor, note: str | None = None) -> Article:
        review.check_may_edit(actor, new.owner_unit)
        self.catalogue.unit(new.owner_unit, field="owner_unit")
        self._check_codes(new)
        now = self.clock.now()
        with self.db.write() as s:
            if new.id is not None and self._find(s, new.id) is not None:
                raise RuleViolation(f"article {new.id} exists; edit it to make a new version")
            row = KbArticleRow(
                article_id=new.id or f"tmp-{uuid.uuid4().hex}",
                owner_unit=new.owner_unit,
                latest_version=1,
                latest_status=ArticleStatus.DRAFT.value,
                published_version=None,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            if new.id is None:
                row.article_id = f"KB{row.pk:06d}"
            s.add(_version_row(row.pk, 1, new, now, actor, note))
            self._log(s, row.pk, now, actor, "create", 1, None, ArticleStatus.DRAFT, note)
            s.flush()
            return self._article(s, row)

    def edit(self, article_id: str, content: ArticleContent, actor: Actor, base_version: int, note: str | None = None) -> Article:
        self._check_codes(content)
        now = self.clock.now()
        with self.db.write() as s:
            row = self._get(s, article_id, lock=True)
            review.check_may_edit(actor, row.owner_unit)
            if base_version != row.latest_version:
                raise StaleArticle(f"article {article_id} is at version {row.latest_version}, not {base_version}: read it again")
            latest = s.get(KbVersionRow, (row.pk, row.latest_version))
            assert latest is not None  # the article row always points at an existing version
            if ArticleStatus(latest.status) in review.OPEN:
                self._log(
                    s,
                    row.pk,
                    now,
                    actor,
                    "supersede",
                    latest.version,
                    ArticleStatus(latest.status),
                    ArticleStatus.SUPERSEDED,
                    f"replaced by version {latest.version + 1}",
                )
                latest.status = ArticleStatus.SUPERSEDED.value
            version = row.latest_version + 1
            s.add(_version_row(row.pk, version, content, now, actor, note))
            row.latest_version, row.latest_status, row.updated_at = version, ArticleStatus.DRAFT.value, now
            self._log(s, row.pk, now, actor, "edit", version, None, ArticleStatus.DRAFT, note)
            s.flush()
            return self._article(s, row)

    def act(
        self, article_id: str, action: ReviewAction, actor: Actor, version: int | None = None, note: str | None = None, publish_expired: bool = False
    ) -> Article:
        now = self.clock.now()
        with self.db.write() as s:
            row = self._get(s, article_id, lock=True)
            target_version = version or (row.published_version if action is ReviewAction.RETIRE and row.published_version else row.latest_version)
            v = s.get(KbVersionRow, (row.pk, target_version))
            if v is None:
                raise ArticleNotFound(article_id, target_version)
            source = ArticleStatus(v.status)
            if not review.may_read_version(actor, row.owner_unit, source, ever_published=_was_published(s, row.pk, v.version)):
                # A party that may not read the version is not told it exists, nor its status.
                raise ArticleNotFound(article_id, target_version)
            step = review.step(source, action, actor, row.owner_unit)
            if action is ReviewAction.SEND_BACK and not note:
                raise InvalidField("note", "sending a version back needs the reason")
            if action is ReviewAction.PUBLISH:
                if not publish_expired:
                    self._check_still_valid(article_id, v)
                self._publish(s, row, v, now)
            elif action is ReviewAction.RETIRE:
                self._retire(s, row, v, now)
            v.status = step.target.value
            if v.version == row.latest_version:
                row.latest_status = step.target.value
            row.updated_at = now
            self._log(s, row.pk, now, actor, action.value, v.version, source, step.target, note)
            s.flush()
            return self._article(s, row)

    def _check_still_valid(self, article_id: str, v: KbVersionRow) -> None:
        """Publishing a version whose validity already ended is refused unless asked for on
        purpose (`publish_expired`, a historical record): by mistake it would replace the live
        version with one that search hides and no answer may cite (docs/knowledge.md)."""
        today = self.today()
        if v.valid_to is not None and v.valid_to < today:
            raise RuleViolation(
                f"{article_id}@{v.version} is valid only until {v.valid_to.isoformat()}, before today "
                f"({today.isoformat()}): edit its valid_to (a new version) before publishing it, or publish it on purpose as "
                f"a historical record with publish_expired"
            )

    def _publish(self, s: Session, row: KbArticleRow, v: KbVersionRow, now: datetime) -> None:
        if row.published_version is not None and row.published_version != v.version:
            old = s.get(KbVersionRow, (row.pk, row.published_version))
            assert old is not None
            old.status = ArticleStatus.SUPERSEDED.value
        row.published_version = v.version
        self._index(s, row, v)
        self.sharing.published(s, row.article_id, v.version, _content(v), row.owner_unit, now)

    def _retire(self, s: Session, row: KbArticleRow, v: KbVersionRow, now: datetime) -> None:
        row.published_version = None
        self._unindex(s, row.pk)
        self.sharing.retired(s, row.article_id, v.version, now)

    # -- the search index ------------------------------------------------------------------
    def _index(self, s: Session, row: KbArticleRow, v: KbVersionRow) -> None:
        self._unindex(s, row.pk)
        seg = self.segment(v.title, v.tags, v.body)
        s.add(
            KbSearchRow(
                article_pk=row.pk,
                article_id=row.article_id,
                version=v.version,
                kind=v.kind,
                owner_unit=row.owner_unit,
                valid_from=v.valid_from,
                valid_to=v.valid_to,
                categories=" ".join(v.categories),
                title=v.title,
                body=v.body,
                **seg,
            )
        )
        s.flush()
        if self.dialect == "sqlite":
            s.execute(
                text(f"INSERT INTO {FTS_TABLE}(rowid, seg_title, seg_tags, seg_body) VALUES (:pk, :seg_title, :seg_tags, :seg_body)"), {"pk": row.pk, **seg}
            )
        _count_terms(s, {ARTICLES} | distinct_terms(seg["seg_title"], seg["seg_tags"], seg["seg_body"]), +1)
        weights = term_weights(seg["seg_title"], seg["seg_tags"], seg["seg_body"])
        if weights:
            s.execute(insert(KbTermWeightRow), [{"article_pk": row.pk, "term": t, "weight": w} for t, w in sorted(weights.items())])

    def _unindex(self, s: Session, pk: int) -> None:
        old = s.get(KbSearchRow, pk)
        if old is None:
            return
        if self.dialect == "sqlite":
            # External-content FTS5 forgets a row only when told its old indexed values.
            s.execute(
                text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, seg_title, seg_tags, seg_body) VALUES ('delete', :pk, :t, :g, :b)"),
                {"pk": pk, "t": old.seg_title, "g": old.seg_tags, "b": old.seg_body},
            )
        _count_terms(s, {ARTICLES} | distinct_terms(old.seg_title, old.seg_tags, old.seg_body), -1)
        s.execute(delete(KbTermWeightRow).where(KbTermWeightRow.article_pk == pk))
        s.delete(old)
        s.flush()

    def segment(self, title: str, tags: list[str], body: str) -> dict[str, str]:
        return {
            "seg_title": self.segmenter.index_text(title),
            "seg_tags": self.segmenter.index_text(" ".join(tags)),
            "seg_body": self.segmenter.index_text(body),
        }

    def reindex(self) -> int:
        """Segment every published article again (after a dictionary change) and rebuild the index."""
        with self.db.write() as s:
            rows = list(s.execute(select(KbSearchRow)).scalars())
            tags = {
                (r.article_pk, r.version): r.tags
                for r in s.execute(
                    select(KbVersionRow).join(KbSearchRow, (KbSearchRow.article_pk == KbVersionRow.article_pk) & (KbSearchRow.version == KbVersionRow.version))
                ).scalars()
            }
            for r in rows:
                seg = self.segment(r.title, tags.get((r.article_pk, r.version), []), r.body)
                r.seg_title, r.seg_tags, r.seg_body = seg["seg_title"], seg["seg_tags"], seg["seg_body"]
            s.flush()
            if self.dialect == "sqlite":
                s.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))
            s.execute(delete(KbTermRow))
            s.execute(delete(KbTermWeightRow))
            batch: list[dict[str, object]] = []
            for r in rows:  # about 100 weights an article: written in batches, not held all at once
                batch.extend({"article_pk": r.article_pk, "term": t, "weight": w} for t, w in term_weights(r.seg_title, r.seg_tags, r.seg_body).items())
                if len(batch) >= 10_000:
                    s.execute(insert(KbTermWeightRow), batch)
                    batch = []
            if batch:
                s.execute(insert(KbTermWeightRow), batch)
            counts = Counter(t for r in rows for t in {ARTICLES} | distinct_terms(r.seg_title, r.seg_tags, r.seg_body))
            if counts:
                s.execute(insert(KbTermRow), [{"term": t, "df": n} for t, n in counts.items()])
            return len(rows)

    # -- reading --------------------------------------------------------------------------
    def search(self, q: SearchQuery) -> list[Hit]:
        groups = self.segmenter.query_groups(q.text)
        with self.db.read() as s:
            rows = run(s, self.dialect, groups, q)
        return to_hits(rows, [t for g in groups for t in g])

    def get(self, article_id: str, actor: Actor) -> Article:
        with self.db.read() as s:
            row = self._get(s, article_id)
            article = _readable(actor, self._article(s, row))
        if article is None:
            raise ArticleNotFound(article_id)  # unpublished articles do not exist for other parties
        return article

    def versions(self, article_id: str, actor: Actor) -> list[ArticleVersion]:
        with self.db.read() as s:
            row = self._get(s, article_id)
            self._check_drafts(actor, row)
            rows = s.execute(select(KbVersionRow).where(KbVersionRow.article_pk == row.pk).order_by(KbVersionRow.version)).scalars()
            return [_to_version(row.article_id, v) for v in rows]

    def version(self, article_id: str, version: int, actor: Actor) -> ArticleVersion:
        with self.db.read() as s:
            row = self._get(s, article_id)
            v = s.get(KbVersionRow, (row.pk, version))
            if v is None:
                raise ArticleNotFound(article_id, version)
            # Any version ever published stays readable by all: a case's history cites it.
            if not review.may_read_version(actor, row.owner_unit, ArticleStatus(v.status), ever_published=_was_published(s, row.pk, version)):
                self._check_drafts(actor, row)
            return _to_version(row.article_id, v)

    def history(self, article_id: str, actor: Actor) -> list[ReviewEntry]:
        with self.db.read() as s:
            row = self._get(s, article_id)
            self._check_drafts(actor, row)
            rows = s.execute(select(KbHistoryRow).where(KbHistoryRow.article_pk == row.pk).order_by(KbHistoryRow.seq)).scalars()
            return [
                ReviewEntry(
                    seq=h.seq,
                    at=h.at,
                    actor=h.actor,
                    role=h.role,
                    action=h.action,
                    version=h.version,
                    from_status=ArticleStatus(h.from_status) if h.from_status is not None else None,
                    to_status=ArticleStatus(h.to_status),
                    note=h.note,
                )
                for h in rows
            ]

    def list(self, actor: Actor, unit: str | None = None, status: ArticleStatus | None = None, limit: int = 50, offset: int = 0) -> list[Article]:
        with self.db.read() as s:
            stmt = select(KbArticleRow).order_by(KbArticleRow.article_id).limit(limit).offset(offset)
            if unit:
                stmt = stmt.where(KbArticleRow.owner_unit == unit)
            if status and not review.may_see_all_drafts(actor):
                # A party that reads only what is published filters on what it reads: the
                # published version's status, never the latest draft's.
                stmt = stmt.where(or_(KbArticleRow.latest_status == status.value, KbArticleRow.published_version.is_not(None)))
            elif status:
                stmt = stmt.where(KbArticleRow.latest_status == status.value)
            out = []
            for row in s.execute(stmt).scalars():
                article = _readable(actor, self._article(s, row))
                if article is not None and (status is None or article.latest_status is status):
                    out.append(article)
            return out

    def check_citations(
        self, citations: builtins.list[str], on: date, field: str = "articles", session: Session | None = None
    ) -> builtins.list[ArticleVersion]:
        """Each 'id@version' must be the published version of an article valid on `on`."""
        if session is None:
            with self.db.read() as s:
                return self.check_citations(citations, on, field, s)
        out = []
        for i, citation in enumerate(citations):
            where = f"{field}[{i}]"
            try:
                article_id, version = parse_citation(citation)
            except ValueError as exc:
                raise InvalidField(where, str(exc)) from None
            row = self._find(session, article_id)
            if row is None:
                raise InvalidField(where, f"no article {article_id}")
            if row.published_version != version:
                current = f"version {row.published_version} is published" if row.published_version else "it is not published"
                raise InvalidField(where, f"{citation} is not the published version of {article_id} ({current})")
            v = session.get(KbVersionRow, (row.pk, version))
            assert v is not None
            content = _content(v)
            if not content.valid_on(on):
                raise InvalidField(where, f"{citation} is not valid on {on.isoformat()} (valid {content.valid_from or '…'} to {content.valid_to or '…'})")
            out.append(_to_version(article_id, v))
        return out

    def count(self) -> int:
        with self.db.read() as s:
            return int(s.execute(select(func.count()).select_from(KbArticleRow)).scalar_one())

    # -- helpers ----------------------------------------------------------------------------
    def _check_codes(self, content: ArticleContent) -> None:
        for i, code in enumerate(content.categories):
            self.catalogue.category(code, field=f"categories[{i}]")

    def _check_drafts(self, actor: Actor, row: KbArticleRow) -> None:
        if not review.may_see_drafts(actor, row.owner_unit):
            raise AccessDenied(f"versions and history of {row.article_id} are for its unit and the centre")

    @staticmethod
    def _find(s: Session, article_id: str, lock: bool = False) -> KbArticleRow | None:
        stmt = select(KbArticleRow).where(KbArticleRow.article_id == article_id)
        if lock:
            stmt = stmt.with_for_update()
        return s.execute(stmt).scalar_one_or_none()

    def _get(self, s: Session, article_id: str, lock: bool = False) -> KbArticleRow:
        row = self._find(s, article_id, lock)
        if row is None:
            raise ArticleNotFound(article_id)
        return row

    @staticmethod
    def _log(
        s: Session, pk: int, now: datetime, actor: Actor, action: str, version: int, source: ArticleStatus | None, target: ArticleStatus, note: str | None
    ) -> None:
        seq = s.execute(select(func.coalesce(func.max(KbHistoryRow.seq), 0)).where(KbHistoryRow.article_pk == pk)).scalar_one()
        s.add(
            KbHistoryRow(
                article_pk=pk,
                seq=seq + 1,
                at=now,
                actor=actor.party,
                role=actor.role.value,
                action=action,
                version=version,
                from_status=source.value if source else None,
                to_status=target.value,
                note=note,
            )
        )
        s.flush()

    @staticmethod
    def _article(s: Session, row: KbArticleRow) -> Article:
        latest = s.get(KbVersionRow, (row.pk, row.latest_version))
        assert latest is not None
        published = s.get(KbVersionRow, (row.pk, row.published_version)) if row.published_version else None
        return Article(
            id=row.article_id,
            owner_unit=row.owner_unit,
            latest_version=row.latest_version,
            latest_status=ArticleStatus(row.latest_status),
            published_version=row.published_version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            latest=_to_version(row.article_id, latest),
            published=_to_version(row.article_id, published) if published else None,
        )


def distinct_terms(*segmented: str) -> set[str]:
    """The terms an article's segmented columns hold (space-joined tokens)."""
    return {t for column in segmented for t in column.split()}


def _count_terms(s: Session, terms: set[str], step: int) -> None:
    """Add `step` to the article count of each term, in the caller's transaction; a term no
    published article holds any more is forgotten."""
    if not terms:
        return
    ordered = sorted(terms)  # one lock order for concurrent publishers on PostgreSQL
    if step > 0:
        upsert = text("INSERT INTO kb_terms (term, df) VALUES (:term, 1) ON CONFLICT (term) DO UPDATE SET df = kb_terms.df + 1")
        s.execute(upsert, [{"term": t} for t in ordered])
    else:
        s.execute(text("UPDATE kb_terms SET df = df - 1 WHERE term = :term"), [{"term": t} for t in ordered])
        s.execute(text("DELETE FROM kb_terms WHERE term IN :terms AND df <= 0").bindparams(bindparam("terms", expanding=True)), {"terms": ordered})


def _readable(actor: Actor, article: Article) -> Article | None:
    """The article as `actor` may read it (review.may_read_version decides every version):
    the owner and the centre see the latest version whatever its status; every other party
    sees the published version as the latest, and an article never published not at all.
    Every projection of an article (get, list, import answers) goes through here."""
    if review.may_read_version(actor, article.owner_unit, article.latest_status):
        return article
    published = article.published
    if published is None or not review.may_read_version(actor, article.owner_unit, published.status):
        return None
    return article.model_copy(update={"latest": published, "latest_version": published.version, "latest_status": published.status})


def _was_published(s: Session, pk: int, version: int) -> bool:
    return (
        s.execute(
            select(KbHistoryRow.seq)
            .where(KbHistoryRow.article_pk == pk, KbHistoryRow.version == version, KbHistoryRow.action == ReviewAction.PUBLISH.value)
            .limit(1)
        ).first()
        is not None
    )


def _version_row(pk: int, version: int, c: ArticleContent, now: datetime, actor: Actor, note: str | None) -> KbVersionRow:
    return KbVersionRow(
        article_pk=pk,
        version=version,
        status=ArticleStatus.DRAFT.value,
        kind=c.kind.value,
        title=c.title,
        body=c.body,
        valid_from=c.valid_from,
        valid_to=c.valid_to,
        categories=list(c.categories),
        tags=list(c.tags),
        created_at=now,
        created_by=actor.party,
        note=note,
    )


def _content(v: KbVersionRow) -> ArticleContent:
    return ArticleContent(
        kind=ArticleKind(v.kind), title=v.title, body=v.body, valid_from=v.valid_from, valid_to=v.valid_to, categories=v.categories, tags=v.tags
    )


def _to_version(article_id: str, v: KbVersionRow) -> ArticleVersion:
    return ArticleVersion(
        article_id=article_id,
        version=v.version,
        status=ArticleStatus(v.status),
        kind=ArticleKind(v.kind),
        title=v.title,
        body=v.body,
        valid_from=v.valid_from,
        valid_to=v.valid_to,
        categories=v.categories,
        tags=v.tags,
        created_at=v.created_at,
        created_by=v.created_by,
        note=v.note,
    )
