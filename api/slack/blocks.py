"""Answers as Slack Block Kit: pure functions from an Answer to message payloads.

An answer message is its text (Slack mrkdwn, with the `[n]` markers), a context block per
citation (lecture, title, section, the quote, a link when there is one), then buttons: show
passages, 👍, 👎 and, for an answer only the caller sees, share in channel. A refusal lists the
closest passages the same way. All user and corpus text is escaped for mrkdwn (&, <, >), and
everything is cut to Slack's limits: 3,000 characters a section, 50 blocks a message (more
blocks become more messages), 40,000 characters of fallback text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.answer import Answer, Citation, place
from bot.bot import Reply
from bot.terms import is_chinese

SECTION_CHARS = 3000  # a section's text, a context element's text
MESSAGE_BLOCKS = 50  # blocks in one message
MODAL_BLOCKS = 100  # blocks in one view
TEXT_CHARS = 40000  # a message's top-level text (Slack truncates beyond)
FALLBACK_CHARS = 3000  # what we put there: notifications and screen readers read it
BUTTON_VALUE_CHARS = 2000
QUOTE_CHARS = 280
QUOTES_SHOWN = 4  # sentences quoted from one passage that its context block lists
TITLE_CHARS = 120

PASSAGES = "kqa_passages"
UP = "kqa_feedback_up"
DOWN = "kqa_feedback_down"
SHARE = "kqa_share"
ACTIONS = (PASSAGES, UP, DOWN, SHARE)

Block = dict[str, Any]
BREAK = re.compile(r"(?<=[\n。！？；.!?;])")


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[Block]


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str:
    """`<url|label>` for an http(s) URL, or "" for anything else."""
    if not url or not re.match(r"https?://[^\s]+$", url):
        return ""
    return f"<{escape(url).replace('|', '%7C')}|{escape(label)}>"


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_escaped(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """`text` escaped and cut into pieces of at most `limit` characters, at line or sentence
    ends where possible, never inside an escape (`&amp;`)."""
    pieces: list[str] = []
    current = ""
    for unit in BREAK.split(text):
        unit = escape(unit)
        while len(unit) > limit:  # one sentence longer than a whole piece: cut between characters
            room = limit - len(current)
            cut = _safe_cut(unit, room) if room > 0 else 0
            if cut:
                current += unit[:cut]
                unit = unit[cut:]
            pieces.append(current)
            current = ""
        if len(current) + len(unit) > limit:
            pieces.append(current)
            current = ""
        current += unit
    if current.strip() or not pieces:
        pieces.append(current)
    return [p.strip() or p for p in pieces if p.strip()] or [""]


def _safe_cut(escaped: str, room: int) -> int:
    """The longest prefix within `room` that does not end inside `&amp;`, `&lt;` or `&gt;`."""
    cut = min(room, len(escaped))
    amp = escaped.rfind("&", max(0, cut - 4), cut)
    if amp != -1 and escaped.find(";", amp) >= cut:
        cut = amp
    return cut


def lecture_label(c: Citation) -> str:
    return place(c.lecture, clip(c.title, TITLE_CHARS), clip(c.section, TITLE_CHARS), c.source)


def citation_block(c: Citation) -> Block:
    """Where passage n is, and each sentence the answer quoted from it (marker by marker)."""
    source = link(c.url, "原文" if is_chinese(c.quote) else "source")
    quotes = (c.quotes or [c.quote])[:QUOTES_SHOWN]
    shown = "\n".join(f"“{escape(clip(q, QUOTE_CHARS))}”" for q in quotes)
    line = f"*[{c.n}]* {escape(lecture_label(c))}\n{shown}"
    if source:
        line += f"  {source}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": line[:SECTION_CHARS]}]}


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    b: Block = {"type": "button", "text": {"type": "plain_text", "text": label, "emoji": True},
                "action_id": action_id, "value": value[:BUTTON_VALUE_CHARS]}
    if style:
        b["style"] = style
    return b


def reference(reply: Reply) -> str:
    """A button's value: the answer id, and the text asked when it fits (so another worker
    process, or this one after a restart, can show the same passages again)."""
    full = json.dumps({"id": reply.answer_id, "q": reply.asked}, ensure_ascii=False)
    return full if reply.asked and len(full) <= BUTTON_VALUE_CHARS else json.dumps({"id": reply.answer_id})


def parse_reference(value: str) -> tuple[str, str]:
    """(answer id, text asked) from a button value; ("", "") when it is not one of ours."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return "", ""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return "", ""
    asked = data.get("q")
    return data["id"], asked if isinstance(asked, str) else ""


def answer_blocks(reply: Reply, share: bool = False) -> list[Block]:
    ans = reply.answer
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}
                           for piece in split_escaped(ans.answer)]
    if reply.context_terms:
        terms = ", ".join(f"`{escape(t)}`" for t in reply.context_terms)
        note = f"_接着前面的问题，一并检索了：_ {terms}" if is_chinese(ans.question) else \
            f"_Read as a follow-up; also searched for:_ {terms}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note[:SECTION_CHARS]}]})
    if ans.refused and ans.citations:
        label = "最接近的段落：" if is_chinese(ans.question) else "The closest passages:"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{label}*"}})
    blocks.extend(citation_block(c) for c in ans.citations)
    ref = reference(reply)
    buttons = [button("Show passages", PASSAGES, ref)] if ans.citations else []
    buttons += [button("👍", UP, reply.answer_id), button("👎", DOWN, reply.answer_id)]
    if share:
        buttons.append(button("Share in channel", SHARE, ref, style="primary"))
    blocks.append({"type": "actions", "block_id": "kqa_actions", "elements": buttons})
    return blocks


def fallback_text(reply: Reply) -> str:
    """The message's plain text: the answer, then its sources, within FALLBACK_CHARS."""
    lines = [reply.answer.answer] + [f"[{c.n}] {lecture_label(c)}" for c in reply.answer.citations]
    return clip_lines(escape("\n".join(lines)), FALLBACK_CHARS)


def clip_lines(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = _safe_cut(text, limit - 1)
    return text[:cut] + "…"


def messages(blocks: list[Block], text: str, per_message: int = MESSAGE_BLOCKS) -> list[Message]:
    """Blocks spread over as many messages as Slack's 50-block limit needs; the buttons (the
    last block) stay with the last message, and every message carries fallback text."""
    text = clip_lines(text, TEXT_CHARS)
    groups = [blocks[i: i + per_message] for i in range(0, len(blocks), per_message)] or [[]]
    if len(groups) > 1 and len(groups[-1]) == 1 and groups[-1][0].get("type") == "actions":
        groups[-2], groups[-1] = groups[-2][:-1], [groups[-2][-1], *groups[-1]]
    return [Message(text if i == 0 else f"{clip_lines(text, 200)} ({i + 1}/{len(groups)})", g)
            for i, g in enumerate(groups)]


def answer_messages(reply: Reply, share: bool = False) -> list[Message]:
    return messages(answer_blocks(reply, share), fallback_text(reply))


def notice(text: str) -> Message:
    """A one-line message (looking…, an error, thanks), escaped."""
    safe = escape(text)
    return Message(safe, [{"type": "section", "text": {"type": "mrkdwn", "text": safe[:SECTION_CHARS]}}])


def modal(title: str, blocks: list[Block]) -> Block:
    return {"type": "modal", "title": {"type": "plain_text", "text": title[:24]},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": blocks[:MODAL_BLOCKS]}


def passages_view(answer: Answer) -> Block:
    """A modal with each cited passage in full, in citation order."""
    blocks: list[Block] = []
    for c in answer.citations:
        head = f"*[{c.n}] {escape(lecture_label(c))}*"
        source = link(c.url, "原文" if is_chinese(c.text) else "source")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{head}  {source}".strip()}})
        blocks.extend({"type": "section", "text": {"type": "mrkdwn", "text": piece}}
                      for piece in split_escaped(c.text))
        blocks.append({"type": "divider"})
    blocks = blocks[:MODAL_BLOCKS] or notice("No passages.").blocks
    if blocks[-1]["type"] == "divider":
        blocks.pop()
    return modal("Passages", blocks)
