"""When to say "the column does not cover this": the signals, the rule that weighs them, its
thresholds (`RefusalOptions`) and the refusal's text. `bot.answer.gather` applies it; the
operating point and how it was measured are in docs/refusal.md.

Four signals, each cheap and each explainable to a reader:
- `dense`: cosine similarity of the question and the closest of the best three passages (e5
  scores are compressed, so this alone cannot separate in-domain from off-topic; an English question scores lower
  against the Chinese corpus, so it has a floor of its own);
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

from bot.retrieve import LECTURE_NAMED, Hit, Retrieval, Snapshot
from bot.terms import (
    CHOOSE,
    CJK_RUN,
    COMPARISON,
    DATA,
    PAIR,
    _jieba,
    expand,
    glossary_hits,
    in_glossary,
    is_chinese,
    normalize,
    stopwords,
    tokens,
)

WORD = re.compile(r"[a-z][a-z0-9-]{2,}")
TITLED = re.compile(r"(?<![A-Za-z0-9_.-])[A-Z][a-z]{3,30}(?![A-Za-z0-9_-])")
# CamelCase in any case (podReplicaBalancer, PodSecurityPolicy): at least two humps.
CAMEL = re.compile(r"\b(?:[A-Z][a-z0-9]{1,30}|[a-z]{1,30})(?:[A-Z][a-z0-9]{1,30}){1,8}[A-Z]?\b"
                   # an acronym as a hump, last (stickyPodIP, hostIPC) or first (HTTPRoute, OOMKilled); not
                   # an acronym's plural (PVCs) or version (IPv6)
                   r"|\b[a-z]{1,30}(?:[A-Z][a-z0-9]{1,30}){0,8}[A-Z]{2,6}\b|\b[A-Z]{2,6}(?:[A-Z][a-z0-9]{2,30}){1,8}\b")
DOTTED = re.compile(r"\b(?:spec|metadata|status|data)\.[\w.]{1,80}")
# Component-style names: kube-meshd, node-local-dns (in an English question only with a known
# prefix or a digit: English has hyphenated words of its own).
HYPHENATED = re.compile(r"\b[a-z][a-z0-9]{0,30}(?:-[a-z0-9]{1,30}){1,5}\b")
COMPONENT = re.compile(r"^(?:kube|k8s|etcd|cri|csi|cni|core|node|cluster|container|docker|runc|pod|ingress|"
                       r"cloud|metrics|istio|calico|flannel|cilium|helm)-|\d|"
                       # ... or what a component's name ends in: dcgm-exporter, external-dns, cert-manager
                       r"-(?:exporter|operator|controller|manager|agent|dns|proxy|plugin|provisioner|server|daemon|"
                       r"injector|webhook|gateway|autoscaler|driver)$")
# ... but not an English compound of prose ("docker-built images", "cluster-wide", "node-level"): its last
# part is a participle or an adjective-forming word, which no component name ends in.
PROSE_COMPOUND = re.compile(r"-(?:[a-z]+ed|built|based|level|wide|native|specific|aware|scoped|side|only|friendly|"
                            r"compatible|ready|style|like|free|facing)$")
# A placeholder in a name (app.kubernetes.io/xxx, <name>): the question means a family of names.
PLACEHOLDER = re.compile(r"(?:^|[/.\-_])(?:x{2,}|y{2,}|foo|bar|\*|<[^>]*>|\.\.\.)(?:$|[/.\-_])")
MAX_VALUES = 6  # `field: Value` pairs checked per question
SCAN_CHARS = 200  # what of a question its terms are looked up from
MAX_NAMES = 24  # names checked per question: a 2,000-character list of made-up names costs no more than this
ANNOTATION = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:io|com|org|dev|sh)/[a-z0-9][\w.-]*")
# A word with a digit inside it is a product's name (k9s, k3s, s3fs); the corpus not having it means another topic.
DIGITED = re.compile(r"(?<![\w./-])[A-Za-z]{1,10}[0-9]+[A-Za-z][A-Za-z0-9]*(?![\w/-])")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
KUBECTL = re.compile(r"\bkubectl\s+([a-z][a-z-]*)", re.I)

# "kubectl says ..." is English prose, not a subcommand.
PROSE_VERBS = frozenset(
    "says shows returns reports prints complains fails gives is can will does keeps throws tells outputs hangs "
    "cannot won't doesn't just still only also".split()
)


class RefusalOptions(BaseModel):
    min_dense: float = Field(0.865, description="Refuse below this cosine similarity of the best passage.")
    min_dense_en: float = Field(0.865, description="The same floor for a question with no Chinese in it (an "
                                "English question scores lower cosines against the Chinese corpus; lowering this "
                                "answers more English questions and refuses fewer unanswerable ones).")
    min_dense_en_known: float = Field(0.81, description="The English floor for a question most of whose words the "
                                      "column uses (`known_share`): a question in the column's terms, written in "
                                      "another language than its notes, scores a lower cosine without being off-topic.")
    known_share: float = Field(0.5, description="The share of an English question's words (not stop words) that the "
                               "column uses, as Latin terms or through the English word lists, from which the lower "
                               "English floor applies.")
    min_margin: float = Field(0.01, description="Refuse when the best passage stands less than this above "
                                                "the corpus background (cosine).")
    unseen_min_dense: float = Field(0.90, description="Refuse a question with a term the corpus never uses (a "
                                    "Latin word or a noun of a Chinese question, a name in an English one) when the "
                                    "best passage's cosine is below this.")
    unseen_many_min_dense: float = Field(0.94, description="The same bar for a question with two or more such "
                                         "terms: together they are stronger evidence (no answerable development "
                                         "question has two).")
    absent_min_dense: float = Field(0.0, description="Refuse a question naming something the corpus knows but the "
                                    "best passages never mention when the best passage's cosine is below this "
                                    "(0: off).")
    citations: int = Field(3, ge=0, le=10, description="Closest passages shown with a refusal.")


@dataclass(frozen=True)
class Signals:
    dense: float
    margin: float
    unknown: tuple[str, ...]  # names the corpus never uses: refused whatever else is true
    unseen: tuple[str, ...] = ()  # other terms it never uses: refused unless the evidence is strong
    absent: tuple[str, ...] = ()  # names it uses, but not in the passages found: they are about a neighbour
    english: bool = False  # no Chinese in the question: its cosines run lower (docs/refusal.md)
    known: float = 0.0  # English: the share of its words the column uses (`known_words`)
    lecture: bool = False  # it asks about a lecture itself ("第 38 讲讲了什么", "第 25 讲的思考题"): bot.retrieve

    def as_dict(self) -> dict[str, float]:
        return {"dense": round(self.dense, 4), "margin": round(self.margin, 4),
                "unknown_terms": float(len(self.unknown)), "unseen_terms": float(len(self.unseen)),
                "absent_terms": float(len(self.absent)), "known_words": round(self.known, 4)}

    def not_covered(self, options: RefusalOptions) -> tuple[str, ...]:
        """What the question asks about that the column does not cover, as the reader wrote it:
        the terms that weighed in the rule."""
        absent = self.absent if options.absent_min_dense and self.dense < options.absent_min_dense else ()
        out: list[str] = []
        for term in self.unknown + self.unseen + absent:  # once each, as written: "kube-meshd", not also "meshd"
            key = normalize(term)
            if not any(key in normalize(t) for t in out):
                out.append(term)
        return tuple(out)


@cache
def kubectl_commands() -> frozenset[str]:
    lines = (DATA / "kubectl-commands.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.startswith("#") for w in line.split())


def signals(snap: Snapshot, question: str, found: Retrieval) -> Signals:
    """The signals for `question` (its first SCAN_CHARS characters: a long question is pasted text,
    and its cost must stay bounded)."""
    hits = found.hits
    scan = question[:SCAN_CHARS]
    latin = unseen_terms(snap, scan)
    chinese = _unseen_chinese(snap, scan)
    # A capitalised word of a Chinese question the corpus never uses is a name ("Premium" level, "Tekton").
    titled = tuple(w for w in TITLED.findall(scan) if normalize(w) in latin)
    compounds = tuple(t for t, compound in chinese if compound)
    unknown = unknown_identifiers(snap, scan) + unknown_values(snap, scan) + titled + compounds
    # A lecture the corpus does not have ("第 99 讲讲了什么").
    if (named := LECTURE_NAMED.search(scan)) and snap.lectures and snap.lecture_named(scan) is None:
        unknown += (named.group(0),)
    unseen = latin + tuple(t for t, compound in chinese if not compound) + unseen_names(snap, scan)
    absent = absent_names(snap, scan, hits[:SUPPORT_PASSAGES])
    english = not is_chinese(question)
    # A name the column mentions only in passing, and not in the passages found, is not what it covers.
    unseen += tuple(n for n in absent if 0 < mentions(snap, n) <= RARE_MENTIONS)
    # A side of a comparison ("Operator 和 Helm 有什么区别") that the passages found never name: the column does not set
    # the two side by side, whatever it says of the other.
    if COMPARISON.search(scan) or CHOOSE.search(scan):
        sides = {normalize(name) for m in PAIR.finditer(scan) for name in m.groups()}
        unknown += tuple(n for n in absent if normalize(n) in sides)
    if (part := snap.title_asked(scan)) is not None:
        # One part asks what a FAQ entry's title asks: names written only in another part are the reader's own
        # case around a question the column answers ("…同时跑 nginx 和 php-fpm 行不行" beside its title's question).
        asked = normalize(part)
        unknown, unseen, absent = (tuple(n for n in names if normalize(n) in asked)
                                   for names in (unknown, unseen, absent))
    return Signals(
        # The closest of the best passages: the first may be the one that writes a rare name the question quotes.
        dense=max(h.dense for h in hits[:SUPPORT_PASSAGES]) if hits else 0.0,
        margin=found.margin,
        unknown=tuple(dict.fromkeys(unknown)),
        unseen=tuple(dict.fromkeys(unseen)),
        absent=absent,
        english=english,
        known=known_words(snap, scan) if english else 0.0,
        lecture=snap.lecture_asked(scan) is not None,
    )


@cache
def chat_words() -> frozenset[str]:
    """Words of chat, not of a question's subject (怎么, 一直, 咋, 能不能…): data, not code."""
    lines = (DATA / "chat-words.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.startswith("#") for w in line.split())


NOUNS = frozenset({"n", "nz", "nt", "vn", "ns"})  # jieba's tags for nouns (ns: it tags some nouns as places)


def unseen_words(snap: Snapshot, question: str) -> tuple[str, ...]:
    """Chinese nouns of the question (dictionary words) that occur nowhere in the corpus and that the
    glossary does not map; and (second) new compounds of known parts (热 + 迁移 → 热迁移) that occur
    nowhere in it: the name of a feature, asked about as if it existed."""
    found = _unseen_chinese(snap, question)
    return tuple(t for t, compound in found if not compound) + tuple(t for t, compound in found if compound)


# 火 + 起来 is not a name: a one-character word before a direction complement is a verb phrase.
DIRECTIONS = frozenset("起来 出来 下来 下去 上去 上来 过来 过去 进来 进去 回来 回去 开来".split())
# Nor is 成 + 文件 ("挂载成文件", "设成只读"): jieba tags such a verb's complement as a noun, but what follows
# it is the verb's object, not a new compound.
COMPLEMENTS = frozenset("成为到作")
# A feature's name made of known parts qualifies an action (热 + 迁移, 冷 + 启动). A character jieba calls a noun before
# another noun is most often a verb or a preposition and its object (互相传文件, 照专栏那样): no new name.
ACTIONS = frozenset({"v", "vn"})


def _unseen_chinese(snap: Snapshot, question: str) -> list[tuple[str, bool]]:
    if not is_chinese(question):
        return []
    words = _pos(question)
    out: dict[str, bool] = {}  # candidate terms, in order: each is looked up once
    for i, (word, flag) in enumerate(words):
        if not CJK_RUN.fullmatch(word):
            continue
        after = words[i + 1] if i + 1 < len(words) else ("", "")
        if len(word) >= 2 and flag in NOUNS and word in _dictionary():
            term, compound = word, False  # a dictionary word: jieba's guesses at unknown ones are often chat (能串)
        elif len(word) == 1 and flag in ("n", "ng") and word not in COMPLEMENTS and len(after[0]) >= 2 \
                and after[1] in ACTIONS and CJK_RUN.fullmatch(after[0]) and after[0] not in DIRECTIONS:
            term, compound = word + after[0], True
        else:
            continue
        if term in out or term in chat_words() or term in stopwords():
            continue
        out[term] = compound
        if len(out) >= MAX_NAMES:
            break
    return [(t, c) for t, c in out.items() if not snap.mentions(normalize(t)) and not glossary_hits(t)]


# Capitalised words and acronyms in an English question: product and tool names (Kustomize, Linkerd,
# IAM), unless they start a sentence.
PROPER = re.compile(r"(?<![.?!]\s)(?<!^)\b(?:[A-Z][a-z]{2,30}(?:[A-Z][a-z]{1,30})*|[A-Z]{2,8}[a-z]?)\b")
ACRONYMS = re.compile(r"[A-Z]{2,8}s")
COMMON = frozenset("""i what how why when where which who does do can could would should will is are was were the a an
    my our your their this that these those it its if in on at for from with without about into after before
    kubernetes""".split())


def unseen_names(snap: Snapshot, question: str) -> tuple[str, ...]:
    """Names in an English question (capitalised words, acronyms) the corpus never uses, is not one
    typo away from, and the glossary does not map: the question is about a product it does not cover."""
    if is_chinese(question):
        return ()
    out = []
    for m in PROPER.finditer(question):
        word = normalize(m.group(0))
        # PVCs, Secrets, VMs (an acronym's plural however short)
        singular = word[:-1] if word.endswith("s") and (len(word) > 3 or ACRONYMS.fullmatch(m.group(0))) else word
        known = any(w in snap.idf or snap.mentions(w) or in_glossary(w) or snap.spelling.correct(w)
                    for w in (word, singular))
        if word not in COMMON and not known:
            out.append(m.group(0))
    return tuple(dict.fromkeys(out))[:MAX_NAMES]


# `field: Value` in a question: a real (camelCase) field with a value the corpus never gives it.
FIELD_VALUE = re.compile(r"\b([a-z]{1,30}[A-Z][a-zA-Z]{1,40})(?::|\s{0,3}(?:=|设成|设为|设置成|设置为|改成|配成|写成))"
                         r"\s{0,3}[\"']?([A-Za-z][A-Za-z0-9-]{1,40})")


def unknown_values(snap: Snapshot, question: str) -> tuple[str, ...]:
    """`field: Value` pairs whose field the corpus knows but never with that value near it."""
    out = []
    for m in list(FIELD_VALUE.finditer(question))[:MAX_VALUES]:
        field, value = normalize(m.group(1)), normalize(m.group(2))
        if not snap.mentions(field) or value in ("true", "false"):
            continue
        at, seen = 0, False
        for _ in range(20):  # the first 20 mentions of the field are plenty (and bound the work)
            at = snap.text.find(field, at)
            if at < 0:
                break
            if value in snap.text[at : at + 400]:
                seen = True
                break
            at += len(field)
        if not seen and snap.spelling.correct(value) is None:  # Retian: a typo of a value it knows
            out.append(f"{m.group(1)}: {m.group(2)}")
    return tuple(out)


def as_written(question: str, term: str) -> str:
    """`term` (a token: lower case) as the question spells it."""
    found = re.search(re.escape(term), question, re.I)
    return found.group(0) if found else term


def mentions(snap: Snapshot, name: str) -> int:
    """How often the corpus names `name` (or, for an English plural, its singular)."""
    key = normalize(name).lstrip("-")
    return snap.count(key.removesuffix("s") if key.endswith("s") and len(key) > 3 else key)


RARE_MENTIONS = 1  # how often the corpus names what it only names in passing
SUPPORT_PASSAGES = 3  # the passages an answer mostly draws on: the question's names should be in them


def absent_names(snap: Snapshot, question: str, hits: list[Hit]) -> tuple[str, ...]:
    """Names of the question (CamelCase, fields, flags, component names; Latin words of a Chinese
    question) that the corpus uses but none of the best passages' sections mention, directly or
    by a glossary equivalent: the passages are about a neighbour of what was asked."""
    if not hits:
        return ()
    seen = "\n".join(normalize(snap.section_text(h.chunk.source, h.chunk.section)) for h in hits)
    chinese = is_chinese(question)
    names = [m.group(0) for pattern in (CAMEL, DOTTED, FLAG, ANNOTATION) for m in pattern.finditer(question)]
    if chinese:
        names += [as_written(question, t) for t in tokens(question, humps=False)
                  if WORD.fullmatch(t) and t in snap.vocab and len(t) >= 4]
    else:  # an English question's capitalised names ("Velero", "Kafka")
        names += [m.group(0) for m in PROPER.finditer(question) if normalize(m.group(0)) not in COMMON]
    out = []
    for name in list(dict.fromkeys(names))[:MAX_NAMES]:
        key = normalize(name).lstrip("-")
        if key in stopwords() or key in seen:
            continue
        if any(normalize(eq) in seen for eq in expand([key])):
            continue
        out.append(name)
    return tuple(out)


@cache
def _dictionary() -> frozenset[str]:
    jieba = _jieba()
    return frozenset(w for w, n in jieba.dt.FREQ.items() if n)


@cache
def _posseg() -> Any:
    import jieba.posseg

    _jieba()  # the glossary's words first, so they are not cut apart
    return jieba.posseg


def _pos(text: str) -> list[tuple[str, str]]:
    return [(p.word, p.flag) for p in _posseg().cut(text)]


def refuse(sig: Signals, options: RefusalOptions) -> bool:
    """The calibrated rule (docs/refusal.md): any one weak signal is enough."""
    floor = options.min_dense
    if sig.english:
        floor = options.min_dense_en_known if sig.known >= options.known_share else options.min_dense_en
    # A question about a lecture itself is close to no passage in meaning ("第 38 讲讲了什么"), yet answered by the
    # lecture's note; what it names that the column never uses still refuses it.
    weak = not sig.lecture and (sig.margin < options.min_margin or sig.dense < floor)
    return (bool(sig.unknown) or weak
            or (bool(sig.unseen) and sig.dense < options.unseen_min_dense)
            or (len(distinct(sig.unseen)) >= 2 and sig.dense < options.unseen_many_min_dense)
            or (bool(sig.absent) and sig.dense < options.absent_min_dense))


def distinct(terms: tuple[str, ...]) -> list[str]:
    """The terms that are not part of another one: `image-prefetch-peers` and its `peers` are one name."""
    keys = [normalize(t) for t in terms]
    return [t for t, k in zip(terms, keys, strict=True) if not any(k != o and k in o for o in keys)]


def refusal_text(question: str, not_covered: tuple[str, ...] = (), closest: str = "",
                 passing: tuple[str, str] | None = None) -> str:
    """What a refusal says, in the question's language: what the column does not cover, when the
    rule knows, and where the closest it has is (`passing`: a term it names only in passing, and where)."""
    chinese = is_chinese(question)
    if not_covered:
        terms = ("、" if chinese else ", ").join(not_covered[:4])
        if passing:
            term, where = passing
            return (f"专栏没有讲到 {terms}，只在{where}里顺带提到 {term}，见下面几段。" if chinese else
                    f"The column does not cover {terms}; it names {term} only in passing, in {where}, quoted below.")
        if chinese:
            return f"专栏没有讲到 {terms}；最接近的内容是{closest}，见下面几段。" if closest else \
                f"专栏没有讲到 {terms}。下面是最接近的几段内容，供你参考。"
        return (f"The column does not cover {terms}; the closest it has is {closest}, quoted below."
                if closest else f"The column does not cover {terms}. Here are the closest passages it has.")
    if chinese:
        return "专栏里似乎没有讲到这个问题。下面是最接近的几段内容，供你参考。"
    return "The column does not seem to cover this. Here are the closest passages it has."


def unseen_terms(snap: Snapshot, question: str) -> tuple[str, ...]:
    """Latin words of a Chinese question (there they are terms) that the corpus never uses, is not one
    typo away from, and the glossary does not map."""
    if not is_chinese(question):
        return ()  # most words of an English question are absent from a Chinese corpus anyway
    mapped = {t for term in glossary_hits(question) for t in tokens(term)}
    return tuple(dict.fromkeys(
        t for t in tokens(question, humps=False)  # a name's parts are not words of the question
        if WORD.fullmatch(t) and t not in snap.vocab and t not in mapped and not snap.spelling.correct(t)))


def known_words(snap: Snapshot, question: str) -> float:
    """The share of an English question's words (three letters or more, not stop words) that the column
    uses: written in its notes (pod, flannel, imagepullpolicy, a plural of one), or looked up as the Chinese
    they write (glossary, English word lists). "stick drift on a PS5 controller" scores low, "why does
    deleting my pod take 30 seconds" high, though both are far from the notes in meaning."""
    found = (w.rstrip("-") for w in WORD.findall(question.lower()))
    words = [w for w in found if len(w) >= 3 and w not in stopwords()]
    if not words:
        return 0.0
    known = [w for w in words if w in snap.idf or w.removesuffix("s") in snap.idf or in_glossary(w, plain=True)]
    return len(known) / len(words)


def unknown_identifiers(snap: Snapshot, question: str) -> tuple[str, ...]:
    """Names the question asks about (CamelCase, fields, flags, annotations, component names,
    kubectl subcommands) that the corpus never uses, even allowing a typo."""
    chinese = is_chinese(question)
    found = [m.group(0) for pattern in (CAMEL, DOTTED, FLAG, ANNOTATION) for m in pattern.finditer(question)]
    found += [m.group(0) for m in HYPHENATED.finditer(question)
              if chinese or (COMPONENT.search(m.group(0)) and not PROSE_COMPOUND.search(m.group(0)))]
    found += [m.group(0) for m in DIGITED.finditer(question)]
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
    if PLACEHOLDER.search(name) or name in snap.idf or last in snap.idf or snap.mentions(name) or in_glossary(name):
        return True
    return snap.spelling.correct(last) is not None or snap.spelling.correct(last.replace("-", "")) is not None
