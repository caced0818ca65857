"""The committed OpenAPI document is generated from the app, never written by hand."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hub.settings import Settings


def export_openapi() -> str:
    from hub.api.app import create_app
    from hub.runtime import build_hub

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'openapi.db'}")
        hub = build_hub(settings)
        try:
            spec = create_app(hub).openapi()
        finally:
            hub.close()
    return json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
