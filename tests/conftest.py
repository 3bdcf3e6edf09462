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

from api.settings import Settings  # noqa: E402
from bench.load import postgres_database  # noqa: E402
from bot.bot import Bot  # noqa: E402
from bot.generate import Generator, LLMOptions  # noqa: E402
from bot.history import History  # noqa: E402
from index.build import build_index  # noqa: E402
from index.embed import Embedder, EmbedOptions  # noqa: E402
from index.store import Store, StoreOptions  # noqa: E402
from tests.fakes.openai import FakeOpenAI  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = FIXTURES / "corpus"
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
K8S_DOCS = SHARED / "k8s-docs-zh"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"  # the machine's server (.ci/run starts it)


@pytest.fixture
def postgres() -> Iterator[str]:
    """The URL of a fresh, empty database on the real PostgreSQL server, dropped afterwards."""
    with postgres_database(POSTGRES) as url:
        yield url


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(EmbedOptions())


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings pointing at a real Chroma index of a copy of the fixture corpus."""
    root = tmp_path_factory.mktemp("built")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, store=StoreOptions(path=root / "index"), data_dir=root / "data")
    build_index(corpus, Store(settings.store), embedder, settings.chunking, progress=False)
    return settings


def private(bot: Bot, data_dir: Path) -> Bot:
    """The same bot (index, model, chat model) with its own question log and answer cache."""
    settings = bot.settings.model_copy(update={"data_dir": data_dir})
    history = History(settings.history_location(), settings.history, database=settings.database)
    return Bot(settings, bot.store, bot.embedder, history, bot.generator)


def with_index(settings: Settings, path: Path) -> Settings:
    """`settings` with the embedded index at `path`."""
    return settings.model_copy(update={"store": settings.store.model_copy(update={"path": path})})


@pytest.fixture(scope="session")
def bot(built: Settings, embedder: Embedder) -> Bot:
    """A Bot over the fixture index, sharing the session's loaded model (loading one takes seconds)."""
    return Bot.open(built, embedder)


def indexed(root: Path, files: dict[str, str], embedder: Embedder) -> Bot:
    """A Bot over a real index of `files` (path under the corpus → text), built in `root`."""
    corpus = root / "corpus"
    for name, text in files.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    settings = Settings(corpus_dir=corpus, store=StoreOptions(path=root / "index"), data_dir=root / "data")
    build_index(corpus, Store(settings.store), embedder, settings.chunking, progress=False)
    return Bot.open(settings, embedder)


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
    """A bot over the test index and model, with a chat model at `fake`."""
    options = llm_options(fake, **changes)
    settings = bot.settings.model_copy(update={"llm": options})
    return Bot(settings, bot.store, bot.embedder, bot.history, Generator(options))
