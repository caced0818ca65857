"""The committed OpenAPI document is generated from the app, never written by hand."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hub.api.app import create_app
from hub.features import load_features
from hub.runtime import build_hub
from hub.settings import Settings

HUB_DISTRIBUTION = "hotline-hub"


def export_openapi() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'openapi.db'}")
        # The hub's own features only: the committed document describes this package's API;
        # an integrator's feature documents its routes in its own (they still show in the
        # running hub's /api/v1/openapi.json).
        hub = build_hub(settings, features=load_features(distribution=HUB_DISTRIBUTION))
        try:
            spec = create_app(hub).openapi()
        finally:
            hub.close()
    return json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
