"""Block Kit rendering: escaping and Slack's size limits, on answers made up to break them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from api.slack import blocks as sb
from api.slack.events import plain
from bot.answer import Answer, Citation
from bot.bot import Reply


def cite(n: int, text: str = "Cgroups 限制 CPU。", url: str | None = "https://example.org/a?x=1&y=2",
         lecture: int | None = 6) -> Citation:
    return Citation(n=n, source="06-cgroups.md", title="Cgroups <限制>", lecture=lecture, section="CPU & 内存",
                    quote=text[:40], text=text, score=0.5, url=url)


def answer(text: str, citations: list[Citation], refused: bool = False, question: str = "Cgroups 怎么限制 CPU？"
           ) -> Answer:
    return Answer(question=question, answer=text, refused=refused, citations=citations, took_ms=1.0)


def all_text(blocks: list[dict]) -> list[str]:
    out = []
    for b in blocks:
        if "text" in b and isinstance(b["text"], dict):
            out.append(b["text"]["text"])
        out.extend(e["text"] for e in b.get("elements", []) if isinstance(e.get("text"), str))
    return out


def test_user_and_corpus_text_is_escaped() -> None:
    hostile = "<!channel> <@U123> a & b <https://evil.example|click>"
    reply = Reply("a1", answer(f"{hostile}[1]", [cite(1, f"{hostile}。")]))
    rendered = json.dumps(sb.answer_blocks(reply), ensure_ascii=False)
    assert "<!channel>" not in rendered and "<@U123>" not in rendered and "<https://evil" not in rendered
    assert "&lt;!channel&gt; &lt;@U123&gt; a &amp; b" in rendered
    # Only our own link survives as a link, with its & escaped.
    assert "<https://example.org/a?x=1&amp;y=2|source>" in rendered
    assert sb.link("javascript:alert(1)", "x") == "" and sb.link("https://a.example/x|y>", "x").startswith(
        "<https://a.example/x%7Cy&gt;|")


def test_sections_stay_within_3000_characters_and_never_cut_an_escape() -> None:
    text = ("a&b<c>" * 700 + "。") * 3  # 12,600 escaped characters per sentence... and no other break
    pieces = sb.split_escaped(text)
    assert all(0 < len(p) <= sb.SECTION_CHARS for p in pieces)
    joined = "".join(pieces)
    assert joined.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") == text
    for p in pieces:
        assert p.count("&") == p.count(";")  # every escape whole inside its piece


def test_sentences_are_kept_whole_when_they_fit() -> None:
    sentences = [f"第{i}句话讲的是容器和 Cgroups 的关系。" for i in range(400)]
    pieces = sb.split_escaped("".join(sentences))
    assert len(pieces) > 1 and all(p.endswith("。") for p in pieces)


def test_a_long_answer_becomes_several_messages_of_at_most_50_blocks() -> None:
    long_text = "".join(f"这是第{i}句，讲 Pod 的生命周期和容器的关系。[1]" for i in range(6000))
    reply = Reply("a1", answer(long_text, [cite(n) for n in range(1, 11)]), "c1", ["Pod"])
    messages = sb.answer_messages(reply)
    assert len(messages) > 1
    assert all(len(m.blocks) <= sb.MESSAGE_BLOCKS and 0 < len(m.text) <= sb.TEXT_CHARS for m in messages)
    assert all(len(t) <= sb.SECTION_CHARS for m in messages for t in all_text(m.blocks))
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert sum(b["type"] == "actions" for m in messages for b in m.blocks) == 1
    assert len(messages[0].text) <= sb.FALLBACK_CHARS


def test_buttons_carry_the_answer_id_and_the_question_when_it_fits() -> None:
    reply = Reply("abc123", answer("x[1]", [cite(1)]), "c1", ["Pod"])  # asked: the question and the term
    values = {e["action_id"]: e["value"] for e in sb.answer_blocks(reply, share=True)[-1]["elements"]}
    assert values[sb.UP] == values[sb.DOWN] == "abc123"
    assert sb.parse_reference(values[sb.PASSAGES]) == ("abc123", "Cgroups 怎么限制 CPU？ Pod")
    assert sb.parse_reference(values[sb.SHARE]) == ("abc123", "Cgroups 怎么限制 CPU？ Pod")
    huge = Reply("abc123", answer("x[1]", [cite(1)], question="问" * 2500))
    assert sb.parse_reference(sb.reference(huge)) == ("abc123", "")
    assert all(len(e["value"]) <= sb.BUTTON_VALUE_CHARS for e in sb.answer_blocks(huge)[-1]["elements"])
    assert sb.parse_reference("not json") == ("", "") and sb.parse_reference('{"id": 3}') == ("", "")


def test_citation_context_names_lecture_title_section_quote_and_link() -> None:
    block = sb.citation_block(cite(2))
    line = block["elements"][0]["text"]
    assert line.startswith("*[2]* 第06讲 Cgroups &lt;限制&gt; › CPU &amp; 内存\n“Cgroups 限制 CPU。”")
    assert line.endswith("<https://example.org/a?x=1&amp;y=2|原文>")
    no_link = sb.citation_block(cite(1, url=None, lecture=None))["elements"][0]["text"]
    assert no_link.startswith("*[1]* Cgroups") and "<http" not in no_link
    # A FAQ entry is named as one: its title is a reader's question, not the lecture's title.
    entry = replace(cite(3, lecture=15), source="faq/052-crashloopbackoff.md",
                    title="Pod 一直 CrashLoopBackOff 怎么办？", section="")
    faq = sb.citation_block(entry)["elements"][0]["text"]
    assert faq.startswith("*[3]* FAQ（第15讲）Pod 一直 CrashLoopBackOff 怎么办？\n")


def test_passages_modal_within_view_limits() -> None:
    view = sb.passages_view(answer("x[1]", [cite(n, "长" * 5000) for n in range(1, 30)]))
    assert view["type"] == "modal" and len(view["blocks"]) <= sb.MODAL_BLOCKS
    assert all(len(t) <= sb.SECTION_CHARS for t in all_text(view["blocks"]))
    assert len(view["title"]["text"]) <= 24


@pytest.mark.parametrize(("message", "question"), [
    ("<@U0KQA> Pod 是什么？", "Pod 是什么？"),
    ("<@U0KQA|kqa>  why &lt;none&gt; &amp; pending?", "why <none> & pending?"),
    ("see <https://k8s.io/docs|the docs> and <#C123|general>", "see the docs and general"),
    ("<https://k8s.io/x> ?", "https://k8s.io/x ?"),
])
def test_slack_messages_become_plain_questions(message: str, question: str) -> None:
    assert plain(message) == question
