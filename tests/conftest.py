"""Shared fixtures: the real embedding model (loaded once per session) and a real Chroma
index of the small fixture corpus, built once into a temp folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORT_DISABLE_TELEMETRY"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as api/cli.py: keep BLAS off torch's cores

from bot.generate import Generator, LLMOptions  # noqa: E402
from bot.service import Bot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from index.build import build_index  # noqa: E402
from index.embed import Embedder, EmbedOptions  # noqa: E402
from index.store import Store  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = FIXTURES / "corpus"
SHARED = Path(__file__).resolve().parents[2] / "shared"
K8S_DOCS = SHARED / "k8s-docs-zh"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(EmbedOptions())


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings pointing at a real Chroma index of a copy of the fixture corpus."""
    root = tmp_path_factory.mktemp("built")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index")
    build_index(corpus, Store(settings.store_options()), embedder, settings.chunking, progress=False)
    return settings


def bot_over(settings: Settings, embedder: Embedder) -> Bot:
    """A Bot over `settings` that shares an already loaded model (loading one takes seconds)."""
    b = Bot.open(settings)
    b.embedder = b.retriever.embedder = embedder
    return b


@pytest.fixture(scope="session")
def bot(built: Settings, embedder: Embedder) -> Bot:
    return bot_over(built, embedder)


def copy_corpus(dest: Path) -> Path:
    shutil.copytree(CORPUS, dest)
    return dest


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    """An OpenAI-compatible chat server on a free loopback port (tests/fakes/openai_server.py)."""
    with FakeOpenAI() as fake:
        yield fake


LLM_KEY = "sk-test-never-logged-1234"


def llm_options(fake: FakeOpenAI, **changes: object) -> LLMOptions:
    return LLMOptions(**{"provider": "openai", "model": "fake-model", "base_url": fake.url, "api_key": LLM_KEY,
                         "timeout_s": 10.0, **changes})


def llm_bot(bot: Bot, fake: FakeOpenAI, **changes: object) -> Bot:
    """The test bot (same index, model and retriever) with a chat model at `fake`."""
    options = llm_options(fake, **changes)
    settings = bot.settings.model_copy(update={"llm": options})
    return Bot(settings, bot.store, bot.embedder, bot.retriever).with_model(Generator(options))
