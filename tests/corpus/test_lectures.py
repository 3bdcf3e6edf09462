import json
from pathlib import Path

import pytest

from corpus.lectures import lecture, lectures, match_title, split_number

VARIANTS = Path(__file__).parent.parent / "data" / "title-variants.jsonl"


def test_all_54_lectures_load_in_order_with_titles_and_modules() -> None:
    table = lectures()
    assert [lec.number for lec in table] == list(range(54))
    assert all(lec.title and lec.module for lec in table)
    assert table[5].title == "白话容器基础（一）：从进程说开去"
    assert table[5].module == "容器技术概念入门篇"
    assert lecture(53) is not None and lecture(54) is None and lecture(-1) is None


def test_a_copy_named_only_by_titles_maps_every_lecture_of_the_outline() -> None:
    assert {match_title(lec.title) for lec in lectures()} == set(range(54))
    assert all(match_title(lec.title) == lec.number for lec in lectures())


@pytest.mark.parametrize("form", ["pipe", "web", "lecture", "lecture-padded", "bare", "subtitle", "book-chapter",
                                  "book-section", "half-width", "page-title", "full-width-bar", "changed",
                                  "no-lecture"])
def test_every_title_variant_maps_to_its_lecture(form: str) -> None:
    rows = [json.loads(line) for line in VARIANTS.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["form"] == form]
    assert rows
    got = {r["title"]: match_title(r["title"]) for r in rows}
    wrong = [(r["title"], r["lecture"], got[r["title"]]) for r in rows if got[r["title"]] != r["lecture"]]
    assert wrong == []


def test_a_lecture_number_decides_only_when_written_as_one() -> None:
    assert split_number("第 05 讲 | 标题") == (5, "标题")
    assert split_number("05丨标题") == (5, "标题")
    assert split_number("开篇词 | 标题") == (0, "标题")
    assert split_number("第5章 标题") == (None, "标题")  # the book's chapter, not the column's lecture
    assert match_title("第 12 讲 一个改得面目全非的标题") == 12
    assert match_title("第12章 一个改得面目全非的标题") is None


def test_the_title_wins_over_a_lecture_number_that_disagrees() -> None:
    assert match_title("07 | 白话容器基础（一）：从进程说开去") == 5
