"""Query and passage text → normalised terms for BM25 and answer selection.

Latin identifiers stay whole (`kube-apiserver`, `CLONE_NEWPID`, `/proc/meminfo`) and are
lower-cased, with their parts added (`kube`, `apiserver`) so either spelling matches;
Chinese runs go through jieba's search mode. The bilingual glossary (data, not code:
`bot/data/glossary.yaml`) maps each term to its equivalents in the other language.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Container
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
IDENT = re.compile(r"/?[a-z0-9_]+(?:[./:+#-]+[a-z0-9_]+)*")
CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
TOKEN = re.compile(IDENT.pattern + "|" + CJK_RUN.pattern)
PART_SPLIT = re.compile(r"[./:+#_-]+")
PLURAL = r"(?:e?s)?"  # a glossary name of several words, written in the plural ("virtual machines")
# HTTPRoute → HTTP, Route; jdk8 → jdk, 8; an acronym's plural is the acronym: VMs → VM (not V, Ms), externalIPs → IP.
HUMP = re.compile(r"[A-Z]{2,}(?=s(?![a-z]))|[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
K8S = re.compile(r"(?<![a-z0-9])k8s(?![a-z0-9])")
QUERY_CHARS = 300  # a question's characters its terms are taken from (the longest development question has 180)
COMPARISON = re.compile(r"区别|不同|差别|差异|对比|比较|相比|\bvs\.?\b|versus|differ|compare|comparison", re.I)
CHOOSE = re.compile(r"选哪|用哪|怎么选|该用|which (?:one )?should|when should i use|when to use", re.I)
NAME = r"[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9]"
PAIR = re.compile(rf"(?<![A-Za-z0-9_.-])({NAME})\s*(?:和|与|跟|、|/|\band\b|\bor\b|\bvs\.?)\s*"
                  rf"({NAME})(?![A-Za-z0-9_.-])", re.I)  # two names asked side by side
PARTS = re.compile(r"[？?；;，,]|，?(?:还有|另外|顺便问下?|顺便|以及|and also|also,)")  # where a question's parts meet


def is_chinese(text: str) -> bool:
    """The text has Chinese in it (a question with none is answered as an English one)."""
    return bool(CJK_RUN.search(text))


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    # Not english_words(): their Chinese would cut Chinese text differently (字段, 后端), for no English gain
    # measured, and Chinese questions would no longer be answered exactly as before.
    for group in glossary_groups():
        for term in group:
            if CJK_RUN.search(term):
                jieba.add_word(term)
    return jieba


@cache
def stopwords() -> frozenset[str]:
    return frozenset((DATA / "stopwords.txt").read_text(encoding="utf-8").split())


@cache
def glossary_groups() -> tuple[tuple[str, ...], ...]:
    return _groups("glossary.yaml")


@cache
def english_words() -> tuple[tuple[str, ...], ...]:
    """Plain English words with the Chinese the notes write for them (each group: Chinese first), one way."""
    return _groups("english-words.yaml")


def _groups(name: str) -> tuple[tuple[str, ...], ...]:
    raw = yaml.safe_load((DATA / name).read_text(encoding="utf-8")) or []
    return tuple(tuple(normalize(str(t)) for t in group) for group in raw)


@cache
def _glossary_index(plain: bool = False) -> dict[str, tuple[str, ...]]:
    """Each term's equivalents; with `plain`, an English plain word's Chinese too (english_words)."""
    index: dict[str, set[str]] = {}
    for group in glossary_groups():
        for term in group:
            index.setdefault(term, set()).update(t for t in group if t != term)
    for group in english_words() if plain else ():
        chinese = {t for t in group if CJK_RUN.search(t)}
        for term in set(group) - chinese:
            index.setdefault(term, set()).update(chinese)
    return {k: tuple(sorted(v)) for k, v in index.items()}


def normalize(text: str) -> str:
    """Full-width → half-width (NFKC), lower case, `k8s` → `kubernetes`."""
    return K8S.sub("kubernetes", unicodedata.normalize("NFKC", text).lower())


def tokens(text: str, humps: bool = True) -> list[str]:
    """Terms of `text` for BM25, stop words removed; repeated terms kept (term frequency). Without
    `humps`, a camelCase name is one term only: for asking whether the corpus knows a question's words."""
    return list(_tokens(text, humps))


@lru_cache(maxsize=1 << 16)
def _tokens(text: str, humps: bool = True) -> tuple[str, ...]:
    # Cached: answers re-tokenise the same corpus sentences for every question (jieba is slow).
    out: list[str] = []
    wide = unicodedata.normalize("NFKC", text)
    low = wide.lower()
    cased = wide if len(wide) == len(low) else low  # where lower() changes lengths, no humps to read
    for match in TOKEN.finditer(low):
        tok = K8S.sub("kubernetes", match.group(0))
        if CJK_RUN.fullmatch(tok):
            out.extend(_words(tok))
            continue
        if tok in stopwords():
            continue
        out.append(tok)
        parts = [p for p in PART_SPLIT.split(tok) if p and p != tok]
        if len(parts) > 1:
            out.extend(p for p in parts if p not in stopwords())
        if humps and tok == match.group(0):  # (k8s was read as a name already)
            out.extend(_humps(cased[match.start() : match.end()], {tok, *parts}))
    return tuple(out)


def _humps(word: str, have: set[str]) -> list[str]:
    """The words inside a camelCase name or a name with a version (readinessGates → readiness, gates;
    jdk8 → jdk, 8), so "readiness gates" finds `readinessGates`; none for a plain word."""
    found: list[str] = []
    for piece in PART_SPLIT.split(word):
        humps = [h.lower() for h in HUMP.findall(piece)]
        if len(humps) > 1:
            found.extend(h for h in humps if (len(h) > 1 or h.isdigit()) and h not in have and h not in stopwords())
    return list(dict.fromkeys(found))


@lru_cache(maxsize=1 << 17)
def _words(run: str) -> tuple[str, ...]:
    # A run of Chinese is cut the same wherever it is: a section's text, its sentences and a
    # sentence read with the one before are made of the same runs, cut once.
    return tuple(w for w in _jieba().cut_for_search(run) if w not in stopwords())


PHRASE = re.compile(r"(?<![a-z0-9_./:-])[a-z]{2,}(?: +[a-z]{2,})+(?![a-z0-9_-])")  # words spaced apart


def joined(question: str, known: Container[str]) -> list[str]:
    """Names the question spells as separate words that the corpus writes as one ("readiness gates"
    → readinessgates, "init container" → initcontainers): two or three adjacent Latin words whose
    concatenation, or its plural, is a term of the corpus (`known`); stop words join nothing."""
    found: list[str] = []
    for phrase in PHRASE.finditer(normalize(question[:QUERY_CHARS])):
        words = [w if w not in stopwords() else "" for w in phrase.group(0).split()]
        for size in (3, 2):
            for i in range(len(words) - size + 1):
                if not all(words[i : i + size]):
                    continue
                name = "".join(words[i : i + size])
                for form in (name, name + "s"):
                    if form in known and form not in found:
                        found.append(form)
                        break
    return found


def in_glossary(term: str, plain: bool = False) -> bool:
    """Whether `term` itself (normalised) is a glossary term (with `plain`, or an English plain word the
    English word lists look up as Chinese)."""
    return normalize(term) in _glossary_index(plain)


def expand(terms: list[str], plain: bool = False) -> list[str]:
    """Glossary equivalents of `terms` (as phrases) and of the whole normalised question (with `plain`,
    an English plain word's Chinese too)."""
    index = _glossary_index(plain)
    seen = set(terms)
    extra: list[str] = []
    for term in terms:
        for eq in index.get(term, ()):
            if eq not in seen:
                seen.add(eq)
                extra.append(eq)
    return extra


@cache
def _glossary_patterns(plain: bool = False) -> tuple[tuple[str, re.Pattern[str] | None], ...]:
    """Each glossary term with its whole-word pattern (None: a CJK term, matched as a substring). A name of
    several words matches its plural too ("virtual machines"); one word does not: "containers" or "images"
    would add 容器 or 镜像 to questions that use them in passing (measured: 20 answers moved, 2 lost a fact)."""
    return tuple((term, None if CJK_RUN.search(term) else
                  re.compile(rf"(?<![a-z0-9]){re.escape(term)}{PLURAL if ' ' in term else ''}(?![a-z0-9])"))
                 for term in _glossary_index(plain))


def glossary_hits(question: str, plain: bool = False) -> list[str]:
    """Glossary terms that occur in the question (multi-word and CJK phrases included; with `plain`, an
    English plain word too: only a question's lookup uses those, not refusal or follow-ups)."""
    q = normalize(question)
    return [term for term, pattern in _glossary_patterns(plain)
            if (term in q if pattern is None else term in q and pattern.search(q))]


def query_terms(question: str, known: Container[str] = (), plain: bool = True) -> tuple[list[str], list[str]]:
    """(terms of the question, glossary equivalents to add) for retrieval and answering, from its
    first QUERY_CHARS characters: what a pasted page adds after that is noise, and costs time. With
    the corpus's terms (`known`), a name spelt as separate words is a term too (`joined`); without
    `plain`, the equivalents leave out an English plain word's Chinese (what is embedded with the question)."""
    names = tuple(joined(question, known)) if known else ()
    # Plain words only for an English question: in a Chinese one a Latin word is a name ("csi driver").
    plain = plain and not is_chinese(question)
    base, extra = _query_terms(question[:QUERY_CHARS], names, plain)
    return list(base), list(extra)


@lru_cache(maxsize=1 << 10)
def _query_terms(question: str, names: tuple[str, ...], plain: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Cached: retrieval and the composer ask for the same question's terms (the glossary scan is slow).
    base = tokens(question) + list(names)
    hits = glossary_hits(question, plain)
    extra = [t for eq in expand(hits, plain) for t in tokens(eq)]
    return tuple(base), tuple(t for t in dict.fromkeys(extra) if t not in base)
