"""`kqa`: ingest, search, ask, serve, eval, report, slack. Thin: every command calls the same Bot
as HTTP (answers given here are logged and cached like any other, with door "cli").

Errors from kqa's family print one line and exit 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORT_DISABLE_TELEMETRY", "TOKENIZERS_PARALLELISM"):
    os.environ.setdefault(_var, "1" if _var != "TOKENIZERS_PARALLELISM" else "false")
# numpy's BLAS threads fight torch's for the same cores: measured, a search took 52 ms with
# them and 22 ms without (the matrix products numpy does here are tiny).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from api.settings import Settings  # noqa: E402
from api.terminal import json_text, printable  # noqa: E402
from bot.answer import lecture_tag  # noqa: E402
from bot.errors import KqaError  # noqa: E402
from bot.history import Asked, Report  # noqa: E402


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "index", None):
        settings.store = settings.store.model_copy(update={"path": Path(args.index)})
    return settings


def _bot(args: argparse.Namespace):  # -> bot.bot.Bot, imported late: it loads numpy, jieba, chromadb
    from bot.bot import Bot

    return Bot.open(_settings(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    from corpus.errors import CorpusNotFound
    from index.build import build_index, holdings
    from index.embed import Embedder
    from index.store import Store

    settings = _settings(args)
    store = Store(settings.store)
    if args.list:
        print(render_holdings(holdings(store)))
        return 0
    if args.dir and not Path(args.dir).is_dir():
        raise CorpusNotFound(f"corpus folder not found: {args.dir}")
    # DIR goes beside the shipped corpus, or (--replace) instead of it.
    folder = Path(args.dir) if args.dir and args.replace else settings.corpus_dir
    added = [Path(args.dir)] if args.dir and not args.replace else []
    report = build_index(folder, store, Embedder(settings.embed), settings.chunking,
                         progress=sys.stderr.isatty() or args.progress, loading=settings.loading, added=added)
    print(report.summary())
    # Names come from whoever wrote files into the folder: shown, never obeyed by the terminal.
    for skipped in report.skipped:
        print(f"  {printable(skipped.source)}: {printable(skipped.reason)}")
    for source, title in report.unmapped:
        print(f"  {printable(source)}: no lecture found for its title “{printable(title)}” (lecture: null)")
    return 0


def render_holdings(held: dict[int | None, dict[str, int]]) -> str:
    """The index by lecture: how many texts of each kind (original, note, FAQ) cover it."""
    from corpus.lectures import lectures

    kinds = ("original", "note", "faq")
    lines = ["lecture  original  note  FAQ  title"]
    for lec in lectures():
        row = held.get(lec.number, {})
        cells = "".join(f"{row.get(k, 0) or '-':>{w}}" for k, w in zip(kinds, (8, 6, 5), strict=True))
        lines.append(f"{lec.number:>7} {cells}  {lec.title}")
    originals = sum(1 for lec in lectures() if held.get(lec.number, {}).get("original"))
    lines.append(f"the column's own text covers {originals} of {len(lectures())} lectures")
    others = {n: row for n, row in held.items() if n is None or not 0 <= n < len(lectures())}
    for number, row in others.items():
        counts = ", ".join(f"{k}: {row[k]}" for k in kinds if row.get(k))
        lines.append(f"{'no lecture' if number is None else f'lecture {number} (not in the outline)'}: {counts}")
    return printable("\n".join(lines), newlines=True)


def cmd_search(args: argparse.Namespace) -> int:
    hits = _bot(args).search(args.question, k=args.k)
    if args.json:
        print(json_text([{**asdict(h.chunk), "score": h.score, "dense": h.dense, "rank": h.rank} for h in hits],
                        indent=2))
        return 0
    for h in hits:
        place = where(h.chunk.lecture, h.chunk.title, h.chunk.section, h.chunk.source, h.chunk.page)
        print(f"{h.rank:>2}. {h.score:.4f}  {place}")
        print("    " + printable(h.chunk.text[:160].replace("\n", " ")))
    return 0


def where(lecture: int | None, title: str, section: str, source: str, page: int | None = None) -> str:
    """A passage's place, as one line: the corpus's titles and file names are shown, never obeyed."""
    at = f", p. {page}" if page is not None else ""
    return printable(f"{lecture_tag(lecture)}{title} › {section}  ({source}{at})")


def cmd_ask(args: argparse.Namespace) -> int:
    reply = _bot(args).ask(args.question, door="cli")
    if args.json:
        print(json_text(reply.to_dict(), indent=2))
        return 0
    ans = reply.answer
    print(printable(ans.answer, newlines=True))
    print()
    for c in ans.citations:
        print(f"[{c.n}] {where(c.lecture, c.title, c.section, c.source, c.page)}")
        print(f"    「{printable(c.quote)}」")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.http.app import create_app
    from api.http.observe import configure_logging

    settings = _settings(args)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    configure_logging()
    forwarded = settings.access.forwarded_allow_ips
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None, "access_log": False,
               "proxy_headers": bool(forwarded), "forwarded_allow_ips": forwarded}
    if args.workers > 1:
        if args.index:
            os.environ["KQA_STORE__PATH"] = str(Path(args.index))  # the workers read their settings anew
        uvicorn.run("api.http.app:app_from_env", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = settings.history_path()
    if not path.exists():
        print(f"no questions recorded yet ({path} does not exist)")
        return 0
    from bot.bot import Bot

    report = Bot.open(settings).report(limit=args.limit, since_s=args.days * 86400 if args.days else None)
    if args.json:
        print(json_text(report.to_dict(), indent=2))
        return 0
    print(render_report(report, args.days))
    return 0


def render_report(report: Report, days: float | None) -> str:
    span = f"the last {days:g} days" if days else "all time"
    lines = [f"{report.questions} answers given ({span}), {report.refused} refused; "
             f"feedback: {report.up} up, {report.down} down", ""]

    def section(title: str, rows: list[Asked], count: Callable[[Asked], str]) -> None:
        lines.append(title)
        for r in rows:  # readers wrote these: one row each, shown and never obeyed
            context = f"  [+ {printable(', '.join(r.context))}]" if r.context else ""  # what a follow-up carried
            lines.append(f"  {count(r)}  {printable(r.question)}{context}")
            lines.extend(f"          “{printable(c)}”" for c in r.comments)
        if not rows:
            lines.append("  (none)")
        lines.append("")

    section("Most asked", report.most_asked,
            lambda r: f"{r.count:>4}×" + (f" ({r.refused} refused)" if r.refused else ""))
    section("Refused (the column does not cover them: candidates for the FAQ)", report.most_refused,
            lambda r: f"{r.count:>4}×")
    section("Downvoted", report.downvoted, lambda r: f"{r.down:>4}↓ {r.up}↑")
    return "\n".join(lines).rstrip()


def cmd_eval(args: argparse.Namespace) -> int:
    from bot import evaluate as ev

    questions = [q for path in args.questions for q in ev.load_questions(Path(path))]
    if args.answers:
        report = ev.evaluate_answers(_bot(args), questions, progress=not args.json)
        print(json_text(report, indent=2) if args.json else ev.render_answers(report))
        return 0
    report = ev.evaluate(_bot(args), questions, progress=not args.json)
    print(json_text(report, indent=2) if args.json else ev.render(report))
    return 0


def cmd_slack(args: argparse.Namespace) -> int:
    from api.slack.socket import run_socket_mode

    return run_socket_mode(_settings(args))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kqa", description="Questions about 《深入剖析Kubernetes》, with citations.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.add_argument("--index", help="index folder (default: KQA_STORE__PATH or index/store)")
        sp.set_defaults(fn=fn)
        return sp

    sp = add("ingest", cmd_ingest, "build or update the index from a folder of texts")
    sp.add_argument("dir", nargs="?", help="a folder to index beside the corpus (KQA_CORPUS_DIR or corpus/), such "
                    "as your own copy of the column (EPUB, PDF, saved pages)")
    sp.add_argument("--replace", action="store_true", help="index DIR instead of the corpus, not beside it")
    sp.add_argument("--list", action="store_true", help="show what the index holds, lecture by lecture: "
                    "the column's own text, our notes, FAQ entries")
    sp.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    sp = add("search", cmd_search, "show the passages that match a question")
    sp.add_argument("question")
    sp.add_argument("-k", type=int, default=10, help="number of passages (default 10)")
    sp.add_argument("--json", action="store_true")
    sp = add("ask", cmd_ask, "answer a question with citations")
    sp.add_argument("question")
    sp.add_argument("--json", action="store_true")
    sp = add("serve", cmd_serve, "serve the HTTP API")
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.add_argument("--workers", type=int, default=1,
                    help="worker processes (more than 1 wants a Chroma server: KQA_STORE__URL)")
    sp = add("eval", cmd_eval, "measure retrieval and refusal (or, with --answers, the answers) on question sets")
    sp.add_argument("questions", nargs="+", help="JSONL: {id, q, lang, gold, kind[, vital, extra]}")
    sp.add_argument("--answers", action="store_true",
                    help="judge the answers by their nuggets, against two baselines (questions with vital nuggets)")
    sp.add_argument("--json", action="store_true")
    sp = add("report", cmd_report, "most asked, refused and downvoted questions (from the question log of every door)")
    sp.add_argument("--limit", type=int, default=10, help="rows per section (default 10)")
    sp.add_argument("--days", type=float, help="only the last DAYS days (default: all)")
    sp.add_argument("--json", action="store_true")
    sp = add("slack", cmd_slack, "answer in Slack over Socket Mode (no public URL needed)")
    sp.add_argument("--socket", action="store_true", required=True,
                    help="connect out to Slack over Socket Mode (KQA_SLACK__BOT_TOKEN, KQA_SLACK__APP_TOKEN)")
    return p


class PrintableFormatter(logging.Formatter):
    """Log lines name files and echo text from outside: escape what a terminal would obey."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def main(argv: list[str] | None = None) -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on its own logger
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except KqaError as exc:
        print(f"kqa: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
