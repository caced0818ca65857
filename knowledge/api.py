"""/api/v1/knowledge: articles, versions, review, search, import, change feed; and on a
case: suggested articles and the direct answer (直接答复) citing them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import ActorDep, HubDep
from hub.api.limits import INT32_MAX, AfterId, Offset
from hub.api.problems import documented
from hub.domain.access import view_for
from hub.domain.commands import Note, Text
from hub.domain.model import Case
from hub.read_audit import record_read
from knowledge.handle import Knowledge
from knowledge.importer import Format, ImportFormatError, decode, parse, run_import
from knowledge.model import (
    ARTICLE_ID,
    Article,
    ArticleContent,
    ArticleInput,
    ArticleKind,
    ArticleStatus,
    ArticleVersion,
    ReviewEntry,
)
from knowledge.review import ReviewAction
from knowledge.search import SearchQuery
from knowledge.store import ArticleNotFound, InvalidField
from knowledge.tables import KbChangeRow


class _Route(APIRoute):
    """Turns the knowledge base's own refusals into the hub's problem answers."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ArticleNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except InvalidField as exc:
                raise RequestValidationError([{"loc": ("body", *exc.field.split(".")), "msg": exc.reason, "type": "value_error"}]) from None
            except ImportFormatError as exc:
                raise RequestValidationError([{"loc": ("body",), "msg": str(exc), "type": "value_error"}]) from None

        return route


router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"], route_class=_Route)
case_router = APIRouter(prefix="/api/v1/cases", tags=["knowledge"], route_class=_Route)

ArticleIdPath = Annotated[str, Path(pattern=ARTICLE_ID, description="Article id")]
CaseNumber = Annotated[str, Path(min_length=8, max_length=40, pattern=r"^[0-9A-Za-z-]+$")]


def _knowledge(hub: Any) -> Any:
    return hub.handles.get(Knowledge)


class NewArticle(ArticleInput):
    note: Note = None


class NewVersion(ArticleContent):
    base_version: int = Field(ge=1, le=INT32_MAX, description="The latest version the edit starts from (optimistic concurrency).")
    note: Note = None


class ReviewStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: ReviewAction
    version: int | None = Field(default=None, ge=1, le=INT32_MAX, description="Default: the latest version (retire: the published one).")
    note: Note = None
    publish_expired: bool = Field(
        default=False,
        description="publish: also a version whose valid_to is already past "
        "(a historical record, found only with any_validity); otherwise such a publish is refused 409.",
    )


class SearchHit(BaseModel):
    article_id: str
    version: int
    citation: str = Field(description="'id@version', what a direct answer cites.")
    kind: str
    owner_unit: str
    title: str
    title_highlight: str
    snippet: str = Field(description="HTML-escaped text around the matches, matches in <mark>.")
    score: float
    valid_from: date | None
    valid_to: date | None
    categories: list[str]


class SearchResult(BaseModel):
    query: str
    terms: list[str]
    hits: list[SearchHit]


class Suggestions(BaseModel):
    case_number: str
    hits: list[SearchHit]


class DirectAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Text
    articles: list[Annotated[str, Field(max_length=80)]] = Field(min_length=1, max_length=20, description="Cited versions, 'id@version'.")
    note: Note = None


class ImportResult(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    published: list[str]
    refused: list[dict[str, str]]


class Change(BaseModel):
    id: int
    article_id: str
    version: int
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]


def _hits(hits: list[Any]) -> list[SearchHit]:
    return [SearchHit(citation=h.citation, **{k: getattr(h, k) for k in SearchHit.model_fields if k != "citation"}) for h in hits]


_IMPORT_FORMATS: dict[str, Format] = {"application/json": "json", "text/csv": "csv", "text/markdown": "markdown"}  # by media type

ARTICLE_EXAMPLES = {
    "guide": {
        "summary": "办事指南",
        "value": {
            "owner_unit": "ZY-SCJGJ",
            "kind": "service_guide",
            "title": "消费者投诉举报办理指南",
            "body": "消费者可通过12315热线或全国12315平台投诉举报。市场监管部门自收到投诉之日起7个工作日内决定是否受理。",
            "categories": ["0201"],
            "tags": ["消费维权", "12315"],
            "valid_from": "2025-01-01",
            "note": "依据《市场监督管理投诉举报处理暂行办法》",
        },
    }
}


@router.post(
    "/articles",
    status_code=201,
    response_model=Article,
    summary="Write a new article (its unit's key)",
    operation_id="createArticle",
    responses=documented(403, 409),
)
def create_article(hub: HubDep, actor: ActorDep, body: Annotated[NewArticle, Body(openapi_examples=ARTICLE_EXAMPLES)]) -> Article:
    return _knowledge(hub).store.create(ArticleInput.model_validate(body.model_dump(exclude={"note"})), actor, body.note)


@router.get("/articles", response_model=list[Article], summary="List articles (drafts only for their unit and the centre)", operation_id="listArticles")
def list_articles(
    hub: HubDep,
    actor: ActorDep,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    status: ArticleStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> list[Article]:
    return _knowledge(hub).store.list(actor, unit, status, limit, offset)


@router.get(
    "/articles/{article_id}",
    response_model=Article,
    summary="An article, its latest and published versions",
    operation_id="getArticle",
    responses=documented(403, 404),
)
def get_article(hub: HubDep, actor: ActorDep, article_id: ArticleIdPath) -> Article:
    return _knowledge(hub).store.get(article_id, actor)


@router.post(
    "/articles/{article_id}/versions",
    status_code=201,
    response_model=Article,
    summary="Edit: a new version (draft); the published one stays live until it is replaced",
    operation_id="editArticle",
    responses=documented(403, 404, 409),
)
def edit_article(hub: HubDep, actor: ActorDep, article_id: ArticleIdPath, body: NewVersion) -> Article:
    content = ArticleContent.model_validate(body.model_dump(exclude={"base_version", "note"}))
    return _knowledge(hub).store.edit(article_id, content, actor, body.base_version, body.note)


@router.get(
    "/articles/{article_id}/versions",
    response_model=list[ArticleVersion],
    summary="Every version",
    operation_id="listArticleVersions",
    responses=documented(403, 404),
)
def list_versions(hub: HubDep, actor: ActorDep, article_id: ArticleIdPath) -> list[ArticleVersion]:
    return _knowledge(hub).store.versions(article_id, actor)


@router.get(
    "/articles/{article_id}/versions/{version}",
    response_model=ArticleVersion,
    summary="One version (any version ever published is readable by all: cases cite it)",
    operation_id="getArticleVersion",
    responses=documented(403, 404),
)
def get_version(hub: HubDep, actor: ActorDep, article_id: ArticleIdPath, version: Annotated[int, Path(ge=1, le=999_999)]) -> ArticleVersion:
    return _knowledge(hub).store.version(article_id, version, actor)


@router.get(
    "/articles/{article_id}/history",
    response_model=list[ReviewEntry],
    summary="Edits and review steps",
    operation_id="getArticleHistory",
    responses=documented(403, 404),
)
def article_history(hub: HubDep, actor: ActorDep, article_id: ArticleIdPath) -> list[ReviewEntry]:
    return _knowledge(hub).store.history(article_id, actor)


@router.post(
    "/articles/{article_id}/review",
    response_model=Article,
    summary="Review, send back, publish (centre supervisors) or retire (also the owning unit)",
    operation_id="reviewArticle",
    responses=documented(403, 404, 409),
)
def review_article(hub: HubDep, actor: ActorDep, article_id: ArticleIdPath, body: ReviewStep) -> Article:
    return _knowledge(hub).store.act(article_id, body.action, actor, body.version, body.note, body.publish_expired)


@router.get("/search", response_model=SearchResult, summary="Search published articles in Chinese, ranked", operation_id="searchArticles")
def search(
    hub: HubDep,
    actor: ActorDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    kind: Annotated[list[ArticleKind] | None, Query()] = None,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    category: Annotated[str | None, Query(pattern=r"^\d{2,8}$")] = None,
    valid_on: Annotated[date | None, Query(description="Default today; articles valid on this day.")] = None,
    any_validity: Annotated[bool, Query(description="Ignore validity dates.")] = False,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchResult:
    kb = _knowledge(hub)
    on = None if any_validity else (valid_on or kb.store.today())
    query = SearchQuery(text=q, kinds=tuple(kind or ()), unit=unit, category=category, valid_on=on, limit=limit)
    return SearchResult(query=q, terms=kb.store.segmenter.query_terms(q), hits=_hits(kb.store.search(query)))


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Bulk import (JSON, CSV or one Markdown article with front matter) as drafts",
    operation_id="importArticles",
    responses=documented(403, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_articles(hub: HubDep, actor: ActorDep, request: Request) -> ImportResult:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _IMPORT_FORMATS.get(media)
    if fmt is None:
        raise HTTPException(415, "send application/json, text/csv or text/markdown")
    items = parse(decode(await request.body()), fmt, "body")
    report = run_import(_knowledge(hub).store, items, actor)
    return ImportResult(**report.__dict__)


@router.get("/changes", response_model=list[Change], summary="Change feed: publications and retirements, oldest first", operation_id="listArticleChanges")
def changes(hub: HubDep, actor: ActorDep, after: Annotated[AfterId, Query()] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Change]:
    with hub.db.read() as s:
        rows = s.execute(select(KbChangeRow).where(KbChangeRow.id > after).order_by(KbChangeRow.id).limit(limit)).scalars()
        return [
            Change(id=r.id, article_id=r.article_id, version=r.version, event_type=r.event_type, occurred_at=r.occurred_at, payload=r.payload) for r in rows
        ]


@case_router.get(
    "/{number}/suggestions",
    response_model=Suggestions,
    summary="Published articles that may answer the case, from its title and content",
    operation_id="suggestArticlesForCase",
    responses=documented(403, 404),
)
def suggestions(hub: HubDep, actor: ActorDep, number: CaseNumber, limit: Annotated[int, Query(ge=1, le=20)] = 5) -> Suggestions:
    case, hits = _knowledge(hub).answers.suggest(number, actor, limit)
    return Suggestions(case_number=case.number, hits=_hits(hits))


@case_router.post(
    "/{number}/answer",
    response_model=Case,
    summary="Answer an enquiry directly (直接答复) citing published article versions",
    operation_id="answerCaseDirectly",
    responses=documented(403, 404, 409),
)
def answer_directly(hub: HubDep, actor: ActorDep, number: CaseNumber, body: DirectAnswer) -> Response:
    case = _knowledge(hub).answers.answer(number, body.answer, body.articles, actor, body.note)
    record_read(hub.db, actor, case, "POST /api/v1/cases/{number}/answer", hub.clock.now())  # 保密: audited
    return Response(view_for(actor, case).model_dump_json(), media_type="application/json", headers={"ETag": f'"{case.version}"'})
