"""The knowledge-base pages (知识库): search in Chinese, an article, and the suggestions the
intake page shows while an agent types the content.

Through the knowledge feature's handle, as /api/v1/knowledge does: search finds published
articles valid today (KnowledgeStore.search, as GET /api/v1/knowledge/search and the case
suggestions); an article is what `KnowledgeStore.get` lets this person read (the one rule,
knowledge.review.may_read_version: drafts only for the owning unit and the centre).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup


from console.web import _env, _hub, _refused, _session, _to_login, render
from knowledge.handle import Knowledge
from knowledge.search import Hit, SearchQuery
from knowledge.store import ArticleNotFound
from hub.domain.errors import AccessDenied

router = APIRouter(include_in_schema=False)
KIND_LABELS = {"law": "法律", "regulation": "法规规章", "policy": "政策文件", "duty": "部门职责",
               "service_guide": "办事指南", "faq": "常见问题"}
STATUS_LABELS = {"draft": "草稿", "reviewed": "已审核", "published": "已发布", "retired": "已废止", "superseded": "已被替代"}
ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
SUGGESTED = 5
_env.globals.update(KIND_LABELS=KIND_LABELS, KB_STATUS_LABELS=STATUS_LABELS)


def _kb(request: Request) -> Knowledge | None:
    return _hub(request).handles.find(Knowledge)


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
    session = _session(request)
    if session is None:
        return _to_login(request)
    kb = _kb(request)
    if kb is None:
        return _refused(request, session, 404, "知识库功能未启用")
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
def article_page(request: Request, article_id: str) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    kb = _kb(request)
    if kb is None:
        return _refused(request, session, 404, "知识库功能未启用")
    if not ARTICLE_ID.match(article_id):
        return _refused(request, session, 404, f"没有知识条目 {article_id}")
    try:
        article = kb.store.get(article_id, session.operator.actor)
    except ArticleNotFound:
        return _refused(request, session, 404, f"没有知识条目 {article_id}（或尚未发布）")
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权查看知识条目 {article_id}：{exc}")
    names = {u.code: u.name_zh for u in _hub(request).catalogue.units.values()}
    return render(request, "article.html", session=session, article=article, unit_names=names)


