"""GET /report: what readers asked and disliked, as a page for the column's owner.

The same facts as `kqa report` (`Bot.report`) over a period chosen in the URL (`?days=7`):
answers per day with the refusal rate drawn over them, the most asked questions, the refused
ones (candidates for the FAQ), the downvoted ones with their comments, and the doors each came
through. Off unless `KQA_REPORT__ENABLED`; with API keys set it needs one, as for /v1/*, or as
the password of HTTP Basic so that a browser asks for it (`ReportGate`).

Server-rendered HTML, no script at all: the chart is inline SVG drawn here. Questions and
comments are readers' input, so every string goes through `html.escape`; the page runs under a
CSP with no script source, its one stylesheet allowed by its hash, and is never cached.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from types import MappingProxyType

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse

from api.http.access import AccessDenied, Forbidden, Gate, client_address
from api.settings import Settings
from bot.bot import Bot
from bot.errors import KqaError
from bot.history import Asked, Day, Report
from bot.terms import is_chinese

REPORT_PATH = "/report"
ROWS = 20  # per section
PERIODS = (7, 30, 90, 365)
CSS = """
:root{color-scheme:light dark;--fg:#1f1f1f;--muted:#555b63;--bg:#fbfbfc;--card:#fff;--line:#d5d9df;
 --bar:#0b57d0;--rate:#b3261e;--grid:#e3e6ea}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#b6bbc3;--bg:#16171a;--card:#1e1f22;
 --line:#3a3d44;--bar:#a8c7fa;--rate:#ffb4ab;--grid:#2c2f35}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.6 system-ui,-apple-system,"Segoe UI",
 "PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif}
main{max-width:980px;margin:0 auto;padding:32px 20px 80px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 10px}
a{color:var(--bar)}a:focus-visible{outline:2px solid var(--bar);outline-offset:2px}
.muted{color:var(--muted)}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:8px;padding:0;margin:14px 0}
nav a{display:inline-block;padding:4px 12px;border:1px solid var(--line);border-radius:16px;text-decoration:none}
nav a[aria-current=page]{background:var(--bar);color:var(--bg);border-color:var(--bar)}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:18px 0;padding:0;
 list-style:none}
.facts li{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.facts b{display:block;font-size:24px;line-height:1.3}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px}
svg{display:block;width:100%;height:auto}
svg text{fill:var(--muted);font-size:11px}
.bar{fill:var(--bar)}.rate{fill:none;stroke:var(--rate);stroke-width:2}.dot{fill:var(--rate)}
.grid{stroke:var(--grid);stroke-width:1}
figcaption{font-size:13px;color:var(--muted);margin-top:6px}
.key{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin:0 4px 0 12px}
.key.b{background:var(--bar)}.key.r{background:var(--rate)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid var(--line)}
th{font-size:13px;color:var(--muted);font-weight:600}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.q{overflow-wrap:anywhere;white-space:pre-wrap}
.door{display:inline-block;font-size:12px;padding:0 8px;margin:1px 4px 1px 0;border:1px solid var(--line);
 border-radius:10px;white-space:nowrap}
blockquote{margin:6px 0 0;padding-left:10px;border-left:3px solid var(--line);color:var(--muted);
 white-space:pre-wrap;overflow-wrap:anywhere}
details{margin-top:8px}summary{cursor:pointer;color:var(--muted)}
"""
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
HEADERS = MappingProxyType({
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
})


class ReportLocked(KqaError):
    title = "API key missing or not valid"
    status = 401
    headers = MappingProxyType({"WWW-Authenticate": 'Basic realm="kqa report", charset="UTF-8"'})


class ReportGate(Gate):
    """The key check and rate limit of /v1/*, with the key also taken as HTTP Basic's password,
    since a browser can send no other header by itself; a refusal asks the browser for it."""

    async def __call__(self, request: Request) -> None:
        if not self.keys:
            return await super().__call__(request)
        sent = basic_password(request.headers.get("authorization", ""))
        if sent is None:
            try:
                return await super().__call__(request)
            except AccessDenied:
                raise ReportLocked("the report needs an API key (any user name, the key as password)") from None
        scope = self._scope(sent)
        if scope is None:
            self._throttle(client_address(request))
            raise ReportLocked("that API key is not valid")
        request.state.client = "key:" + hashlib.sha256(sent).hexdigest()[:12]
        self._throttle(request.state.client)
        if scope != "full":  # a widget key is in every page that embeds the widget
            raise Forbidden("the report needs a full key, not a widget key")
        return None


def basic_password(authorization: str) -> bytes | None:
    """The password of `Basic base64(user:password)`, or None when the header is not Basic."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        return b""
    return decoded.partition(b":")[2]


def install(app: FastAPI, bot: Bot, settings: Settings, on_limited: Callable[[], None]) -> None:
    """GET /report on `app` when the report is enabled (otherwise there is no such page: 404)."""
    if not settings.report.enabled:
        return
    default = settings.report.days
    keep = math.ceil(settings.history.keep_days)

    @app.get(REPORT_PATH, include_in_schema=False, dependencies=[Depends(ReportGate(settings, on_limited))])
    async def report_page(days: int = Query(default, ge=1, le=3660)) -> HTMLResponse:
        report = await anyio.to_thread.run_sync(lambda: bot.report(limit=ROWS, since_s=days * 86400.0))
        return HTMLResponse(render_page(report, days, keep), headers=dict(HEADERS))


# ---- the page -------------------------------------------------------------------------------------


def render_page(report: Report, days: int, keep_days: int) -> str:
    """The whole page. Every string from the store is escaped where it is put in."""
    since = datetime.fromtimestamp(report.since, UTC).strftime("%Y-%m-%d %H:%M UTC")
    rate = percent(report.refused, report.questions)
    periods = "".join(
        f'<li><a href="?days={d}"{" aria-current=page" if d == days else ""}>{d} days</a></li>' for d in PERIODS)
    facts = "".join(f"<li><b>{value}</b>{escape(label)}</li>" for value, label in (
        (report.questions, "answers given"), (f"{report.refused} · {rate}", "refused"),
        (report.up, "rated helpful"), (report.down, "rated not helpful")))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>kqa report · the last {days} days</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
<main>
<h1>What readers asked</h1>
<p class="muted">The last {days} days, since {since}, from the question log of every door
(widget, Slack, HTTP API, command line). The log keeps {keep_days} days.</p>
<nav aria-label="Period"><ul>{periods}</ul></nav>
<ul class="facts">{facts}<li><b>{len(report.doors)}</b>doors: {doors_html(report.doors) or "none"}</li></ul>
<h2 id="trend">Answers per day</h2>
{chart(report.days)}
<h2 id="asked">Most asked</h2>
{table(report.most_asked, ("Asked", "Refused"), lambda a: (a.count, a.refused or ""))}
<h2 id="refused">Refused: the column does not cover them</h2>
<p class="muted">Candidates for the FAQ, or for a new passage.</p>
{table(report.most_refused, ("Asked",), lambda a: (a.count,))}
<h2 id="downvoted">Downvoted</h2>
{table(report.downvoted, ("Not helpful", "Helpful"), lambda a: (a.down, a.up))}
</main>
</body>
</html>
"""


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def doors_html(doors: dict[str, int]) -> str:
    return "".join(f'<span class="door">{escape(door)} {n}</span>' for door, n in doors.items())


def lang(text: str) -> str:
    """A reader's text in Chinese is marked so, for screen readers (the page is in English)."""
    return ' lang="zh-CN"' if is_chinese(text) else ""


def table(rows: list[Asked], counts: tuple[str, ...], values: Callable[[Asked], Sequence[object]]) -> str:
    if not rows:
        return '<p class="muted">None in this period.</p>'
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in counts)
    body = []
    for a in rows:
        cells = "".join(f'<td class="n">{escape(str(v))}</td>' for v in values(a))
        carried = (f'<br><span class="muted">read with earlier turns: {escape(", ".join(a.context))}</span>'
                   if a.context else "")
        comments = "".join(f"<blockquote{lang(c)}>{escape(c)}</blockquote>" for c in a.comments)
        body.append(f'<tr>{cells}<td class="q"><span{lang(a.question)}>{escape(a.question)}</span>{carried}'
                    f"{comments}</td><td>{doors_html(a.doors)}</td></tr>")
    return (f'<table><thead><tr>{head}<th scope="col">Question</th><th scope="col">Doors</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


# ---- the chart: bars of answers per day, the refusal rate as a line over them ----------------------

W, H = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 48, 12, 28


def chart(days: list[Day]) -> str:
    """Inline SVG: one bar per day (answers, left axis) and the refusal rate (right axis, 0–100%)
    as a line through the days that had answers; a table of the same numbers for screen readers
    and for copying."""
    n = max(len(days), 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top = nice_ceiling(max((d.answers for d in days), default=0))
    slot = plot_w / n
    bars, points = [], []
    for i, d in enumerate(days):
        x = LEFT + i * slot
        h = plot_h * d.answers / top
        label = f"{d.day}: {d.answers} answers, {d.refused} refused"
        bars.append(f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" '
                    f'width="{max(slot * 0.7, 1):.1f}" height="{h:.1f}"><title>{escape(label)}</title></rect>')
        if d.answers:
            points.append((x + slot / 2, TOP + plot_h * (1 - d.refused / d.answers)))
    line = ""
    if points:
        path = " ".join(f"{'M' if j == 0 else 'L'}{px:.1f},{py:.1f}" for j, (px, py) in enumerate(points))
        line = f'<path class="rate" d="{path}"/>' + "".join(
            f'<circle class="dot" cx="{px:.1f}" cy="{py:.1f}" r="2.5"/>' for px, py in points)
    grid = "".join(
        f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + plot_h * (1 - f):.1f}" '
        f'y2="{TOP + plot_h * (1 - f):.1f}"/>'
        f'<text x="{LEFT - 6}" y="{TOP + plot_h * (1 - f) + 4:.1f}" text-anchor="end">{round(top * f)}</text>'
        f'<text x="{W - RIGHT + 6}" y="{TOP + plot_h * (1 - f) + 4:.1f}">{round(100 * f)}%</text>'
        for f in (0, 0.5, 1))
    ticks = "".join(
        f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{H - 8}" text-anchor="middle">{escape(days[i].day[5:])}</text>'
        for i in sorted({0, len(days) // 2, len(days) - 1}) if days)
    total = sum(d.answers for d in days)
    refused = sum(d.refused for d in days)
    summary = (f"{total} answers over {len(days)} days, {refused} refused ({percent(refused, total)}); "
               f"the busiest day had {max((d.answers for d in days), default=0)}.")
    rows = "".join(f'<tr><th scope="row">{escape(d.day)}</th><td class="n">{d.answers}</td>'
                   f'<td class="n">{d.refused}</td><td class="n">{percent(d.refused, d.answers)}</td></tr>'
                   for d in reversed(days))
    return f"""<figure>
<svg viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title chart-desc">
<title id="chart-title">Answers per day, and the share refused</title>
<desc id="chart-desc">{escape(summary)}</desc>
{grid}{''.join(bars)}{line}{ticks}
</svg>
<figcaption><span class="key b"></span>answers per day (left axis)<span class="key r"></span>refused, as a share
of the day's answers (right axis). Days in UTC. {escape(summary)}</figcaption>
<details><summary>The numbers, day by day</summary>
<table><thead><tr><th scope="col">Day</th><th scope="col">Answers</th><th scope="col">Refused</th>
<th scope="col">Rate</th></tr></thead><tbody>{rows}</tbody></table></details>
</figure>"""


def nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value` (and at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)
