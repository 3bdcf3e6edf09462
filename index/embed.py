"""The embedding model: any sentence-transformers model, loaded once per process.

It implements LangChain's `Embeddings` so a chain (or `langchain_chroma`) can use it as is;
the hot path calls `encode_query` directly to skip list conversions. When the folder carries an
ONNX export (the default model does), questions run on ONNX Runtime: same vectors, ~1.6x faster,
and a serving process never imports torch.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from corpus.errors import KqaError
from index.onnx_model import ONNX_FILE, OnnxEncoder

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "multilingual-e5-small"
T = TypeVar("T")
QUERY_TOKENS = 64  # a question's tokens that are embedded (the longest of 1,062 development questions has 53)


class EmbedOptions(BaseModel):
    model: str = Field(str(DEFAULT_MODEL_DIR), description="sentence-transformers model name or folder.")
    batch_size: int = Field(8, ge=1, description="Passages per forward pass while ingesting.")
    threads: int = Field(0, ge=0, description="Threads per forward pass (0: one per core).")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="auto: questions on ONNX Runtime when the model folder has an ONNX export, "
        "passages on torch; onnx: both on ONNX Runtime (no torch needed); torch: both on torch.")


class ModelUnavailable(KqaError):
    title = "embedding model not available"
    status = 503


class Embedder(Embeddings):
    def __init__(self, options: EmbedOptions) -> None:
        self.options = options

    @cached_property
    def path(self) -> Path:
        path = Path(self.options.model)
        if path == DEFAULT_MODEL_DIR and not (path / ONNX_FILE).exists():
            from index.build_model import ensure_model

            log.info("building the default embedding model into %s", path)
            ensure_model(path)
        return path

    @cached_property
    def onnx(self) -> OnnxEncoder | None:
        """The ONNX Runtime encoder, when the backend allows it and the folder has an export."""
        if self.options.backend == "torch" or (self.options.backend == "auto" and not (self.path / ONNX_FILE).exists()):
            return None
        return self._load(lambda: OnnxEncoder(self.path, self.options.threads))

    @cached_property
    def model(self) -> Any:
        """The sentence-transformers model (torch)."""
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.setdefault(var, "1")

        def load() -> Any:
            import torch
            from sentence_transformers import SentenceTransformer

            if self.options.threads:
                torch.set_num_threads(self.options.threads)
            return SentenceTransformer(str(self.path), device="cpu")

        return self._load(load)

    def _load(self, load: Callable[[], T]) -> T:
        try:
            return load()
        except Exception as exc:  # any load failure is the same thing to a user
            raise ModelUnavailable(f"cannot load embedding model {self.options.model!r}: {exc}") from exc

    @cached_property
    def identity(self) -> str:
        """A name that says which weights these are, stable across folders and machines."""
        marker = Path(self.options.model) / "kqa-model.json"
        if marker.exists():
            return str(json.loads(marker.read_text())["name"])
        return self.options.model

    @property
    def dim(self) -> int:
        return self.onnx.dim if self.onnx else int(self.model.get_embedding_dimension())

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        # Passages stay on torch unless told otherwise: on this CPU it is as fast or faster than
        # ONNX Runtime for inputs of hundreds of tokens (bench/results/experiments.md).
        if self.options.backend == "onnx" and self.onnx:
            return self.onnx.encode(texts, "document", self.options.batch_size)
        # sentence-transformers sorts by length before batching, so padding stays small.
        return np.asarray(self.model.encode_document(
            texts, batch_size=self.options.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        ))

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector, from its first QUERY_TOKENS tokens: a question is a sentence or
        two, and a pasted page must not cost a reader's worth of model time."""
        if self.onnx:
            return np.asarray(self.onnx.encode([text], "query", max_tokens=QUERY_TOKENS)[0])
        text = text[: QUERY_TOKENS * 2]  # sentence-transformers would take 512 tokens; about as many
        return np.asarray(self.model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)[0])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.encode_passages(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.encode_query(text).tolist()
        return vector
