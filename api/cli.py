"""`kqa`: ingest, search, ask, serve, eval. Thin: every command calls the same Bot as HTTP.

Errors from kqa's family print one line and exit 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORT_DISABLE_TELEMETRY", "TOKENIZERS_PARALLELISM"):
    os.environ.setdefault(_var, "1" if _var != "TOKENIZERS_PARALLELISM" else "false")

from bot.errors import KqaError  # noqa: E402
from bot.settings import Settings  # noqa: E402


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    return Settings(**overrides)


def cmd_ingest(args: argparse.Namespace) -> int:
    from index.build import build_index
    from index.embed import Embedder
    from index.store import Store

    settings = _settings(args)
    folder = Path(args.dir) if args.dir else settings.corpus_dir
    store = Store(settings.store_options())
    report = build_index(folder, store, Embedder(settings.embed_options()), settings.chunking,
                         progress=sys.stderr.isatty() or args.progress)
    print(report.summary())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from bot.service import Bot

    hits = Bot.open(_settings(args)).search(args.question, k=args.k)
    if args.json:
        print(json.dumps([{**asdict(h.chunk), "score": h.score, "dense": h.dense, "rank": h.rank} for h in hits],
                         ensure_ascii=False, indent=2))
        return 0
    for h in hits:
        lecture = f"第{h.chunk.lecture:02d}讲 " if h.chunk.lecture is not None else ""
        print(f"{h.rank:>2}. {h.score:.4f}  {lecture}{h.chunk.title} › {h.chunk.section}  ({h.chunk.source})")
        print("    " + h.chunk.text[:160].replace("\n", " "))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.service import Bot

    ans = Bot.open(_settings(args)).ask(args.question)
    if args.json:
        print(json.dumps(ans.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(ans.answer)
    print()
    for c in ans.citations:
        lecture = f"第{c.lecture:02d}讲 " if c.lecture is not None else ""
        print(f"[{c.n}] {lecture}{c.title} › {c.section}  ({c.source})")
        print(f"    「{c.quote}」")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = _settings(args)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluate import evaluate, load_questions, render

    report = evaluate(_settings(args), load_questions(Path(args.questions)), progress=not args.json)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else render(report))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kqa", description="Questions about 《深入剖析Kubernetes》, with citations.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.add_argument("--index", help="index folder (default: KQA_INDEX_DIR or index/store)")
        sp.set_defaults(fn=fn)
        return sp

    sp = add("ingest", cmd_ingest, "build or update the index from a folder of texts")
    sp.add_argument("dir", nargs="?", help="corpus folder (default: KQA_CORPUS_DIR or corpus/)")
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
    sp = add("eval", cmd_eval, "measure retrieval and refusal on a question set")
    sp.add_argument("questions", help="JSONL: {id, q, lang, gold, kind}")
    sp.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except KqaError as exc:
        print(f"kqa: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
