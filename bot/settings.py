"""The one settings object. Built once at an entry point (the CLI, the app) and passed down.

Environment variables use the `KQA_` prefix and `__` between a group and its field
(`KQA_RETRIEVAL__CANDIDATES=60`, `KQA_STORE__URL=http://chroma:8000`). Each stage defines its own
options model next to the code that uses it; this module only composes the ones the bot needs.
The doors add theirs (server, access, limits, Slack) in `api.settings`.

Names of the previous release (`KQA_INDEX_DIR`, `KQA_CHROMA_URL`, `KQA_EMBED_MODEL`, ...) are still
read, with a warning naming the new one, when the new one is not set (`RENAMED`). A few common
names are read as they are, without a warning (`ALIASES`: `KQA_DATABASE_URL`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, ClassVar

from dotenv import dotenv_values
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.answer import AnswerOptions
from bot.database import DatabaseOptions
from bot.followup import FollowUpOptions
from bot.generate import LLMOptions
from bot.history import HistoryOptions
from bot.refusal import RefusalOptions
from bot.retrieve import RetrievalOptions
from corpus.chunk import ChunkOptions
from corpus.load import LoadOptions
from corpus.paths import PathSetting
from index.embed import EmbedOptions
from index.store import StoreOptions

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "KQA_"
log = logging.getLogger("kqa.settings")


class CacheOptions(BaseModel):
    answers: int = Field(2048, ge=0, description="Finished answers kept in memory per process (0: no cache).")


class QuestionOptions(BaseModel):
    max_chars: int = Field(2000, ge=10, description="Longer questions are refused (HTTP 422).")
    max_top_k: int = Field(20, ge=1, description="Largest top_k / k a client may ask for.")


# Old variable → (group, field) it became. Read for one release, with a warning.
RENAMED: dict[str, tuple[str, ...]] = {
    "KQA_INDEX_DIR": ("store", "path"),
    "KQA_CHROMA_URL": ("store", "url"),
    "KQA_EMBED_MODEL": ("embed", "model"),
    "KQA_EMBED_BATCH_SIZE": ("embed", "batch_size"),
    "KQA_EMBED_THREADS": ("embed", "threads"),
    "KQA_EMBED_BACKEND": ("embed", "backend"),
    "KQA_SERVER__MAX_QUESTION_CHARS": ("questions", "max_chars"),
    "KQA_SERVER__MAX_TOP_K": ("questions", "max_top_k"),
    "KQA_ANSWER__MIN_DENSE": ("refusal", "min_dense"),
    "KQA_ANSWER__MIN_MARGIN": ("refusal", "min_margin"),
    "KQA_ANSWER__UNSEEN_MIN_DENSE": ("refusal", "unseen_min_dense"),
    "KQA_ANSWER__REFUSAL_CITATIONS": ("refusal", "citations"),
}


# Names read as well as the nested one, without a warning: what operators expect to set.
ALIASES: dict[str, tuple[str, ...]] = {
    "KQA_DATABASE_URL": ("database", "url"),
}


def env_name(path: tuple[str, ...]) -> str:
    return PREFIX + "__".join(path).upper()


class Renamed(PydanticBaseSettingsSource):
    """Values given under a renamed variable or an alias (environment or .env), below the nested
    names in priority; a renamed one is warned about."""

    def __init__(self, settings_cls: type[BaseSettings], renamed: dict[str, tuple[str, ...]],
                 aliases: dict[str, tuple[str, ...]] | None = None) -> None:
        super().__init__(settings_cls)
        self.renamed, self.aliases = renamed, aliases or {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        given = written(self.config.get("env_file"))
        out: dict[str, Any] = {}
        for old, path in {**self.renamed, **self.aliases}.items():
            if old not in given or given[old][1] is None:
                continue
            if old in self.renamed:
                log.warning("%s is deprecated and will be removed in the next release: use %s", old, env_name(path))
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = given[old][1]
        return out


def written(env_file: Any) -> dict[str, tuple[str, str | None, str]]:
    """The `KQA_*` variables given, by upper-case name (pydantic-settings reads any case): each as
    written, its value, and where it was given (the environment wins over the `.env` file)."""
    given: dict[str, tuple[str, str | None, str]] = {}
    sources: list[tuple[str, dict[str, str | None]]] = []
    if isinstance(env_file, str | Path) and Path(env_file).exists():
        sources.append((str(env_file), dotenv_values(env_file)))
    sources.append(("environment", dict(os.environ)))
    for where, values in sources:
        given.update({k.upper(): (k, v, where) for k, v in values.items() if k.upper().startswith(PREFIX)})
    return given


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="__", env_file=".env", extra="ignore")
    renamed: ClassVar[dict[str, tuple[str, ...]]] = RENAMED

    corpus_dir: PathSetting = Field(ROOT / "corpus", description="Folder `kqa ingest` reads by default.")
    data_dir: PathSetting = Field(ROOT / "data", description="Folder for the conversation and feedback database.")
    loading: LoadOptions = LoadOptions()
    chunking: ChunkOptions = ChunkOptions()
    embed: EmbedOptions = EmbedOptions()
    store: StoreOptions = StoreOptions()
    retrieval: RetrievalOptions = RetrievalOptions()
    answer: AnswerOptions = AnswerOptions()
    refusal: RefusalOptions = RefusalOptions()
    questions: QuestionOptions = QuestionOptions()
    followup: FollowUpOptions = FollowUpOptions()
    history: HistoryOptions = HistoryOptions()
    database: DatabaseOptions = DatabaseOptions()
    cache: CacheOptions = CacheOptions()
    llm: LLMOptions = LLMOptions()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, Renamed(settings_cls, cls.renamed, ALIASES),
                file_secret_settings)

    def history_path(self) -> Path:
        return self.history.path or self.data_dir / "kqa.sqlite3"

    def history_location(self) -> Path | str:
        """Where the history lives: the database URL when one is set, else the SQLite file."""
        return self.database.url.get_secret_value() if self.database.url else self.history_path()
