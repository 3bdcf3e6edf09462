"""The interactive API docs at /docs: Swagger UI from an installed package, never from a CDN.

FastAPI's default /docs page loads Swagger UI from a public CDN, unpinned and without integrity
checks, and does not load at all where the service has no way out. Here the files come from
`swagger-ui-bundle-v2` (Swagger UI's own release files, the same bytes as the swagger-ui-dist npm
package of that version; pinned in pyproject.toml), served on this origin, and the page runs
under a strict Content-Security-Policy: this origin's files, plus the one inline script that
starts Swagger UI, allowed by its hash. ReDoc is not offered: no package ships it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# Only what the page loads: the package also holds source maps and a demo page (the Petstore).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def install(app: FastAPI) -> None:
    """GET /docs and its assets on `app` (made with docs_url=None, redoc_url=None)."""
    page = docs_page(app)
    headers = {"Content-Security-Policy": policy(page), "Cache-Control": "no-cache", **SAFE_HEADERS}

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404, "Not Found")
        return FileResponse(Path(str(swagger_ui_path)) / name, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400", **SAFE_HEADERS})


def docs_page(app: FastAPI) -> str:
    """Swagger UI's page as FastAPI writes it, with this origin's asset URLs."""
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    return bytes(page.body).decode()


def policy(page: str) -> str:
    """The page's CSP: nothing by default; this origin's script, style, images and API; the
    inline start-up script by its SHA-256 (computed from the page itself, so it cannot drift)."""
    hashes = " ".join(f"'sha256-{_digest(script)}'" for script in INLINE_SCRIPT.findall(page))
    return (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def _digest(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
