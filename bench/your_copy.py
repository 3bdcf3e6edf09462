"""Figures for a reader's own copy of the column (bench/results/README.md, "Your own copy").

1. Ingest throughput (reading and cutting, chars/s) of a 300-page Chinese PDF of our own making
   against the same text as Markdown, in one run. Embedding is left out: it costs the same per
   character whatever the format.
2. The share of chapter titles mapped to the right lecture on tests/data/title-variants.jsonl.
3. What each candidate library gives on Chinese text: pypdf against pdfplumber on the same PDF, and
   readability-lxml against trafilatura on saved pages (each only when installed; `pip install
   pdfplumber trafilatura` to compare).

    .venv/bin/python -m bench.your_copy [--pages 300]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from corpus.chunk import ChunkOptions, chunk_document
from corpus.lectures import lectures, match_title
from corpus.load import read_documents
from corpus.text import html_to_text

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ROOT / "tests" / "data" / "title-variants.jsonl"
LINE = 26  # characters per printed line (A5, 11 pt)
TOPICS = ["进程", "命名空间", "控制组", "镜像", "调度", "网络", "存储卷", "控制器", "服务发现", "日志"]


def our_text(pages: int) -> list[list[str]]:
    """`pages` pages of our own sentences, a lecture's title on every sixth page."""
    out = []
    for p in range(pages):
        lines = []
        if p % 6 == 0:
            lines.append(f"{(p // 6) % 54:02d} | {lectures()[(p // 6) % 54].title}")
        para = "".join(f"第{p + 1}页第{i + 1}句：我们在这里用自己的话说明{TOPICS[(p + i) % len(TOPICS)]}"
                       f"的作用，以及它和{TOPICS[(p + 2 * i + 1) % len(TOPICS)]}之间的关系。" for i in range(9))
        lines += [para[i:i + LINE] for i in range(0, len(para), LINE)]
        out.append(lines)
    return out


def write_pdf(path: Path, pages: list[list[str]]) -> None:
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    pdf = canvas.Canvas(str(path), pagesize=A5)
    for lines in pages:
        pdf.setFont("STSong-Light", 11)
        for i, line in enumerate(lines):
            pdf.drawString(24, 570 - 17 * i, line)
        pdf.showPage()
    pdf.save()


def write_markdown(folder: Path, pages: list[list[str]]) -> None:
    """The same text as Markdown, one file per lecture as the PDF is cut."""
    parts: list[list[str]] = []
    for lines in pages:
        if match_title(lines[0]) is not None:
            parts.append([f"# {lines[0]}\n"])
            lines = lines[1:]
        parts[-1].append("".join(lines) + "\n")
    for i, part in enumerate(parts):
        (folder / f"part{i:03d}.md").write_text("\n".join(part), encoding="utf-8")


def throughput(folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    docs = list(read_documents(folder))
    chunks = [c for d in docs for c in chunk_document(d, ChunkOptions())]
    seconds = time.perf_counter() - started
    chars = sum(len(d.page_content) for d in docs)
    return {"documents": len(docs), "chunks": len(chunks), "chars": chars, "seconds": round(seconds, 3),
            "chars_per_s": round(chars / seconds)}


def pdf_libraries(path: Path, pages: list[list[str]]) -> dict[str, dict[str, float]]:
    """Seconds and the share of each page's characters (spaces and line breaks aside) recovered."""
    expected = ["".join(lines) for lines in pages]

    def score(texts: list[str], seconds: float) -> dict[str, float]:
        same = sum(re.sub(r"\s", "", t) == e.replace(" ", "") for t, e in zip(texts, expected, strict=True))
        return {"seconds": round(seconds, 2), "pages_exact": round(same / len(expected), 3)}

    out = {}
    from pypdf import PdfReader

    started = time.perf_counter()
    texts = [p.extract_text() or "" for p in PdfReader(str(path)).pages]
    out["pypdf"] = score(texts, time.perf_counter() - started)
    try:
        import pdfplumber
    except ImportError:
        return out
    started = time.perf_counter()
    with pdfplumber.open(str(path)) as pdf:
        texts = [p.extract_text() or "" for p in pdf.pages]
    out["pdfplumber"] = score(texts, time.perf_counter() - started)
    return out


def html_libraries() -> dict[str, dict[str, object]]:
    """On saved pages of our own: is the article whole (paragraphs, list items, code block), is
    anything else in, does a `snake_case` term survive as written."""
    from readability import Document as Readable

    from tests.corpus.copies import TEXTS, noise, saved_page

    def check(extract: object) -> dict[str, object]:
        kept, leaked, exact = 0, 0, 0
        for n in TEXTS:
            term = "<p>设置 cpu.cfs_quota_us 即可。</p></article>"
            html = saved_page(n, lectures()[n].title).replace("</article>", term)
            text = extract(html)  # type: ignore[operator]
            heading, paragraphs, items, code = TEXTS[n]
            kept += all(p in text for p in [*paragraphs, *items, heading, code])
            leaked += sum(x in text for x in noise())
            exact += "cpu.cfs_quota_us" in text
        return {"pages_whole": f"{kept}/{len(TEXTS)}", "noise_leaked": leaked,
                "terms_as_written": f"{exact}/{len(TEXTS)}"}

    out = {
        "readability (min_text_length 25)": check(lambda h: html_to_text(Readable(h).summary(html_partial=True))),
        "readability (min_text_length 8)": check(
            lambda h: html_to_text(Readable(h, min_text_length=8).summary(html_partial=True))),
    }
    try:
        import trafilatura
    except ImportError:
        return out
    out["trafilatura (markdown)"] = check(lambda h: trafilatura.extract(
        h, output_format="markdown", include_formatting=True, include_comments=False) or "")
    return out


def titles() -> dict[str, object]:
    rows = [json.loads(line) for line in VARIANTS.read_text(encoding="utf-8").splitlines()]
    right = [match_title(r["title"]) == r["lecture"] for r in rows]
    forms: dict[str, list[bool]] = {}
    for r, ok in zip(rows, right, strict=True):
        forms.setdefault(r["form"], []).append(ok)
    return {"variants": len(rows), "mapped_right": sum(right), "share": round(sum(right) / len(rows), 4),
            "by_form": {f: f"{sum(v)}/{len(v)}" for f, v in forms.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    pages = our_text(args.pages)
    with tempfile.TemporaryDirectory() as tmp:
        pdf_dir, md_dir = Path(tmp) / "pdf", Path(tmp) / "md"
        pdf_dir.mkdir()
        md_dir.mkdir()
        write_pdf(pdf_dir / "book.pdf", pages)
        write_markdown(md_dir, pages)
        report = {"pdf": throughput(pdf_dir), "markdown": throughput(md_dir),
                  "pdf_libraries": pdf_libraries(pdf_dir / "book.pdf", pages)}
    report["titles"] = titles()
    report["html_libraries"] = html_libraries()
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
