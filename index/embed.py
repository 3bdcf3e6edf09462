"""The embedding model: any sentence-transformers model, loaded once per process.

It implements LangChain's `Embeddings` so a chain (or `langchain_chroma`) can use it as is;
the hot path calls `encode_query` directly to skip list conversions.
"""

from __future__ import annotations

import json
import logging
import os
from functools import cached_property
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from corpus.errors import KqaError

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "multilingual-e5-small"


class EmbedOptions(BaseModel):
    model: str = Field(str(DEFAULT_MODEL_DIR), description="sentence-transformers model name or folder.")
    batch_size: int = Field(8, ge=1, description="Passages per forward pass while ingesting.")
    threads: int = Field(0, ge=0, description="torch threads (0: one per core).")


class ModelUnavailable(KqaError):
    title = "embedding model not available"
    status = 503


class Embedder(Embeddings):
    def __init__(self, options: EmbedOptions) -> None:
        self.options = options

    @cached_property
    def model(self):
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.setdefault(var, "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        path = Path(self.options.model)
        if path == DEFAULT_MODEL_DIR and not (path / "kqa-model.json").exists():
            from index.build_model import build_model

            log.info("building the default embedding model into %s", path)
            build_model(path)
        try:
            return SentenceTransformer(self.options.model, device="cpu")
        except Exception as exc:  # any load failure is the same thing to a user
            raise ModelUnavailable(f"cannot load embedding model {self.options.model!r}: {exc}") from exc

    @cached_property
    def identity(self) -> str:
        """A name that says which weights these are, stable across folders and machines."""
        marker = Path(self.options.model) / "kqa-model.json"
        if marker.exists():
            return json.loads(marker.read_text())["name"]
        return self.options.model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        # sentence-transformers sorts by length before batching, so padding stays small.
        return self.model.encode_document(
            texts, batch_size=self.options.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )

    def encode_query(self, text: str) -> np.ndarray:
        return self.model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_query(text).tolist()
