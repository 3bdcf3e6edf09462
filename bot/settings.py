"""The one settings object. Built once at an entry point (CLI, app) and passed down.

Environment variables use the `KQA_` prefix; nested groups use `__`
(`KQA_RETRIEVAL__CANDIDATES=60`). Each stage defines its own options model next to the
code that uses it; this module only composes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.answer import AnswerOptions
from bot.answer_cache import CacheOptions
from bot.followup import FollowUpOptions
from bot.generate import LLMOptions
from bot.history import HistoryOptions
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


def _comma_list(value: Any) -> Any:
    """`a,b` or a JSON list from the environment; a list as is."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class AccessOptions(BaseModel):
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [], description="Origins allowed to call the API from a browser (`https://a.example,https://b.example`; "
        "`*` for any). The widget's files are open to every origin.")
    forwarded_allow_ips: str | None = Field(
        None, description="Proxies whose X-Forwarded-For is trusted for the client address (uvicorn's "
        "--forwarded-allow-ips); the per-address rate limit then counts the real client.")

    _split = field_validator("cors_origins", mode="before")(_comma_list)


class LimitOptions(BaseModel):
    rate_per_minute: float = Field(120, ge=0, description="Requests to /v1/* per minute per API key, or per "
                                                          "client address without keys (0: no limit).")
    burst: int = Field(30, ge=1, description="Requests allowed at once before the per-minute rate applies.")
    max_body_bytes: int = Field(65536, ge=1024, description="Larger request bodies get 413.")
    answer_timeout_s: float = Field(15.0, gt=0, description="An answer not ready in this time gets 503.")


class SlackOptions(BaseModel):
    """The Slack door (api/slack.py). Without a bot token and a signing secret it is off."""

    bot_token: SecretStr | None = Field(None, description="Bot token (`xoxb-…`), OAuth & Permissions page.")
    signing_secret: SecretStr | None = Field(
        None, description="Signing secret (Basic Information page); every request's signature is checked with it.")
    app_token: SecretStr | None = Field(
        None, description="App-level token (`xapp-…`, scope connections:write), only for `kqa slack --socket`.")
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (a stand-in for tests).")
    command: str = Field("/kqa", pattern=r"^/[a-z0-9_-]{1,31}$", description="The slash command kqa answers.")
    command_ephemeral: bool = Field(
        True, description="Slash command answers are shown only to the caller, with a button to share them; "
        "false: posted in the channel.")
    thread_followups: bool = Field(
        True, description="In a channel thread kqa has answered in, answer later messages without a mention.")

    @property
    def enabled(self) -> bool:
        return all(s is not None and s.get_secret_value().strip() for s in (self.bot_token, self.signing_secret))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KQA_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    corpus_dir: Path = Field(ROOT / "corpus", description="Folder `kqa ingest` reads by default.")
    index_dir: Path = Field(ROOT / "index" / "store", description="Embedded Chroma folder.")
    chroma_url: str | None = Field(None, description="Chroma server URL (`chroma run`); overrides index_dir.")
    embed_model: str = Field(str(DEFAULT_MODEL_DIR), description="sentence-transformers model name or path.")
    embed_batch_size: int = Field(8, ge=1, description="Passages per forward pass while ingesting.")
    embed_threads: int = Field(0, ge=0, description="Threads per forward pass (0: one per core).")
    embed_backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="auto: questions on ONNX Runtime when the model has an ONNX export, passages on "
        "torch; onnx: both on ONNX Runtime; torch: both on torch.")
    chunking: ChunkOptions = ChunkOptions()
    retrieval: RetrievalOptions = RetrievalOptions()
    answer: AnswerOptions = AnswerOptions()
    server: ServerOptions = ServerOptions()
    data_dir: Path = Field(ROOT / "data", description="Folder for the conversation and feedback database.")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        [], description="API keys (comma-separated); when set, /v1/* needs one as `Authorization: Bearer KEY` "
        "or `X-API-Key: KEY`.")
    history: HistoryOptions = HistoryOptions()
    followup: FollowUpOptions = FollowUpOptions()
    cache: CacheOptions = CacheOptions()
    access: AccessOptions = AccessOptions()
    limits: LimitOptions = LimitOptions()
    slack: SlackOptions = SlackOptions()
    llm: LLMOptions = LLMOptions()

    _split_keys = field_validator("api_keys", mode="before")(_comma_list)

    def store_options(self) -> StoreOptions:
        return StoreOptions(path=self.index_dir, url=self.chroma_url)

    def embed_options(self) -> EmbedOptions:
        return EmbedOptions(model=self.embed_model, batch_size=self.embed_batch_size,
                            threads=self.embed_threads, backend=self.embed_backend)

    def history_path(self) -> Path:
        return self.history.path or self.data_dir / "kqa.sqlite3"
