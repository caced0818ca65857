"""A person at the console, through the in-process app: signs in, reads the CSRF token from
the page like a browser would, posts forms."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from console.accounts import Accounts

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def fast_accounts(hub) -> Accounts:  # noqa: ANN001
    """The hub's accounts with a cheap argon2id: the production parameters cost about 0.7 s a
    hash on the 2-core CI machine, and these tests check the rules, not the cost
    (tests/integration/test_console.py checks the parameters the feature installs)."""
    accounts = hub.handles.get(Accounts)
    accounts.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return accounts


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
