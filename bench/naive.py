"""The naive LangChain tutorial pipeline, as the baseline for ingest speed and retrieval:
raw files → RecursiveCharacterTextSplitter(1000, 200) → HuggingFaceEmbeddings (same model)
→ langchain_chroma. `python -m bench.naive ingest CORPUS DIR` builds it; `search()` queries it."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter

from index.embed import DEFAULT_MODEL_DIR

COLLECTION = "naive"


def embeddings() -> HuggingFaceEmbeddings:
    return HuggingFaceEmbeddings(model_name=str(DEFAULT_MODEL_DIR), model_kwargs={"device": "cpu"},
                                 encode_kwargs={"normalize_embeddings": True})


def open_store(path: Path) -> Chroma:
    from chromadb.config import Settings as ChromaSettings

    return Chroma(collection_name=COLLECTION, embedding_function=embeddings(), persist_directory=str(path),
                  client_settings=ChromaSettings(anonymized_telemetry=False, is_persistent=True,
                                                 persist_directory=str(path)))


def ingest(corpus: Path, dest: Path) -> dict:
    started = time.perf_counter()
    docs = []
    for p in sorted(corpus.rglob("*.md")):
        text = p.read_text(encoding="utf-8", errors="ignore")
        if text.strip():
            docs.append(Document(page_content=text, metadata={"source": p.relative_to(corpus).as_posix()}))
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = open_store(dest)
    for i in range(0, len(chunks), 1000):  # Chroma's batch limit
        store.add_documents(chunks[i : i + 1000])
    return {"seconds": time.perf_counter() - started, "chunks": len(chunks),
            "characters": sum(len(d.page_content) for d in docs),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(ingest(Path(sys.argv[2]), Path(sys.argv[3]))))
