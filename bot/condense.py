"""Follow-ups with a model: the conversation so far and the new message → one standalone
question, searched instead of the message (LangChain's history-aware pattern: the earlier
turns go in as chat history, the model rewrites the last message and does not answer it).

Without a model, or when condensing fails or runs out of time, the keyword carry-over of
bot/followup.py is used instead.
"""

from __future__ import annotations

import logging

from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable

from bot.generate import Generator, reason

log = logging.getLogger("kqa.condense")

SYSTEM = """You rewrite the reader's latest message about the column 《深入剖析Kubernetes》 as \
one standalone question that can be understood without the chat history: resolve "it", \
"that", "它", "那个" and the like to what they refer to in the history. Keep the latest \
message's language. Do not answer it. If it already stands on its own, return it unchanged. \
Reply with the question only."""

PROMPT = ChatPromptTemplate.from_messages(
    [("system", SYSTEM), MessagesPlaceholder("chat_history"), ("human", "{input}")])
HISTORY_TURNS = 6  # earlier messages shown to the model


def build_chain(model: object) -> Runnable:
    """{chat_history: list of messages, input: str} → the standalone question."""
    return PROMPT | model | StrOutputParser()


class Condenser:
    def __init__(self, generator: Generator, max_chars: int = 2000) -> None:
        self.generator, self.max_chars = generator, max_chars
        self.chain = build_chain(generator.model)

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
