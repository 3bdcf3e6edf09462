import pytest

from corpus.chunk import ChunkOptions, chunk_document, sections
from corpus.load import read_documents
from tests.conftest import CORPUS, K8S_DOCS


def _docs() -> dict:
    return {d.metadata["source"]: d for d in read_documents(CORPUS)}


def test_chunks_carry_metadata_and_exact_offsets() -> None:
    for doc in _docs().values():
        chunks = chunk_document(doc, ChunkOptions())
        assert chunks
        for c in chunks:
            assert doc.page_content[c.start : c.end] == c.text
            assert c.source == doc.metadata["source"] and c.title == doc.metadata["title"]
            assert c.lecture == doc.metadata["lecture"]
            assert len(c.hash) == 16 and c.id


def test_heading_path_becomes_section_and_headings_do_not_leak_into_text() -> None:
    chunks = chunk_document(_docs()["05-namespace.md"], ChunkOptions())
    by_section = {c.section: c.text for c in chunks}
    assert "PID Namespace" in by_section and "Mount Namespace" in by_section
    assert "CLONE_NEWPID" in by_section["PID Namespace"]
    assert not any(c.text.startswith("#") for c in chunks)


def test_code_fence_is_never_cut_when_it_fits() -> None:
    small = ChunkOptions(size=120, overlap=20, max_size=600)
    chunks = chunk_document(_docs()["network/37-service-dns.md"], small)
    fenced = [c.text for c in chunks if "```yaml" in c.text]
    assert len(fenced) == 1
    block = fenced[0][fenced[0].index("```yaml") :]
    assert block.count("```") == 2 and "name: web" in block


def test_oversized_code_block_is_cut_at_lines_within_the_limit() -> None:
    from langchain_core.documents import Document

    code = "```bash\n" + "".join(f"echo line-{i}\n" for i in range(200)) + "```\n"
    doc = Document(page_content="# t\n\n" + code, metadata={"source": "x.md", "title": "t", "lecture": None})
    chunks = chunk_document(doc, ChunkOptions(size=200, overlap=0, max_size=300))
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(line.startswith(("echo line-", "```")) for c in chunks for line in c.text.splitlines())


def test_sentences_split_on_chinese_and_english_ends_with_overlap() -> None:
    from langchain_core.documents import Document

    text = "# t\n\n" + "".join(f"第{i}句讲容器。" for i in range(60)) + " This is English. And more!"
    doc = Document(page_content=text, metadata={"source": "x.md", "title": "t", "lecture": None})
    chunks = chunk_document(doc, ChunkOptions(size=100, overlap=30))
    assert len(chunks) > 3
    assert all(c.text.endswith(("。", ".", "!")) for c in chunks)
    assert chunks[1].start < chunks[0].end  # overlap


def test_sections_ignore_hash_lines_inside_code() -> None:
    text = "# T\n\nintro\n\n## A\n\n```bash\n# not a heading\n```\n\n## B\n\nb\n"
    assert [p for p, _, _ in sections(text)] == ["", "A", "B"]


@pytest.mark.skipif(not K8S_DOCS.exists(), reason="../shared/k8s-docs-zh not present")
def test_the_kubernetes_docs_load_and_chunk_cleanly() -> None:
    docs = list(read_documents(K8S_DOCS))
    assert len(docs) > 100
    total = 0
    for doc in docs:
        for c in chunk_document(doc, ChunkOptions()):
            total += 1
            assert "<!--" not in c.text and "{{<" not in c.text and "{{%" not in c.text, c.source
            assert doc.page_content[c.start : c.end] == c.text
            assert len(c.text) <= ChunkOptions().max_size
    assert total > 1500


def test_long_heading_names_are_cut_in_the_section_path() -> None:
    # A section name rides along in every chunk's metadata and embedded text: a 20,000-character
    # heading would be stored, and embedded, once per chunk under it.
    text = "# T\n\n## " + "很长" * 10_000 + "\n\n正文。\n"
    assert [p for p, _, _ in sections(text)] == ["很长" * 150]
