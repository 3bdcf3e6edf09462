"""Ingest with the real model into a real (embedded) Chroma in a temp folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.settings import Settings
from corpus.chunk import ChunkOptions
from index.build import build_index
from index.embed import Embedder
from index.store import IndexNotBuilt, ModelMismatch, Store, StoreOptions
from tests.conftest import ROOT, copy_corpus


def _build(corpus: Path, index: Path, embedder: Embedder):
    return build_index(corpus, Store(StoreOptions(path=index)), embedder, ChunkOptions(), progress=False)


def test_chunks_land_in_chroma_with_their_metadata(built: Settings) -> None:
    store = Store(built.store)
    info = store.info()
    assert info is not None and info.files == 5 and info.chunks > 5
    assert info.model == "multilingual-e5-small" and info.dim == 384
    rec = store.records(info.collection)
    metas = {m["source"] for m in rec.metadatas}
    assert metas == {"05-namespace.md", "06-cgroups.md", "network/37-service-dns.md", "scheduler.html", "storage.txt"}
    for text, meta in zip(rec.texts, rec.metadatas, strict=True):
        assert {"source", "title", "lecture", "section", "start", "end", "hash", "file_hash"} <= set(meta)
        assert meta["end"] - meta["start"] == len(text)


def test_reingest_embeds_only_what_changed(tmp_path: Path, embedder: Embedder) -> None:
    corpus = copy_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    first = _build(corpus, index, embedder)
    assert first.embedded_chunks == first.chunks and len(first.embedded_files) == 5

    again = _build(corpus, index, embedder)
    assert again.unchanged and again.embedded_chunks == 0 and again.chunks == first.chunks

    edited_file = corpus / "06-cgroups.md"
    edited_file.write_text(edited_file.read_text() + "\n\n## 新增\n\n内存子系统限制容器能用的内存总量。\n")
    (corpus / "storage.txt").unlink()
    edited = _build(corpus, index, embedder)
    assert edited.embedded_files == ["06-cgroups.md"]
    assert edited.removed_files == ["storage.txt"]
    store = Store(StoreOptions(path=index))
    sources = {m["source"] for m in store.records(store.info().collection).metadatas}
    assert "storage.txt" not in sources
    # the old collection is gone: one published collection remains
    active = store.info().collection  # with its units beside it
    assert sorted(n for n in store._names() if n.startswith("kqa-chunks-")) == [active, active + "-units"]


def test_query_with_another_model_is_refused(built: Settings) -> None:
    store = Store(built.store)
    with pytest.raises(ModelMismatch, match="index built with 'multilingual-e5-small'"):
        store.require("some/other-model")


def test_empty_store_says_run_ingest(tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuilt, match="run kqa ingest"):
        Store(StoreOptions(path=tmp_path / "empty")).require("multilingual-e5-small")


def test_interrupted_ingest_leaves_the_previous_index_answering(tmp_path: Path, embedder: Embedder) -> None:
    corpus = copy_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    _build(corpus, index, embedder)
    before = Store(StoreOptions(path=index)).info()

    # Enough new text that embedding takes a while, then kill -9 mid-way.
    for i in range(120):
        (corpus / f"extra-{i:03d}.md").write_text(
            f"# 补充 {i}\n\n" + "".join(f"第{i}篇第{j}句：控制器不断对比期望状态与实际状态。" for j in range(40)))
    env = {**os.environ, "KQA_STORE__PATH": str(index), "KQA_EMBED__BATCH_SIZE": "4"}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "ingest", str(corpus), "--replace", "--progress"],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    seen = b""
    deadline = time.monotonic() + 120
    while b"embedding:" not in seen or b"chunk/s" not in seen:
        assert time.monotonic() < deadline, seen[-500:]
        seen += os.read(proc.stderr.fileno(), 4096)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()

    store = Store(StoreOptions(path=index))
    assert store.info() == before  # the pointer never moved
    settings = Settings(corpus_dir=corpus, store=StoreOptions(path=index), data_dir=tmp_path / "data")
    bot = Bot.open(settings, embedder)
    assert bot.search("Cgroups 怎么限制 CPU", k=3)[0].chunk.source == "06-cgroups.md"

    # The next ingest finishes the job and removes the half-built collection.
    report = _build(corpus, index, embedder)
    assert report.files == 125
    active = store.info().collection  # with its units beside it
    assert sorted(n for n in store._names() if n.startswith("kqa-chunks-")) == [active, active + "-units"]


def test_a_symlinked_secret_is_neither_indexed_nor_found(tmp_path: Path, embedder: Embedder) -> None:
    """The review's case: `ln -s /somewhere/prod.env corpus/notes.md`, ingest, then search for the token."""
    corpus = copy_corpus(tmp_path / "corpus")
    elsewhere = tmp_path / "somewhere"
    (elsewhere / "ops").mkdir(parents=True)
    (elsewhere / "prod.env").write_text("KQA_SLACK__BOT_TOKEN=xoxb-1234-secret-token\n")
    (elsewhere / "ops" / "runbook.md").write_text("# 值班手册\n\nKQA_SLACK__BOT_TOKEN=xoxb-1234-secret-token\n")
    (corpus / "notes.md").symlink_to(elsewhere / "prod.env")
    (corpus / "ops").symlink_to(elsewhere / "ops", target_is_directory=True)
    index = tmp_path / "index"
    report = _build(corpus, index, embedder)

    settings = Settings(corpus_dir=corpus, store=StoreOptions(path=index), data_dir=tmp_path / "data")
    hits = Bot.open(settings, embedder).search("KQA_SLACK__BOT_TOKEN", k=10)
    assert hits and not any("xoxb" in h.chunk.text for h in hits)
    assert {h.chunk.source for h in hits} <= {"05-namespace.md", "06-cgroups.md", "network/37-service-dns.md",
                                               "scheduler.html", "storage.txt"}
    outside = "its real path is outside the corpus folder"
    assert [(s.source, s.reason) for s in report.skipped] == [
        ("binary.md", "binary file"), ("empty.md", "empty file"), ("latin1.txt", "not UTF-8 text (byte 3)"),
        ("notes.md", outside), ("ops", outside)]
    assert report.files == 5 and "skipped 5 files" in report.summary()
