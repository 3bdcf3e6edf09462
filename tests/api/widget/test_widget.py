"""The chat widget end to end: Debian's chromium driven by Playwright, against the real app (real
model, real Chroma over the fixture corpus) under real uvicorn on loopback. Nothing is faked: the
host pages of other sites are served by Playwright's router or, for another origin, by a second
real server on loopback; everything the widget talks to is the real app.

Screenshots of the main states go to tests/artifacts/widget/ (gitignored); the measured figures
(widget.js gzip size, click to first streamed token) to tests/artifacts/widget/figures.json.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sqlite3
import statistics
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Route, expect, sync_playwright
from pydantic import SecretStr

from api.http.app import create_app
from api.settings import AccessOptions, LimitOptions, Settings
from api.widget.routes import STATIC
from bot.bot import Bot
from bot.history import History
from index.build import build_index
from index.embed import Embedder
from index.store import Store
from tests.api.conftest import open_settings, serving
from tests.conftest import ROOT, llm_options, with_index
from tests.fakes.loopback import LoopbackServer
from tests.fakes.openai import FakeOpenAI, Reply

XSS_CORPUS = ROOT / "tests" / "fixtures" / "xss"
ARTIFACTS = ROOT / "tests" / "artifacts" / "widget"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITE_ORIGIN = "http://site.test"
API_KEY = "widget-test-key"
GZIP_BUDGET = 25 * 1024

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Debian's chromium (.ci/run does): /usr/bin/chromium is missing")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

expect.set_options(timeout=20_000)


# ---- servers: the real app with the widget's router ------------------------------------------


@pytest.fixture(scope="session")
def site_settings(bot: Bot, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return open_settings(bot, tmp_path_factory.mktemp("widget-data"))


@pytest.fixture(scope="session")
def site(bot: Bot, site_settings: Settings) -> Iterator[str]:
    """The demo page, widget.js and the API, on one origin."""
    with serving(create_app(site_settings, bot.embedder)) as base:
        yield base


@pytest.fixture(scope="session")
def xss_site(bot: Bot, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over a small index of a corpus whose passages, titles and sections hold HTML."""
    root = tmp_path_factory.mktemp("xss")
    settings = with_index(open_settings(bot, root / "data"), root / "index")
    build_index(XSS_CORPUS, Store(settings.store), embedder, settings.chunking, progress=False)
    with serving(create_app(settings, embedder)) as base:
        yield base


# ---- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """One page in a fresh context, with the JS errors and dialogs it produced."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    @property
    def chat(self) -> Locator:
        return self.page.locator("kqa-chat")


@pytest.fixture
def tabs(browser: Browser) -> Iterator[Callable[..., Tab]]:
    """tabs(**context_options) -> a fresh Tab; asserts no JS error and no dialog at the end."""
    made: list[Tab] = []

    def make(**options) -> Tab:
        options = {"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN", **options}
        tab = Tab(browser.new_context(**options))
        made.append(tab)
        return tab

    yield make
    for tab in made:
        tab.context.close()
    for tab in made:
        assert tab.errors == [], f"JavaScript errors: {tab.errors}"
        assert tab.dialogs == [], f"dialogs opened: {tab.dialogs}"


HOST_PAGES = {
    "plain": """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>A reader's page</title></head>
<body><a href="#top">第 6 讲：容器的 Cgroups</a><p>专栏正文……</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" defer></script></body></html>""",
    "en": """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Notes</title></head><body>
<p>Notes on the column.</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" data-kqa-lang="en" data-kqa-title="Ask the notes"
 data-kqa-examples="Why can't I ping a Service?|How does Cgroups limit CPU?" data-kqa-position="bottom-left"
 data-kqa-accent="#6a1b9a" defer></script></body></html>""",
    "hostile": """<!doctype html><html><head><meta charset="utf-8"><title>Hostile</title><style>
* { all: unset; }
html { font-size: 64px !important; }
body { font: 72px/3 serif !important; letter-spacing: 12px !important; color: #c00 !important; }
div, section, form, button, textarea, p, span, ul, li, h2, mark, svg { display: block !important;
  width: 900px !important; font-size: 80px !important; position: absolute !important; }
kqa-chat { display: none !important; position: absolute !important; top: -999px !important;
  transform: scale(3) rotate(45deg) !important; opacity: .1 !important; filter: blur(6px) !important;
  font-size: 90px !important; z-index: -1 !important; }
</style></head><body><p>A host page that styles everything.</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" defer></script></body></html>""",
    "en-auto": """<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Notes</title></head><body>
<p>Notes on the column, in English.</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" defer></script></body></html>""",
    "zh-forced": """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Forced</title></head><body>
<p>An English page whose widget speaks Chinese.</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" data-kqa-lang="zh" defer></script></body></html>""",
    "dark-accent": """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Dark</title></head><body>
<p>深色主题，只给了一个强调色。</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" data-kqa-theme="dark" data-kqa-accent="{accent}" {more}
 defer></script></body></html>""",
    "keyed": """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Keyed</title></head><body>
<p>另一个网站。</p>
<script src="{base}/widget.js" data-kqa-endpoint="{base}" data-kqa-api-key="{key}" data-kqa-open="true"
 defer></script></body></html>""",
}


def host_page(name: str, base: str, **fields: str) -> str:
    html = HOST_PAGES[name]
    for key, value in {"base": base, **fields}.items():
        html = html.replace("{" + key + "}", value)
    return html


def host(tab: Tab, base: str, name: str) -> str:
    """Open HOST_PAGES[name] as a page of the API's own origin (served by Playwright's router)."""
    url = f"{base}/host/{name}"
    html = host_page(name, base)

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    tab.page.route(url, fulfil)
    tab.page.goto(url)
    return url


class OtherSite(LoopbackServer):
    """A real second web site on loopback (another origin) serving `pages` by path.

    A real server rather than Playwright's router: Chromium lets a page reach a loopback API only
    when the page itself was served from loopback (Local Network Access).
    """

    name = "other-site"

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        super().__init__()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = self.pages.get(h.path)
        if body is None:
            h.send_error(404)
            return
        data = body.encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


# ---- helpers over the widget's Shadow DOM (Playwright's CSS engine pierces open shadow roots) ----


def open_panel(tab: Tab, *, tap: bool = False) -> Locator:
    launcher = tab.chat.locator(".launch")
    if tap:
        launcher.tap()
    else:
        launcher.click()
    panel = tab.chat.locator(".panel")
    expect(panel).to_be_visible()
    panel.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")  # the entrance is over
    return panel


def answers(tab: Tab) -> Locator:
    return tab.chat.locator(".bot:not([aria-busy])")


def ask(tab: Tab, question: str, *, keyboard: bool = True) -> Locator:
    """Type the question and send it; the finished answer bubble."""
    done = answers(tab).count()
    box = tab.chat.locator("textarea")
    box.fill(question)
    if keyboard:
        box.press("Enter")
    else:
        tab.chat.locator(".send").click()
    expect(answers(tab)).to_have_count(done + 1)
    return answers(tab).nth(done)


def stored(tab: Tab) -> dict:
    """The widget's sessionStorage record: what the API returned, as the widget keeps it."""
    raw = tab.page.evaluate("""() => { for (let i = 0; i < sessionStorage.length; i++) {
        const k = sessionStorage.key(i); if (k.startsWith('kqa-chat:')) return sessionStorage.getItem(k); } }""")
    return json.loads(raw)


def in_shadow(tab: Tab, script: str):
    """Evaluate `script`, a function body of `root` (the widget's shadow root)."""
    return tab.page.evaluate(f"() => {{ const root = document.querySelector('kqa-chat').shadowRoot; {script} }}")


def focused(tab: Tab) -> str:
    """The class of the element focused inside the widget ('' when focus is elsewhere)."""
    return tab.page.evaluate("""() => { const host = document.activeElement;
        if (!host || host.tagName !== 'KQA-CHAT') return '';
        const el = host.shadowRoot.activeElement; return el ? (el.className || el.tagName) : ''; }""")


def shot(tab: Tab, name: str) -> None:
    tab.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled")


def record_stream(tab: Tab) -> None:
    """Record, from now on, each state of the newest answer bubble: typing dots shown, text length."""
    in_shadow(tab, """
      window.__kqaSeen = [];
      const log = root.querySelector('.log');
      new MutationObserver(() => {
        const bots = log.querySelectorAll('.bot'); const b = bots[bots.length - 1]; if (!b) return;
        window.__kqaSeen.push({dots: !b.querySelector('.dots').hidden, len: b.querySelector('.text').textContent.length,
                               busy: b.hasAttribute('aria-busy')});
      }).observe(log, {subtree: true, childList: true, characterData: true, attributes: true});""")


# ---- files -------------------------------------------------------------------------------------


def test_widget_script_and_demo_page_are_served(site: str) -> None:
    with httpx.stream("GET", f"{site}/widget.js", headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
        headers = r.headers
    assert r.status_code == 200 and headers["content-type"].startswith("text/javascript")
    assert headers["content-encoding"] == "gzip" and len(raw) <= GZIP_BUDGET
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    source = gzip.decompress(raw).decode()
    assert source == (STATIC / "widget.js").read_text()
    assert httpx.get(f"{site}/widget.js", headers={"If-None-Match": headers["etag"]}).status_code == 304
    # Nothing from the API may be parsed as HTML: the script has no HTML sink at all.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, sink

    page = httpx.get(f"{site}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/widget.js"' in page.text and "data-kqa-ask=" in page.text
    assert "<style" not in page.text and re.search(r"<script>|<script [^>]*>[^<]", page.text) is None
    assert httpx.get(f"{site}/static/demo.css").headers["content-type"].startswith("text/css")
    # Another site may load the script without credentials.
    cors = httpx.get(f"{site}/widget.js", headers={"Origin": SITE_ORIGIN})
    assert cors.headers.get("access-control-allow-origin") in ("*", SITE_ORIGIN)


# ---- conversation ------------------------------------------------------------------------------


def test_open_and_ask_in_chinese_streams_a_cited_answer(tabs, site: str) -> None:
    tab = tabs()
    tab.page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                             "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    tab.page.goto(f"{site}/")
    launcher = tab.chat.locator(".launch")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    shot(tab, "01-demo-page")
    open_panel(tab)
    expect(launcher).to_have_attribute("aria-expanded", "true")
    assert focused(tab) == "TEXTAREA"
    expect(tab.chat.locator(".try")).to_have_count(3)
    shot(tab, "02-open-empty")

    record_stream(tab)
    bubble = ask(tab, "Cgroups 是怎么限制 CPU 的？")
    seen = tab.page.evaluate("window.__kqaSeen")
    assert any(s["dots"] and s["busy"] for s in seen), "no typing state before the first token"
    assert len({s["len"] for s in seen if s["busy"] and s["len"]}) >= 2, "the answer did not arrive in pieces"

    text = bubble.locator(".text")
    expect(text).to_contain_text("Cgroups")
    refs = bubble.locator(".ref")
    assert refs.count() >= 1
    cards = bubble.locator(".card")
    numbers = {cards.nth(i).locator(".num").inner_text() for i in range(cards.count())}
    assert {refs.nth(i).inner_text() for i in range(refs.count())} <= numbers
    expect(bubble.locator(".ch")).to_have_text("出处")
    expect(cards.first.locator(".where")).to_contain_text("第06讲")
    expect(refs.first).to_have_attribute("aria-label", re.compile(r"^出处 1：第06讲 · "))
    expect(tab.chat.locator("[role=status]").last).to_contain_text("kqa 回答：")

    record = stored(tab)["msgs"][-1]
    assert tab.page.evaluate("window.__csp") == [], "the widget works under the demo page's strict CSP"
    shown = text.evaluate("""el => Array.from(el.childNodes).map(n => n.nodeType === 3 ? n.data
        : n.tagName === 'CODE' ? '`' + n.textContent + '`'
        : n.tagName === 'PRE' ? '<pre>' + n.textContent + '</pre>' : '[' + n.textContent + ']').join('')""")
    # A fenced block is shown as a block (its info string, `bash`, is not shown).
    expected = re.sub(r"```[^\n]*\n([\s\S]*?)```", lambda m: "<pre>" + m.group(1).removesuffix("\n") + "</pre>",
                      record["answer"])
    assert shown == expected, "the answer is shown exactly: markers as buttons, `code` as code, blocks as blocks"
    shot(tab, "03-answer-zh")


def test_the_demo_pages_example_buttons_ask(tabs, site: str) -> None:
    """`data-kqa-ask` on the host page: a click opens the chat and asks that question."""
    tab = tabs()
    tab.page.goto(f"{site}/")
    expect(tab.chat.locator(".panel")).to_be_hidden()
    tab.page.get_by_role("button", name="Why can't I ping a Service's ClusterIP?").click()
    expect(tab.chat.locator(".panel")).to_be_visible()
    # an English question: its bubble and the widget's words are English (data-kqa-lang="auto")
    expect(tab.chat.locator(".user")).to_have_text(["You: Why can't I ping a Service's ClusterIP?"])
    expect(answers(tab)).to_have_count(1)
    expect(answers(tab).first.locator(".card").first.locator(".where")).to_contain_text("Lecture 37")


def test_english_page_with_its_own_title_examples_and_position(tabs, site: str) -> None:
    tab = tabs(locale="en-US")
    host(tab, site, "en")
    launcher = tab.chat.locator(".launch")
    assert launcher.bounding_box()["x"] <= 24, "data-kqa-position=bottom-left"
    expect(launcher).to_have_css("background-color", "rgb(106, 27, 154)")  # data-kqa-accent
    open_panel(tab)
    expect(tab.chat.locator("h2")).to_have_text("Ask the notes")
    tries = tab.chat.locator(".try")
    expect(tries).to_have_text(["Why can't I ping a Service?", "How does Cgroups limit CPU?"])
    tries.first.click()
    expect(answers(tab)).to_have_count(1)
    bubble = answers(tab).first
    expect(bubble.locator(".ch")).to_have_text("Sources")
    expect(bubble.locator(".card").first.locator(".where")).to_contain_text("Lecture 37")
    expect(bubble.locator(".text")).to_contain_text("ping")
    expect(tab.chat.locator(".fb")).to_contain_text("Was this answer helpful?")
    bubble.get_by_role("button", name="Not helpful").click()
    bubble.get_by_role("textbox", name="What was wrong?").fill("Wrong lecture")
    bubble.get_by_role("button", name="Send", exact=True).click()
    expect(bubble.locator(".fbmsg")).to_have_text("Thanks for the feedback!")
    shot(tab, "04-answer-en")


ENGLISH_REFUSED = "What is a good sourdough bread recipe?"


def test_the_widget_speaks_the_readers_language(tabs, site: str) -> None:
    """On a Chinese page (auto): an English question gets an English answer card, refusal and all,
    and the widget's own words follow the reader; a Chinese question after it gets Chinese ones."""
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    box = tab.chat.locator("textarea")
    expect(box).to_have_attribute("placeholder", "输入问题…")  # the page's language before any question
    english = ask(tab, ENGLISH_REFUSED)
    expect(english).to_have_attribute("lang", "en")
    expect(english.locator(".flag")).to_have_text("Not covered by the column")
    expect(english.locator(".ch")).to_have_text("Closest passages")
    expect(english.locator(".card").first.locator(".where")).not_to_contain_text("讲 · ")
    expect(english.locator(".fb")).to_contain_text("Was this answer helpful?")
    expect(tab.chat.locator(".user")).to_have_text([f"You: {ENGLISH_REFUSED}"])
    expect(box).to_have_attribute("placeholder", "Ask a question…")
    expect(tab.chat.locator("h2")).to_have_text("Ask the column")
    expect(tab.chat.get_by_role("button", name="New chat")).to_be_visible()
    expect(tab.chat.locator("[role=status]").last).to_contain_text("kqa answered: Not covered by the column. ")
    shot(tab, "04b-english-refusal-on-a-chinese-page")

    chinese = ask(tab, "Cgroups 是怎么限制 CPU 的？")
    expect(chinese).to_have_attribute("lang", "zh-CN")
    expect(chinese.locator(".ch")).to_have_text("出处")
    expect(english.locator(".flag")).to_have_text("Not covered by the column")  # an answer keeps its language
    expect(box).to_have_attribute("placeholder", "输入问题…")
    tab.page.reload()  # restored: each answer in its own language, the widget in the latest one's
    expect(answers(tab).first.locator(".ch")).to_have_text("Closest passages")
    expect(answers(tab).nth(1).locator(".ch")).to_have_text("出处")
    expect(tab.chat.locator("h2")).to_have_text("Kubernetes 专栏问答")


def test_an_english_page_and_a_forced_language(tabs, site: str) -> None:
    """auto on an English page: English words before any question. data-kqa-lang="zh": Chinese whatever is asked."""
    tab = tabs(locale="zh-CN")
    host(tab, site, "en-auto")
    expect(tab.chat.locator(".launch")).to_have_attribute("aria-label", "Ask a question about the column")
    open_panel(tab)
    expect(tab.chat.locator(".try").first).to_have_text("Why should a container run only one process?")
    expect(tab.chat.locator("kqa-chat")).to_have_count(0)
    assert tab.chat.get_attribute("lang") is None  # "auto" is no language tag for the host element

    forced = tabs(locale="en-US")
    host(forced, site, "zh-forced")
    open_panel(forced)
    expect(forced.chat.locator("textarea")).to_have_attribute("placeholder", "输入问题…")
    bubble = ask(forced, ENGLISH_REFUSED)
    expect(bubble.locator(".flag")).to_have_text("专栏里没有找到答案")
    expect(bubble.locator(".ch")).to_have_text("最接近的段落")
    expect(forced.chat.locator(".user")).to_have_text([f"你：{ENGLISH_REFUSED}"])
    expect(forced.chat.locator("h2")).to_have_text("Kubernetes 专栏问答")


@pytest.mark.parametrize(("accent", "more", "launcher", "icon"), [
    ("#c2185b", "", "rgb(194, 24, 91)", "rgb(255, 255, 255)"),  # the accent serves the dark theme too
    ("#ffd600", "", "rgb(255, 214, 0)", "rgb(31, 31, 31)"),  # its text colour is computed to be readable
    ("#c2185b", 'data-kqa-dark-accent="#80cbc4"', "rgb(128, 203, 196)", "rgb(31, 31, 31)"),  # a dark one wins
])
def test_an_accent_colour_applies_to_the_dark_theme(tabs, site: str, accent: str, more: str, launcher: str,
                                                    icon: str) -> None:
    tab = tabs()
    url = f"{site}/host/dark-{accent[1:]}"
    html = host_page("dark-accent", site, accent=accent, more=more)
    tab.page.route(url, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html))
    tab.page.goto(url)
    button = tab.chat.locator(".launch")
    expect(tab.chat.locator(".root")).to_have_class(re.compile(r"\bdark\b"))
    expect(button).to_have_css("background-color", launcher)
    expect(button).to_have_css("color", icon)


def test_a_marker_expands_its_citation_in_place(tabs, site: str) -> None:
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    bubble = ask(tab, "PID Namespace 和 CLONE_NEWPID")
    expect(bubble.locator(".text code")).to_have_text(["ps"])  # `ps` in the answer, as code
    citations = {c["n"]: c for c in stored(tab)["msgs"][-1]["citations"]}
    marker = bubble.locator(".ref").first
    n = int(marker.inner_text())
    card = bubble.locator(".card").nth(list(citations).index(n))
    head, body = card.locator(".chead"), card.locator(".cbody")
    expect(head).to_have_attribute("aria-expanded", "false")
    expect(body).to_be_hidden()

    marker.click()
    expect(head).to_have_attribute("aria-expanded", "true")
    expect(body).to_be_visible()
    assert focused(tab) == "chead", "focus moves to the card the marker points at"
    cited = citations[n]
    expect(body.locator("mark")).to_have_text(cited["quote"])
    expect(body.locator(".passage")).to_have_text(cited["text"])
    # every sentence has its marker, and a marker highlights the sentence it follows, not the first
    same = bubble.locator(".ref", has_text=str(n))
    assert same.count() == len(cited["quotes"]) >= 2
    same.nth(1).click()
    expect(body.locator("mark")).to_have_text(cited["quotes"][1])
    expect(body.locator(".passage")).to_have_text(cited["text"])
    same.first.click()
    expect(body.locator("mark")).to_have_text(cited["quotes"][0])
    if cited["url"]:
        expect(body.locator("a.src")).to_have_attribute("href", cited["url"])
        expect(body.locator("a.src")).to_have_attribute("rel", "noopener noreferrer")
    by_source = {c["source"]: c for c in citations.values()}
    assert by_source["05-namespace.md"]["url"] == "https://example.org/notes/namespace"
    shot(tab, "05-citation-expanded")

    head.click()  # the header toggles
    expect(head).to_have_attribute("aria-expanded", "false")
    expect(body).to_be_hidden()


def test_thumbs_up_and_down_are_stored(tabs, site: str, site_settings: Settings) -> None:
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    first = ask(tab, "Headless Service 的 DNS 记录是什么样的？")
    second = ask(tab, "容器里执行 top 为什么看到的是宿主机的数据？")
    first.get_by_role("button", name="有帮助").click()
    expect(first.locator(".fbmsg")).to_have_text("谢谢反馈！")
    second.get_by_role("button", name="没帮助").click()
    second.get_by_role("button", name="跳过").click()  # the optional comment
    expect(second.locator(".fbmsg")).to_have_text("谢谢反馈！")
    expect(second.get_by_role("button", name="没帮助")).to_have_attribute("aria-pressed", "true")
    expect(second.get_by_role("button", name="有帮助")).to_have_attribute("aria-disabled", "true")
    shot(tab, "06-feedback")

    up_id, down_id = (m["answer_id"] for m in stored(tab)["msgs"] if m["role"] == "bot")
    path = site_settings.history_path()
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT answer_id, rating FROM feedback WHERE answer_id IN (?, ?)",
                               (up_id, down_id)).fetchall())
        doors = dict(db.execute("SELECT answer_id, door FROM questions WHERE answer_id IN (?, ?)",
                                (up_id, down_id)).fetchall())
    assert rows == {up_id: "up", down_id: "down"}
    assert doors == {up_id: "widget", down_id: "widget"}  # the question log tells the widget apart
    report = History(path, site_settings.history).report()
    assert "容器里执行 top 为什么看到的是宿主机的数据？" in [a.question for a in report.downvoted]

    tab.page.reload()  # the rating is remembered with the conversation
    expect(answers(tab).nth(1).get_by_role("button", name="没帮助")).to_have_attribute("aria-pressed", "true")


def feedback_rows(settings: Settings, answer_id: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(settings.history_path()) as db:
        return db.execute("SELECT rating, comment FROM feedback WHERE answer_id = ? ORDER BY id",
                          (answer_id,)).fetchall()


def test_thumbs_down_takes_an_optional_comment(tabs, site: str, site_settings: Settings) -> None:
    """Thumbs down is stored at once and opens a comment box; Send adds the comment to that same vote."""
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    keys = tab.page.keyboard
    sent, skipped, escaped = (ask(tab, q) for q in (
        "Pod 为什么没有固定 IP？", "CLONE_NEWPID 是干什么的？", "Cgroups 是怎么限制 CPU 的？"))
    ids = [m["answer_id"] for m in stored(tab)["msgs"] if m["role"] == "bot"]

    sent.get_by_role("button", name="没帮助").click()
    box = sent.get_by_role("textbox", name="哪里不对？")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("maxlength", "1000")
    assert focused(tab) == "cmq", "focus moves into the comment box"
    expect(sent.get_by_role("button", name="有帮助")).to_have_attribute("aria-disabled", "true")
    keys.type("引用的段落")
    keys.press("Enter")  # a new line, not a send
    keys.type("讲的是另一件事 <img src=x onerror=alert(1)>")
    expect(box).to_have_value("引用的段落\n讲的是另一件事 <img src=x onerror=alert(1)>")
    expect(sent.locator(".fbmsg")).to_have_text("谢谢反馈！")
    assert feedback_rows(site_settings, ids[0]) == [("down", None)], "the vote counts before any Send"
    shot(tab, "06b-feedback-comment")
    keys.press("Control+Enter")
    expect(sent.locator(".fbmsg")).to_have_text("谢谢反馈！")
    expect(sent.locator(".cm")).to_have_count(0)
    assert focused(tab) == "fbb"
    amended = [("down", "引用的段落\n讲的是另一件事 <img src=x onerror=alert(1)>")]
    assert feedback_rows(site_settings, ids[0]) == amended, "the comment amends the vote; it is not a second one"
    assert in_shadow(tab, "return root.querySelectorAll('img').length") == 0
    assert tab.page.evaluate("document.querySelectorAll('img').length") == 0

    skipped.get_by_role("button", name="没帮助").click()
    skipped.get_by_role("textbox", name="哪里不对？").fill("not sent")
    skipped.get_by_role("button", name="跳过").click()
    expect(skipped.locator(".fbmsg")).to_have_text("谢谢反馈！")
    assert feedback_rows(site_settings, ids[1]) == [("down", None)]

    escaped.get_by_role("button", name="没帮助").click()
    assert focused(tab) == "cmq"
    keys.press("Escape")  # skips the comment; the panel stays open
    expect(escaped.locator(".fbmsg")).to_have_text("谢谢反馈！")
    expect(tab.chat.locator(".panel")).to_be_visible()
    assert feedback_rows(site_settings, ids[2]) == [("down", None)]
    assert focused(tab) == "fbb"

    report = History(site_settings.history_path(), site_settings.history).report()
    down = {a.question: a for a in report.downvoted}
    assert down["Pod 为什么没有固定 IP？"].down == 1
    assert down["Pod 为什么没有固定 IP？"].comments == ["引用的段落\n讲的是另一件事 <img src=x onerror=alert(1)>"]


def test_refusal_shows_the_closest_passages(tabs, site: str) -> None:
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    bubble = ask(tab, "周末去杭州玩两天，有啥推荐路线")
    expect(bubble).to_have_class(re.compile(r"\brefused\b"))
    expect(bubble.locator(".flag")).to_have_text("专栏里没有找到答案")
    expect(bubble.locator(".text")).to_contain_text("专栏没有讲到 杭州")  # what the column lacks, said
    expect(bubble.locator(".ch")).to_have_text("最接近的段落")
    assert bubble.locator(".card").count() >= 1
    expect(bubble.locator(".ref")).to_have_count(0)
    shot(tab, "07-refusal")


def test_keyboard_only(tabs, site: str) -> None:
    tab = tabs()
    host(tab, site, "plain")
    keys = tab.page.keyboard
    keys.press("Tab")  # the page's own link
    keys.press("Tab")
    assert focused(tab) == "launch"
    keys.press("Enter")
    expect(tab.chat.locator(".panel")).to_be_visible()
    assert focused(tab) == "TEXTAREA"

    keys.type("第一行")
    keys.press("Shift+Enter")  # a new line, not a send
    keys.type("第二行")
    expect(tab.chat.locator("textarea")).to_have_value("第一行\n第二行")
    expect(tab.chat.locator(".user")).to_have_count(0)
    keys.press("Control+A")
    keys.press("Backspace")
    keys.type("CLONE_NEWPID 是干什么的？")
    keys.press("Enter")
    expect(answers(tab)).to_have_count(1)
    expect(tab.chat.locator("textarea")).to_have_value("")

    for _ in range(40):  # back through the answer to its first [n] marker
        keys.press("Shift+Tab")
        if focused(tab) == "ref":
            break
    assert focused(tab) == "ref"
    keys.press("Enter")
    assert focused(tab) == "chead"
    expect(tab.chat.locator(".chead").first).to_have_attribute("aria-expanded", "true")
    shot(tab, "08-keyboard-focus")
    keys.press("Enter")  # the header toggles it shut
    expect(tab.chat.locator(".chead").first).to_have_attribute("aria-expanded", "false")

    keys.press("Escape")
    expect(tab.chat.locator(".panel")).to_be_hidden()
    assert focused(tab) == "launch"
    keys.press("Enter")
    expect(tab.chat.locator(".panel")).to_be_visible()
    expect(answers(tab)).to_have_count(1)


def test_html_in_the_corpus_is_shown_as_text(tabs, xss_site: str) -> None:
    tab = tabs()
    tab.page.goto(f"{xss_site}/")
    open_panel(tab)
    bubble = ask(tab, "联合文件系统怎么把镜像层挂载成 rootfs？笔记里的 img 标签会怎样？")
    cards = bubble.locator(".card")
    for i in range(cards.count()):
        cards.nth(i).locator(".chead").click()
    hostile = bubble.locator(".card", has_text="onerror")
    expect(hostile.first.locator(".where")).to_have_text("第07讲 · 容器镜像 <img src=x onerror=alert('title')>")
    expect(hostile.first.locator(".sec")).to_contain_text("<script>alert('section')</script>")
    passage = hostile.first.locator(".passage")
    expect(passage).to_contain_text("<img src=x onerror=alert(1)>")
    expect(passage).to_contain_text("<script>alert(2)</script>")
    expect(hostile.first.locator("a")).to_have_count(0)  # url: javascript:… is not a link
    assert in_shadow(tab, "return root.querySelectorAll('img, script, iframe, object, embed').length") == 0
    assert tab.page.evaluate("document.querySelectorAll('img').length") == 0
    # A FAQ entry is named as one (its title is a reader's question, not lecture 7's title), still as text.
    faq = ask(tab, "镜像层为什么只读？").locator(".card", has_text="alert('faq')")
    expect(faq.first.locator(".where")).to_have_text("FAQ（第07讲）镜像层为什么只读？<b onmouseover=alert('faq')>")
    tab.page.wait_for_timeout(300)
    shot(tab, "09-xss-as-text")
    # (the tabs fixture asserts no dialog opened and no script error happened)


def test_hostile_host_css_leaves_the_widget_intact(tabs, site: str) -> None:
    tab = tabs()
    host(tab, site, "hostile")
    launcher = tab.chat.locator(".launch")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert (box["width"], box["height"]) == (56, 56)
    assert (box["x"] + 56, box["y"] + 56) == (1280 - 20, 800 - 20)
    sheets = tab.page.evaluate("document.styleSheets.length")
    open_panel(tab)
    panel = tab.chat.locator(".panel").bounding_box()
    assert panel["width"] == 380 and panel["x"] + 380 == 1280 - 20 and panel["y"] >= 0
    expect(tab.chat.locator("textarea")).to_have_css("font-size", "15px")
    expect(tab.chat.locator("h2")).to_have_css("font-size", "16px")
    expect(tab.chat.locator("h2")).to_have_css("letter-spacing", "normal")
    bubble = ask(tab, "Cgroups 是怎么限制 CPU 的？")
    expect(bubble.locator(".text")).to_have_css("font-size", "15px")
    expect(tab.chat).to_have_css("opacity", "1")
    expect(tab.chat).to_have_css("transform", "none")
    # The widget changed nothing of the page: no stylesheet added, the page keeps its own look.
    assert tab.page.evaluate("document.styleSheets.length") == sheets
    expect(tab.page.locator("body")).to_have_css("font-size", "72px")
    shot(tab, "10-hostile-css")


def test_phone_width_is_full_screen(tabs, site: str) -> None:
    tab = tabs(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2)
    tab.page.goto(f"{site}/")
    panel = open_panel(tab, tap=True)
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 375, "height": 740}
    expect(tab.chat.locator(".launch")).to_be_hidden()
    expect(tab.chat.locator("textarea")).to_have_css("font-size", "16px")  # no zoom on focus in iOS
    bubble = ask(tab, "Service 的 ClusterIP 为什么 ping 不通？")
    bubble.locator(".chead").first.tap()
    assert in_shadow(tab, "const l = root.querySelector('.log'); return l.scrollWidth <= l.clientWidth")
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(tab, "11-phone-375")
    tab.chat.locator(".x").tap()
    expect(panel).to_be_hidden()
    expect(tab.chat.locator(".launch")).to_be_visible()


def in_panel(tab: Tab) -> bool:
    """Focus is on the widget host and, inside its shadow root, within the panel."""
    return tab.page.evaluate("""() => { const host = document.activeElement;
        if (!host || host.tagName !== 'KQA-CHAT') return false;
        const el = host.shadowRoot.activeElement;
        return !!el && host.shadowRoot.querySelector('.panel').contains(el); }""")


def test_phone_full_screen_panel_traps_focus(tabs, site: str) -> None:
    tab = tabs(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2)
    tab.page.goto(f"{site}/")  # the demo page: buttons of its own to escape to
    open_panel(tab, tap=True)
    expect(tab.chat.locator(".panel")).to_have_attribute("aria-modal", "true")
    bubble = ask(tab, "PID Namespace 和 CLONE_NEWPID")
    bubble.locator(".chead").first.tap()  # an open card: a source link among the focusable
    tab.chat.locator("textarea").focus()
    keys = tab.page.keyboard
    for key in ("Tab", "Shift+Tab"):
        seen = set()
        for i in range(30):
            keys.press(key)
            assert in_panel(tab), f"{key} #{i + 1} left the panel"
            seen.add(focused(tab))
        assert {"fresh", "send"} <= seen, "it cycles through the whole panel"
    keys.press("Escape")
    expect(tab.chat.locator(".panel")).to_be_hidden()
    assert focused(tab) == "launch"


def test_desktop_panel_does_not_trap_focus(tabs, site: str) -> None:
    tab = tabs()
    host(tab, site, "plain")
    open_panel(tab)
    expect(tab.chat.locator(".panel")).to_have_attribute("aria-modal", "false")
    keys = tab.page.keyboard
    for _ in range(30):
        keys.press("Tab")
        if not in_panel(tab):
            break
    assert not in_panel(tab), "on a wide screen Tab leaves the panel for the page"


def test_conversation_survives_navigation_and_can_start_over(tabs, site: str) -> None:
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    ask(tab, "CLONE_NEWPID 是干什么的？")
    follow = ask(tab, "那它和 Cgroups 有什么区别？")
    expect(follow.locator(".note")).to_have_text("结合上文理解：CLONE_NEWPID")
    before = stored(tab)
    assert before["cid"] and len(before["msgs"]) == 4

    host(tab, site, "plain")  # another page of the same site
    expect(tab.chat.locator(".panel")).to_be_visible()  # it was open: it stays open
    expect(tab.chat.locator(".user")).to_have_text(["你：CLONE_NEWPID 是干什么的？", "你：那它和 Cgroups 有什么区别？"])
    expect(answers(tab)).to_have_count(2)
    expect(answers(tab).nth(1).locator(".note")).to_have_text("结合上文理解：CLONE_NEWPID")
    third = ask(tab, "那 Mount Namespace 呢？")
    expect(third.locator(".text")).not_to_be_empty()
    assert stored(tab)["cid"] == before["cid"], "the same conversation goes on"
    shot(tab, "12-restored")

    tab.chat.get_by_role("button", name="新对话").click()
    expect(tab.chat.locator(".welcome")).to_be_visible()
    expect(tab.chat.locator(".user")).to_have_count(0)
    assert focused(tab) == "TEXTAREA"
    assert stored(tab) == {"cid": None, "open": True, "msgs": []}
    ask(tab, "Pod 是什么？")
    assert stored(tab)["cid"] not in (None, before["cid"])


def test_an_expired_conversation_starts_afresh(tabs, site: str) -> None:
    """The server forgot the conversation (404): the widget starts a new one and still answers."""
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    ask(tab, "Pod 是什么？")
    tab.page.evaluate("""() => { const k = Object.keys(sessionStorage).find(k => k.startsWith('kqa-chat:'));
        const s = JSON.parse(sessionStorage.getItem(k)); s.cid = 'expired-conversation';
        sessionStorage.setItem(k, JSON.stringify(s)); }""")
    tab.page.reload()
    ask(tab, "Cgroups 是怎么限制 CPU 的？")
    expect(tab.chat.locator(".error")).to_have_count(0)
    assert stored(tab)["cid"] not in (None, "expired-conversation")


# ---- errors ------------------------------------------------------------------------------------


def test_network_error_then_retry(tabs, site: str) -> None:
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    tab.context.set_offline(True)
    tab.chat.locator("textarea").fill("Cgroups 是怎么限制 CPU 的？")
    tab.chat.locator("textarea").press("Enter")
    error = tab.chat.locator(".error")
    expect(error).to_contain_text("连不上 kqa 服务，请检查网络后重试。")
    expect(error).to_have_attribute("role", "alert")
    shot(tab, "13-network-error")
    tab.context.set_offline(False)
    error.get_by_role("button", name="重试").click()
    expect(answers(tab)).to_have_count(1)
    expect(error).to_have_count(0)


def test_rate_limited_then_retry_after_the_wait(tabs, bot: Bot, tmp_path: Path) -> None:
    """429 with Retry-After: the wait is counted down on the retry button, then the retry is answered."""
    settings = open_settings(bot, tmp_path, limits=LimitOptions(rate_per_minute=12, burst=1))
    with serving(create_app(settings, bot.embedder)) as base:
        tab = tabs()
        tab.page.goto(f"{base}/")
        open_panel(tab)
        ask(tab, "Cgroups 是怎么限制 CPU 的？")
        tab.chat.locator("textarea").fill("PID Namespace 是什么？")
        tab.chat.locator("textarea").press("Enter")
        error = tab.chat.locator(".error")
        expect(error).to_contain_text(re.compile(r"提问有点频繁，请 \d 秒后再试。"))
        retry = error.locator(".retry")
        expect(retry).to_have_attribute("aria-disabled", "true")
        expect(retry).to_have_text(re.compile(r"重试（\d 秒）"))
        shot(tab, "14-rate-limited")
        expect(retry).to_have_attribute("aria-disabled", "false", timeout=8000)
        retry.click()
        expect(answers(tab)).to_have_count(2)


def test_server_error_is_friendly(tabs, bot: Bot, embedder: Embedder, tmp_path: Path) -> None:
    """A server with no index answers 503 problem+json: the reader sees a sentence, not a status."""
    empty = with_index(open_settings(bot, tmp_path / "data"), tmp_path / "no-index")
    with serving(create_app(empty, embedder), ready="/healthz") as base:
        tab = tabs()
        tab.page.goto(f"{base}/")
        open_panel(tab)
        tab.chat.locator("textarea").fill("Pod 是什么？")
        tab.chat.locator("textarea").press("Enter")
        error = tab.chat.locator(".error")
        expect(error).to_contain_text("kqa 暂时出了点问题，请稍后重试。")
        expect(error.locator(".detail")).not_to_be_empty()  # the problem's title, as text
        expect(error.locator(".retry")).to_be_visible()
        shot(tab, "15-server-error")


def test_another_site_with_an_api_key(tabs, bot: Bot, tmp_path: Path) -> None:
    """The one-line embed on another origin (CORS), with a widget key in data-kqa-api-key (the
    documented way); a wrong key is explained."""
    pages: dict[str, str] = {}
    with OtherSite(pages) as site:
        origin = site.url
        keys = [SecretStr("ops-key-not-in-any-page"), SecretStr(f"widget:{API_KEY}")]
        settings = open_settings(bot, tmp_path, access=AccessOptions(api_keys=keys, cors_origins=[origin]))
        with serving(create_app(settings, bot.embedder)) as base:
            pages["/right"] = host_page("keyed", base, key=API_KEY)
            pages["/wrong"] = host_page("keyed", base, key="not-the-key")
            visit_with_keys(tabs, origin)


def visit_with_keys(tabs, origin: str) -> None:
    """The right key gets answers and takes feedback; a wrong one gets a sentence and no retry."""
    tab = tabs()
    tab.page.goto(f"{origin}/right")
    expect(tab.chat.locator(".panel")).to_be_visible()  # data-kqa-open
    bubble = ask(tab, "Headless Service 的 DNS 记录是什么样的？")
    bubble.get_by_role("button", name="有帮助").click()
    expect(bubble.locator(".fbmsg")).to_have_text("谢谢反馈！")

    wrong = tabs()
    wrong.page.goto(f"{origin}/wrong")
    wrong.chat.locator("textarea").fill("Pod 是什么？")
    wrong.chat.locator("textarea").press("Enter")
    error = wrong.chat.locator(".error")
    expect(error).to_contain_text("这个网站的 kqa 访问密钥无效，请联系站长。")
    expect(error.locator(".retry")).to_have_count(0)


# ---- accessibility and figures -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility(tabs, site: str, scheme: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    tab = tabs(color_scheme=scheme, reduced_motion="reduce")
    tab.page.goto(f"{site}/")
    open_panel(tab)
    ask(tab, "周末去杭州玩两天，有啥推荐路线")  # a refusal first: in a conversation it would be a follow-up
    ask(tab, ENGLISH_REFUSED)  # an English bubble among Chinese ones (its own lang)
    bubble = ask(tab, "PID Namespace 和 CLONE_NEWPID")
    bubble.locator(".ref").first.click()
    panel = tab.chat.locator(".panel")
    expect(panel).to_have_attribute("role", "dialog")
    expect(panel).to_have_attribute("aria-labelledby", "kqa-title")
    expect(tab.chat.locator(".log")).to_have_attribute("role", "log")
    expect(tab.chat.locator("textarea")).to_have_accessible_name("你的问题")
    dark = scheme == "dark"
    root = expect(tab.chat.locator(".root"))
    (root.to_have_class if dark else root.not_to_have_class)(re.compile(r"\bdark\b"))
    expect(panel).to_have_css("background-color", "rgb(30, 31, 34)" if dark else "rgb(255, 255, 255)")
    # prefers-reduced-motion: no animation, no transition
    expect(panel).to_have_css("animation-name", "none")
    expect(tab.chat.locator(".launch")).to_have_css("transition-duration", "0s")
    bubble.get_by_role("button", name="没帮助").click()  # the comment box is checked too
    expect(bubble.locator(".cm")).to_be_visible()

    results = Axe().run(tab.page, options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
    (ARTIFACTS / f"axe-{scheme}.json").write_text(json.dumps(results.response["violations"], indent=1))
    assert results.violations_count == 0, results.generate_report()
    shot(tab, f"16-a11y-{scheme}")


def test_click_to_first_token(tabs, site: str) -> None:
    """The figure: from the click on Send to the first streamed token on screen, over loopback."""
    tab = tabs()
    tab.page.goto(f"{site}/")
    open_panel(tab)
    ask(tab, "Pod 是什么？", keyboard=False)  # warm
    questions = ["Cgroups 怎么限制内存？", "Headless Service 的 DNS 怎么解析？", "kube-proxy 用 iptables 做什么？",
                 "Mount Namespace 和 chroot 有什么关系？", "PV 和 PVC 是怎么绑定的？", "调度器怎么选节点？",
                 "为什么 ping 不通 ClusterIP？", "CLONE_NEWPID 有什么用？"]
    times = []
    for q in questions:
        tab.page.evaluate("performance.clearMarks()")
        ask(tab, q, keyboard=False)
        times.append(tab.page.evaluate("""() => {
            const [a] = performance.getEntriesByName('kqa-send'), [b] = performance.getEntriesByName('kqa-first-token');
            return b.startTime - a.startTime; }"""))
    size = len(gzip.compress((STATIC / "widget.js").read_bytes(), 9))
    figures = {"widget_js_bytes": (STATIC / "widget.js").stat().st_size, "widget_js_gzip_bytes": size,
               "click_to_first_token_ms": {"median": round(statistics.median(times), 1), "max": round(max(times), 1),
                                           "all": [round(t, 1) for t in times]}}
    (ARTIFACTS / "figures.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))
    assert size <= GZIP_BUDGET
    assert statistics.median(times) < 2000


# ---- generated answers ---------------------------------------------------------------------------


def test_generated_answers_stream_in_and_a_failed_check_is_replaced(tabs, bot: Bot, tmp_path: Path) -> None:
    question = "容器里执行 free 为什么看到的是宿主机内存？"
    generated = "因为 /proc 不知道 Cgroups 的存在<img src=x onerror=alert(1)>[1]。"
    standalone = "为什么容器里执行 free 看到的是宿主机的内存？"
    floor = bot.answer(standalone)
    with FakeOpenAI() as fake:
        settings = open_settings(bot, tmp_path, llm=llm_options(fake))
        with serving(create_app(settings, bot.embedder)) as base:
            tab = tabs()
            tab.page.goto(f"{base}/")
            open_panel(tab)
            fake.reply(Reply(generated, chunk_size=3, chunk_delay=0.05))
            record_stream(tab)
            bubble = ask(tab, question)
            assert len({s["len"] for s in tab.page.evaluate("window.__kqaSeen") if s["busy"] and s["len"]}) >= 3
            expect(bubble.locator(".text")).to_contain_text("<img src=x onerror=alert(1)>")  # text, not HTML
            assert bubble.locator("img").count() == 0
            expect(bubble.locator(".card")).to_have_count(1)  # done's citations: only the cited passage
            assert stored(tab)["msgs"][-1]["answer"] == generated

            # a follow-up in the same conversation: condensed first, then answered with a bad citation
            fake.reply(standalone, Reply("Cgroups 限制资源[8]。", chunk_size=3, chunk_delay=0.05))
            bubble = ask(tab, "那为什么会这样？")
            assert stored(tab)["msgs"][-1]["answer"] == floor.answer
            expect(bubble.locator(".text")).not_to_contain_text("[8]")
            expect(bubble.locator(".card")).to_have_count(len(floor.citations))
            shot(tab, "17-generated-replaced")
