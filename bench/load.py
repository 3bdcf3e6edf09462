"""Sustained load on `kqa serve` from a second process: `python -m bench.load`.

Starts the real server (`kqa serve`, one process, on a free loopback port) over an existing
index, embedded or through a `chroma run` server started here on a copy of the same index
folder; warms it up under the same load; then N client threads (keep-alive HTTP, one connection each) post
/v1/ask for D seconds, cycling through the questions of tests/data/dev-column.jsonl (each
client from its own offset). Reports answers/s, latency p50/p95/p99/max, errors (any status
other than 200, or a transport error), the server's RSS before and after (and the peak,
sampled every second), the load average, and the answer cache's hit rate. Runs every
combination of `--stores`, `--cache`, `--workers`, `--replicas` and `--history` and writes
bench/results/load.json and load.md (or `--out`).

Replicas are separate `kqa serve` processes (as behind a load balancer: client i asks replica
i mod N) over one Chroma server; with `--history postgres` they share a fresh PostgreSQL database
made for the run (on `--postgres`) and dropped after, with `sqlite` each keeps its own file.

    python -m bench.load --seconds 60 --clients 8
    python -m bench.load --seconds 30 --stores embedded --cache off
    python -m bench.load --stores chroma --cache off --replicas 1,2 --history sqlite,postgres \
        --out bench/results/replicas.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUESTIONS = ROOT / "tests" / "data" / "dev-column.jsonl"
CHROMA = Path(sys.executable).parent / "chroma"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ORT_DISABLE_TELEMETRY": "1",
       "TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False",
       "KQA_LLM__PROVIDER": "none"}  # the extractive path is what is measured


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(k) for k in kids]


def wait_for(url: str, seconds: float, proc: subprocess.Popen, log: Path, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{url} never became ready; log:\n{log.read_text()[-3000:]}")
        time.sleep(poll_s)


def stop(proc: subprocess.Popen, sig: int, wait_s: float) -> None:
    """Send `sig`; kill the process if it has not exited after `wait_s`."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def chroma_server(index: Path, work: Path) -> Iterator[str]:
    """`chroma run` on a copy of the embedded index folder (the same on-disk format)."""
    data = work / "chroma"
    shutil.copytree(index, data)
    port, log = free_port(), work / "chroma.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/v2/heartbeat", 60, proc, log)
        yield url
    finally:
        stop(proc, signal.SIGTERM, 20)


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at `server` for one run, dropped after."""
    import psycopg

    name = f"kqa_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def kqa_server(index: Path, chroma_url: str | None, cache: bool, workers: int, work: Path,
               database_url: str | None = None) -> Iterator[tuple]:
    port = free_port()
    log = work / f"serve-{port}.log"
    env = {**ENV, "KQA_STORE__PATH": str(index), "KQA_DATA_DIR": str(work / f"data-{port}"),
           "KQA_LIMITS__RATE_PER_MINUTE": "0", "KQA_LIMITS__MAX_BODY_BYTES": "65536"}
    env.pop("KQA_STORE__URL", None)
    env.pop("KQA_DATABASE_URL", None)
    env.pop("KQA_DATABASE__URL", None)
    if database_url:
        env["KQA_DATABASE_URL"] = database_url
    if chroma_url:
        env["KQA_STORE__URL"] = chroma_url
    if not cache:
        env["KQA_CACHE__ANSWERS"] = "0"
    cmd = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz", 300, proc, log)
        yield base, proc
    finally:
        stop(proc, signal.SIGINT, 30)


class Clients:
    """N threads, each with its own keep-alive connection, asking until the deadline; client i
    asks replica i mod len(bases)."""

    def __init__(self, bases: list[str], questions: list[str], clients: int, seconds: float) -> None:
        self.bases, self.questions, self.seconds = bases, questions, seconds
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.refused = 0
        self.threads = [threading.Thread(target=self._run, args=(bases[i % len(bases)], i * len(questions) // clients),
                                         daemon=True) for i in range(clients)]

    def run(self) -> float:
        self.deadline = time.monotonic() + self.seconds
        started = time.monotonic()
        for t in self.threads:
            t.start()
        for t in self.threads:
            t.join()
        return time.monotonic() - started

    def _run(self, base: str, offset: int) -> None:
        i = offset
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < self.deadline:
                q = self.questions[i % len(self.questions)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = client.post(f"{base}/v1/ask", json={"question": q})
                    ok, detail = r.status_code == 200, f"{r.status_code} {r.text[:200]}"
                    refused = ok and r.json()["refused"]
                except httpx.HTTPError as exc:
                    ok, detail, refused = False, repr(exc), False
                elapsed = time.perf_counter() - t0
                with self.lock:
                    if ok:
                        self.latencies.append(elapsed)
                        self.refused += refused
                    else:
                        self.errors.append(detail)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def one_run(index: Path, store: str, cache: bool, workers: int, args: argparse.Namespace, questions: list[str],
            replicas: int = 1, history: str = "sqlite") -> dict:
    with tempfile.TemporaryDirectory(prefix="kqa-load-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        url = stack.enter_context(chroma_server(index, work)) if store == "chroma" else None
        database = stack.enter_context(postgres_database(args.postgres)) if history == "postgres" else None
        served = [stack.enter_context(kqa_server(index, url, cache, workers, work, database)) for _ in range(replicas)]
        bases, procs = [b for b, _ in served], [p for _, p in served]

        def rss() -> float:
            return sum(rss_mb(p.pid) for p in procs)

        def scrape(name: str) -> float:
            return sum(metric(httpx.get(f"{b}/metrics").text, name) for b in bases)

        # Warm-up at full concurrency (jieba, torch kernels, Chroma caches, one malloc arena per
        # worker thread), on other questions than the measured run starts with.
        Clients(bases, questions[::-1], args.clients, args.warmup).run()
        before = {n: scrape(f"kqa_{n}_total") for n in ("answer_cache_hits", "answer_cache_misses",
                                                           "question_log_dropped")}
        ready = httpx.get(f"{bases[0]}/readyz").json()
        rss_before, timeline = rss(), []
        stop = threading.Event()

        def sample() -> None:  # RSS every second: growth that goes on would show here
            while not stop.wait(1.0):
                timeline.append(rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load_before = os.getloadavg()[0]
        clients = Clients(bases, questions, args.clients, args.seconds)
        wall = clients.run()
        stop.set()
        sampler.join()
        rss_after = rss()
        hits, misses, dropped = (scrape(f"kqa_{n}_total") - before[n] for n in before)
    lat = np.array(clients.latencies) * 1000
    pct = (lambda p: round(float(np.percentile(lat, p)), 1)) if len(lat) else (lambda p: None)
    return {
        "store": store, "answer_cache": cache, "clients": args.clients, "workers": workers,
        "replicas": replicas, "history": history,
        "index": f"{ready['chunks']} chunks from {ready['files']} files",
        "seconds": round(wall, 1), "answers": len(lat), "answers_per_s": round(len(lat) / wall, 1),
        "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": pct(100),
        "errors": len(clients.errors), "error_samples": clients.errors[:5], "log_dropped": int(dropped),
        "refused_share": round(clients.refused / max(len(lat), 1), 3),
        "cache_hit_rate": round(hits / (hits + misses), 3) if hits + misses else None,
        "rss_before_mb": round(rss_before), "rss_after_mb": round(rss_after),
        "rss_peak_mb": round(max([*timeline, rss_after])),
        "rss_by_tenth_mb": [round(timeline[i * len(timeline) // 10]) for i in range(10)] if timeline else [],
        "loadavg_1m_before": round(load_before, 2), "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def render(report: dict) -> str:
    lines = [
        "# Load: `python -m bench.load`", "",
        f"{report['clients']} concurrent clients, {report['seconds']} s per run, POST /v1/ask with the "
        f"{report['questions']} questions of tests/data/dev-column.jsonl in turn, after a warm-up under the same "
        f"load; `kqa serve` on loopback; {report['machine']}. Target: ≥ 40 answers/s at p95 ≤ 250 ms. "
        f"Index: {report['runs'][0]['index']} ({report.get('index_dir', 'the shipped corpus')}). "
        "With 2 workers the cache hit rate is the one worker's that answered /metrics, and RSS is all "
        "processes'. Load avg: the machine's 1-minute load "
        "average before and after the run, other work on it included. With the answer cache on, the warm-up "
        "has usually asked every question once already, so those runs measure repeated questions (see the hit "
        "rate); the runs with it off measure new ones.", "",
        "Replicas: separate `kqa serve` processes, client i asking replica i mod N; history: where conversations "
        "and the question log live (each replica's SQLite file, or one PostgreSQL shared by the replicas); "
        "log dropped: answers whose question-log line was lost (the database away).", "",
        "| store | replicas | history | workers | answer cache | answers/s | p50 ms | p95 ms | p99 ms | max ms | "
        "errors | log dropped | cache hits | RSS before → after (peak) MB | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        hits = "—" if r["cache_hit_rate"] is None else f"{r['cache_hit_rate']:.0%}"
        lines.append(
            f"| {r['store']} | {r.get('replicas', 1)} | {r.get('history', 'sqlite')} | {r['workers']} | "
            f"{'on' if r['answer_cache'] else 'off'} | {r['answers_per_s']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors']} | {r.get('log_dropped', 0)} | {hits} | "
            f"{r['rss_before_mb']} → {r['rss_after_mb']} ({r['rss_peak_mb']}) | "
            f"{r['loadavg_1m_before']} → {r['loadavg_1m_after']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of each run (default 60)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--workers", default="1", help="uvicorn worker processes, e.g. 1,2 (default 1; more than 1 "
                                                  "only with the Chroma server)")
    p.add_argument("--stores", default="embedded,chroma", help="embedded, chroma or both (default both)")
    p.add_argument("--cache", default="off,on", help="answer cache off, on or both (default both)")
    p.add_argument("--replicas", default="1", help="kqa serve processes, e.g. 1,2 (default 1; more than 1 only "
                                                   "with the Chroma server and --history postgres)")
    p.add_argument("--history", default="sqlite", help="sqlite, postgres or both (default sqlite)")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server where --history postgres makes a database for each run")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of load before measuring (default 10)")
    p.add_argument("--index", type=Path, help="embedded index folder (default: KQA_STORE__PATH or index/store); "
                                              "built from corpus/ with kqa ingest when missing")
    p.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = p.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from bot.settings import Settings

    index = args.index or Settings().store.path
    if not (index / "chroma.sqlite3").exists():
        print(f"no index in {index}: building it with kqa ingest (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "api.cli", "ingest", "--index", str(index)], cwd=ROOT, env=ENV,
                       check=True)
    questions = [json.loads(line)["q"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    runs = []
    for store, workers, replicas, history, cache in itertools.product(
            args.stores.split(","), [int(w) for w in args.workers.split(",")],
            [int(r) for r in args.replicas.split(",")], args.history.split(","), args.cache.split(",")):
        if (workers > 1 or replicas > 1) and store == "embedded":
            continue  # the embedded store is not shared between processes
        if replicas > 1 and history == "sqlite":
            continue  # each replica's own file: conversations would not follow a client
        print(f"{store} store, {replicas} replica(s) on {history}, {workers} worker(s), answer cache {cache}: "
              f"{args.clients} clients for {args.seconds:g} s ...", file=sys.stderr)
        runs.append(one_run(index, store, cache == "on", workers, args, questions, replicas, history))
        print(json.dumps(runs[-1], ensure_ascii=False), file=sys.stderr)
    report = {"clients": args.clients, "seconds": args.seconds, "questions": len(questions), "index_dir": str(index),
              "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(render(report), encoding="utf-8")
    print(render(report))
    return 0 if all(r["errors"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
