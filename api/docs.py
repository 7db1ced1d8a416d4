"""``/docs`` without the internet: Swagger UI from the ``swagger-ui-bundle-v2`` package, served by us.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it is blank on a machine without
internet access; this page loads the same UI (version 5, which reads OpenAPI 3.1) from
``/docs/assets/``. The page and its three assets are public (they carry no data); the API they
describe still needs a key ("Authorize" takes it). ReDoc has no packaged assets and is not served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets"
#: the files the page needs, and their media types
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}
#: paths answered without a key
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", *(f"{ASSETS_URL}/{name}" for name in ASSETS)})


def install(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI over ``app.openapi_url``) and its assets; build the app with ``docs_url=None``."""
    root = Path(swagger_ui_path)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · API",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    for name, media in ASSETS.items():
        app.add_api_route(f"{ASSETS_URL}/{name}", _asset(root / name, media), methods=["GET"], include_in_schema=False)


def _asset(path: Path, media: str):
    """A route answering one fixed file (no parameters: nothing from the request chooses the file)."""

    def asset() -> FileResponse:
        return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    return asset
