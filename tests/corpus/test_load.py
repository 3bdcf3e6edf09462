import logging
from pathlib import Path

import pytest

from corpus.errors import CorpusNotFound
from corpus.load import clean_markdown, read_documents
from tests.conftest import CORPUS


def test_reads_text_files_recursively_and_skips_bad_ones_by_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        docs = {d.metadata["source"]: d for d in read_documents(CORPUS)}
    assert set(docs) == {"05-namespace.md", "06-cgroups.md", "network/37-service-dns.md", "scheduler.html",
                         "storage.txt"}
    warned = caplog.text
    for bad in ("binary.md: binary file", "empty.md: empty file", "latin1.txt: not UTF-8"):
        assert bad in warned


def test_front_matter_heading_and_file_name_give_metadata() -> None:
    docs = {d.metadata["source"]: d.metadata for d in read_documents(CORPUS)}
    assert docs["05-namespace.md"]["lecture"] == 5  # from the file name
    assert docs["05-namespace.md"]["url"] == "https://example.org/notes/namespace"
    assert docs["05-namespace.md"]["module"] == "容器技术概念入门篇"
    assert docs["06-cgroups.md"]["lecture"] == 6  # from front matter
    assert docs["06-cgroups.md"]["title"] == "用 Cgroups 限制容器资源"
    assert docs["scheduler.html"]["title"] == "默认调度器"  # first heading
    assert docs["storage.txt"]["title"] == "storage"  # file name
    assert docs["storage.txt"]["lecture"] is None


def test_comments_go_and_shortcodes_keep_their_visible_text() -> None:
    docs = {d.metadata["source"]: d.page_content for d in read_documents(CORPUS)}
    ns = docs["05-namespace.md"]
    assert "<!--" not in ns and "编辑看的" not in ns
    assert "{{" not in ns
    assert "Pod 里的每个容器" in ns
    assert "Mount Namespace 是 Linux 中第一个出现的 Namespace。" in ns
    html = docs["scheduler.html"]
    assert "alert" not in html and "color:red" not in html and "注释" not in html
    assert "## 抢占" in html and "kubectl get priorityclass" in html


def test_markdown_links_keep_their_label_outside_code() -> None:
    text = clean_markdown("见 [Pod 文档](/docs/pod/ \"t\") 一节。\n\n```\n[x](y)\n```\n")
    assert "见 Pod 文档 一节。" in text
    assert "[x](y)" in text


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusNotFound, match="corpus folder not found"):
        list(read_documents(tmp_path / "nope"))
