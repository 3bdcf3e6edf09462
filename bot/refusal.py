"""When to say "the column does not cover this": the signals, the rule that weighs them, its
thresholds (`RefusalOptions`) and the refusal's text. `bot.answer.gather` applies it; the
operating point and how it was measured are in docs/refusal.md.

Four signals, each cheap and each explainable to a reader:
- `dense`: cosine similarity of the question and the best passage (e5 scores are compressed,
  so this alone cannot separate in-domain from off-topic);
- `margin`: how far the best passage stands above the corpus' background (ranks 21-50): an
  off-topic question finds every passage about equally (un)related;
- `unknown`: identifiers the question asks about (camelCase fields, dotted paths, --flags,
  annotation keys, kubectl subcommands) that the corpus never mentions, even allowing a typo;
- `unseen`: Latin words of a Chinese question (there they are terms: product and tool names,
  fields) that the corpus never uses, is not one typo away from, and the glossary does not map:
  `velero`, `argo`; with only middling evidence, a sign the question is about something else.
The thresholds come from the development sets (docs/refusal.md). A fifth signal, the
idf-weighted share of question terms found in the best passages, was measured and dropped:
colloquial questions score as low on it as off-topic ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from bot.retrieve import Retrieval, Snapshot
from bot.terms import CJK_RUN, DATA, _jieba, glossary_hits, normalize, stopwords, tokens

WORD = re.compile(r"[a-z][a-z0-9-]{2,}")
# CamelCase in any case (podReplicaBalancer, PodSecurityPolicy): at least two humps.
CAMEL = re.compile(r"\b(?:[A-Z][a-z0-9]{1,30}|[a-z]{1,30})(?:[A-Z][a-z0-9]{1,30}){1,8}[A-Z]?\b")
DOTTED = re.compile(r"\b(?:spec|metadata|status|data)\.[\w.]{1,80}")
# Component-style names: kube-meshd, node-local-dns (in an English question only with a known
# prefix or a digit: English has hyphenated words of its own).
HYPHENATED = re.compile(r"\b[a-z][a-z0-9]{0,30}(?:-[a-z0-9]{1,30}){1,5}\b")
COMPONENT = re.compile(r"^(?:kube|k8s|etcd|cri|csi|cni|core|node|cluster|container|docker|runc|pod|ingress|"
                       r"cloud|metrics|istio|calico|flannel|cilium|helm)-|\d")
MAX_NAMES = 24  # names checked per question: a 2,000-character list of made-up names costs no more than this
ANNOTATION = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:io|com|org|dev|sh)/[a-z0-9][\w.-]*")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
KUBECTL = re.compile(r"\bkubectl\s+([a-z][a-z-]*)", re.I)

# "kubectl says ..." is English prose, not a subcommand.
PROSE_VERBS = frozenset(
    "says shows returns reports prints complains fails gives is can will does keeps throws tells outputs hangs "
    "cannot won't doesn't just still only also".split()
)


class RefusalOptions(BaseModel):
    min_dense: float = Field(0.865, description="Refuse below this cosine similarity of the best passage.")
    min_margin: float = Field(0.01, description="Refuse when the best passage stands less than this above "
                                                "the corpus background (cosine).")
    unseen_min_dense: float = Field(0.89, description="Refuse a Chinese question that names a Latin term the "
                                    "corpus never uses when the best passage's cosine is below this.")
    citations: int = Field(3, ge=0, le=10, description="Closest passages shown with a refusal.")


@dataclass(frozen=True)
class Signals:
    dense: float
    margin: float
    unknown: tuple[str, ...]
    unseen: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, float]:
        return {"dense": round(self.dense, 4), "margin": round(self.margin, 4),
                "unknown_terms": float(len(self.unknown)), "unseen_terms": float(len(self.unseen))}


@cache
def kubectl_commands() -> frozenset[str]:
    lines = (DATA / "kubectl-commands.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.startswith("#") for w in line.split())


def signals(snap: Snapshot, question: str, found: Retrieval) -> Signals:
    hits = found.hits
    return Signals(
        dense=hits[0].dense if hits else 0.0,
        margin=found.margin,
        unknown=unknown_identifiers(snap, question),
        unseen=unseen_terms(snap, question),
    )


@cache
def chat_words() -> frozenset[str]:
    """Words of chat, not of a question's subject (怎么, 一直, 咋, 能不能…): data, not code."""
    lines = (DATA / "chat-words.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.startswith("#") for w in line.split())


NOUNS = frozenset({"n", "nz", "nt", "vn", "ns"})  # jieba's tags for nouns (ns: it tags some nouns as places)


def unseen_words(snap: Snapshot, question: str) -> tuple[str, ...]:
    """Chinese content words of the question (nouns, and a one-character noun with the word after
    it: 热+迁移) that occur nowhere in the corpus and that the glossary does not map."""
    if not CJK_RUN.search(question):
        return ()
    words = _pos(question)
    out = []
    for i, (word, flag) in enumerate(words):
        if not CJK_RUN.fullmatch(word):
            continue
        term, after = None, words[i + 1] if i + 1 < len(words) else ("", "")
        if len(word) >= 2 and flag in NOUNS:
            term = word
        elif len(word) == 1 and flag in ("n", "ng") and len(after[0]) >= 2 and after[1] in NOUNS | {"v"} \
                and CJK_RUN.fullmatch(after[0]):
            term = word + after[0]  # 热 + 迁移: a new compound of known parts
        if term and term not in chat_words() and term not in stopwords() and normalize(term) not in snap.text \
                and not glossary_hits(term):
            out.append(term)
    return tuple(dict.fromkeys(out))


@cache
def _posseg() -> Any:
    import jieba.posseg

    _jieba()  # the glossary's words first, so they are not cut apart
    return jieba.posseg


def _pos(text: str) -> list[tuple[str, str]]:
    return [(p.word, p.flag) for p in _posseg().cut(text)]


def refuse(sig: Signals, options: RefusalOptions) -> bool:
    """The calibrated rule: any one weak signal is enough."""
    return (bool(sig.unknown) or sig.margin < options.min_margin or sig.dense < options.min_dense
            or (bool(sig.unseen) and sig.dense < options.unseen_min_dense))


def refusal_text(question: str) -> str:
    """What a refusal says, in the question's language."""
    if CJK_RUN.search(question):
        return "专栏里似乎没有讲到这个问题。下面是最接近的几段内容，供你参考。"
    return "The column does not seem to cover this. Here are the closest passages it has."


def unseen_terms(snap: Snapshot, question: str) -> tuple[str, ...]:
    if not CJK_RUN.search(question):
        return ()  # most words of an English question are absent from a Chinese corpus anyway
    mapped = {t for term in glossary_hits(question) for t in tokens(term)}
    return tuple(dict.fromkeys(
        t for t in tokens(question)
        if WORD.fullmatch(t) and t not in snap.vocab and t not in mapped and not snap.spelling.correct(t)))


def unknown_identifiers(snap: Snapshot, question: str) -> tuple[str, ...]:
    """Names the question asks about (CamelCase, fields, flags, annotations, component names,
    kubectl subcommands) that the corpus never uses, even allowing a typo."""
    chinese = bool(CJK_RUN.search(question))
    found = [m.group(0) for pattern in (CAMEL, DOTTED, FLAG, ANNOTATION) for m in pattern.finditer(question)]
    found += [m.group(0) for m in HYPHENATED.finditer(question) if chinese or COMPONENT.search(m.group(0))]
    found = list(dict.fromkeys(found))[:MAX_NAMES]
    unknown = [ident for ident in found if not _known(snap, ident)]
    for m in KUBECTL.finditer(question):
        word = m.group(1).lower()
        if word not in kubectl_commands() and word not in PROSE_VERBS:
            unknown.append(f"kubectl {m.group(1)}")
    return tuple(dict.fromkeys(unknown))


def _known(snap: Snapshot, ident: str) -> bool:
    """Known if the corpus has it, its last path part, a glossary equivalent, or something one
    typo away (a dictionary lookup, so a question full of names costs little)."""
    name = normalize(ident).lstrip("-")
    last = name.rsplit(".", 1)[-1]
    if name in snap.idf or last in snap.idf or name in snap.text or glossary_hits(name):
        return True
    return snap.spelling.correct(last) is not None or snap.spelling.correct(last.replace("-", "")) is not None
