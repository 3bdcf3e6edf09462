"""A reader's copy of the column, built at test time from texts of our own: saved web pages, an
EPUB, PDFs (plain, encrypted, image-only). Only the lecture titles are the column's (they are data:
corpus/data/lectures.json); every sentence here was written for these tests."""

from __future__ import annotations

from html import escape

# Our own sentences, one short "lecture" per key, each with a heading, a list and a code block.
TEXTS = {
    5: ("进程与视图", ["容器里的应用看到的只是宿主机给它准备的一小块视图。",
                     "这块视图由命名空间划定，而能用多少资源由控制组决定。"],
        ["视图：命名空间负责", "资源：控制组负责"], "$ echo our-own-test-line"),
    6: ("限制从哪里来", ["控制组把进程能用的处理器时间写成文件里的数字。",
                      "改动这些数字，进程能用的资源就跟着改变。"],
        ["处理器份额写在文件里", "内存上限同样如此"], "$ cat /tmp/our-own-limit"),
    13: ("一组进程", ["几个紧密协作的进程常常需要放在同一台机器上运行。",
                    "把它们当成一个整体来调度，是这个抽象存在的理由。"],
         ["共享网络", "共享存储卷"], "$ echo our-own-group"),
}
NAV = ["首页", "全部课程", "登录注册", "专栏目录"]
COMMENTS = ["读者甲：这是一条留言，写得真好，我终于懂了！", "读者乙：请问下一讲什么时候更新？"]
FOOTER = "版权所有 © 某学习网站 京ICP备00000000号"


def article_html(lecture: int, title: str) -> str:
    heading, paragraphs, items, code = TEXTS[lecture]
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    li = "".join(f"<li>{escape(i)}</li>" for i in items)
    return (f"<h1>{escape(title)}</h1><p>作者：测试作者　2020-01-01</p>{body}<h2>{escape(heading)}</h2>"
            f"<ul>{li}</ul><pre><code>{escape(code)}\n</code></pre><p>以上就是我们为测试写的全部正文内容。</p>")


def saved_page(lecture: int, title: str) -> str:
    """A lecture page as a browser saves it: navigation, a table of contents, the article, comments,
    links to the next lecture and a footer."""
    nav = "".join(f'<a href="/{i}">{n}</a> ' for i, n in enumerate(NAV))
    comments = "".join(f'<li class="comment"><p>{escape(c)}</p></li>' for c in COMMENTS)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)} - 某学习网站</title></head>"
            f"<body><header><nav>{nav}</nav></header>"
            f"<aside class='sidebar'><h3>专栏目录</h3><ul><li><a href='/1'>01 | 目录里的一讲</a></li>"
            f"<li><a href='/2'>02 | 目录里的另一讲</a></li></ul></aside>"
            f"<div class='main'><article>{article_html(lecture, title)}</article>"
            f"<div class='comments'><h3>精选留言(2)</h3><ul>{comments}</ul></div>"
            f"<div class='pager'><a href='/next'>下一讲 | 07 | 下一讲的标题</a><a href='/prev'>上一讲</a></div></div>"
            f"<footer><p>{FOOTER}</p></footer></body></html>")


def noise() -> list[str]:
    """Text of a saved page that is not the article, none of which may be indexed."""
    return [*NAV, "目录里的一讲", *COMMENTS, "精选留言", "下一讲", "上一讲", FOOTER, "某学习网站"]


def epub_book(chapters: list[tuple[str | None, str]], path: str) -> None:
    """An EPUB 3 of `chapters` (title in the table of contents, or None for a file with no entry;
    XHTML body), in that reading order, written with ebooklib."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("kqa-test-book")
    book.set_title("我们自己的测试书")
    book.set_language("zh")
    items, toc = [], []
    for i, (title, body) in enumerate(chapters):
        item = epub.EpubHtml(title=title or f"part {i}", file_name=f"text/ch{i:02d}.xhtml", lang="zh")
        item.content = f"<html><body>{body}</body></html>"
        book.add_item(item)
        items.append(item)
        if title is not None:
            toc.append(epub.Link(f"text/ch{i:02d}.xhtml", title, f"ch{i:02d}"))
    book.toc = toc
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(path, book)


def pdf_book(path: str, pages: list[list[str]], outline: list[tuple[str, int]] | None = None,
             password: str | None = None, image_only: bool = False) -> None:
    """A PDF of `pages` (each a list of lines), in reportlab's built-in Chinese font (no font file),
    with bookmarks (title, 0-based page) when given, encrypted with a user password when given, or
    with no text at all (shapes only, as a scan without OCR)."""
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    pdf = canvas.Canvas(path, pagesize=A5, encrypt=password)
    for i, lines in enumerate(pages):
        for title, page in outline or []:
            if page == i:
                pdf.bookmarkPage(f"p{i}-{title}")
                pdf.addOutlineEntry(title, f"p{i}-{title}", level=0)
        if image_only:
            pdf.rect(40, 300, 200, 150, fill=1)
        else:
            pdf.setFont("STSong-Light", 11)
            y = 560
            for line in lines:
                pdf.drawString(30, y, line)
                y -= 18
        pdf.showPage()
    pdf.save()
