"""A person at the console, through the in-process app: signs in, reads the CSRF token from
the page like a browser would, posts forms."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from console.accounts import Accounts
from hub.api.app import create_app
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from knowledge.handle import Knowledge
from knowledge.model import ArticleInput
from knowledge.review import ReviewAction
from tests.support.factories import draft

CSRF = re.compile(r'name="csrf" value="([^"]*)"')
PASSWORD = "correct-horse-1"
AGENT = Actor("api-agent", Role.AGENT)


def fast_accounts(hub) -> Accounts:  # noqa: ANN001
    """The hub's accounts with a cheap argon2id: the production parameters cost about 0.7 s a
    hash on the 2-core CI machine, and these tests check the rules, not the cost
    (tests/integration/test_console.py checks the parameters the feature installs)."""
    accounts = hub.handles.get(Accounts)
    accounts.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return accounts


def console_app(hub) -> FastAPI:  # noqa: ANN001
    """The hub's app with four people who sign in with PASSWORD: an agent (wang), a supervisor
    (zhao), and the handlers of two units, 市场监管局 ZY-SCJGJ (scj) and 人社局 ZY-RSJ (rsj)."""
    accounts = fast_accounts(hub)
    accounts.create("wang", Role.AGENT, PASSWORD, "王芳")
    accounts.create("zhao", Role.SUPERVISOR, PASSWORD, "赵班长")
    accounts.create("scj", Role.UNIT, PASSWORD, "市场监管局", unit_code="ZY-SCJGJ")
    accounts.create("rsj", Role.UNIT, PASSWORD, "人社局", unit_code="ZY-RSJ")
    return create_app(hub)


def dispatched(hub, unit: str = "ZY-SCJGJ", signed: bool = True, **changes) -> str:  # noqa: ANN001, ANN003
    """A case registered, accepted and dispatched to `unit` through the service (as the API
    would), and signed off by the unit unless `signed` is False."""
    number = hub.cases.register(CaseDraft.model_validate(draft(**changes)), AGENT).case.number
    hub.cases.act(number, c.Accept(), AGENT)
    hub.cases.act(number, c.Dispatch(lead_unit=unit), AGENT)
    if signed:
        hub.cases.act(number, c.SignOff(), Actor(f"{unit}-key", Role.UNIT, unit_code=unit))
    return number


def published_and_draft(hub, published: tuple[str, str], drafted: tuple[str, str], body: str) -> None:  # noqa: ANN001
    """Two articles (id, title) of unit ZY-SCJGJ with the same body: the first reviewed and
    published by a supervisor, the second left a draft."""
    store = hub.handles.get(Knowledge).store
    unit, supervisor = Actor("scj-key", Role.UNIT, unit_code="ZY-SCJGJ"), Actor("api-supervisor", Role.SUPERVISOR)
    for article_id, title in (published, drafted):
        store.create(ArticleInput(id=article_id, owner_unit="ZY-SCJGJ", kind="service_guide", title=title, body=body), unit)
    store.act(published[0], ReviewAction.REVIEW, supervisor)
    store.act(published[0], ReviewAction.PUBLISH, supervisor)


class Person:
    def __init__(self, app, base_url: str = "http://testserver") -> None:  # noqa: ANN001
        self.client = TestClient(app, base_url=base_url, follow_redirects=False, raise_server_exceptions=False)
        self.csrf = ""

    def sign_in(self, username: str, password: str) -> Person:
        resp = self.try_sign_in(username, password)
        assert resp.status_code == 303, resp.text[:400]
        page = self.client.get("/console/")
        self.csrf = CSRF.search(page.text).group(1)
        return self

    def try_sign_in(self, username: str, password: str):  # noqa: ANN201
        form = self.client.get("/console/login")
        return self.client.post(
            "/console/login", data={"csrf": CSRF.search(form.text).group(1), "username": username, "password": password, "next": "/console/"}
        )

    def get(self, path: str, **kw):  # noqa: ANN003, ANN201
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict, with_csrf: bool = True):  # noqa: ANN201
        return self.client.post(path, data={**({"csrf": self.csrf} if with_csrf else {}), **data})

    def act(self, number: str, version: int, action: str, **fields):  # noqa: ANN003, ANN201
        return self.post(f"/console/cases/{number}/actions", {"action": action, "version": str(version), **fields})
