"""Corpus folder → chunks → vectors → a new Chroma collection, published in one step.

Beside the passages, every sentence and list item of every section is embedded too (the units
collection): answers are composed from units, and a question's closeness to each is then a dot
product, not a model call.

Incremental: files whose bytes (and the chunking / model settings) are unchanged keep
their vectors, copied from the previous collection; only new or edited files are embedded;
deleted files simply are not copied. An unchanged corpus publishes nothing at all. Files the
loader skips (outside the folder, too large, binary...) are listed in the report.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from tqdm import tqdm

from corpus.chunk import Chunk, ChunkOptions, chunk_document, sections
from corpus.load import COLUMN, LoadOptions, Skipped, read_documents
from corpus.sentences import units_of
from index.embed import Embedder
from index.store import UNITS, IndexNotBuilt, Records, Store

log = logging.getLogger(__name__)
EMBED_BATCH = 256
# Bump when read_documents', chunk_document's or units_of's output changes for the same options. 2: front
# matter, titles and section names are capped (an index built before may hold a bomb's expansion);
# sentences and list items get vectors of their own. 3: HTML list items are `- ` lines, a saved web page
# is its article only, chunks carry `kind` and `page`. 4, 5: a Latin full stop ends a sentence only when it
# ends a word, before a capital, a quote, a Chinese character or the line's end.
CHUNKER_VERSION = "5"


@dataclass
class BuildReport:
    files: int = 0
    embedded_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded_chunks: int = 0
    characters: int = 0
    unchanged: bool = False
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)  # in path order; names as on disk, not escaped
    unmapped: list[tuple[str, str]] = field(default_factory=list)  # (source, title) of texts of no lecture

    def summary(self) -> str:
        """One line; the skipped files' and unmapped texts' names are the caller's to print (they may need
        escaping)."""
        skipped = f", skipped {len(self.skipped)} files" if self.skipped else ""
        skipped += f", {len(self.unmapped)} texts of no lecture" if self.unmapped else ""
        if self.unchanged:
            return f"index up to date: {self.files} files, {self.chunks} chunks{skipped} ({self.seconds:.1f}s)"
        return (
            f"indexed {self.files} files, {self.chunks} chunks: embedded {self.embedded_chunks} chunks "
            f"from {len(self.embedded_files)} new or changed files, removed {len(self.removed_files)} files"
            f"{skipped} ({self.seconds:.1f}s)"
        )


def file_key(file_hash: str, options: ChunkOptions, model: str, loading: LoadOptions | None = None) -> str:
    """Changes when the file, the chunking, the model or the front matter cap changes: any of them means
    re-embed (max_file_bytes only decides which files are read)."""
    front_matter = (loading or LoadOptions()).max_front_matter_bytes
    recipe = f"{file_hash}|{options.model_dump_json()}|{model}|{front_matter}|{CHUNKER_VERSION}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:32]


def build_index(
    corpus_dir: Path, store: Store, embedder: Embedder, options: ChunkOptions, progress: bool = True,
    loading: LoadOptions | None = None, added: Sequence[Path] = (),
) -> BuildReport:
    """Index `corpus_dir` and the `added` folders (a reader's copy beside the shipped corpus), whose
    texts are named under the folder's name (`my-copy/book.pdf#001`)."""
    started = time.perf_counter()
    report = BuildReport()
    docs = list(read_documents(corpus_dir, loading, report.skipped))
    for folder, prefix in _prefixes(corpus_dir, added):
        skipped: list[Skipped] = []
        for doc in read_documents(folder, loading, skipped):
            doc.metadata["source"] = prefix + doc.metadata["source"]
            docs.append(doc)
        report.skipped += [Skipped(prefix + s.source, s.reason) for s in skipped]
    for doc in docs:
        doc.metadata["file_hash"] = file_key(doc.metadata["file_hash"], options, embedder.identity, loading)
    wanted = {d.metadata["source"]: d.metadata["file_hash"] for d in docs}
    report.files = len(docs)
    report.unmapped = [(d.metadata["source"], d.metadata["title"]) for d in docs if d.metadata["lecture"] is None]

    info = store.info()
    usable = info is not None and info.model == embedder.identity and store.has(info.collection + UNITS)
    old = store.records(info.collection, embeddings=True) if info and usable else None
    old_units = store.records(info.collection + UNITS, embeddings=True) if info and usable else None
    have = {m["source"]: m["file_hash"] for m in old.metadatas} if old else {}
    if info and have == wanted:
        report.unchanged, report.chunks = True, info.chunks
        store.drop_inactive()
        report.seconds = time.perf_counter() - started
        return report

    changed = [d for d in docs if have.get(d.metadata["source"]) != d.metadata["file_hash"]]
    report.embedded_files = [d.metadata["source"] for d in changed]
    report.removed_files = sorted(set(have) - set(wanted))
    new_chunks = [c for d in changed for c in chunk_document(d, options)]
    report.characters = sum(len(d.page_content) for d in changed)

    staging = store.create_staging()
    try:
        if old and old_units:
            report.chunks += _copy_kept(store, staging, old, wanted)
            _copy_kept(store, staging + UNITS, old_units, wanted)
        _embed_into(store, staging, embedder, new_chunks, progress)
        _embed_units(store, staging + UNITS, embedder, changed, progress)
        report.chunks += len(new_chunks)
        report.embedded_chunks = len(new_chunks)
        # Only ask the model for its size when it ran: loading it costs seconds.
        dim = embedder.dim if new_chunks or not info else info.dim
        store.publish(staging, embedder.identity, dim, report.chunks, report.files)
    except BaseException:
        # Interrupted or failed: the published index is untouched; drop the half-built copy.
        try:
            store.delete(staging)
        except Exception:  # the store may be what failed; the next build cleans up
            log.warning("could not remove staging collection %s", staging)
        raise
    store.drop_inactive()
    report.seconds = time.perf_counter() - started
    return report


def holdings(store: Store) -> dict[int | None, dict[str, int]]:
    """What the published index holds, by lecture: how many texts are the column's own (`original`),
    notes (`note`) and FAQ entries (`faq`). Raises IndexNotBuilt before the first ingest."""
    info = store.info()
    if info is None:
        raise IndexNotBuilt(f"no index in {store.where}: run kqa ingest")
    texts: dict[str, tuple[int | None, str]] = {}
    for meta in store.records(info.collection).metadatas:
        lecture = meta.get("lecture", -1)
        kind = meta.get("kind", "")
        group = "original" if kind == COLUMN else "faq" if kind == "faq" or meta["source"].startswith("faq/") \
            else "note"
        texts[meta["source"]] = (None if lecture in (-1, None) else int(lecture), group)
    out: dict[int | None, dict[str, int]] = {}
    for lecture, group in texts.values():
        row = out.setdefault(lecture, {})
        row[group] = row.get(group, 0) + 1
    return out


def _prefixes(corpus_dir: Path, added: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each added folder (not one the corpus folder holds already) with the name its texts go under:
    its own, unless the corpus folder or an earlier one has it."""
    root = corpus_dir.resolve()
    taken = {p.name for p in corpus_dir.iterdir()} if corpus_dir.is_dir() else set()
    out = []
    for folder in added:
        if folder.resolve().is_relative_to(root):
            continue  # read already
        name = folder.resolve().name or "added"
        while name in taken:
            name += "-added"
        taken.add(name)
        out.append((folder, name + "/"))
    return out


def _copy_kept(store: Store, name: str, old: Records, wanted: dict[str, str]) -> int:
    """Copy the records of unchanged files into the new collection; returns how many."""
    keep = [i for i, m in enumerate(old.metadatas) if wanted.get(m["source"]) == m["file_hash"]]
    vectors = old.embeddings or []
    store.add(name, [old.ids[i] for i in keep], [old.texts[i] for i in keep], [old.metadatas[i] for i in keep],
              [vectors[i] for i in keep])
    return len(keep)


def units_of_document(doc: Document) -> list[tuple[str, str, dict[str, str]]]:
    """(id, text, metadata) of every sentence and list item of the document, by section, as
    bot.compose finds them (code is quoted only as a whole and is not embedded)."""
    text, meta = doc.page_content, doc.metadata
    out: dict[str, tuple[str, str, dict[str, str]]] = {}
    for path, start, end in sections(text):
        for unit in units_of(text[start:end]):
            if unit.kind == "code":
                continue
            uid = hashlib.sha1(f"{meta['source']}\0{path}\0{unit.text}".encode()).hexdigest()[:20]
            out[uid] = (uid, unit.text, {"source": meta["source"], "section": path, "file_hash": meta["file_hash"]})
    return list(out.values())


def _embed_units(store: Store, name: str, embedder: Embedder, docs: list[Document], progress: bool) -> None:
    units = sorted((u for d in docs for u in units_of_document(d)), key=lambda u: len(u[1]), reverse=True)
    with tqdm(total=len(units), unit="sentence", desc="sentences", disable=not progress) as bar:
        for i in range(0, len(units), EMBED_BATCH * 4):
            batch = units[i : i + EMBED_BATCH * 4]
            vectors = embedder.encode_passages([u[1] for u in batch])
            store.add(name, [u[0] for u in batch], [u[1] for u in batch], [u[2] for u in batch],
                      np.asarray(vectors))
            bar.update(len(batch))


def _embed_into(store: Store, name: str, embedder: Embedder, chunks: list[Chunk], progress: bool) -> None:
    # Longest first: similar lengths share a batch, so padding wastes little.
    order = sorted(chunks, key=lambda c: len(c.headed_text), reverse=True)
    with tqdm(total=len(order), unit="chunk", desc="embedding", disable=not progress) as bar:
        for i in range(0, len(order), EMBED_BATCH):
            batch = order[i : i + EMBED_BATCH]
            vectors = embedder.encode_passages([c.headed_text for c in batch])
            store.add(name, [c.id for c in batch], [c.text for c in batch],
                      [c.metadata() for c in batch], np.asarray(vectors))
            bar.update(len(batch))
