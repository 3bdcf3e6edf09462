"""Answers through a store outage: `python -m bench.outage`.

Starts a `chroma run` server on a copy of the embedded index (built by `kqa ingest` when missing)
and `kqa serve` over it (one process, default settings but the answer cache off, so every
answer is computed), then asks a fixed window of questions from tests/data/dev-column.jsonl, one
at a time over HTTP, twice: once with the Chroma server killed (SIGKILL) after the first quarter,
once with it hung (SIGSTOP, SIGCONT after the window) after the first quarter, the server brought
back between the two. Reports, for each, the time from the event to the first failed answer
(any status but 200: the target is none), answers and failures after it, latency before and
after, what /readyz said at the end of the window, and how long after the store was back /readyz
said `ok` again; and the serving process's RSS (after warm-up, and its peak). Writes
bench/results/outage.json.

    python -m bench.outage --window 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from bench.load import CHROMA, ENV, QUESTIONS, RESULTS, ROOT, free_port, kqa_server, wait_for


class Chroma:
    """A `chroma run` server that can be killed, started again on the same folder and port, and
    hung (SIGSTOP: it keeps its port and answers nothing). tests/api/http/test_chroma_server.py
    uses it too."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log, self.port = data, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.data), "--host", "127.0.0.1",
                                          "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT)
        wait_for(f"{self.url}/api/v2/heartbeat", 60, self.proc, self.log)

    def pause(self, paused: bool) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process dies only once it runs again
            self.proc.kill()
            self.proc.wait(timeout=10)


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024}


def window(base: str, questions: list[str], at: int, event: Callable[[], None]) -> dict:
    """Ask `questions` one at a time; call `event` before question `at`. Times are seconds."""
    rows, happened = [], None
    with httpx.Client(timeout=60) as client:
        for i, q in enumerate(questions):
            if i == at:
                event()
                happened = time.monotonic()
            started = time.monotonic()
            try:
                status = client.post(f"{base}/v1/ask", json={"question": q}).status_code
            except httpx.HTTPError:
                status = -1
            rows.append((i, status, time.monotonic() - started, started - happened if happened else None))
        ready = client.get(f"{base}/readyz").json()
    after = [r for r in rows if r[3] is not None]
    failed = [r for r in after if r[1] != 200]
    ms = [round(float(np.percentile([r[2] for r in part], p)) * 1000, 1) for part in (rows[:at], after)
          for p in (50, 100)]
    return {"questions": len(rows), "event_before_question": at + 1, "answers_after_event": len(after),
            "failures_after_event": len(failed), "before_event_failures": sum(r[1] != 200 for r in rows[:at]),
            "first_failure_s_after_event": round(failed[0][3], 3) if failed else None,
            "window_s_after_event": round(after[-1][3] + after[-1][2], 1),
            "p50_max_ms_before": ms[:2], "p50_max_ms_after": ms[2:], "readyz_at_end": ready}


def back_ok(base: str) -> float:
    """Seconds until /readyz says the store is `ok` again."""
    started = time.monotonic()
    while httpx.get(f"{base}/readyz", timeout=30).json()["store"] != "ok":
        if time.monotonic() - started > 120:
            raise SystemExit("/readyz never said the store was back")
        time.sleep(0.1)
    return round(time.monotonic() - started, 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--window", type=int, default=200, help="questions per window (default 200)")
    p.add_argument("--index", type=Path, help="embedded index folder (default: KQA_STORE__PATH or index/store)")
    p.add_argument("--out", type=Path, default=RESULTS / "outage.json")
    args = p.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from bot.settings import Settings

    settings = Settings()
    index = args.index or settings.store.path
    if not (index / "chroma.sqlite3").exists():
        print(f"no index in {index}: building it with kqa ingest (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "api.cli", "ingest", "--index", str(index)], cwd=ROOT, env=ENV,
                       check=True)
    questions = [json.loads(line)["q"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = (questions * (args.window // len(questions) + 1))[: args.window]
    at = args.window // 4
    with tempfile.TemporaryDirectory(prefix="kqa-outage-") as tmp:
        work = Path(tmp)
        shutil.copytree(index, work / "chroma")
        chroma = Chroma(work / "chroma", work / "chroma.log")
        chroma.start()
        try:
            with kqa_server(index, chroma.url, cache=False, workers=1, work=work) as (base, proc):
                for q in questions[:20]:  # warm-up
                    httpx.post(f"{base}/v1/ask", json={"question": q}, timeout=60)
                memory = {"after_warm_up": status_mb(proc.pid)}
                print(f"killing the Chroma server before question {at + 1} of {args.window} ...", file=sys.stderr)
                killed = window(base, questions, at, chroma.kill)
                chroma.start()
                killed["readyz_ok_s_after_restart"] = back_ok(base)
                print(f"hanging it (SIGSTOP) before question {at + 1} of {args.window} ...", file=sys.stderr)
                hung = window(base, questions, at, lambda: chroma.pause(True))
                chroma.pause(False)
                hung["readyz_ok_s_after_resume"] = back_ok(base)
                memory["end"] = status_mb(proc.pid)
        finally:
            chroma.kill()
    defaults = {"KQA_RETRIEVAL__REFRESH_S": settings.retrieval.refresh_s,
                "KQA_STORE__TIMEOUT_S": settings.store.timeout_s}
    report = {"command": "python -m bench.outage " + " ".join(argv or sys.argv[1:]),
              "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
              "settings": defaults, "killed": killed, "hung": hung, "memory": memory}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if killed["failures_after_event"] == hung["failures_after_event"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
