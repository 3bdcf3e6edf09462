"""`kqa` as a user runs it: a real process, exit codes, one-line errors."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import Settings
from bot.history import History
from index.build import build_index
from index.embed import Embedder
from index.store import Store
from tests.conftest import ROOT, with_index


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own question log, never the checkout's data/."""
    monkeypatch.setenv("KQA_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def kqa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_unbuilt_index_is_one_clear_line(tmp_path: Path) -> None:
    r = kqa("ask", "Pod 是什么", "--index", str(tmp_path / "none"))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("kqa: ")
    assert "run kqa ingest" in r.stderr and "Traceback" not in r.stderr


def test_missing_corpus_folder(tmp_path: Path) -> None:
    r = kqa("ingest", str(tmp_path / "nowhere"), "--index", str(tmp_path / "idx"))
    assert r.returncode == 1 and "corpus folder not found" in r.stderr


def test_search_and_ask_json(built: Settings, data_dir: Path) -> None:
    r = kqa("search", "Cgroups 限制 CPU", "-k", "2", "--json", "--index", str(built.store.path))
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert len(hits) == 2 and hits[0]["source"] == "06-cgroups.md"
    assert not data_dir.exists()  # a search records nothing
    r = kqa("ask", "Cgroups 怎么限制 CPU", "--json", "--index", str(built.store.path))
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["citations"] and all(c["quote"] in c["text"] for c in body["citations"])
    # answers on the command line go through the same façade as the other doors: logged, door "cli"
    with sqlite3.connect(data_dir / "kqa.sqlite3") as db:
        assert db.execute("SELECT answer_id, door FROM questions").fetchall() == [(body["answer_id"], "cli")]


def test_ingest_unchanged_reports_up_to_date(built: Settings) -> None:
    r = kqa("ingest", str(built.corpus_dir), "--replace", "--index", str(built.store.path))
    assert r.returncode == 0, r.stderr
    assert "index up to date" in r.stdout


def test_usage_error_exits_2() -> None:
    assert kqa("frobnicate").returncode == 2


# What readers and the corpus wrote reaches the operator's terminal only as visible text.

RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066")  # ESC, BEL, CSI, RLO, LRI: none may be printed


def assert_inert(out: str) -> None:
    assert not [ch for ch in RAW if ch in out], repr(out)


def test_report_shows_hostile_questions_and_comments_as_text(data_dir: Path) -> None:
    history = History(data_dir / "kqa.sqlite3", Settings().history)
    forged = "Pod 是什么\n\nMost asked\n   99×  点这里 https://evil.example"
    history.log("a1", forged, refused=False, top_score=0.9, door="http")
    history.log("a2", "PVC \u202eevil\u202c 怎么绑定", refused=True, top_score=0.5, door="widget")
    comment = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\\x9b31m"
    with sqlite3.connect(data_dir / "kqa.sqlite3") as db:  # as a store written before comments were checked
        db.execute("INSERT INTO feedback (answer_id, rating, comment, at) VALUES ('a1', 'down', ?, 2e9)", (comment,))
    r = kqa("report")
    assert r.returncode == 0, r.stderr
    assert_inert(r.stdout)
    headings = [line for line in r.stdout.splitlines() if line.startswith("Most asked")]
    assert headings == ["Most asked"] and "\\nMost asked\\n" in r.stdout  # one row, not a forged section
    assert "\\x1b[2J" in r.stdout and "PVC \\u202eevil\\u202c" in r.stdout


def test_report_says_which_store_it_read_and_the_door(data_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "log.sqlite3"
    History(elsewhere, Settings().history).log("w1", "Pod 是什么", refused=False, top_score=0.9, door="widget")
    History(data_dir / "kqa.sqlite3", Settings().history).log("h1", "Service 是什么", refused=True, top_score=0.5,
                                                               door="http")

    r = kqa("report")  # KQA_DATA_DIR is set (the fixture): the first line says so
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"store: {(data_dir / 'kqa.sqlite3').resolve()} (from KQA_DATA_DIR)"
    assert lines[1].startswith("1 answers given (all time), 1 refused") and lines[2] == "by door: http 1"
    assert "Service 是什么  (http 1)" in r.stdout and "Pod" not in r.stdout

    r = kqa("report", "--db", str(elsewhere))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"store: {elsewhere.resolve()} (from --db)"
    assert "Pod 是什么  (widget 1)" in r.stdout and "Service" not in r.stdout
    body = json.loads(kqa("report", "--db", str(elsewhere), "--json").stdout)
    assert body["store"] == str(elsewhere.resolve()) and body["doors"] == {"widget": 1}
    assert body["most_asked"][0]["doors"] == {"widget": 1} and body["days"][-1]["answers"] == 1

    r = kqa("report", "--data-dir", str(data_dir))
    assert r.stdout.splitlines()[0] == f"store: {(data_dir / 'kqa.sqlite3').resolve()} (from --data-dir)"

    typo = kqa("report", "--data-dir", str(tmp_path / "no-such-dir"))
    assert typo.returncode == 1 and typo.stderr.startswith("kqa: no question log at ")
    assert kqa("report", "--db", str(elsewhere), "--data-dir", str(data_dir)).returncode == 2  # one or the other


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory, built: Settings, embedder: Embedder) -> Path:
    """A one-file corpus whose title, file name, heading and text carry terminal escapes."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "09-evil\x1b[2J.md").write_text(
        '---\ntitle: "Cgroups \\x1b]0;pwned\\x07限制 \\u202eCPU"\nlecture: 9\n---\n\n'
        "# Cgroups \x1b[31m红字\u2066\n\n"
        "Cgroups 限制 CPU 用的是 cpu.cfs_quota_us\x1b[2J 和 cpu.cfs_period_us\u202e 两个文件。\n"
        "Cgroups 限制内存用的是 memory.limit_in_bytes\x9b2J 文件。\n", encoding="utf-8")
    settings = with_index(built, root / "index")
    build_index(corpus, Store(settings.store), embedder, settings.chunking, progress=False)
    return root / "index"


@pytest.mark.parametrize("command", ["search", "ask"])
def test_search_and_ask_show_corpus_text_as_text(hostile_index: Path, command: str) -> None:
    r = kqa(command, "Cgroups 怎么限制 CPU", "--index", str(hostile_index))
    assert r.returncode == 0, r.stderr
    assert_inert(r.stdout)
    assert "\\x1b]0;pwned\\x07" in r.stdout and "09-evil\\x1b[2J.md" in r.stdout  # the title and file name


def test_ingest_lists_the_skipped_files_with_names_safe_for_a_terminal(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "05-namespace.md").write_text("# Namespace\n\nNamespace 隔离进程能看到的视图。\n")
    # A name that would clear the screen and reverse the rest of the line if printed raw.
    (corpus / "\x1b[2J\u202edm.exe.md").write_bytes(b"\x00\x01binary")
    (tmp_path / "prod.env").write_text("KQA_SLACK__BOT_TOKEN=xoxb-1234\n")
    (corpus / "notes.md").symlink_to(tmp_path / "prod.env")
    r = kqa("ingest", str(corpus), "--replace", "--index", str(tmp_path / "index"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("indexed 1 files") and "skipped 2 files" in lines[0]
    assert lines[1:] == ["  \\x1b[2J\\u202edm.exe.md: binary file",
                         "  notes.md: its real path is outside the corpus folder"]
    # the warnings on stderr name the same files, escaped the same way
    assert "skipped \\x1b[2J\\u202edm.exe.md: binary file" in r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\u202e" not in r.stdout + r.stderr


@pytest.mark.parametrize(("command", "env", "line"), [
    (("ingest",), {"KQA_LLM__PROVIDER": "gpt"},
     "kqa: KQA_LLM__PROVIDER: 'gpt' is not accepted; accepted: 'none', 'openai' or 'ollama'"),
    (("serve", "--port", "1"), {"KQA_ACCESS__CORS_ORIGINS": "https://docs.example/"},
     "kqa: KQA_ACCESS__CORS_ORIGINS: 'https://docs.example/' is not an origin; accepted: scheme://host[:port]"),
    (("serve", "--port", "1"), {"KQA_API_KEYS": " , "}, "kqa: KQA_API_KEYS: set but holds no keys; accepted: "),
])
def test_a_bad_setting_stops_kqa_with_one_line(tmp_path: Path, command: tuple[str, ...], env: dict,
                                               line: str) -> None:
    r = kqa(*command, "--index", str(tmp_path / "idx"), env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(line)
    assert not (tmp_path / "idx").exists()  # stopped before doing anything


def test_a_worker_with_a_bad_setting_exits_2_with_one_log_line() -> None:
    """`kqa serve --workers N` starts each worker with app_from_env: same check, as a JSON log line."""
    code = "from api.http.app import app_from_env\napp_from_env()"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "KQA_LLM__PROVIDER": "gpt"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = json.loads(r.stderr.strip().splitlines()[-1])
    assert line["level"] == "error" and line["msg"].startswith("KQA_LLM__PROVIDER: 'gpt' is not accepted")


def test_an_unknown_variable_is_warned_about(tmp_path: Path) -> None:
    r = kqa("ingest", str(tmp_path / "nowhere"), "--index", str(tmp_path / "idx"), env={"KQA_CORS_ORIGINS": "x"})
    assert "KQA_CORS_ORIGINS is not a kqa setting and is ignored; did you mean KQA_ACCESS__CORS_ORIGINS?" in r.stderr
    assert r.returncode == 1 and "corpus folder not found" in r.stderr  # a warning: the command still runs


def config(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`kqa config` with only `env` of the KQA_* variables, from a folder with no .env."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("KQA_")}
    return subprocess.run([sys.executable, "-m", "api.cli", "config", *args], cwd=tmp_path, capture_output=True,
                          text=True, env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=120)


def test_config_prints_the_effective_settings_redacted(tmp_path: Path) -> None:
    r = config(tmp_path, {"KQA_ACCESS__API_KEYS": "ops-key-31,widget:site-key-42",
                          "KQA_ACCESS__CORS_ORIGINS": "https://Docs.Example", "kqa_limits__burst": "7"})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(re.fullmatch(r"KQA_ACCESS__API_KEYS +full:\*+,widget:\*+  \(environment\)", x) for x in lines)
    assert any(re.fullmatch(r"KQA_LIMITS__BURST +7  \(kqa_limits__burst\)", x) for x in lines)
    assert any(re.fullmatch(r"KQA_LIMITS__RATE_PER_MINUTE +120", x) for x in lines)  # a default: no source
    assert lines[-1] == "settings OK" and "key-31" not in r.stdout and "key-42" not in r.stdout


def test_config_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KQA_LIMITS__BURST=0\n")
    r = config(tmp_path, {"KQA_LLM__PROVIDER": "gpt", "KQA_CORS_ORIGINS": "https://docs.example"})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / ".env").write_text("KQA_LIMITS__BURST=5\n")
    assert json.loads(config(tmp_path / "ok", {}, "--json").stdout)["given"] == {"KQA_LIMITS__BURST": ".env"}
    assert r.stdout.splitlines() == [
        "kqa cannot start with these settings:",
        "problem: KQA_LLM__PROVIDER: 'gpt' is not accepted; accepted: 'none', 'openai' or 'ollama'",
        "problem: KQA_LIMITS__BURST (in .env): '0' is not accepted; accepted: a whole number >= 1",
        "problem: KQA_CORS_ORIGINS is not a kqa setting and is ignored; did you mean KQA_ACCESS__CORS_ORIGINS?",
        "3 problem(s)",
    ]


def test_config_doubts_and_json(tmp_path: Path) -> None:
    r = config(tmp_path, {"KQA_ACCESS__API_KEYS": "widget:site-key-42", "KQA_ACCESS__CORS_ORIGINS": "*"}, "--json")
    assert r.returncode == 1
    body = json.loads(r.stdout)
    assert body["settings"]["KQA_ACCESS__API_KEYS"] == "widget:**********"
    assert body["given"]["KQA_ACCESS__CORS_ORIGINS"] == "environment"
    assert body["problems"] == ["KQA_ACCESS__CORS_ORIGINS=* with widget keys: any site may use them; list the "
                                "embedding sites"]
def test_ingest_adds_a_copy_beside_the_corpus_or_replaces_it_and_lists_what_it_holds(tmp_path: Path) -> None:
    from tests.corpus.copies import pdf_book, saved_page

    corpus, copy, index = tmp_path / "corpus", tmp_path / "my-copy", str(tmp_path / "index")
    corpus.mkdir()
    copy.mkdir()
    (corpus / "05-process.md").write_text("---\nkind: note\n---\n# 进程\n\n容器是一个被限制了视图的进程。\n")
    (copy / "05.html").write_text(saved_page(5, "05丨白话容器基础（一）：从进程说开去"), encoding="utf-8")
    pdf_book(str(copy / "book.pdf"), [["13 | 为什么我们需要Pod？", "几个紧密协作的进程需要一起运行。"],
                                      ["后记", "这一页不属于任何一讲。"]])
    env = {"KQA_CORPUS_DIR": str(corpus)}
    r = kqa("ingest", str(copy), "--index", index, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("indexed 3 files")
    assert "no lecture found" not in r.stdout  # one part: page 2 goes on lecture 13
    listed = kqa("ingest", "--list", "--index", index, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in listed.stdout.splitlines()[1:55]}
    assert rows["5"] == ["1", "1", "-"] and rows["13"] == ["1", "-", "-"] and rows["6"] == ["-", "-", "-"]
    assert "the column's own text covers 2 of 54 lectures" in listed.stdout

    r = kqa("ingest", str(copy), "--replace", "--index", index, env=env)
    assert r.returncode == 0 and r.stdout.startswith("indexed 2 files"), r.stdout + r.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in kqa("ingest", "--list", "--index", index, env=env)
            .stdout.splitlines()[1:55]}
    assert rows["5"] == ["1", "-", "-"]
