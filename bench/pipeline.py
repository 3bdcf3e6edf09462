"""The committed benchmark: `make bench` (or `python -m bench.pipeline [--skip-naive]`).

Measures, in one run on this machine, over ../shared/k8s-docs-zh and the shipped corpus:
ingest wall time, chunks and characters per second for kqa and for the naive LangChain
pipeline (same model); unchanged re-ingest; time from `kqa serve` to ready; warm HTTP latency
of /v1/search and /v1/ask; server RSS; and doc-level retrieval and refusal quality of kqa
against three baselines (naive LangChain, BM25 alone, dense alone). Writes
bench/results/pipeline.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.load import free_port, rss_mb, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT.parent / "shared" / "k8s-docs-zh"
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ORT_DISABLE_TELEMETRY": "1",
       "TOKENIZERS_PARALLELISM": "false", "OPENBLAS_NUM_THREADS": "1",
       "KQA_LLM__PROVIDER": "none"}  # retrieval and the extractive floor are measured, not a chat model
DATA = ROOT / "tests" / "data"
SETS = {"k8s-docs": DATA / "dev-k8s-docs.jsonl", "column": DATA / "dev-column.jsonl",
        "k8s-docs held-out": DATA / "held-out-k8s-docs.jsonl"}  # written blind; never tuned on


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.pipeline", *args], cwd=ROOT, env=ENV, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def kqa_ingest(corpus: str, index: str) -> dict:
    """Run in a child so RSS and time are the ingest's own."""
    from bot.settings import Settings
    from index.build import build_index
    from index.embed import Embedder
    from index.store import Store, StoreOptions

    started = time.perf_counter()
    settings = Settings(store=StoreOptions(path=Path(index)))
    report = build_index(Path(corpus), Store(settings.store), Embedder(settings.embed),
                         settings.chunking, progress=False, loading=settings.loading)
    raw = sum(len(p.read_text(encoding="utf-8", errors="ignore")) for p in Path(corpus).rglob("*.md"))
    return {"seconds": time.perf_counter() - started, "chunks": report.chunks, "unchanged": report.unchanged,
            "visible_characters": report.characters, "raw_characters": raw,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def serve_latency(index: Path, questions: list[str]) -> dict:
    import httpx

    port = free_port()
    started = time.perf_counter()
    cmd = [str(ROOT / ".venv" / "bin" / "kqa"), "serve", "--port", str(port), "--index", str(index)]
    # Measure the pipeline, not the rate limiter or the answer cache.
    env = {**ENV, "KQA_LIMITS__RATE_PER_MINUTE": "0", "KQA_CACHE__ANSWERS": "0", "KQA_DATA_DIR": str(index.parent)}
    log = index.parent / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz", 300, proc, log, poll_s=0.05)
        ready_s = time.perf_counter() - started
        with httpx.Client(timeout=30) as client:
            for q in questions[:20]:  # warm
                client.get(f"{base}/v1/search", params={"q": q})
            search, ask = [], []
            for q in questions:
                t = time.perf_counter()
                client.get(f"{base}/v1/search", params={"q": q, "k": 10}).raise_for_status()
                search.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                client.post(f"{base}/v1/ask", json={"question": q}).raise_for_status()
                ask.append((time.perf_counter() - t) * 1000)
        return {"ready_s": round(ready_s, 2), "requests": len(questions),
                "search_p50_ms": round(float(np.percentile(search, 50)), 1),
                "search_p95_ms": round(float(np.percentile(search, 95)), 1),
                "ask_p50_ms": round(float(np.percentile(ask, 50)), 1),
                "ask_p95_ms": round(float(np.percentile(ask, 95)), 1),
                "rss_mb": round(rss_mb(proc.pid), 1)}
    finally:
        stop(proc, signal.SIGTERM, 30)


def quality(index: Path, naive_index: Path | None, qfile: Path) -> dict:
    from bot.bot import Bot
    from bot.evaluate import load_questions, run, summarize
    from bot.retrieve import Hit
    from bot.settings import Settings
    from bot.terms import tokens
    from index.store import StoreOptions

    questions = load_questions(qfile)
    systems: dict[str, dict] = {}
    kqa = Bot.open(Settings(store=StoreOptions(path=index)))
    kqa.warm()
    systems["kqa"] = summarize(run(questions, lambda q: kqa.search(q, k=20), lambda q: kqa.answer(q).refused, False))
    snap = kqa.retriever.snapshot()

    def dense_alone(q: str) -> list[Hit]:
        """Plain vector search in the same Chroma collection: embed, query, done."""
        ids, dist = kqa.store.query(snap.info.collection, kqa.embedder.encode_query(q), 20)
        pairs = enumerate(zip(ids, dist, strict=True))
        return [Hit(snap.chunks[snap.position[i]], 1 - d, 1 - d, 0.0, r + 1) for r, (i, d) in pairs]

    def bm25_alone(q: str) -> list[Hit]:
        known = [t for t in tokens(q) if t in snap.vocab]
        scores = snap.bm25.get_scores(known) if known else np.zeros(len(snap.chunks))
        top = np.argsort(-scores)[:20]
        return [Hit(snap.chunks[i], float(scores[i]), 0.0, float(scores[i]), r + 1) for r, i in enumerate(top)]

    systems["dense alone"] = summarize(run(questions, dense_alone, None, False))
    systems["bm25 alone"] = summarize(run(questions, bm25_alone, None, False))
    if naive_index:
        from bench.naive import open_store
        from corpus.chunk import Chunk

        store = open_store(naive_index)

        def naive_search(q: str) -> list[Hit]:
            docs = store.similarity_search_with_score(q, k=20)
            return [Hit(Chunk("", d.page_content, d.metadata["source"], "", None, "", 0, 0, ""), -s, 0.0, 0.0, i + 1)
                    for i, (d, s) in enumerate(docs)]

        systems["naive langchain"] = summarize(run(questions, naive_search, None, False))
    return systems


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "ingest-kqa":
        print(json.dumps(kqa_ingest(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-naive", action="store_true", help="skip the naive ingest (5-10 minutes)")
    ap.add_argument("--work", help="keep indexes here (default: a temp folder)")
    args = ap.parse_args()
    os.environ["KQA_LLM__PROVIDER"] = "none"  # quality() runs in this process
    if not K8S.exists():
        sys.exit("bench needs ../shared/k8s-docs-zh")
    work = Path(args.work or tempfile.mkdtemp(prefix="kqa-bench-"))
    result: dict = {"machine": {"cores": os.cpu_count()}, "when": time.strftime("%Y-%m-%d %H:%M")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial = RESULTS / "pipeline.partial.json"

    def save() -> None:
        partial.write_text(json.dumps(result, ensure_ascii=False, indent=2))

    k8s_idx, col_idx, naive_idx = work / "kqa-k8s", work / "kqa-column", work / "naive-k8s"
    print("kqa ingest of k8s-docs …", file=sys.stderr)
    result["kqa_ingest"] = first = child("ingest-kqa", str(K8S), str(k8s_idx))
    first["raw_chars_per_s"] = round(first["raw_characters"] / first["seconds"])
    first["visible_chars_per_s"] = round(first["visible_characters"] / first["seconds"])
    result["kqa_reingest_unchanged"] = child("ingest-kqa", str(K8S), str(k8s_idx))
    t = time.perf_counter()
    kqa = str(ROOT / ".venv" / "bin" / "kqa")
    subprocess.run([kqa, "ingest", str(K8S), "--replace", "--index", str(k8s_idx)], env=ENV,  # that folder alone
                   check=True, capture_output=True)
    result["kqa_reingest_unchanged"]["cli_wall_s"] = round(time.perf_counter() - t, 2)
    save()
    child("ingest-kqa", str(ROOT / "corpus"), str(col_idx))
    if not args.skip_naive and not (naive_idx / "chroma.sqlite3").exists():
        print("naive LangChain ingest of k8s-docs (about 10 minutes) …", file=sys.stderr)
        out = subprocess.run([sys.executable, "-m", "bench.naive", "ingest", str(K8S), str(naive_idx)], cwd=ROOT,
                             env=ENV, check=True, capture_output=True, text=True)
        naive = json.loads(out.stdout.strip().splitlines()[-1])
        naive["raw_chars_per_s"] = round(naive["characters"] / naive["seconds"])
        result["naive_ingest"] = naive
        result["ingest_speedup_raw_chars_per_s"] = round(first["raw_chars_per_s"] / naive["raw_chars_per_s"], 2)
        save()

    print("serving …", file=sys.stderr)
    from bot.evaluate import load_questions

    qs = [q.q for q in load_questions(SETS["k8s-docs"])]
    result["serve_k8s_docs"] = serve_latency(k8s_idx, qs)
    save()
    print("quality …", file=sys.stderr)
    naive_store = naive_idx if (naive_idx / "chroma.sqlite3").exists() else None
    result["quality"] = {
        "k8s-docs": quality(k8s_idx, naive_store, SETS["k8s-docs"]),
        "column": quality(col_idx, None, SETS["column"]),
        "k8s-docs held-out": quality(k8s_idx, naive_store, SETS["k8s-docs held-out"]),
    }
    partial.unlink(missing_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    (RESULTS / "pipeline.md").write_text(render(result))
    print(render(result))


def render(result: dict) -> str:
    lines = [f"# kqa benchmark ({result['when']}, {result['machine']['cores']} cores)", ""]
    for key in ("kqa_ingest", "kqa_reingest_unchanged", "naive_ingest", "serve_k8s_docs"):
        if key in result:
            lines.append(f"- **{key}**: " + ", ".join(f"{k}={v if not isinstance(v, float) else round(v, 2)}"
                                                       for k, v in result[key].items()))
    if "ingest_speedup_raw_chars_per_s" in result:
        lines.append(f"- **ingest speed-up vs naive (raw chars/s)**: {result['ingest_speedup_raw_chars_per_s']}x")
    cols = ["hit@1", "hit@5", "mrr@10", "refused_unanswerable", "false_refusal", "search_ms_p50", "search_ms_p95"]
    for qset, systems in result["quality"].items():
        lines += ["", f"## {qset}", "", "| system | lang | " + " | ".join(cols) + " |",
                  "|---|---|" + "---|" * len(cols)]
        for name, summary in systems.items():
            for lang, block in summary.items():
                cells = ["" if block.get(c) is None else str(block[c]) for c in cols]
                lines.append(f"| {name} | {lang} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
