"""The committed OpenAPI document is what the app serves; regenerate with `hotline-hub openapi export`."""

from __future__ import annotations

import json

from hub.openapi_export import export_openapi
from hub.settings import REPO_ROOT


def test_committed_openapi_matches_the_app() -> None:
    committed = (REPO_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    current = export_openapi()
    assert json.loads(committed) == json.loads(current), "openapi/openapi.json is stale: run `hotline-hub openapi export`"
