"""The Chroma store: embedded (`PersistentClient` under the index folder) or a Chroma
server (`KQA_STORE__URL`), with our own embeddings only.

Calls to a server are bounded (`timeout_s`): chromadb's HTTP client waits forever (its httpx
session is built with `timeout=None`, and neither chromadb 1.5.9 nor its main branch offers a
setting or a client of one's own), so each call runs in a daemon thread that the caller stops
waiting for. A server that hangs thus becomes `StoreUnavailable` like one that is gone; at most
`CALLS_IN_FLIGHT` such threads wait on it at once.

Each build writes a fresh collection of passages, and beside it one of the units answers quote
(sentences and list items, `<name>-units`), then flips one pointer (the metadata of the
`kqa-meta` collection), so readers see either the old index or the new one, never half.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlparse

from pydantic import BaseModel, Field

from corpus.errors import KqaError
from corpus.paths import PathSetting

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Include

P = ParamSpec("P")
R = TypeVar("R")
META = "kqa-meta"
PREFIX = "kqa-chunks-"
UNITS = "-units"  # suffix of a build's collection of unit vectors
BATCH = 1000
CALLS_IN_FLIGHT = 8  # calls to a server waited on at once; more wait for a slot, within the same timeout


class StoreOptions(BaseModel):
    path: PathSetting = Field(Path(__file__).parent / "store", description="Embedded Chroma folder.")
    url: str | None = Field(None, description="Chroma server URL; when set, `path` is not used.")
    timeout_s: float = Field(10.0, gt=0, description="Longest wait for one call to a Chroma server; a server that "
                             "has not answered by then counts as unreachable.")


class IndexNotBuilt(KqaError):
    title = "index not built: run kqa ingest"
    status = 503


class ModelMismatch(KqaError):
    title = "index was built with another embedding model"
    status = 503


class StoreUnavailable(KqaError):
    title = "the vector store is not reachable"
    status = 503


@dataclass(frozen=True)
class IndexInfo:
    collection: str
    model: str
    dim: int
    chunks: int
    files: int
    built_at: float

    def check_model(self, model: str) -> None:
        if model != self.model:
            raise ModelMismatch(
                f"index built with {self.model!r}, but the configured model is {model!r}: "
                "re-run kqa ingest or set KQA_EMBED_MODEL back"
            )


@dataclass(frozen=True)
class Records:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    embeddings: list[Any] | None = None


def _client(options: StoreOptions) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if options.url:
        url = urlparse(options.url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https", settings=settings,
        )
    options.path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(options.path), settings=settings)


def within(seconds: float, slots: threading.BoundedSemaphore, fn: Callable[P, R], *args: P.args,
           **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` in a daemon thread, waited for at most `seconds` (TimeoutError after).
    A call given up on runs on and frees its slot when it ends; a daemon thread never holds up exit."""
    started = time.monotonic()
    if not slots.acquire(timeout=seconds):
        raise TimeoutError(f"no answer within {seconds:g} s ({CALLS_IN_FLIGHT} calls still waiting)")
    future: Future[R] = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            slots.release()

    threading.Thread(target=run, name="kqa-chroma-call", daemon=True).start()
    try:
        return future.result(timeout=max(0.0, seconds - (time.monotonic() - started)))
    except TimeoutError:
        raise TimeoutError(f"no answer within {seconds:g} s") from None


class Store:
    def __init__(self, options: StoreOptions) -> None:
        self.options = options
        self._client: ClientAPI | None = None
        self._handle: tuple[str, Collection] | None = None  # (name, collection) last queried
        self._slots = threading.BoundedSemaphore(CALLS_IN_FLIGHT)

    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            try:
                self._client = self._call(_client, self.options)
            except StoreUnavailable:
                raise
            except Exception as exc:
                raise StoreUnavailable(f"cannot open Chroma at {self.where}: {exc}") from exc
        return self._client

    @property
    def where(self) -> str:
        return self.options.url or str(self.options.path)

    def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a Chroma call (a server's within `timeout_s`); a dead or hung server becomes
        StoreUnavailable, not a stack trace or a wait without end."""
        try:
            if self.options.url:
                return within(self.options.timeout_s, self._slots, fn, *args, **kwargs)
            return fn(*args, **kwargs)
        except KqaError:
            raise
        except TimeoutError as exc:
            raise StoreUnavailable(f"Chroma at {self.where}: {exc}") from exc
        except (ConnectionError, OSError) as exc:
            raise StoreUnavailable(f"Chroma at {self.where}: {exc.__class__.__name__}") from exc
        except Exception as exc:
            if exc.__class__.__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
                raise StoreUnavailable(f"Chroma at {self.where}: {exc.__class__.__name__}") from exc
            raise

    def _meta(self) -> Collection:
        return self._call(self.client.get_or_create_collection, META, embedding_function=None)

    def info(self) -> IndexInfo | None:
        meta = self._meta().metadata or {}
        if not meta.get("active"):
            return None
        return IndexInfo(
            collection=meta["active"], model=meta["model"], dim=int(meta["dim"]),
            chunks=int(meta["chunks"]), files=int(meta.get("files", 0)), built_at=float(meta["built_at"]),
        )

    def require(self, model: str) -> IndexInfo:
        info = self.info()
        if info is None:
            raise IndexNotBuilt(f"no index in {self.where}: run kqa ingest")
        info.check_model(model)
        return info

    def records(self, name: str, embeddings: bool = False) -> Records:
        col = self._call(self.client.get_collection, name, embedding_function=None)
        include: Include = ["documents", "metadatas", "embeddings"] if embeddings else ["documents", "metadatas"]
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        vecs: list[Any] = []
        offset = 0
        while True:
            page = self._call(col.get, include=include, limit=BATCH * 5, offset=offset)
            ids += page["ids"]
            texts += page["documents"] or []
            metas += [dict(m) for m in page["metadatas"] or []]
            if embeddings:
                vecs += list(page["embeddings"] if page["embeddings"] is not None else [])
            if len(page["ids"]) < BATCH * 5:
                break
            offset += len(page["ids"])
        return Records(ids, texts, metas, vecs if embeddings else None)

    def query(self, name: str, vector: Any, k: int) -> tuple[list[str], list[float]]:
        # The handle is kept (a lookup costs as much as the query); a failed query drops it.
        kept = self._handle
        col = kept[1] if kept and kept[0] == name else self._call(self.client.get_collection, name,
                                                                  embedding_function=None)
        try:
            res = self._call(col.query, query_embeddings=[vector], n_results=k, include=["distances"])
        except Exception:
            self._handle = None
            raise
        self._handle = (name, col)
        return res["ids"][0], (res["distances"] or [[]])[0]

    def create_staging(self) -> str:
        """A new, unpublished pair of collections (passages, and units); returns the passages' name."""
        name = f"{PREFIX}{int(time.time() * 1000)}-{uuid.uuid4().hex[:6]}"
        for collection in (name, name + UNITS):
            self._call(self.client.create_collection, collection, embedding_function=None,
                       configuration={"hnsw": {"space": "cosine"}})
        return name

    def has(self, name: str) -> bool:
        return name in set(self._names())

    def delete(self, name: str) -> None:
        """Remove a build's collections (passages and units), whichever exist."""
        for collection in (name, name + UNITS):
            if self.has(collection):
                self._call(self.client.delete_collection, collection)

    def add(self, name: str, ids: list[str], texts: list[str], metas: list[dict[str, Any]], vectors: Any) -> None:
        col = self._call(self.client.get_collection, name, embedding_function=None)
        for i in range(0, len(ids), BATCH):
            batch: list[Mapping[str, Any]] = list(metas[i : i + BATCH])
            self._call(
                col.add, ids=ids[i : i + BATCH], documents=texts[i : i + BATCH],
                metadatas=batch, embeddings=vectors[i : i + BATCH],
            )

    def publish(self, name: str, model: str, dim: int, chunks: int, files: int) -> None:
        """The one step that makes a build visible."""
        meta = {"active": name, "model": model, "dim": dim, "chunks": chunks, "files": files,
                "built_at": time.time()}
        self._call(self._meta().modify, metadata=meta)

    def drop_inactive(self) -> list[str]:
        """Remove collections left by earlier builds, finished or interrupted."""
        info = self.info()
        active = info.collection if info else None
        dropped = []
        for name in self._names():
            if name.startswith(PREFIX) and name not in (active, f"{active}{UNITS}"):
                self._call(self.client.delete_collection, name)
                dropped.append(name)
        return dropped

    def _names(self) -> Iterator[str]:
        for col in self._call(self.client.list_collections):
            yield col if isinstance(col, str) else col.name
