import logging
import os
from pathlib import Path

import pytest

from corpus.errors import CorpusNotFound
from corpus.load import LoadOptions, Skipped, clean_markdown, read_documents
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


# --- what a hostile corpus folder can do: ingest reads only text that really lies in the folder ---

SECRET = "KQA_SLACK__BOT_TOKEN=xoxb-0000-never-indexed"


def _corpus_with_links(tmp_path: Path) -> Path:
    """A corpus folder whose symlinks point out of it, into it, at a hidden file and round in a loop."""
    outside = tmp_path / "elsewhere"
    (outside / "notes").mkdir(parents=True)
    (outside / "prod.env").write_text(SECRET + "\n")
    (outside / "notes" / "leak.md").write_text(f"# leak\n\n{SECRET}\n")
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "05-namespace.md").write_text("# Namespace\n\nNamespace 隔离进程能看到的视图。\n")
    (corpus / "notes.md").symlink_to(outside / "prod.env")  # the reviewer's `ln -s /somewhere/prod.env`
    (corpus / "shared").symlink_to(outside / "notes", target_is_directory=True)
    (corpus / "sub" / "up.md").symlink_to("../../elsewhere/prod.env")  # relative, still outside
    (corpus / "alias.md").symlink_to("05-namespace.md")  # stays inside: still read
    (corpus / "sub" / "loop").symlink_to("..", target_is_directory=True)
    (corpus / ".env").write_text(SECRET + "\n")
    (corpus / "env.md").symlink_to(".env")  # inside, but at a file ingest never reads itself
    (corpus / "gone.md").symlink_to("deleted.md")
    return corpus


def test_symlinks_whose_real_path_leaves_the_corpus_are_skipped_by_name(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = _corpus_with_links(tmp_path)
    skipped: list[Skipped] = []
    with caplog.at_level(logging.WARNING):
        docs = {d.metadata["source"]: d for d in read_documents(corpus, skipped=skipped)}
    assert set(docs) == {"05-namespace.md", "alias.md"}
    assert docs["alias.md"].page_content == docs["05-namespace.md"].page_content
    assert not any("xoxb" in d.page_content for d in docs.values())
    for name in ("notes.md", "shared", "sub/up.md"):
        assert f"skipped {name}: its real path is outside the corpus folder" in caplog.text
    assert "skipped env.md: its real path is a hidden file" in caplog.text
    assert {s.source: s.reason for s in skipped}["notes.md"] == "its real path is outside the corpus folder"
    assert "skipped gone.md: a broken symlink" in caplog.text
    assert [s.source for s in skipped] == ["env.md", "gone.md", "notes.md", "shared", "sub/up.md"]  # path order


def test_a_symlinked_corpus_folder_is_read_through_its_real_path(tmp_path: Path) -> None:
    corpus = _corpus_with_links(tmp_path)
    (tmp_path / "link").symlink_to(corpus, target_is_directory=True)
    assert {d.metadata["source"] for d in read_documents(tmp_path / "link")} == {"05-namespace.md", "alias.md"}


def test_files_over_max_file_bytes_are_skipped_with_their_size(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "big.md").write_text("# 大文件\n\n" + "容器就是进程。" * 100)  # 2,113 bytes
    (tmp_path / "small.md").write_text("# 小文件\n\n容器就是进程。\n")
    skipped: list[Skipped] = []
    with caplog.at_level(logging.WARNING):
        docs = [d.metadata["source"] for d in read_documents(tmp_path, LoadOptions(max_file_bytes=1000), skipped)]
    assert docs == ["small.md"]
    assert "skipped big.md: 2,113 bytes, over max_file_bytes (1,000)" in caplog.text
    assert [s.source for s in skipped] == ["big.md"]
    assert LoadOptions().max_file_bytes == 5 * 1024 * 1024


def _front_matter(tmp_path: Path, yaml_text: str, caplog: pytest.LogCaptureFixture,
                  options: LoadOptions | None = None) -> dict:
    (tmp_path / "07-image.md").write_text(f"---\n{yaml_text}\n---\n\n# 容器镜像\n\nrootfs 是容器的根文件系统。\n")
    with caplog.at_level(logging.WARNING):
        (doc,) = read_documents(tmp_path, options)
    assert "rootfs 是容器的根文件系统。" in doc.page_content and "---" not in doc.page_content
    return doc.metadata


def test_a_yaml_alias_bomb_in_front_matter_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Under 300 bytes that expand, through aliases, into a title of 35 million characters.
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"{b}: &{b} [{','.join(['*' + a] * 9)}]" for a, b in zip("abcdef", "bcdefg", strict=True)]
    bomb = "\n".join([*levels, "title: *g"])
    assert len(bomb) < 300
    meta = _front_matter(tmp_path, bomb, caplog)
    assert meta["title"] == "容器镜像"  # the first heading, as without front matter
    assert "07-image.md: front matter ignored (YAML aliases are not allowed)" in caplog.text


def test_front_matter_fields_must_be_short_scalars(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    meta = _front_matter(tmp_path, "\n".join([
        "title: [镜像, 容器]",
        f"module: {'长' * 1000}",
        "url: {href: 'https://example.org'}",
        "lecture: 7",
        "lectures: [7, 8]",
        "kind: note",
    ]), caplog)
    assert meta["title"] == "容器镜像" and meta["module"] == "" and meta["url"] is None
    assert meta["lecture"] == 7 and meta["lectures"] == [7, 8] and meta["kind"] == "note"
    assert "07-image.md: front matter title ignored (a list, not text)" in caplog.text
    assert "07-image.md: front matter module ignored (1,000 characters, over 300)" in caplog.text
    assert "07-image.md: front matter url ignored (a mapping, not text)" in caplog.text


@pytest.mark.parametrize("yaml_text", [
    "lecture: " + "7" * 5000,  # int() refuses over 4300 digits: a ValueError, not a YAMLError
    'lecture: "²"',  # "²".isdigit(), but int("²") raises
    "tags: " + "[" * 3000 + "]" * 3000,  # PyYAML composes nested nodes recursively: RecursionError
    "lectures: [" + ", ".join(["7"] * 1000) + "]",
    "lectures: [7, [8]]",
])
def test_odd_front_matter_never_stops_ingest(yaml_text: str, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    meta = _front_matter(tmp_path, yaml_text, caplog)
    assert meta["lecture"] == 7  # from the file name
    assert meta["lectures"] == []


def test_front_matter_over_its_cap_is_ignored_but_not_indexed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    big = "title: 另一个标题\ndescription: " + "很长的描述。" * 1000
    meta = _front_matter(tmp_path, big, caplog)
    assert meta["title"] == "容器镜像"
    assert "07-image.md: front matter ignored (18,036 bytes, over max_front_matter_bytes: 16,384)" in caplog.text
    caplog.clear()
    assert _front_matter(tmp_path, big, caplog, LoadOptions(max_front_matter_bytes=20_000))["title"] == "另一个标题"


def test_file_names_that_are_not_utf8_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Linux allows any bytes; Python hands them over as surrogates, which no database or hash can encode.
    (tmp_path / os.fsdecode(b"\xff-notes.md")).write_text("# 笔记\n\n容器就是进程。\n")
    (tmp_path / "ok.md").write_text("# 笔记\n\n容器就是进程。\n")
    skipped: list[Skipped] = []
    with caplog.at_level(logging.WARNING):
        docs = [d.metadata["source"] for d in read_documents(tmp_path, skipped=skipped)]
    assert docs == ["ok.md"]
    assert [s.reason for s in skipped] == ["its name is not UTF-8"]


def test_long_headings_give_short_titles(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("# " + "标题" * 10_000 + "\n\n正文。\n")
    (doc,) = read_documents(tmp_path)
    assert doc.metadata["title"] == "标题" * 150


def test_malformed_html_is_skipped_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "bad.html").write_text("<p>调度器</p><![ >")  # html.parser raises AssertionError on it
    (tmp_path / "ok.html").write_text("<h1>调度器</h1><p>为 Pod 选节点。</p><a href='x'")  # never closes
    with caplog.at_level(logging.WARNING):
        docs = {d.metadata["source"]: d.page_content for d in read_documents(tmp_path)}
    assert docs == {"ok.html": "# 调度器\n\n为 Pod 选节点。\n"}
    assert "skipped bad.html: malformed HTML" in caplog.text
