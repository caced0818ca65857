"""/api/v1/docs with Swagger UI's assets served by the hub itself: government networks reach
no CDN, and FastAPI's default page loads its JS and CSS from one (a blank page offline).

The assets are swagger-ui-dist 5 (npm, Apache-2.0, hub/api/swagger_ui/): version 5 is the
first to render OpenAPI 3.1, which FastAPI writes (the pip package swagger-ui-bundle ships 4.x).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

ASSETS = Path(__file__).resolve().parent / "swagger_ui"
TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}

router = APIRouter(include_in_schema=False)


@router.get("/api/v1/docs")
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title="12345 Hub · API",
        swagger_js_url="/api/v1/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/api/v1/docs/assets/swagger-ui.css",
        swagger_favicon_url="/api/v1/docs/assets/favicon-32x32.png",
        # No call to the public validator either: nothing leaves the network.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/api/v1/docs/assets/{name}")
def asset(name: str) -> Response:
    if name not in TYPES:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(ASSETS / name, media_type=TYPES[name], headers={"Cache-Control": "max-age=86400"})
