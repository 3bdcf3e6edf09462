"""The widget's door: the demo page at `/` and the embeddable chat at `/widget.js`.

Both are static files in `static/` beside this module (with the demo page's stylesheet), served with an ETag,
a short cache lifetime and gzip when the browser accepts it. The script is meant to be loaded by
other sites (`<script src="https://HOST/widget.js" data-kqa-endpoint="https://HOST" defer>`), so
it carries `Cross-Origin-Resource-Policy: cross-origin`. The demo page runs under a strict CSP,
no inline script or style at all, which shows the widget needs neither.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

STATIC = Path(__file__).parent / "static"

DEMO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    mtime_ns: int


_cache: dict[str, Asset] = {}


def load_asset(name: str) -> Asset:
    """The file's bytes, gzipped copy and ETag; re-read only when the file changes on disk."""
    path = STATIC / name
    mtime = path.stat().st_mtime_ns
    cached = _cache.get(name)
    if cached is None or cached.mtime_ns != mtime:
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        cached = _cache[name] = Asset(body, gzip.compress(body, 9, mtime=0), etag, mtime)
    return cached


def serve_asset(request: Request, name: str, media_type: str, headers: dict[str, str]) -> Response:
    asset = load_asset(name)
    common = {"ETag": asset.etag, "Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding",
              "X-Content-Type-Options": "nosniff", **headers}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=common)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(asset.gzipped, media_type=media_type, headers={**common, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type=media_type, headers=common)


@router.get("/")
def demo_page(request: Request) -> Response:
    """A short page about the column with the widget on it."""
    return serve_asset(request, "index.html", "text/html; charset=utf-8",
                       {"Content-Security-Policy": DEMO_CSP, "Referrer-Policy": "no-referrer"})


@router.get("/widget.js")
def widget_script(request: Request) -> Response:
    """The chat widget: one vanilla custom element, loaded by a script tag on any site."""
    return serve_asset(request, "widget.js", "text/javascript; charset=utf-8",
                       {"Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/static/demo.css")
def demo_stylesheet(request: Request) -> Response:
    return serve_asset(request, "demo.css", "text/css; charset=utf-8", {})
