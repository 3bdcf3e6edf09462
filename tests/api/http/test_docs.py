"""The API docs at /docs: Swagger UI from the package, not a CDN, under a strict CSP; over real HTTP
and in real headless Chromium with every request off the server's origin refused."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def test_docs_reference_only_their_own_assets_and_serve_them(server: str) -> None:
    r = httpx.get(f"{server}/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", r.text)
    assert len(refs) >= 3, refs  # the script, the stylesheet, the icon
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), f"{ref} is not on this server"
        asset = httpx.get(f"{server}{ref}")
        assert asset.status_code == 200, ref
        assert asset.headers["content-type"].startswith(TYPES[Path(urlsplit(ref).path).suffix]), ref
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "cdn." not in r.text and "https://" not in r.text.replace("https://swagger.io", "")
    assert httpx.get(f"{server}/redoc").status_code == 404  # no second docs page that would need its own CDN


def test_docs_run_under_a_strict_content_security_policy(server: str) -> None:
    r = httpx.get(f"{server}/docs")
    csp = policy(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["connect-src"] == ["'self'"]
    for name, values in csp.items():
        assert not [v for v in values if v.startswith(("http", "'unsafe-")) or v == "*" or
                    (v == "data:" and name != "img-src")], (name, values)
    # The one inline script (Swagger UI's start) is allowed by its hash, and nothing else inline is.
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert csp["script-src"] == ["'self'", f"'sha256-{digest}'"]


if not CHROMIUM.exists() and os.environ.get("CI"):
    raise RuntimeError("CI must install Debian's chromium (.ci/run does): /usr/bin/chromium is missing")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_docs_render_in_a_browser_that_can_reach_nothing_else(server: str) -> None:
    """As on an offline deployment: any request off the server's origin fails, and the docs still work."""
    from playwright.sync_api import Request, Route, expect, sync_playwright

    origin = f"{urlsplit(server).scheme}://{urlsplit(server).netloc}"
    elsewhere: list[str] = []
    problems: list[str] = []

    def only_here(route: Route, request: Request) -> None:
        if request.url.startswith(origin + "/") or request.url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_here)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type == "error" or "Content Security Policy" in m.text else None)
            page.goto(f"{server}/docs")
            expect(page.locator(".opblock-summary-path", has_text="/v1/ask")).to_be_visible(timeout=20_000)
            expect(page.locator(".info .title")).to_contain_text("kqa")
            page.locator(".opblock-summary-path", has_text="/v1/ask").click()  # an operation opens
            expect(page.get_by_role("button", name="Try it out")).to_be_visible()
        finally:
            browser.close()
    assert elsewhere == [] and problems == []
