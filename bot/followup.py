"""Follow-up questions, both ways: with a chat model, condensed into one standalone question;
without one (or when that fails), searched together with the key terms of earlier turns.

Carrying key terms: a conversation remembers, for each turn, its key terms: the glossary terms it mentions
(`StatefulSet`, `有状态应用`, `headless service`) and name-like identifiers (`Pod`,
`kube-apiserver`, `CLONE_NEWPID`). A new message that refers back ("那它和 Deployment
有什么区别？", "DaemonSet 呢？", "and how do I debug that?") and names few terms of its own is
searched together with the previous turn's terms, and the response lists them
(`context_terms`) so the reader sees what was assumed. A message that names its own topic
starts afresh.

Condensing (with a model): the conversation so far and the new message become one standalone
question, searched instead of the message (LangChain's history-aware pattern: the earlier turns go
in as chat history, the model rewrites the last message and does not answer it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field

from bot.generate import Generator, reason
from bot.terms import IDENT, glossary_hits, normalize, stopwords

log = logging.getLogger("kqa.followup")

# Words that point back at an earlier turn.
REFER_ZH = re.compile(r"它|这个|那个|这种|那种|这些|那些|其中|上面|上述|刚才|前面|^那|^这|^还有|^另外|呢\s*[？?]?\s*$")
REFER_EN = re.compile(
    r"\b(?:it|its|it's|this|that|these|those|they|them|their|same|above|previous|"
    r"what about|how about)\b", re.I)
# Latin words that name something: capitalised, or containing digits or ./_-: characters.
NAME_LIKE = re.compile(r"[A-Z]|[0-9]|[./_:-]")
LATIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./:+#-]*[A-Za-z0-9_]|[A-Za-z]")


SHORT = 12  # characters: "然后呢？", "why?", "怎么查？" are follow-ups even without 它/this


class FollowUpOptions(BaseModel):
    max_terms: int = Field(6, ge=0, le=20, description="Most terms carried from earlier turns (0: never carry).")
    own_terms: int = Field(2, ge=0, description="A message that refers back (它/那个/this/that) and names at most "
                                                "this many terms of its own is a follow-up.")


def key_terms(text: str) -> list[str]:
    """Glossary terms and name-like identifiers of `text`, as written, in order, no repeats."""
    found: list[tuple[int, str]] = []
    hits = glossary_hits(text)
    for term in hits:
        if any(term != other and term in other for other in hits):
            continue  # "容器" inside "容器镜像": keep the longer one
        found.append(_locate(text, term))
    for m in LATIN.finditer(text):
        word = m.group(0)
        norm = normalize(word)
        if NAME_LIKE.search(word) and norm not in stopwords() and IDENT.fullmatch(norm) and len(norm) > 1:
            found.append((m.start(), word))
    out: dict[str, str] = {}
    for _, term in sorted(found, key=lambda f: (f[0], -len(f[1]))):
        key = normalize(term)
        if not any(key in k or k in key for k in out):
            out[key] = term
    return list(out.values())


def refers_back(text: str) -> bool:
    return bool(REFER_ZH.search(text) or REFER_EN.search(text))


def carry(message: str, earlier: Iterable[str], options: FollowUpOptions,
          known: Callable[[str], bool] = lambda _: True) -> list[str]:
    """The earlier terms to search with `message`, or [] when it stands on its own.

    `known` filters out terms the index has never seen (they could only add noise, or make
    an answerable follow-up look like a question about something unknown).
    """
    if not options.max_terms:
        return []
    own = key_terms(message)
    back = refers_back(message)
    if own and not (back and len(own) <= options.own_terms):
        return []
    if not own and not back and len(message.strip()) > SHORT:
        return []  # names nothing and points at nothing: a new topic, perhaps off-topic; don't disguise it
    said = normalize(message)
    carried: list[str] = []
    for term in earlier:
        key = normalize(term)
        if key in said or any(normalize(c) == key for c in carried) or not known(term):
            continue
        carried.append(term)
        if len(carried) == options.max_terms:
            break
    return carried


def search_text(message: str, carried: list[str]) -> str:
    """What retrieval sees: the message, then the carried terms."""
    return f"{message} {' '.join(carried)}" if carried else message


def _locate(text: str, term: str) -> tuple[int, str]:
    """Where a (normalised) glossary term occurs in `text`, and how it is written there."""
    m = re.search(re.escape(term), text, re.I)
    if m:
        return m.start(), m.group(0)
    m = re.search(re.escape(term), normalize(text))
    return (m.start() if m else len(text)), term


# With a model: condensing

CONDENSE_SYSTEM = """You rewrite the reader's latest message about the column 《深入剖析Kubernetes》 as \
one standalone question that can be understood without the chat history: resolve "it", \
"that", "它", "那个" and the like to what they refer to in the history. Keep the latest \
message's language. Do not answer it. If it already stands on its own, return it unchanged. \
Reply with the question only."""

CONDENSE_PROMPT = ChatPromptTemplate.from_messages(
    [("system", CONDENSE_SYSTEM), MessagesPlaceholder("chat_history"), ("human", "{input}")])
HISTORY_TURNS = 6  # earlier messages shown to the model


def condense_chain(model: Any) -> Runnable[dict[str, Any], str]:
    """{chat_history: list of messages, input: str} → the standalone question."""
    chain: Runnable[dict[str, Any], str] = CONDENSE_PROMPT | model | StrOutputParser()
    return chain


class Condenser:
    def __init__(self, generator: Generator, max_chars: int = 2000) -> None:
        self.generator, self.max_chars = generator, max_chars
        self.chain = condense_chain(generator.model)

    def condense(self, earlier: list[str], message: str, deadline: float) -> str | None:
        """The standalone question for `message` after the earlier messages, or None (no
        history, or the model failed: the caller carries key terms instead)."""
        if not earlier:
            return None
        history = [HumanMessage(m) for m in earlier[-HISTORY_TURNS:]]
        try:
            text = self.generator.invoke(self.chain, {"chat_history": history, "input": message}, deadline)
        except Exception as exc:
            log.warning("follow-up not condensed (%s); carrying key terms instead",
                        reason(exc, self.generator.options))
            return None
        return clean(text, self.max_chars)


def clean(text: str, max_chars: int) -> str | None:
    """The question in the model's reply: its first non-empty line, unquoted, within the limit."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    line = line.strip("\"'“”「」` ")
    return line[:max_chars] or None
