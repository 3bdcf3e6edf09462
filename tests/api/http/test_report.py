"""GET /report: the real app under uvicorn over a question log written through History, read
over HTTP and in Debian's chromium (Playwright), with axe-core's checks. Readers' questions and
comments here are hostile HTML: nothing of it may run or become markup."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from api.http.app import create_app
from api.settings import AccessOptions, ReportOptions, Settings
from bot.bot import Bot
from bot.history import History
from tests.api.conftest import open_settings, serving
from tests.conftest import ROOT

KEY = "report-owner-key"
WIDGET_KEY = "a-key-in-every-page"
SITE = "https://docs.example.org"
ARTIFACTS = ROOT / "tests" / "artifacts" / "report"
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<script>alert('q')</script><img src=x onerror=alert(1)> 怎么做红烧肉"
COMMENT = "</td></tr></table><svg onload=alert(2)>讲的不对"
DAY = 86400.0


def fill(history_path: Path, settings: Settings) -> None:
    """Questions over the last few days, through three doors, one refused hostile, one downvoted."""
    now = time.time()
    at = [now]
    history = History(history_path, settings.history, clock=lambda: at[0])
    log = [  # (days ago, answer id, question, refused, door)
        (6, "a1", "Pod 是什么？", False, "widget"), (6, "a2", "pod 是什么", False, "slack"),
        (4, "a3", HOSTILE, True, "widget"), (4, "a4", "Pod 是什么", False, "http"),
        (1, "a5", HOSTILE, True, "slack"), (1, "a6", "Service 的 DNS 怎么解析", False, "widget"),
        (0, "a7", "Pod 是什么", False, "widget"),
    ]
    for ago, answer_id, question, refused, door in log:
        at[0] = now - ago * DAY
        history.log(answer_id, question, refused=refused, top_score=0.5 if refused else 0.9, door=door)
    at[0] = now
    history.add_feedback("a6", "down", COMMENT, voter="addr:1")
    history.add_feedback("a1", "up", None, voter="addr:1")


@pytest.fixture(scope="module")
def report_site(bot: Bot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = open_settings(bot, tmp_path_factory.mktemp("report-data"), report=ReportOptions(enabled=True),
                             access=AccessOptions(api_keys=[SecretStr(KEY), SecretStr(f"widget:{WIDGET_KEY}")],
                                                 cors_origins=[SITE]))
    fill(settings.history_path(), settings)
    with serving(create_app(settings, bot.embedder)) as base:
        yield base


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_report_page_is_off_by_default(server: str) -> None:
    assert httpx.get(f"{server}/report").status_code == 404


def test_the_report_needs_a_key_and_escapes_everything(report_site: str) -> None:
    url = f"{report_site}/report"
    locked = httpx.get(url)
    assert locked.status_code == 401 and locked.headers["www-authenticate"].startswith('Basic realm="kqa report"')
    assert locked.headers["content-type"] == "application/problem+json" and HOSTILE not in locked.text
    assert httpx.get(url, headers=basic("owner", "wrong")).status_code == 401
    assert httpx.get(url, headers={"X-API-Key": "wrong"}).status_code == 401

    page = httpx.get(url, headers=basic("any name", KEY), params={"days": 7})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "'unsafe-inline'" not in csp
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "<script" not in html and "<img" not in html and "onload=" not in html.replace("onload=alert", "")
    assert "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;svg onload=alert(2)&gt;讲的不对" in html
    assert httpx.get(url, headers=basic("owner", KEY), params={"days": 0}).status_code == 422


def test_a_widget_key_does_not_open_the_report(report_site: str) -> None:
    """A widget key is in the source of every page that embeds the widget: it reads no report."""
    url = f"{report_site}/report"
    for headers in (basic("owner", WIDGET_KEY), {"X-API-Key": WIDGET_KEY, "Origin": SITE},
                    {"Authorization": f"Bearer {WIDGET_KEY}", "Origin": SITE}):
        page = httpx.get(url, headers=headers)
        assert page.status_code == 403 and "讲的不对" not in page.text, headers


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from tests.api.widget.test_widget import CHROMIUM_ARGS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_in_a_browser(report_site: str, browser, scheme: str) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme=scheme,
                                  http_credentials={"username": "owner", "password": KEY})
    page = context.new_page()
    trouble: list[str] = []
    page.on("pageerror", lambda e: trouble.append(f"error: {e}"))
    page.on("dialog", lambda d: (trouble.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("console", lambda m: trouble.append(f"console: {m.text}") if m.type == "error" else None)
    try:
        page.goto(f"{report_site}/report?days=7")  # the browser is asked for the key (401), and sends it
        expect(page.locator("h1")).to_have_text("What readers asked")
        expect(page.locator(".facts li").first).to_contain_text("7answers given")
        expect(page.locator("svg rect.bar")).to_have_count(8)  # every day of the period, today included
        assert page.locator("svg path.rate").count() == 1
        expect(page.locator("svg circle.dot")).to_have_count(4)  # the rate, on the 4 days that had answers
        expect(page.locator("#chart-desc")).to_have_text(re.compile(r"^7 answers over 8 days, 2 refused \(29%\)"))
        most = page.locator("table").nth(1)
        expect(most.locator("tbody tr").first).to_contain_text("4")
        expect(most.locator("tbody tr").first.locator(".door")).to_have_text(["widget 2", "slack 1", "http 1"])
        refused = page.locator("#refused ~ table").first
        expect(refused.locator("td.q")).to_have_text([HOSTILE])  # text, exactly as the reader typed it
        expect(refused.locator("td.q > span")).to_have_attribute("lang", "zh-CN")  # read in a Chinese voice
        expect(refused.locator(".door")).to_have_text(["widget 1", "slack 1"])
        expect(page.locator("blockquote")).to_have_text([COMMENT])
        assert page.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0
        assert page.evaluate("document.querySelectorAll('svg').length") == 1
        page.screenshot(path=str(ARTIFACTS / f"report-{scheme}.png"), full_page=True)

        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": [
            "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
        (ARTIFACTS / f"axe-{scheme}.json").write_text(json.dumps(results.response["violations"], indent=1))
        assert results.violations_count == 0, results.generate_report()

        page.get_by_role("link", name="30 days").click()
        expect(page).to_have_url(re.compile(r"/report\?days=30$"))
        expect(page.get_by_role("link", name="30 days")).to_have_attribute("aria-current", "page")
        expect(page.locator("svg rect.bar")).to_have_count(31)
    finally:
        context.close()
    assert trouble == []
