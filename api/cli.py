"""`kqa`: ingest, search, ask, serve, eval, report, db, slack. Thin: every command calls the same Bot
as HTTP (answers given here are logged and cached like any other, with door "cli").

Errors from kqa's family print one line and exit 1; usage errors exit 2 (argparse), and so do
settings kqa cannot use (one line naming the variable and what it accepts).
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
from bot.answer import place  # noqa: E402
from bot.errors import KqaError  # noqa: E402
from bot.history import Asked, Report  # noqa: E402
from bot.settings_check import InvalidSettings, load  # noqa: E402


def _settings(args: argparse.Namespace) -> Settings:
    settings = load(Settings)
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
    return printable(f"{place(lecture, title, section, source)}  ({source}{at})")


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

    configure_logging()  # first: the settings' own warnings are JSON lines too
    settings = _settings(args)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
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


def report_store(args: argparse.Namespace) -> tuple[Settings, str]:
    """The settings with the store `--db` or `--data-dir` names, and where its path came from: so
    a forgotten KQA_DATA_DIR is seen, not silently read."""
    settings = _settings(args)
    no_url = settings.database.model_copy(update={"url": None})  # a store named here wins over KQA_DATABASE_URL
    if args.db:
        return settings.model_copy(update={"database": no_url, "history": settings.history.model_copy(
            update={"path": Path(args.db)})}), "--db"
    if args.data_dir:
        return settings.model_copy(update={"database": no_url, "data_dir": Path(args.data_dir),
                                           "history": settings.history.model_copy(update={"path": None})}), \
            "--data-dir"
    if settings.database.url is not None:
        return settings, "KQA_DATABASE_URL"
    if settings.history.path is not None:
        return settings, "KQA_HISTORY__PATH"
    return settings, "KQA_DATA_DIR" if "data_dir" in settings.model_fields_set else "the default data dir"


def shown(where: Path | str) -> str:
    """Where a store is, as the report names it: a file's full path, a URL without its password."""
    if isinstance(where, Path):
        return str(where.resolve())
    from sqlalchemy.engine import make_url

    return make_url(where).render_as_string(hide_password=True)


def cmd_report(args: argparse.Namespace) -> int:
    settings, source = report_store(args)
    where = settings.history_location()
    store = f"store: {printable(shown(where))} (from {source})"
    if isinstance(where, Path) and not where.exists():
        if args.db or args.data_dir:  # named on purpose: a typo must not read as "nothing asked yet"
            print(f"kqa: no question log at {printable(str(where))}", file=sys.stderr)
            return 1
        print(store)
        print(f"no questions recorded yet ({printable(str(where))} does not exist)")
        return 0
    from bot.bot import Bot

    report = Bot.open(settings).report(limit=args.limit, since_s=args.days * 86400 if args.days else None)
    if args.json:
        print(json_text({"store": shown(where), **report.to_dict()}, indent=2))
        return 0
    print(store)
    print(render_report(report, args.days))
    return 0


def doors_text(doors: dict[str, int]) -> str:
    return ", ".join(f"{door} {n}" for door, n in doors.items())


def render_report(report: Report, days: float | None) -> str:
    span = f"the last {days:g} days" if days else "all time"
    lines = [f"{report.questions} answers given ({span}), {report.refused} refused; "
             f"feedback: {report.up} up, {report.down} down",
             f"by door: {printable(doors_text(report.doors)) or '(none)'}", ""]

    def section(title: str, rows: list[Asked], count: Callable[[Asked], str]) -> None:
        lines.append(title)
        for r in rows:  # readers wrote these: one row each, shown and never obeyed
            context = f"  [+ {printable(', '.join(r.context))}]" if r.context else ""  # what a follow-up carried
            doors = f"  ({printable(doors_text(r.doors))})" if r.doors else ""
            lines.append(f"  {count(r)}  {printable(r.question)}{context}{doors}")
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


def cmd_db(args: argparse.Namespace) -> int:
    from bot import database

    settings = _settings(args)
    where = settings.history_location()
    if isinstance(where, Path):
        where.parent.mkdir(parents=True, exist_ok=True)
    engine = database.engine(database.url_of(where), settings.database)
    try:
        if args.action == "upgrade":
            database.upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            if not args.revision:
                print("kqa: downgrade to which revision? (`base` removes every table)", file=sys.stderr)
                return 2
            database.downgrade(engine, args.revision)
        now = database.current(engine)
    except database.UNREACHABLE as exc:
        raise database.DatabaseUnavailable(
            f"the database at {database.url_of(where)!r} cannot be reached: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    print(f"schema at {now or 'base (no tables)'}; this kqa's newest is {database.head()}")
    return 0


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


def cmd_config(args: argparse.Namespace) -> int:
    """The effective settings (secrets redacted, where each was given), then the problems: values
    kqa cannot use, variables it does not read, combinations it doubts. Exit 1 on any."""
    from bot.settings_check import build, effective, sources, unknown_variables

    problems = unknown_variables(Settings)
    try:
        settings: Settings | None = build(Settings)
    except InvalidSettings as exc:
        settings, problems = None, exc.problems + problems
    shown = effective(settings) if settings else {}
    if settings:
        problems += settings.doubts()
    given = sources(Settings)
    if args.json:
        print(json_text({"settings": shown, "given": given, "problems": problems}, indent=2))
        return 1 if problems else 0
    width = max(map(len, shown), default=0)
    for name, value in shown.items():
        where = f"  ({given[name]})" if name in given else ""
        print(printable(f"{name:<{width}}  {value}{where}"))
    if settings is None:
        print("kqa cannot start with these settings:")
    for line in problems:
        print(printable(f"problem: {line}"))
    print(f"{len(problems)} problem(s)" if problems else "settings OK")
    return 1 if problems else 0


def cmd_slack(args: argparse.Namespace) -> int:
    from api.slack.socket import run_socket_mode

    if not args.socket:
        print("kqa slack: say --socket (answer in Slack) or try QUESTION (see what it would post)", file=sys.stderr)
        return 2
    return run_socket_mode(_settings(args))


def cmd_slack_try(args: argparse.Namespace) -> int:
    from api.slack.preview import scratch_bot, try_command, try_messages

    if args.command and args.thread:
        print("kqa slack try: --thread follows a mention; a slash command has no thread", file=sys.stderr)
        return 2
    settings = _settings(args)
    with scratch_bot(settings) as bot:
        if args.command:
            messages = [try_command(bot, settings, args.question)]
        else:
            messages = try_messages(bot, settings, args.question, args.thread or [])
    if args.json:
        print(json_text([[c.to_dict() for c in calls] for calls in messages], indent=2))
        return 0
    print(render_posts(messages, [args.question, *(args.thread or [])]))
    return 0


def render_posts(messages: list, asked: list[str]) -> str:  # messages: list[list[api.slack.preview.Posted]]
    """Each message the reader sent, then each Web API call the bot made for it, with the text and
    blocks Slack would receive (paste `blocks` into Block Kit Builder to see them drawn)."""
    lines: list[str] = []
    for text, calls in zip(asked, messages, strict=True):
        lines.append(f"━━ the reader: {printable(text)}")
        for call in calls:
            body = call.body
            if call.method == "chat.update":
                where = f"replacing message {body.get('ts')}"
            elif call.method in ("ack", "response_url"):
                private = body.get("response_type", "ephemeral") == "ephemeral"
                shown = "only to the reader" if private else "in the channel"
                where = "replacing the ack, " + shown if body.get("replace_original") else shown
            else:
                where = f"in thread {body.get('thread_ts')}" if body.get("thread_ts") else "in the channel"
            to = f" to {printable(str(body['channel']))}" if body.get("channel") else ""
            lines.append(f"── {call.method}{to}, {where}")
            lines.append(json_text({k: body[k] for k in ("response_type", "text", "blocks") if k in body}, indent=2))
        if not calls:
            lines.append("── nothing posted")
        lines.append("")
    return "\n".join(lines).rstrip()


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
    store = sp.add_mutually_exclusive_group()
    store.add_argument("--db", metavar="PATH", help="the question log to read (default: KQA_HISTORY__PATH, "
                       "else kqa.sqlite3 in the data dir)")
    store.add_argument("--data-dir", metavar="DIR", help="the data dir whose question log to read "
                       "(default: KQA_DATA_DIR, else data/)")
    sp.add_argument("--json", action="store_true")
    sp = sub.add_parser("config", help="print the effective settings (secrets redacted) and check them; exit 1 "
                        "on a problem")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_config)
    sp = add("db", cmd_db, "the history's database schema: upgrade (also done by serve), downgrade, current")
    sp.add_argument("action", choices=["upgrade", "downgrade", "current"])
    sp.add_argument("revision", nargs="?", help="target revision (upgrade: default head; downgrade: required, "
                                                "e.g. base)")
    sp = add("slack", cmd_slack, "answer in Slack over Socket Mode (no public URL needed), or try it without Slack")
    sp.add_argument("--socket", action="store_true",
                    help="connect out to Slack over Socket Mode (KQA_SLACK__BOT_TOKEN, KQA_SLACK__APP_TOKEN)")
    slack = sp.add_subparsers(dest="slack_command")
    tp = slack.add_parser("try", help="print the Block Kit the bot would post for a mention, without Slack")
    tp.add_argument("question", help="what the reader writes after @kqa in a channel")
    tp.add_argument("--thread", action="append", metavar="REPLY",
                    help="a later reply in the answer's thread, answered as a follow-up (repeatable)")
    tp.add_argument("--command", action="store_true",
                    help="ask with the slash command (KQA_SLACK__COMMAND, /kqa) rather than a mention")
    tp.add_argument("--json", action="store_true", help="the Web API calls as JSON, one list per message")
    tp.add_argument("--index", help="index folder (default: KQA_STORE__PATH or index/store)")
    tp.set_defaults(fn=cmd_slack_try)
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
    except InvalidSettings as exc:
        print(f"kqa: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KqaError as exc:
        print(f"kqa: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
