"""The knowledge-base pages (知识库): search in Chinese, an article, and the suggestions the
intake page shows while an agent types the content.

Through the knowledge feature's handle, as /api/v1/knowledge does: search finds published
articles valid today (KnowledgeStore.search, as GET /api/v1/knowledge/search and the case
suggestions); an article is what `KnowledgeStore.get` lets this person read (the one rule,
knowledge.review.may_read_version: drafts only for the owning unit and the centre).

Writing and review (编写与审核) go through the same store methods as the API's
POST /articles, POST /articles/{id}/versions and POST /articles/{id}/review, so the rules are
the store's and knowledge.review's, never a second copy: the owning unit writes a new article
or a new version (a draft, which waits for review: that is its submission); the centre's
supervisors review it (审核通过), send it back with a note (退回修改) and publish it; the actions
a page offers are knowledge.review.allowed for this person. Versions are shown side by side.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from console.accounts import Session
from console.web import _env, _feature_page, _hub, _one, _refused, _session, _signed_form, _to_login, render
from hub.domain.errors import AccessDenied, ActionNotAllowed, RuleViolation
from hub.mappings.catalogue import UnknownCode
from knowledge import review
from knowledge.handle import Knowledge
from knowledge.model import ArticleContent, ArticleInput, ArticleKind, ArticleVersion
from knowledge.review import ReviewAction
from knowledge.search import Hit, SearchQuery
from knowledge.store import ArticleNotFound, InvalidField, StaleArticle

router = APIRouter(include_in_schema=False)
KIND_LABELS = {"law": "法律", "regulation": "法规规章", "policy": "政策文件", "duty": "部门职责", "service_guide": "办事指南", "faq": "常见问题"}
STATUS_LABELS = {"draft": "草稿", "reviewed": "已审核", "published": "已发布", "retired": "已废止", "superseded": "已被替代"}
ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
SUGGESTED = 5
DISABLED = "知识库功能未启用"
WRITERS_ONLY = "知识条目由其所属单位编写：请以承办单位账号登录"
REVIEW_LABELS = {"review": "审核通过", "send_back": "退回修改", "publish": "发布", "retire": "废止"}
HISTORY_LABELS = {"create": "新建", "edit": "修订", "supersede": "被新版本替代", **REVIEW_LABELS}
FIELD_LABELS = {
    "kind": "类别",
    "title": "标题",
    "body": "正文",
    "valid_from": "有效期自",
    "valid_to": "有效期至",
    "categories": "诉求分类",
    "tags": "标签",
    "note": "说明",
    "base_version": "基于版本",
    "owner_unit": "所属单位",
}
_env.globals.update(KIND_LABELS=KIND_LABELS, KB_STATUS_LABELS=STATUS_LABELS, KB_REVIEW_LABELS=REVIEW_LABELS, KB_HISTORY_LABELS=HISTORY_LABELS)


def _kb(request: Request) -> Knowledge | None:
    return _hub(request).handles.find(Knowledge)


def _article_request(request: Request, article_id: str) -> tuple[Session, Knowledge] | Response:
    """The person and the knowledge base for a page about one article, or the page to answer
    with instead (the sign-in page, the feature not installed, an id no article can have)."""
    page = _feature_page(request, Knowledge, DISABLED)
    if isinstance(page, Response) or ARTICLE_ID.match(article_id):
        return page
    return _refused(request, page[0], 404, f"没有知识条目 {article_id}")


async def _article_form(request: Request, article_id: str) -> tuple[Session, dict[str, list[str]], Knowledge] | Response:
    """A signed (CSRF-checked) form about one article, with the knowledge base; otherwise the
    page to answer with."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    kb = _kb(request)
    if kb is None or not ARTICLE_ID.match(article_id):
        return _refused(request, session, 404, f"没有知识条目 {article_id}")
    return session, data, kb


def _search(kb: Knowledge, text: str, limit: int) -> list[Hit]:
    """Published articles valid today, ranked: the service behind the API's search and suggestions."""
    return kb.store.search(SearchQuery(text=text, valid_on=kb.store.today(), limit=limit)) if text.strip() else []


def snippet(hit: Hit) -> Markup:
    """The search's snippet is HTML-escaped text with the matches in <mark> (knowledge/search.py)."""
    return Markup(hit.snippet)


def suggestions_for(request: Request, text: str) -> list[Hit]:
    kb = _kb(request)
    return _search(kb, text[:2000], SUGGESTED) if kb else []


@router.get("/console/knowledge")
def knowledge_page(request: Request, q: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    page = _feature_page(request, Knowledge, DISABLED)
    if isinstance(page, Response):
        return page
    session, kb = page
    text = (q or "").strip()
    hits = _search(kb, text, 30)
    # Without a query: the articles this person may read (drafts only the owner's and the centre's).
    articles = [] if text else kb.store.list(session.operator.actor, limit=50)
    return render(request, "knowledge.html", session=session, q=text, hits=hits, articles=articles, snippet=snippet)


@router.get("/console/knowledge/suggest")
def suggest(request: Request, q: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """A fragment for the intake page's script: the suggestions for what is typed so far."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    html = _env.get_template("_suggestions.html").render(hits=suggestions_for(request, q or ""), snippet=snippet, asked=bool((q or "").strip()))
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/console/knowledge/articles/{article_id}")
def article_page(
    request: Request,
    article_id: str,
    old: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    new: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    page = _article_request(request, article_id)
    if isinstance(page, Response):
        return page
    session, kb = page
    return _article_page(request, session, kb, article_id, old, new)


def _article_page(
    request: Request,
    session: Session,
    kb: Knowledge,
    article_id: str,
    old: int | None = None,
    new: int | None = None,
    status: int = 200,
    errors: list[str] | None = None,
) -> HTMLResponse:
    actor = session.operator.actor
    try:
        article = kb.store.get(article_id, actor)
    except ArticleNotFound:
        return _refused(request, session, 404, f"没有知识条目 {article_id}（或尚未发布）")
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权查看知识条目 {article_id}：{exc}")
    # Every version, its history and the review forms: for whom the store shows them (the owner and the centre).
    versions: list[ArticleVersion] = []
    history: list = []
    if review.may_see_drafts(actor, article.owner_unit):
        versions, history = kb.store.versions(article_id, actor), kb.store.history(article_id, actor)
    pair = _pair(article, versions, old, new)
    actions = review.allowed(article.latest_status, actor, article.owner_unit)
    retire = review.allowed(article.published.status, actor, article.owner_unit) if article.published else []
    names = {u.code: u.name_zh for u in _hub(request).catalogue.units.values()}
    return render(
        request,
        "article.html",
        status,
        session=session,
        article=article,
        unit_names=names,
        versions=versions,
        history=history,
        pair=pair,
        actions=[a for a in actions if a != "retire"],
        may_retire="retire" in retire,
        may_edit=_may_edit(session, article.owner_unit),
        errors=errors or [],
    )


def _pair(article, versions: list[ArticleVersion], old: int | None, new: int | None):  # noqa: ANN001, ANN202
    """The two versions shown side by side: as asked, else the published one (or the one before)
    beside the latest. None when there is only one version to show."""
    by_number = {v.version: v for v in versions}
    right = by_number.get(new or article.latest_version)
    if old is None:
        old = article.published_version if article.published_version and article.published_version != article.latest_version else article.latest_version - 1
    left = by_number.get(old)
    if left is None or right is None or left.version == right.version:
        return None
    return left, right


def _may_edit(session: Session, owner_unit: str) -> bool:
    try:
        review.check_may_edit(session.operator.actor, owner_unit)  # the store's rule for create and edit
    except AccessDenied:
        return False
    return True


def _writing_unit(session: Session) -> str | None:
    """The unit this person writes new articles for; None where they may write none."""
    unit = session.operator.unit_code
    return unit if unit is not None and _may_edit(session, unit) else None


# -- writing (the owning unit) ---------------------------------------------------------------------
def _content_fields(data: dict[str, list[str]]) -> dict[str, object]:
    def listed(name: str) -> list[str]:
        return [t for t in re.split(r"[\s,，、]+", _one(data, name)) if t]

    return {
        "kind": _one(data, "kind"),
        "title": _one(data, "title"),
        "body": (data.get("body") or [""])[0],
        "valid_from": _one(data, "valid_from") or None,
        "valid_to": _one(data, "valid_to") or None,
        "categories": listed("categories"),
        "tags": listed("tags"),
    }


def _validation_errors(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        where = e["loc"][0] if e["loc"] else ""
        out.append(f"{FIELD_LABELS.get(str(where), where or '条目')}：{e['msg']}")
    return out


def _editor(
    request: Request,
    session: Session,
    status: int = 200,
    article_id: str | None = None,
    values: dict | None = None,
    base_version: int | None = None,
    errors: list[str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "article_edit.html",
        status,
        session=session,
        article_id=article_id,
        values=values or {},
        base_version=base_version,
        errors=errors or [],
        kinds=[(k.value, KIND_LABELS.get(k.value, k.value)) for k in ArticleKind],
    )


def _form_values(data: dict[str, list[str]]) -> dict[str, str]:
    return {k: (data.get(k) or [""])[0] for k in ("kind", "title", "body", "valid_from", "valid_to", "categories", "tags", "note")}


@router.get("/console/knowledge/new")
def new_article_page(request: Request) -> Response:
    page = _feature_page(request, Knowledge, DISABLED)
    if isinstance(page, Response):
        return page
    session, _ = page
    if _writing_unit(session) is None:
        return _refused(request, session, 403, WRITERS_ONLY)
    return _editor(request, session, values={"kind": "service_guide"})


@router.post("/console/knowledge/new")
async def create_article(request: Request) -> Response:
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    kb = _kb(request)
    if kb is None:
        return _refused(request, session, 404, DISABLED)
    unit = _writing_unit(session)
    if unit is None:
        return _refused(request, session, 403, WRITERS_ONLY)
    note = _one(data, "note")[:500] or None
    try:
        new = ArticleInput.model_validate({**_content_fields(data), "owner_unit": unit})
        article = kb.store.create(new, session.operator.actor, note)
    except ValidationError as exc:
        return _editor(request, session, 422, values=_form_values(data), errors=_validation_errors(exc))
    except UnknownCode as exc:
        return _editor(request, session, 422, values=_form_values(data), errors=[f"诉求分类：{exc}"])
    except AccessDenied as exc:
        return _refused(request, session, 403, f"不能编写知识条目：{exc}")
    return RedirectResponse(f"/console/knowledge/articles/{article.id}?done=created", status_code=303)


@router.get("/console/knowledge/articles/{article_id}/edit")
def edit_article_page(request: Request, article_id: str) -> Response:
    page = _article_request(request, article_id)
    if isinstance(page, Response):
        return page
    session, kb = page
    try:
        article = kb.store.get(article_id, session.operator.actor)
    except (ArticleNotFound, AccessDenied):
        return _refused(request, session, 404, f"没有知识条目 {article_id}（或尚未发布）")
    if not _may_edit(session, article.owner_unit):
        return _refused(request, session, 403, f"知识条目 {article_id} 由 {article.owner_unit} 编写")
    v = article.latest
    values = {
        "kind": v.kind.value,
        "title": v.title,
        "body": v.body,
        "valid_from": v.valid_from or "",
        "valid_to": v.valid_to or "",
        "categories": " ".join(v.categories),
        "tags": " ".join(v.tags),
        "note": "",
    }
    return _editor(request, session, article_id=article_id, values=values, base_version=article.latest_version)


@router.post("/console/knowledge/articles/{article_id}/versions")
async def edit_article(request: Request, article_id: str) -> Response:
    form = await _article_form(request, article_id)
    if isinstance(form, Response):
        return form
    session, data, kb = form
    base = _one(data, "base_version")
    values = _form_values(data)
    if not base.isdigit() or not 1 <= int(base) <= 2**31 - 1:
        return _editor(request, session, 422, article_id, values, None, ["基于版本：应为正整数（请重新打开编辑页）"])
    try:
        content = ArticleContent.model_validate(_content_fields(data))
        kb.store.edit(article_id, content, session.operator.actor, int(base), _one(data, "note")[:500] or None)
    except ValidationError as exc:
        return _editor(request, session, 422, article_id, values, int(base), _validation_errors(exc))
    except UnknownCode as exc:
        return _editor(request, session, 422, article_id, values, int(base), [f"诉求分类：{exc}"])
    except ArticleNotFound:
        return _refused(request, session, 404, f"没有知识条目 {article_id}")
    except AccessDenied as exc:
        return _refused(request, session, 403, f"不能修订知识条目 {article_id}：{exc}")
    except StaleArticle:
        return _editor(
            request, session, 409, article_id, values, int(base), ["已被他人修改：该条目已有更新的版本，您的修改未保存。请重新打开编辑页，在最新版本上修改。"]
        )
    return RedirectResponse(f"/console/knowledge/articles/{article_id}?done=edited", status_code=303)


# -- review (the centre's supervisors; retire also the owner) ----------------------------------------
@router.post("/console/knowledge/articles/{article_id}/review")
async def review_article(request: Request, article_id: str) -> Response:
    form = await _article_form(request, article_id)
    if isinstance(form, Response):
        return form
    session, data, kb = form
    action, version, note = _one(data, "action"), _one(data, "version"), _one(data, "note")
    if action not in REVIEW_LABELS:
        return _article_page(request, session, kb, article_id, status=422, errors=["操作：没有这个审核操作"])
    if version and (not version.isdigit() or not 1 <= int(version) <= 2**31 - 1):
        return _article_page(request, session, kb, article_id, status=422, errors=["版本：应为正整数"])
    if len(note) > 500:
        return _article_page(request, session, kb, article_id, status=422, errors=["意见：最多 500 字"])
    try:
        kb.store.act(article_id, ReviewAction(action), session.operator.actor, int(version) if version else None, note or None)
    except ArticleNotFound:
        return _refused(request, session, 404, f"没有知识条目 {article_id}（或尚未发布）")
    except ActionNotAllowed as exc:
        allowed = "、".join(REVIEW_LABELS.get(a, a) for a in exc.allowed) or "无"
        status = 403 if str(exc).startswith("not allowed for this role") else 409
        return _article_page(
            request,
            session,
            kb,
            article_id,
            status=status,
            errors=[f"不能{REVIEW_LABELS[action]}：此版本当前状态下您可做的操作：{allowed}（可能已被他人处理）"],
        )
    except InvalidField:
        return _article_page(request, session, kb, article_id, status=422, errors=["退回意见：必填，写明需要修改的地方"])
    except RuleViolation as exc:
        return _article_page(request, session, kb, article_id, status=409, errors=[f"不能{REVIEW_LABELS[action]}：{exc}"])
    return RedirectResponse(f"/console/knowledge/articles/{article_id}?done={action}", status_code=303)
