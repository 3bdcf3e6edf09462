"""The one settings object. Built once at an entry point (CLI, app) and passed down.

Environment variables use the `KQA_` prefix; nested groups use `__`
(`KQA_RETRIEVAL__CANDIDATES=60`). Each stage defines its own options model next to the
code that uses it; this module only composes them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.answer import AnswerOptions
from bot.retrieve import RetrievalOptions
from corpus.chunk import ChunkOptions
from index.embed import DEFAULT_MODEL_DIR, EmbedOptions
from index.store import StoreOptions

ROOT = Path(__file__).resolve().parent.parent


class ServerOptions(BaseModel):
    host: str = Field("127.0.0.1", description="Address `kqa serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `kqa serve` listens on.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions get 422.")
    max_top_k: int = Field(20, ge=1, description="Largest top_k / k a client may ask for.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KQA_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    corpus_dir: Path = Field(ROOT / "corpus", description="Folder `kqa ingest` reads by default.")
    index_dir: Path = Field(ROOT / "index" / "store", description="Embedded Chroma folder.")
    chroma_url: str | None = Field(None, description="Chroma server URL (`chroma run`); overrides index_dir.")
    embed_model: str = Field(str(DEFAULT_MODEL_DIR), description="sentence-transformers model name or path.")
    embed_batch_size: int = Field(8, ge=1, description="Passages per forward pass while ingesting.")
    chunking: ChunkOptions = ChunkOptions()
    retrieval: RetrievalOptions = RetrievalOptions()
    answer: AnswerOptions = AnswerOptions()
    server: ServerOptions = ServerOptions()

    def store_options(self) -> StoreOptions:
        return StoreOptions(path=self.index_dir, url=self.chroma_url)

    def embed_options(self) -> EmbedOptions:
        return EmbedOptions(model=self.embed_model, batch_size=self.embed_batch_size)
