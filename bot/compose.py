"""The extractive composer: the retrieved passages → the few units of the column's own text that
answer the question, in reading order, each followed by the marker of the passage it is quoted from.

It works as a careful editor who may only quote:
- It reads whole sections, not cut-up passages: the sections of the best passages are put back
  together from their chunks, so a list or an explanation that a chunk boundary split is whole again.
- It scores units (sentences, list items) against the question: the question's terms and their
  glossary equivalents (idf-weighted), the section heading (a FAQ's title is a reader's question),
  the passage's rank, and the unit's place (the first sentences under a heading usually answer it).
  The lecture's framing ("这一讲…"), questions (a 思考题 prompt) and lead-ins are not answers.
- It keeps units whole with what they need: a sentence that announces a list or a count comes
  with its items or not at all; a sentence that leans on the one before (因此, 上面这段…) comes
  with it or not at all; a short list or code block the answer points at comes whole.
- It says one fact once: a unit that restates a chosen one is dropped; a second source is quoted
  only for something the first lacks.
- When the best passage's section is short and about the question throughout, it is the answer.
- A FAQ entry whose opening it quotes it reads on while the answer is short: each of the entry's other
  sections opens with the answer to a follow-up (how to confirm it, how to fix it, where to set it).
- An answer still short reads on in its first file, and a likely unit of that file that does not fit takes
  the room of the answer's less likely sentences that stand alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from bot.retrieve import Hit, Snapshot
from bot.terms import CHOOSE, COMPARISON, PAIR, PARTS, is_chinese, query_terms, tokens
from corpus.chunk import Chunk
from corpus.sentences import Unit, units_of

# A sentence that only frames the lecture, or speaks to the reader about the text itself.
FRAMING = re.compile(
    r"^(?:这一讲|这一节|这节|本讲|本节|本文|这篇|今天|读完|学完|看完|上一讲|下一讲|前一讲|前两讲|前几讲|前面几讲|"
    r"接下来|下面我们|我们先|我们来|我们会看到|我们将看到|在这一讲|在本讲|这一讲里|思考题|课后|留给你|最后留|欢迎|"
    r"本讲的|这一讲的|专栏的这一讲)"
    r"|这一讲(?:处理|讲|会|要|介绍|解决|回答|的主题|把|用|来)|思考题(?:问|是|：)"
    r"|^(?:In this lecture|This lecture|The lecture)"
    # ... or says what the text goes on to present ("然后介绍另一个重要控制器…", "最后说明…").
    r"|^(?:然后|接着|最后|随后)(?:介绍|说明|讨论|分析|讲解)"
    # ... or where the column goes from here (后面几讲…), or names this lecture or FAQ entry as the subject
    # of a clause after what the last one did (上一讲讲了 X，这一讲关注 Y).
    r"|^(?:本条|笔记|后面讲|后面会讲|后面几讲|预习篇(?:第.讲|最后一讲))|后面几讲|后续几讲"
    r"|[，,；;]\s*(?:这一讲|本讲|本条)(?:也|还|先|再|就|具体|正面)?"
    r"(?:讨论|深入|开始|关注|跳出|拆开|讲|会|要|介绍|分析|处理|解决|回答|在|用|把)", re.I)
# A lecture named by its number ("第 32 讲是…的第一讲") in its own note is "这一讲".
OWN_LECTURE = re.compile(r"^第\s*0*(\d+)\s*讲")
LECTURE_FILE = re.compile(r"column/0*(\d+)-")
ASKS = re.compile(r"[？?]\s*$")
# A 思考题 prompt written as a statement ("思考题问：为什么…了。"): it sets up the answers after it, like a question.
PROMPT = re.compile(r"^(?:这一讲的|第[一二三四五六]个)?(?:思考题|问题)(?:问的是|问|是)?[：:]|^思考题请")
# The share (by idf) of a 思考题 prompt's terms a Chinese question must have for the answers after it to count: one
# that shares only 调度 and Pod with it asks something else (each development prompt whose answer held a vital
# fact shared 0.2 or more). An English question shares few words with any Chinese prompt: one term will do.
PROMPT_ASKED = 0.2
# A sentence that leans on what came before it.
ORDINAL_WORDS = r"第[二三四五六七八九十](?:[，,、：:]|步|点|条)|其次"  # the second point of a list
LEANS = re.compile(
    r"^(?:因此|所以|于是|然后|接着|随后|这(?!一讲|一节|节|篇)|此时|此外|另外|同样|但是?|不过|然而|而且|"
    r"可见|换句话说|也就是说|总之|反过来|相反|它们?|其|该|上面|上述|前面|以上|如上|对应地|与之相对|否则|再(?!次)|没?有这样的|"
    + ORDINAL_WORDS + "|"
    r"Therefore|So |Thus|This |These |That |It |They )")
ORDINAL = re.compile(rf"^(?:{ORDINAL_WORDS})")
STEP_NUMERALS = "一二三四五六七八九十"
NUMBERED = re.compile(r"^第([二三四五六七八九十])(步|点|条|[，,、：:])")  # a numbered step after the first
# A sentence that names its place in a series of kinds or ways near its start ("驱动 SyncLoop 的第二类事件是…",
# "Calico 的第二种办法是…"): the series is one list, quoted whole or not at all. (Not 第二个: "第二个例子是…" is one
# more example.)
RANKED = re.compile(r"^[^，。：:]{0,24}?第([一二三四五六七八九十])([类种])")
POINTS_BACK = re.compile(r"上面(?:这|的|那)|上述|前面(?:这|的|那|提到|说)|这段|这个例子|以上|"
                         r"这个问题|这种情况|这一点|这类问题|这个现象|this problem|this issue"
                         # "X 就是这样一个程序", "Y 就是这些原因的来源": X is an example of what came before.
                         r"|(?:就|正)是这(?:样一|些)", re.I)
# "`limits` 则是…上限": the second half of a contrast, whose first half is the sentence before (not 规则, 原则, 否则).
# (Not "超过 limits 则不会被杀": a condition's result.)
CONTRASTS = re.compile(r"^(?:(?!规则|原则|准则|法则|细则|否则)[^，。；：:]){1,24}?(?<![规原准法细否])"
                       r"则(?:是(?!说)|把|让|用|会)")
# A sentence that turns on the one before it ("问题在于…", "但…"): what it qualifies misleads without it.
TURNS = re.compile(r"^(?:问题在于|但|不过|然而|可是)")
POINTS_AHEAD = re.compile(r"如下|下面(?:这|的|那|几)|见下|以下|：\s*$|:\s*$")
COUNT = re.compile(r"(?<!第)([两二三四五六七八九十几]|\d)\s*"
                   r"(?:种|类|个|步|点|条|层|部分|阶段|方面|件|大|类型|种方式|个阶段)")
# A count right after a name, a number or a closing mark counts what was just named ("cfs_quota_us 和
# cfs_period_us 两个文件", "超过 100 个"): it announces no items to come; nor does an ordinal (第二步).
NAMED_BEFORE = re.compile(r"[A-Za-z0-9_`)）”」]\s*$")


def announced_count(text: str) -> re.Match[str] | None:
    """The first count in `text` that announces its items ("分为三种", "有两个阶段"), if any."""
    return next((m for m in COUNT.finditer(text) if not NAMED_BEFORE.search(text[: m.start()])), None)


def listed_inline(text: str, count: re.Match[str]) -> bool:
    """The items a count announces follow in the sentence itself: after a colon (三种办法：第一…；第二…), or
    named one after another ("三个级别，从宽到严依次是 privileged、baseline 和 restricted")."""
    tail = text[count.end():]
    if re.search(r"[：:]\s*\S", tail):
        return True
    n = count_value(count.group(1))
    seps, joined = tail.count("、"), re.search(r"\S\s*(?:和|与|以及|或)\s*\S", tail) is not None
    # "A、B 和 C", "A 和 B", "A、B、C": not one 、 alone ("两种后端、一种插件" counts, then goes on).
    return n >= 2 and seps + 1 + joined >= n and (joined or seps >= 2)


CJK_NUM = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def count_value(word: str) -> int:
    """The number a count writes ("三", "3"); 0 for "几"."""
    return int(word) if word.isdigit() else CJK_NUM.get(word, 0)


VALUE = re.compile(r"^`[^`]+`\s*(?:是默认值|表示|指)")  # one value of a setting defined: "`Forbid` 表示跳过这一次调度"
ENUM = re.compile(r"^(?:第[一二三四五六七八九十\d]|其[一二三四五]|[一二三四五]是|首先|其次|再次|然后|最后)")
PART_SAID = 0.5  # a part of the question is answered by a unit with this share of its terms' weight
EVALUATIVE = re.compile(r"更|较|慢|快|稳定|性能|开销|代价|优势|优点|缺点|好处|坏处|适合|线性|规模|瓶颈")
CONTRAST = 2.0  # a comparison's sentence that judges one side is this much likelier to answer
COMPARED = 0.3  # a comparison's other side is quoted at this share of the usual bar
SIDE_IDF = 2.0  # ... while a term of the question this distinctive (a side: StatefulSet, /approve) is not quoted yet
NOW = re.compile(r"现在|现状|如今|目前|还能|还在|还有用|新版|最新|后来|废弃|弃用|移除|删除|删掉|取代|替代|"
                 # after an upgrade, not the upgrade itself ("用 kubeadm 升级集群要注意啥", "先只升级一两个 Pod")
                 r"升级(?:到|以后|之后|后|完|了)|"
                 r"\bnow\b|today|current|still|deprecat|removed|replaced|latest|newer|upgraded|upgrad\w* to\b|"
                 r"after upgrad", re.I)
CHANGE = re.compile(NOW.pattern + r"|升级|upgrade", re.I)  # a word of change, also the upgrade itself
# A question whose one term carries this share of its (idf) weight is about that name, and a section that never says
# it ranks at WITHOUT_NAME of its score while another section does (swept on the development sets: shares 0.25-0.4
# change one answer, e2-014, which gains its fact; 0.2 three more and 0.15 fifteen, losing a fact; WITHOUT_NAME
# 0.5-0.85 the same).
NAME_SHARE, WITHOUT_NAME = 0.3, 0.7
UPDATE_LEAD = 0.3  # a 现状 section's chance to lead the answer, when the question does not ask what changed
ABOUT_LECTURE = re.compile(r"这一讲|本讲|第\s*\d+\s*讲|思考题|课后|lecture|thought question", re.I)
UPDATE_SECTION = "现状"
# A heading that numbers its section in a series ("调试第二板斧：…", "第一个控制循环：…", "第三步：…"): the
# text before the number and the counter word after it name the series.
SERIES = re.compile(r"^([^第：:]*)第[一二三四五六七八九十]+([^：:\s]{0,6})[：:]")
# Of several FAQ entries' openings, one whose title has under this share of the best-asked title's share of
# terms the question asks loses `faq_lead` (it answers another question; near ties both keep it).
FAQ_TITLE_NEAR = 0.8
# ... and one whose title has under this share at all, whatever the others' ("sts 缩容的时候先删哪个 pod" is not
# "Pod 一直卡在 Terminating"; 0.15 and 0.2 move 3 and 6 development answers, 2 losing a fact, 0.1 one, no fact).
FAQ_TITLE_FLOOR = 0.1
# A name written with separators (and a letter: not a version such as 1.24), rare in the corpus, in a section's
# heading: the section's score times NAME_IN_HEADING (1.3-1.5 and idf 3-3.5: the same 3 of the 474 development and
# reads answers move, each better; 1.15: 2 of them; no idf bar, so that kube-apiserver counts: a full answer lost).
NAMED_TERM = re.compile(r"(?=.*[a-z])/?[a-z0-9]+(?:[-_./][a-z0-9]+)+")
RARE_NAME = 3.5
NAME_IN_HEADING = 1.3
# A FAQ opening asked another question than its title's leads with its likeliest sentence (answer_first).
LEAD_TITLE, LEAD_RATIO = 0.5, 1.5
NOT_A_LEAD = re.compile(r"^(?:方案|做法|办法|方式|选项)[一二三四五]"  # an item of a list (方案一…)
                        r"|^(?:在?专栏写作时|早期|早先|以前|过去|最初|当初|起初)")  # the past
SHELL = re.compile(r"```(?:bash|sh|shell|console)\b")
# Asking how to do something: not what happened (怎么回事) nor how a mechanism works (是怎么…的, "how does").
HOW_TO = re.compile(r"(?<!是)(?:怎么|怎样|如何|咋)(?!回事|样|做到的|实现的|工作的|来的)"
                    r"|\bhow (?:do|can|should|would) (?:i|we|you)\b|\bhow to\b", re.I)
# A question about something going wrong: its answer is the causes as much as the first command.
TROUBLE = re.compile(r"排查|怎么办|咋办|报错|一直|卡在|卡住|起不来|失败|为啥|为什么|原因|\bdebug|troubleshoot|"
                     r"\bstuck\b|\bkeeps?\b|\bnever\b|收不到|不生效|没生效|\bfail(?:s|ed|ing|ure)?\b|\bcrash(?:es|ed|ing)?\b|"
                     r"\berrors?\b|\bwhy\b",
                     re.I)
# A sentence announcing the causes ("常见原因有这几类。", "磁盘被写满的常见原因有四类："), or a section of them.
CAUSES = re.compile(r"原因[^。；，]{0,6}?(?:有|分为|分成)[^。；，]{0,4}?"
                    r"(?:[两二三四五六七八九十几]|这几|以下几)\s*[类种个]")
CAUSES_HEADING = re.compile(r"常见的?原因")
# A section of a FAQ entry headed for the fix ("怎么缓解", "正确的做法", "常用瘦身手段"), and a question asking for one.
FIX_HEADING = re.compile(r"怎么(?:处理|缓解|解决|修|清理|办)|(?:缓解|解决)办法|正确的做法|该怎么做|手段|修复")
FIX = re.compile(r"怎么办|咋办|怎么(?:处理|缓解|解决|修|弄|搞)|\bfix\b|\bsolve\b|\bresolve\b|\bmitigat", re.I)
CHOOSE_HEADING = re.compile(r"怎么选|如何选择|选型|取舍")
# What a question asks for, and the heading of the section of a FAQ entry that gives it (how to do something: the
# fix too).
ASKED_FOR = ((FIX, FIX_HEADING), (HOW_TO, FIX_HEADING), (CHOOSE, CHOOSE_HEADING))
# A question asking how: the short shell command right after the sentence that says it answers it.
NAMES_COMMAND = re.compile(r"命令|\bcommand", re.I)  # a sentence that names the command the block after it runs
HOW = re.compile(r"怎么|怎样|如何|咋|方法|办法|步骤|命令|\bhow\b|command", re.I)

EXTENDED_CHARS = 600  # a list or code block that is the answer may take the budget this far
FIX_CHARS = 300  # a section headed for the fix this short comes whole
CAUSES_CHARS = 680  # ... and a troubleshooting answer's list of causes beside its commands this far
WHOLE_SECTION = 1.3  # a section this much over the budget is still shown whole rather than cut
WHOLE_UNITS = 8  # ... and when it says at most this many units (sentences, list items; not its code blocks)
WHOLE_FLOOR = 0.15  # units of a section shown whole that score below this share of its best are left out
# ... except in the answer's lead section when it is this short: a few sentences that say one thing together
# ("Namespace 以文件的形式出现在 /proc/<pid>/ns/ 下" after "docker exec 用 setns()"), where a low score is
# a sentence without the question's words, not one off the question (swept, recall of the 322 / of the second
# English set: 180-200: 0.8349 / 0.692, 215-280: 0.8364 / 0.692, 300: 0.8364 / 0.679, 310-450: 0.8349 / 0.679;
# from 0.8349 / 0.679. Longer, a section's weak sentence crowds out a better one of another file).
SHORT_SECTION = 250
SECOND_SECTION = 0.5  # a second section is quoted only when it is at least this likely to answer
OTHER_FILE = 0.2  # a unit of another file than the answer's first is quoted only when at least this likely to answer
OFF_MEANING = 0.15  # ... or units with none of the question's terms this far below the best unit's cosine
SHORT, SHORT_FLOOR = 0.4, 0.2  # below this share of the budget, units down to this share of the best count
UNIT_FLOOR = 0.35  # units scored below this share of the section's best are left out
# Below this share of the budget, an answer that quotes a FAQ entry's opening takes the first sentence of up to
# FILL_SECTIONS more of the entry's sections (swept on the development sets: full answers 0.6: 68.9%, 0.7: 69.6%,
# 0.8: 69.6%; sections 2: 68.9%, 3: 69.6%).
FILL, FILL_SECTIONS = 0.7, 3
# ... each when it adds at most this many characters (a line of answer; a longer one makes way for the next
# section's: swept 120: 69.6%, 140: 69.9%, 160: 69.9%, 200: 69.6%, none: 69.6%).
FILL_CHARS = 160
SAME_MEANING = 0.975  # cosine of two units' vectors above which they say the same thing
SAME_ELSEWHERE = 0.94  # ... when they come from different files
NEW_TERMS = 0.25  # a unit with this share of the question's term weight not said yet adds, however close its vector
SAME_PAIRS = 0.6  # share of a unit's character pairs in another (or, from another file, in the chosen units together)
COVERED = 0.6  # how much a unit is worth when every question term it has is in the answer already
CODE_CHARS = 420  # longest code block quoted whole
ORIGINAL_COVERS = 0.95  # original-first: cosine of two units above which the original says what the note says
COLUMN = "column"  # the kind of the column's own texts (corpus.load.COLUMN)


# What a unit is scored on (bot/compose.py's `features`), and the weights learned for them on the
# development sets' nuggets by bench/fit_composer.py (logistic regression: does the unit state a
# vital fact of the question?). Refit when the features change.
FEATURES = ("bias", "terms", "heading", "meaning", "meaning_abs", "rank", "first", "retrieved", "framing", "asks",
            "thought", "update", "faq", "length", "lead_section", "faq_opening")
WEIGHTS = np.array([-3.710, 1.500, 1.503, 2.436, -1.679, 1.516, -0.206, 0.565, -1.085, -1.526, 0.342, 0.261,
                    -0.267, 0.317, -0.283, 0.857], dtype=np.float32)
# Which section answers: a section is scored on these (`section_features`), weights learned the same
# way on whether the section states every vital fact of the question; but `faq_lead` (a FAQ entry's
# opening section, which answers its title's question; of several entries' openings only those near the best
# title keep it, FAQ_TITLE_NEAR), set by the answers it gives: the fit puts it at
# 0.43 for the best section alone, and full answers measure best at 1.0 (0.5: -1.4 points, 1.5: -1.2).
SECTION_FEATURES = ("bias", "heading", "best_unit", "top_units", "meaning", "rank", "lead_section", "faq",
                    "thought", "update", "terms", "size", "faq_lead", "passage", "file")
SECTION_WEIGHTS = np.array([-4.912, -0.353, 2.362, 2.128, 1.091, 0.864, -1.329, 0.011, 0.322, -0.556, 0.734,
                            1.968, 1.0, 0.530, -0.081], dtype=np.float32)


@dataclass(frozen=True)
class Section:
    """A section's text put back together from its chunks, and its units."""

    source: str
    name: str
    offset: int  # where the text starts in the loaded file
    text: str
    chunks: tuple[Chunk, ...]
    units: tuple[Unit, ...]
    # When the section closes on a count whose items open the next section (items_section): the closing
    # unit's order and that section's key. Found once, when the section is read.
    items: tuple[int, tuple[str, str]] | None = None


@dataclass
class Candidate:
    unit: Unit
    section: Section
    rank: int  # the best rank of a passage from this section (a file's lead section it was not: 0)
    order: int  # position of the unit in its section
    score: float = 0.0
    framing: bool = False
    features: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES), dtype=np.float32))
    terms: frozenset[str] = frozenset()  # the question's terms the unit contains



@dataclass
class Plan:
    """The units chosen so far, by section and order, and the characters they take."""

    picked: dict[tuple[str, str, int], Candidate] = field(default_factory=dict)
    chars: int = 0
    groups: int = 0
    covered: set[str] = field(default_factory=set)  # question terms the chosen units contain

    def has(self, c: Candidate) -> bool:
        return (c.section.source, c.section.name, c.order) in self.picked

    def adds(self, units: list[Candidate]) -> int:
        """The characters `units` would add to the plan."""
        return sum(len(u.unit.text) for u in units if not self.has(u))

    def names(self, term: str) -> bool:
        """A chosen unit has the question term `term`, or (a Latin term inside a longer name) its text."""
        return term in self.covered or any(term in c.unit.text.lower() for c in self.picked.values())

    def add(self, group: list[Candidate]) -> None:
        for c in group:
            if not self.has(c):
                self.picked[(c.section.source, c.section.name, c.order)] = c
                self.chars += len(c.unit.text)
                self.covered |= c.terms
        self.groups += 1


def sections_of(snap: Snapshot, hits: Iterable[Hit]) -> list[tuple[Section, int]]:
    """The sections of `hits`, each once, with the best rank of a hit in it."""
    out: dict[tuple[str, str], tuple[Section, int]] = {}
    for hit in hits:
        key = (hit.chunk.source, hit.chunk.section)
        if key not in out:
            out[key] = (section(snap, key), hit.rank)
    return list(out.values())


def section(snap: Snapshot, key: tuple[str, str]) -> Section:
    """The section's text from its chunks (they overlap; a gap between them was whitespace)."""
    found: Section | None = snap.sections_cache.get(key)
    if found is not None:
        return found
    chunks = tuple(sorted((snap.chunks[i] for i in snap.section_chunks.get(key, ())), key=lambda c: c.start))
    offset = chunks[0].start if chunks else 0
    text = ""
    for c in chunks:
        end = offset + len(text)
        if c.end <= end:
            continue
        text += "\n" * max(0, c.start - end) + c.text[max(0, end - c.start):]
    found = Section(key[0], key[1], offset, text, chunks, tuple(units_of(text)))
    closing = next((i for i in reversed(range(len(found.units))) if found.units[i].kind != "code"), None)
    if closing is not None and (items := items_section(snap, found, found.units[closing])) is not None:
        found = replace(found, items=(closing, items))
    snap.sections_cache[key] = found
    return found


def prepare(snap: Snapshot) -> None:
    """Read every section of the snapshot once, with the terms of its text, heading and units,
    before it answers: tokenising the corpus (jieba) is most of what composing an answer would
    otherwise cost the first question that reaches a section."""
    for key in snap.section_chunks:
        sec = section(snap, key)
        texts = [sec.text, heading(sec), *(u.text for u in sec.units)]
        for text in texts + [said(sec, i) for i in range(len(sec.units))]:
            terms_of(snap, text)


def terms_of(snap: Snapshot, text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A text of the corpus's terms (`tokens`, in order) and their set, read once per snapshot."""
    found: tuple[tuple[str, ...], frozenset[str]] | None = snap.terms_cache.get(text)
    if found is None:
        toks = tuple(tokens(text))
        found = snap.terms_cache[text] = (toks, frozenset(toks))
    return found


def title(sec: Section) -> str:
    """The title of the section's file (a FAQ entry's title is a reader's question)."""
    return sec.chunks[0].title if sec.chunks else ""


def heading(sec: Section) -> str:
    """The section's heading as its units are scored against it: the file's title and the section's name."""
    return f"{title(sec)} {sec.name}"


def said(sec: Section, i: int) -> str:
    """What the section's unit `i` says: a sentence that leans on the one before (因此…, 上面这段…)
    is about what that one names, so it is read with it."""
    unit = sec.units[i]
    leans = i > 0 and leans_on_before(unit.text)
    return f"{sec.units[i - 1].text} {unit.text}" if leans else unit.text


def is_framing(sec: Section, text: str) -> bool:
    """The sentence frames the lecture or the column (FRAMING). A lecture's note names itself by its
    number too ("第 32 讲是容器网络模块的第一讲"); its 现状 sections name it to say what changed since."""
    own = OWN_LECTURE.match(text)  # rare: the file's number is read only then
    if own and (m := LECTURE_FILE.match(sec.source)) and own.group(1) == m.group(1) \
            and not sec.name.startswith(UPDATE_SECTION):
        text = "这一讲" + text[own.end():]
    return FRAMING.search(text) is not None


def updates_of(snap: Snapshot, source: str) -> list[Section]:
    """The file's 现状 sections, in its order."""
    return [section(snap, key) for key in snap.file_sections.get(source, ()) if key[1].startswith(UPDATE_SECTION)]


def is_faq_opening(snap: Snapshot, sec: Section) -> bool:
    """The section opens a FAQ entry: it answers the entry's title, a reader's question."""
    return sec.source.startswith("faq/") and sec.name == snap.lead_sections.get(sec.source)


def holder(sec: Section, unit: Unit) -> Chunk | None:
    """The chunk whose text holds the whole unit (the one a citation can quote it from)."""
    start, end = sec.offset + unit.start, sec.offset + unit.end
    for c in sec.chunks:
        if c.start <= start and end <= c.end and c.text[start - c.start : end - c.start] == unit.text:
            return c
    return None


class Composer:
    def __init__(self, snap: Snapshot, question: str, query: np.ndarray | None, max_chars: int,
                 max_groups: int, weights: np.ndarray = WEIGHTS, section_weights: np.ndarray = SECTION_WEIGHTS,
                 original_first: bool = False) -> None:
        self.snap, self.question, self.query = snap, question, query
        self.original_first = original_first
        self.max_chars, self.max_groups = max_chars, max_groups
        self.weights_, self.section_weights = weights, section_weights
        base, extra = query_terms(question, snap.idf)
        # Only terms the corpus uses: a question word it never uses (most words of an English question's
        # prose: "happens", "want") matches no unit and would only shrink every unit's share of terms.
        self.weights = {t: snap.idf[t] for t in base if t in snap.idf}
        self.own = set(self.weights)  # the question's own words, not their glossary equivalents
        self.weights.update({t: 0.5 * snap.idf[t] for t in extra if t not in self.weights and t in snap.idf})
        self.total = sum(self.weights.values()) or 1.0
        self.about_lecture = bool(ABOUT_LECTURE.search(question))
        self.chinese = is_chinese(question)
        self.compares = bool(COMPARISON.search(question))
        self.sides = [t for t in base if snap.idf.get(t, 0.0) >= SIDE_IDF and not COMPARISON.search(t)]
        self.asks_now = bool(NOW.search(question))
        self.asks_how = bool(HOW.search(question))
        self.asks_how_to = bool(HOW_TO.search(question))
        self.asks_trouble = bool(TROUBLE.search(question))
        self.parts = [p for p in PARTS.split(question) if p.strip()]  # a question asked in parts
        self.first = ""  # the source of the answer's first file, once chosen
        self.cands: list[Candidate] = []  # every unit considered, once compose has scored them
        # The other FAQ entries' sections (see sections) and their units, scored: only rest_of_entry reads them.
        self.reserve: set[tuple[str, str]] = set()
        self.held: list[Candidate] = []
        self.retrieved: set[tuple[str, str]] = set()  # the sections the passages came from

    def compose(self, hits: list[Hit]) -> list[tuple[Candidate, Chunk]]:
        """The units of the answer in reading order, each with the chunk it is quoted from: from
        the file that answers best (its best section whole when short, else its best units
        across its sections), a second section whole when it fits and adds, then what other
        files add. A question about a lecture itself gets the section of its note it asks for."""
        if (asked := self.snap.lecture_asked(self.question)) is not None:
            return self.ordered(self.from_the_top(section(self.snap, asked)))
        cands = self.cands = self.candidates(hits)
        ranked = self.rank_sections(cands)
        if not ranked:
            return []
        files: dict[str, list[tuple[list[Candidate], float]]] = {}
        for group, score in ranked:
            files.setdefault(group[0].section.source, []).append((group, score))
        order = list(files.values())  # best section first, so files are in order of their best section
        best_score = order[0][0][1]
        if self.original_first:
            order = self.originals_first(order)
        if order[0][0][0][0].section.source.startswith("faq/"):
            order[0] = self.how_first(order[0])
        plan = Plan()
        self.first = order[0][0][0][0].section.source
        self.quote_file(order[0], plan, self.max_chars)
        for group, score in ranked[1:3]:  # a second section whole, when it fits and says something new
            prose = self.with_needs(
                self.on_topic([c for c in group if c.unit.kind != "code" and not c.framing and not plan.has(c)]), group)
            size = sum(len(c.unit.text) for c in prose)
            fits = plan.chars + size <= self.max_chars * 1.1
            if prose and score >= SECOND_SECTION * best_score and fits and self.coherent(prose) \
                    and not any(self.restates(c, plan) for c in prose):
                plan.add(prose)
        # A comparison needs both sides: another file is quoted for what it adds at a lower bar.
        for other in order[1:3]:
            score = other[0][1]
            if plan.chars > self.max_chars - 60:
                break
            if score >= SECOND_SECTION * best_score:
                self.quote_file(other, plan, self.max_chars, novel_only=True, limit=2)
            elif self.compares and score >= SECOND_SECTION * COMPARED * best_score:
                # ... for a side the answer does not name yet, and only for that.
                if missing := self.missing_sides(plan):
                    self.quote_file(other, plan, self.max_chars, novel_only=True, limit=2, needs=missing)
            else:
                break
        self.answer_every_part(cands, plan)
        self.show_how(cands, plan)
        self.show_causes(cands, plan)
        self.show_fix(cands, plan)
        self.rest_of_entry(cands + self.held, plan)
        self.rest_of_series(cands, plan)
        self.fill(cands, plan)
        return self.ordered(plan)

    def from_the_top(self, sec: Section) -> Plan:
        """The section's units in order while they fit EXTENDED_CHARS, a 思考题's prompt and the lecture's framing
        too (the reader asks about the lecture); a code block longer than CODE_CHARS is left out."""
        plan = Plan()
        for i, unit in enumerate(sec.units):
            if unit.kind == "code" and len(unit.text) > CODE_CHARS:
                continue
            if plan.chars + len(unit.text) > EXTENDED_CHARS:
                break
            plan.add([Candidate(unit, sec, 1, i, score=1.0)])
        return plan

    def fill(self, cands: list[Candidate], plan: Plan) -> None:
        """An answer still short after every step (under FILL of the budget) reads on in its first file, after
        its opening: its likeliest units not quoted yet that pass the usual bar on their own score (UNIT_FLOOR
        of the answer's best unit; quote_file discounts a unit by its section's likelihood and stops after a
        few), each with what it needs (a count's items too), while it is short. (Of the vital facts the
        development answers missed, many sat in such a unit of the first file while the answer had room;
        swept: a floor of 0.2: the same answers gained, 53 changed, 534 chars; 0.35: 23 changed, 523 chars;
        0.4: one gain fewer. Units before the opening too: the same gains, but three answers opened on filler.)"""
        if not plan.picked or plan.chars >= FILL * self.max_chars:
            return
        floor = UNIT_FLOOR * max(c.score for c in plan.picked.values())
        # Only what comes after the answer's opening in the file: a unit before it would become the opening.
        start = min((c.section.offset + c.unit.start for c in plan.picked.values()
                     if c.section.source == self.first), default=0)
        pool = [c for c in cands if c.section.source == self.first and c.unit.kind != "code" and not c.framing
                and not c.section.name.startswith(UPDATE_SECTION) and not plan.has(c) and c.score >= floor
                and c.section.offset + c.unit.start > start]
        for c in sorted(pool, key=lambda c: c.score * self.novelty(c, plan), reverse=True):
            if plan.chars >= FILL * self.max_chars:
                break
            if plan.has(c) or self.restates(c, plan):
                continue
            units = self.group(c, cands)
            if units and plan.chars + plan.adds(units) <= self.max_chars:
                plan.add(units)

    def series(self, sec: Section) -> list[tuple[str, str]]:
        """The other sections of the series `sec` is numbered in (SERIES), in the file's order; [] when none."""
        mine = SERIES.match(sec.name)
        if mine is None:
            return []
        keys = self.snap.file_sections.get(sec.source, ())
        return [key for key in keys if key[1] != sec.name
                and (m := SERIES.match(key[1])) is not None and m.groups() == mine.groups()]

    def rest_of_series(self, cands: list[Candidate], plan: Plan) -> None:
        """A section numbered in a series ("第一板斧", "第二步") is one item of a list the lecture
        spreads over sections: an answer that quotes one item names the others too, each by its
        section's first sentence, when it fits. (Not one step of three, as a list is not cut short.)"""
        quoted = {(c.section.source, c.section.name): c.section for c in plan.picked.values()}
        for key in dict.fromkeys(key for sec in quoted.values() for key in self.series(sec)):
            if key in quoted:
                continue
            first = next((c for c in cands if (c.section.source, c.section.name) == key and c.unit.kind != "code"
                          and not c.framing), None)
            units = self.group(first, cands) if first is not None else []
            if units and plan.chars + plan.adds(units) <= self.max_chars:
                plan.add(units)

    def rest_of_entry(self, cands: list[Candidate], plan: Plan) -> None:
        """A FAQ entry answers its title's question in its opening and what a reader asks next (how to
        confirm it, how to fix it, where to set it) in its other sections, each of which opens with its
        answer: when the answer quotes the opening of the entry it comes from and is still short, the
        first sentence of each section of the entry it does not quote yet, likeliest first, when it is
        short and fits. (Of the vital facts the development answers missed, most sat in such a section of the
        entry the answer led with, and nearly always in its first sentence; the composer's scores
        do not tell them from the rest of the section, the entry's layout does.)"""
        if not self.first.startswith("faq/") or plan.chars >= FILL * self.max_chars \
                or not any(is_faq_opening(self.snap, c.section) for c in plan.picked.values()):
            return
        quoted = {c.section.name for c in plan.picked.values() if c.section.source == self.first}
        firsts: dict[str, Candidate] = {}
        for c in cands:
            if c.section.source == self.first and c.section.name not in quoted and c.unit.kind != "code" \
                    and not c.framing and not c.section.name.startswith(UPDATE_SECTION):
                firsts.setdefault(c.section.name, c)
        for c in sorted(firsts.values(), key=lambda c: c.score, reverse=True)[:FILL_SECTIONS]:
            if plan.chars >= FILL * self.max_chars:
                break
            units = self.group(c, cands)
            if not units and POINTS_AHEAD.search(c.unit.text):
                # A first sentence that announces more than fits ("最容易碰到的有：") gives way to its likeliest item.
                rest = [x for x in cands if x.section is c.section and x.order > c.order and x.unit.kind != "code"
                        and not x.framing and not plan.has(x)]
                c = max(rest, key=lambda x: x.score, default=c)
                units = self.group(c, cands) if rest else []
            if units and not self.restates(c, plan) and plan.chars + plan.adds(units) <= self.max_chars \
                    and plan.adds(units) <= FILL_CHARS:
                plan.add(units)

    def how_first(self, sections: list[tuple[list[Candidate], float]]) -> list[tuple[list[Candidate], float]]:
        """A FAQ entry's sections with the one named for what a how-to question asks ("怎么清理" for
        "Evicted 的 pod 怎么清理") first: its heading asks the reader's question, word for word."""
        # A question in parts ("为啥会被驱逐？要怎么清理") is answered from the opening, its parts after.
        if not self.asks_how_to or len(self.parts) > 1:
            return sections
        asked = set(tokens(self.question))
        for i, (group, _) in enumerate(sections):
            name = group[0].section.name
            what = set(tokens(name))
            if i and what and HOW.search(name) and what <= asked:
                return [sections[i], *sections[:i], *sections[i + 1:]]
        return sections

    def show_how(self, cands: list[Candidate], plan: Plan) -> None:
        """A reader who asks how to do something gets the command: when the answer comes from a FAQ
        entry and shows none, the entry's likeliest sentence that a short shell block follows comes
        with the block, if it fits or sentences less likely than it make room (a FAQ entry's commands
        are what to run; a lecture's illustrate)."""
        if not self.first.startswith("faq/") or not self.asks_how_to \
                or any(c.unit.kind == "code" for c in plan.picked.values()):
            return
        found = [c for c, nxt in pairwise(cands) if c.section.source == self.first
                 and c.unit.kind != "code" and not c.framing and not plan.has(c) and nxt.section is c.section
                 and is_command(nxt)]
        for c in sorted(found, key=lambda c: c.score, reverse=True)[:2]:
            units = self.group(c, cands)
            if units and units[-1].unit.kind == "code" and not self.restates(c, plan) \
                    and (plan.chars + plan.adds(units) <= EXTENDED_CHARS
                         or self.make_room(plan, plan.adds(units), c.score)):
                plan.add(units)
                return

    def show_causes(self, cands: list[Candidate], plan: Plan) -> None:
        """A reader whose something goes wrong gets its causes: when the answer leads with a FAQ entry and does not
        quote its list of causes whole, the list comes whole (a sentence announcing the causes with its items, or a
        short section headed for them; one the answer began first), up to CAUSES_CHARS, sentences standing alone
        making room ("Pod 一直 CrashLoopBackOff 怎么排查" showed the commands, not the four kinds of cause the entry
        lists)."""
        if not self.asks_trouble or not plan.picked:
            return
        # The entry the answer leads with: its likeliest sentence's (the answer is read in that order).
        source = max(plan.picked.values(), key=lambda c: c.score).section.source
        if not source.startswith("faq/"):
            return
        every = cands + self.held  # the entry's sections held in reserve too
        mine = [c for c in every if c.section.source == source and not c.framing
                and not c.section.name.startswith(UPDATE_SECTION)]
        found: list[list[Candidate]] = []
        for c in mine:
            if c.unit.kind == "sentence" and CAUSES.search(c.unit.text):
                units = self.group(c, every)
                count = announced_count(c.unit.text)
                # Its items after it, or in the sentence itself ("丢请求的原因还有四类：第一，…；第二，…").
                if len(units) > 1 or (units and count is not None and listed_inline(c.unit.text, count)):
                    found.append(units)
        for name in dict.fromkeys(c.section.name for c in mine if CAUSES_HEADING.search(c.section.name)):
            units = [c for c in mine if c.section.name == name and c.unit.kind != "code"]
            if units and sum(len(c.unit.text) for c in units) <= EXTENDED_CHARS - 80:
                found.append(units)
        if not found or any(not plan.adds(units) for units in found):
            return
        units = min(found, key=lambda units: not any(plan.has(u) for u in units))  # a list the answer began, first
        need = plan.adds(units)
        # Any sentence standing alone but the opening gives way to it, least likely first, even one that alone
        # says a word of the question (排查时可以…): the causes are what the reader asked.
        if plan.chars + need <= CAUSES_CHARS or self.make_room(plan, need, math.inf, CAUSES_CHARS, keep_terms=False,
                                                                  keep_counts=False):
            plan.add(units)

    def show_fix(self, cands: list[Candidate], plan: Plan) -> None:
        """A reader who asks how to fix or do something gets the fix, and one who asks which to choose gets the
        choice: when the answer leads with a FAQ entry with a section headed for it ("怎么缓解", "常用瘦身手段",
        "怎么选"), or a passage came from such a section of another entry, and the answer does not quote it whole,
        its sentences come (without its code) when they are short, else its likeliest sentence with what it needs,
        if they fit or less likely sentences make room ("my docker image is 1.5GB, how do I make it smaller" got
        why images grow and .dockerignore, not multi-stage builds or a smaller base image)."""
        headings = [heading for asks, heading in ASKED_FOR if asks.search(self.question)]
        every = cands + self.held
        headed = [c for c in every if c.section.source.startswith("faq/") and c.unit.kind != "code" and not c.framing
                  and any(h.search(c.section.name) for h in headings)]
        # The answer's own entry's section; else one a passage came from (retrieval found the fix itself: "CPU 被
        # throttle 了怎么办" was answered from the lecture, FAQ 008's "怎么缓解" the second passage).
        mine = [c for c in headed if c.section.source == self.first] \
            or [c for c in headed if (c.section.source, c.section.name) in self.retrieved]
        missing = [c for c in mine if not plan.has(c)]
        if not missing:
            return
        best = max(missing, key=lambda c: c.score)
        whole = [c for c in mine if c.section is best.section]
        units = whole if sum(len(c.unit.text) for c in whole) <= FIX_CHARS else self.group(best, every)
        if not units or any(self.restates(c, plan) for c in units if not plan.has(c)):
            return
        need = plan.adds(units)
        if plan.chars + need <= EXTENDED_CHARS or self.make_room(plan, need, best.score):
            plan.add(units)

    def make_room(self, plan: Plan, need: int, below: float, limit: int = EXTENDED_CHARS,
                  keep_terms: bool = True, keep_counts: bool = True) -> bool:
        """Leave out the plan's least likely sentences (each less likely than `below`, standing alone:
        nothing kept leans on it, it leans on nothing, it is not an item or the lead-in of a block the unit
        before or after it needs, and, with `keep_terms`, it is not the only one with one of the question's terms)
        until `need` more characters fit in `limit`; False, and the plan as it was, when they cannot be had.
        A sentence with a count is a lead-in; without `keep_counts`, only when its items follow it in the answer or
        in the sentence itself (for a list of causes, "两个实例同时写同一份数据…" gives way)."""
        picked = list(plan.picked.values())
        # The answer's opening sentence stays: it is what the rest is read against.
        first = min(picked, key=lambda c: (c.section.source != self.first, c.rank, c.order)) if picked else None
        said_by: dict[str, int] = {}
        for c in picked:
            for t in c.terms:
                said_by[t] = said_by.get(t, 0) + 1

        def near(c: Candidate, step: int) -> Candidate | None:
            return plan.picked.get((c.section.source, c.section.name, c.order + step))

        def leans(c: Candidate | None) -> bool:
            return c is not None and leans_on_before(c.unit.text)

        def announces(c: Candidate | None) -> bool:
            if c is None:
                return False
            if ENUM.match(c.unit.text) or POINTS_AHEAD.search(c.unit.text):
                return True
            count = announced_count(c.unit.text)
            return count is not None and (keep_counts or near(c, 1) is not None or listed_inline(c.unit.text, count))

        def alone(c: Candidate) -> bool:
            after = near(c, 1)
            return c.unit.kind == "sentence" and c is not first and not leans(c) and not leans(after) \
                and not VALUE.match(c.unit.text) and not RANKED.match(c.unit.text) \
                and not announces(c) and not announces(near(c, -1)) \
                and not (after is not None and after.unit.kind == "code") \
                and (not keep_terms or all(said_by[t] > 1 for t in c.terms))
        room = limit - plan.chars - need
        gone: list[Candidate] = []
        for c in sorted((c for c in picked if c.score < below and alone(c)), key=lambda c: c.score):
            if room >= 0:
                break
            gone.append(c)
            room += len(c.unit.text)
        if room < 0:
            return False
        for c in gone:
            del plan.picked[(c.section.source, c.section.name, c.order)]
            plan.chars -= len(c.unit.text)
        plan.covered = set().union(*(c.terms for c in plan.picked.values()))
        return True

    def quotable(self, c: Candidate) -> bool:
        """`c` may be quoted for itself: it is from the answer's first file, or likely to answer (another
        file's unlikely sentences were filler: of 62 such units in the development answers, 1 stated a vital fact)."""
        return c.section.source == self.first or c.score >= OTHER_FILE

    def missing_sides(self, plan: Plan) -> set[str]:
        """The sides of the comparison (distinctive terms of the question) the answer does not name yet."""
        return {t for t in self.sides if not plan.names(t)}

    def originals_first(self, order: list[list[tuple[list[Candidate], float]]]
                        ) -> list[list[tuple[list[Candidate], float]]]:
        """The files, with the first of the column's own texts that says what the best file says
        moved to the front: the original is quoted (and cited) first, and the note only for what
        it adds. "Says": one of its units nearly means one of the best file's two best units."""
        lead = order[0]
        if is_original(lead[0][0][0].section):
            return order
        best = sorted((c for group, _ in lead for c in group if c.unit.kind != "code" and not c.framing),
                      key=lambda c: -c.score)[:2]
        wanted = [v for v in (self.vector(c) for c in best) if v is not None]
        for file in order[1:]:
            if not is_original(file[0][0][0].section):
                continue
            vectors = [v for group, _ in file for c in group if (v := self.vector(c)) is not None]
            if wanted and vectors and float((np.stack(vectors) @ np.stack(wanted).T).max()) >= ORIGINAL_COVERS:
                return [file, *(f for f in order if f is not file)]
        return order

    def answer_every_part(self, cands: list[Candidate], plan: Plan) -> None:
        """A question asked in parts ("A 是什么？B 又怎么办") gets each part: a part whose distinctive
        term no chosen unit has gets the best unit that has it, with what it needs, if it fits."""
        for part in self.parts[1:]:
            # What the part is about, not what it asks (区别, 怎么): those words are in every comparison or how-to.
            terms = [t for t in tokens(part) if t in self.weights and not (COMPARISON.fullmatch(t) or HOW.fullmatch(t))]
            if not terms:
                continue
            # (A comparison's sides are each named below: one sentence need not say both.)
            if len(set(terms)) > 1 and not COMPARISON.search(part) and not PAIR.search(part):
                self.part_in_answer(set(terms), cands, plan)
            self.name_in_answer(max(terms, key=self.weights.__getitem__), cands, plan)
        # Two names asked side by side ("ListAndWatch 和 Allocate 分别是干啥的") are each a part; when the corpus knows
        # both ("Cilium 和 Calico 选哪个"), a side the answer never names takes the room of less likely sentences.
        for pair in PAIR.finditer(self.question):
            keys = [name.lower() for name in pair.groups()]
            for key in keys:
                if key in self.weights:
                    self.name_in_answer(key, cands, plan, room=all(k in self.weights for k in keys))

    def part_in_answer(self, terms: set[str], cands: list[Candidate], plan: Plan) -> None:
        """A part's terms said together: when no chosen unit has PART_SAID of their weight, the likeliest unit
        that has, with what it needs, if it fits. ("节点内存不够的时候先驱逐谁" after "pod 的 QoS 有哪几种": 节点,
        内存 and 驱逐 were each named somewhere in the answer, the eviction order nowhere.)"""
        total = sum(self.weights[t] for t in terms)

        def says(c: Candidate) -> bool:
            return sum(self.weights[t] for t in terms & c.terms) >= PART_SAID * total

        if not any(says(c) for c in plan.picked.values()):
            self.add_likeliest(says, cands, plan)

    def name_in_answer(self, key: str, cands: list[Candidate], plan: Plan, room: bool = False) -> None:
        """When no chosen unit names `key`, the likeliest unit that does, with what it needs, if it fits (with `room`,
        making room for it)."""
        if not plan.names(key):
            # A Latin term counts inside a longer name too: "required" in requiredDuringScheduling….
            self.add_likeliest(lambda c: key in c.terms or (key.isascii() and key in c.unit.text.lower()), cands, plan,
                               room)

    def add_likeliest(self, wanted: Callable[[Candidate], bool], cands: list[Candidate], plan: Plan,
                      room: bool = False) -> None:
        """Of the quotable units not chosen yet that are `wanted`, the likeliest of the first three that comes with
        what it needs, says something new and fits (with `room`: fits once less likely sentences make room)."""
        found = [c for c in cands if c.unit.kind != "code" and not c.framing and not plan.has(c) and self.quotable(c)
                 and wanted(c)]
        for c in sorted(found, key=lambda c: c.score, reverse=True)[:3]:
            units = self.group(c, cands)
            if not units or self.restates(c, plan):
                continue
            need = plan.adds(units)
            if plan.chars + need <= EXTENDED_CHARS or (room and self.make_room(plan, need, c.score)):
                plan.add(units)
                return

    def quote_file(self, sections: list[tuple[list[Candidate], float]], plan: Plan, budget: int,
                   novel_only: bool = False, limit: int = 99, needs: set[str] | None = None) -> None:
        """Add a file to the plan: its best section whole when that fits the budget, else its best
        units across its sections (each weighed by how likely its section is to answer), with what
        they need, while they fit (with `needs`: only units that name one of those terms)."""
        (best, best_section), *_ = sections
        prose = self.with_needs(self.on_topic([c for c in best if c.unit.kind != "code" and not c.framing],
                                              lead=not novel_only), best)
        size = sum(len(c.unit.text) for c in prose)
        # The short code block a sentence points at is part of what it says, not one more unit to read.
        said_units = sum(c.unit.kind != "code" for c in prose)
        if not novel_only and prose and size <= budget * WHOLE_SECTION and said_units <= WHOLE_UNITS \
                and self.coherent(prose):
            plan.add(prose)
            if len(sections) == 1:
                return
            limit = 2
        # (A sentence judging one side of a comparison weighs more here, where a file's units are chosen, not in
        # which section answers.)
        pool = [(c, c.score * (0.5 + 0.5 * score / best_section) * (CONTRAST if self.contrasts(c) else 1.0), group)
                for group, score in sections
                for c in group if c.unit.kind != "code" and not c.framing and self.quotable(c)
                and (needs is None or needs & c.terms or any(t in c.unit.text.lower() for t in needs))]
        if not pool:
            return
        top = max(weight for _, weight, _ in pool)
        added = 0
        while pool and added < limit and plan.groups < self.max_groups:
            # The next unit: likely to answer, and saying something of the question not yet said.
            c, weight, group = max(pool, key=lambda p: p[1] * self.novelty(p[0], plan))
            pool.remove((c, weight, group))
            # A short answer so far may take a less likely unit: the reader asked for more than a line.
            if weight < (SHORT_FLOOR if plan.chars < self.max_chars * SHORT else UNIT_FLOOR) * top:
                break
            if plan.has(c) or self.restates(c, plan):
                continue
            # A command the answer already shows (another file's copy of it) is not shown twice.
            units = [u for u in self.group(c, group) if u.unit.kind != "code" or not self.restates(u, plan)]
            if not units:
                continue
            room = (EXTENDED_CHARS if not plan.groups else budget) - plan.chars
            # The answer's own file's likely unit takes the room of its less likely sentences (a section shown
            # whole brings its every sentence; a 现状 line is added at the end only when it fits).
            if plan.adds(units) > room and (novel_only or c.section.name.startswith(UPDATE_SECTION)
                                            or not self.make_room(plan, plan.adds(units), c.score)):
                continue
            plan.add(units)
            added += 1

    def novelty(self, c: Candidate, plan: Plan) -> float:
        """1 for a unit with question terms no chosen unit has; COVERED for one with none new."""
        new = sum(self.weights[t] for t in c.terms - plan.covered)
        mine = sum(self.weights[t] for t in c.terms)
        return COVERED + (1.0 - COVERED) * (new / mine if mine else 0.0)

    def rank_sections(self, cands: list[Candidate], with_features: bool = False) -> list[Any]:
        """Each section's candidates with how likely it is to answer, best first (and, for fitting
        the weights, the features it was scored on)."""
        by_section: dict[int, list[Candidate]] = {}
        for c in cands:
            by_section.setdefault(id(c.section), []).append(c)
        groups = [g for g in by_section.values() if any(c.unit.kind != "code" and not c.framing for c in g)]
        if not groups:
            return []
        features = np.stack([self.section_features(g) for g in groups])
        for col in (-2, -1):  # how close in meaning, relative to the closest section here
            features[:, col] -= features[:, col].max()
        self.near_faq_leads(groups, features)
        scores = 1.0 / (1.0 + np.exp(-(features @ self.section_weights)))
        if not self.asks_now:  # a 现状 line is added at the end when it fits; it leads only when asked for
            scores *= np.array([UPDATE_LEAD if g[0].section.name.startswith(UPDATE_SECTION) else 1.0 for g in groups])
        scores *= self.without_the_name(groups) * self.name_in_heading(groups)
        ranked = sorted(zip(groups, (float(x) for x in scores), features, strict=True), key=lambda gs: -gs[1])
        return ranked if with_features else [(g, score) for g, score, _ in ranked]

    def name(self) -> str | None:
        """The name the question is about: its one term that carries NAME_SHARE of its weight; None when none does."""
        name = max(self.weights, key=self.weights.__getitem__, default=None)
        return name if name is not None and self.weights[name] >= NAME_SHARE * self.total else None

    def without_the_name(self, groups: list[list[Candidate]]) -> np.ndarray:
        """WITHOUT_NAME for each section that never says the name a question is about (its one term that
        carries NAME_SHARE of its weight: "projected" in "what kinds of projected volumes…"), when another
        section does: a section on volumes in general answers another question. 1 for the rest."""
        name = self.name()
        if name is None:
            return np.ones(len(groups))
        has = [any(name in c.terms for c in g) for g in groups]
        return np.array([1.0 if h or not any(has) else WITHOUT_NAME for h in has])

    def name_in_heading(self, groups: list[list[Candidate]]) -> np.ndarray:
        """NAME_IN_HEADING for each section whose heading writes a rare name of the question (a path, a file, a
        component: `/opt/cni/bin`, `docker.sock`; idf at least RARE_NAME): that section is about it. 1 for the rest."""
        names = [t for t in self.weights if NAMED_TERM.fullmatch(t) and self.snap.idf[t] >= RARE_NAME]
        if not names:
            return np.ones(len(groups))
        return np.array([NAME_IN_HEADING if any(n in terms_of(self.snap, g[0].section.name)[1] for n in names)
                         else 1.0 for g in groups])

    def near_faq_leads(self, groups: list[list[Candidate]], features: np.ndarray) -> None:
        """Of several FAQ entries' openings, only those whose titles ask about as nearly what the reader
        asks as the best one keep `faq_lead`: each answers its own title's question ("PVC 一直 Pending" is
        not "Pod 一直 Pending"), so a title with terms the question lacks asks something else."""
        col = SECTION_FEATURES.index("faq_lead")
        asked = {i: self.asked(title(g[0].section)) for i, g in enumerate(groups) if features[i, col]}
        # Even alone: a Chinese question sharing almost none of a title's terms asks something else (for an English
        # one the share is no measure: its words are not the title's Chinese).
        if self.chinese:
            for i, share in asked.items():
                if share < FAQ_TITLE_FLOOR:
                    features[i, col] = 0.0
        if len(asked) < 2:
            return
        best = max(asked.values())
        for i, share in asked.items():
            if share < FAQ_TITLE_NEAR * best:
                features[i, col] = 0.0

    def asked(self, text: str) -> float:
        """The idf-weighted share of `text`'s terms (a text of the corpus) that the question has."""
        found = terms_of(self.snap, text)[1]
        total = sum(self.snap.idf.get(t, 1.0) for t in found)
        return sum(self.snap.idf.get(t, 1.0) for t in found if t in self.weights) / total if total else 0.0

    def section_features(self, group: list[Candidate]) -> np.ndarray:
        sec, rank = group[0].section, group[0].rank
        prose = [c for c in group if c.unit.kind != "code" and not c.framing]
        scores = sorted((c.score for c in prose), reverse=True)
        size = sum(len(c.unit.text) for c in prose)
        return np.array([
            1.0, self.match(heading(sec)), scores[0],
            float(np.mean(scores[:3])), max(c.features[3] for c in prose),
            1.0 / (1.0 + 0.35 * (rank - 1)) if rank else 0.0, float(rank == 0), float(sec.source.startswith("faq/")),
            float("思考题" in sec.name and not self.about_lecture), float(sec.name.startswith(UPDATE_SECTION)),
            self.match(sec.text), min(size, 2000) / 1000,
            float(is_faq_opening(self.snap, sec)),
            self.closeness(sec), self.file_closeness(sec),
        ], dtype=np.float32)

    def closeness(self, sec: Section) -> float:
        """The best cosine of the question and one of the section's passages (0 without a vector)."""
        rows = self.snap.section_chunks.get((sec.source, sec.name), [])
        if self.query is None or not rows:
            return 0.0
        return float((self.snap.vectors[rows] @ self.query).max())

    def file_closeness(self, sec: Section) -> float:
        """The cosine of the question and the section's file as a whole (its passages' mean)."""
        rows = self.snap.section_chunks.get((sec.source, sec.name), [])
        if self.query is None or not rows:
            return 0.0
        return float(self.snap.doc_vectors[self.snap.doc_of[rows[0]]] @ self.query)

    def with_needs(self, units: list[Candidate], group: list[Candidate]) -> list[Candidate]:
        """A section's units to show whole, with the code block a unit points at (如下：…, or back: "上面这个
        Role…") when it is short, and without that unit when it is not."""
        out: dict[int, Candidate] = {}
        for c in units:
            nxt, prev = self.after(c, group), self.before(c, group)
            if nxt is not None and nxt.unit.kind == "code" and self.shows(c, nxt):
                if len(nxt.unit.text) > CODE_CHARS:
                    continue
                out[nxt.order] = nxt
            if prev is not None and prev.unit.kind == "code" and leans_on_before(c.unit.text):
                if len(prev.unit.text) > CODE_CHARS:
                    continue
                out[prev.order] = prev
            carried = self.carried_over(c, group) if nxt is None else []
            if carried is None:
                continue
            out[c.order] = c
            for x in carried:
                out[len(group) + x.order] = x  # after the section's own units, in the next section's order
        return [out[k] for k in sorted(out)]

    def on_topic(self, prose: list[Candidate], lead: bool = False) -> list[Candidate]:
        """A section's units without those far off the question (text that does not belong there,
        such as a paragraph addressed to a model), keeping whatever a kept unit needs (its list,
        the items it counts); [] when what is left would lean on what went. The answer's `lead` section,
        when short (SHORT_SECTION), loses only units far from the question's meaning without its terms."""
        if not prose:
            return []
        floor = WHOLE_FLOOR * max(c.score for c in prose)
        near = max(c.features[4] for c in prose) - OFF_MEANING
        if lead and sum(len(c.unit.text) for c in prose) <= SHORT_SECTION:
            floor = 0.0
        # Off the question: scored far below the section's best, or far from its meaning with none of its terms.
        keep = {c.order for c in prose if c.score >= floor and (c.features[1] > 0 or c.features[4] >= near)}
        for c in prose:
            if c.order in keep:
                keep |= {g.order for g in self.group(c, prose)}
        kept = [c for c in prose if c.order in keep]
        dropped = {c.order for c in prose} - keep
        if any(c.order - 1 in dropped and leans_on_before(c.unit.text) for c in kept):
            return []
        return kept

    def coherent(self, prose: list[Candidate]) -> bool:
        """The section can be shown whole: it does not open by leaning on something before it."""
        return not leans_on_before(prose[0].unit.text)

    def on_title(self, c: Candidate) -> bool:
        """`c` opens a FAQ entry on a pointer ("这类 Forbidden 报错…"): what it points at is the entry's
        title, the reader's question, which the answer is read against."""
        return c.order == 0 and is_faq_opening(self.snap, c.section) and LEANS.match(c.unit.text) is not None

    # scoring

    def candidates(self, hits: list[Hit]) -> list[Candidate]:
        """Every unit of the hits' sections and of their files' lead sections, scored (the units of the
        sections held in reserve go to `held`)."""
        out: list[Candidate] = []
        spans = [(h.chunk.source, h.chunk.start, h.chunk.end) for h in hits]
        self.retrieved = {(h.chunk.source, h.chunk.section) for h in hits}
        for sec, rank in self.sections(hits):
            heading_match = self.match(heading(sec))
            thought = "思考题" in sec.name and not self.about_lecture
            update = sec.name.startswith(UPDATE_SECTION)
            faq, opening = sec.source.startswith("faq/"), is_faq_opening(self.snap, sec)
            first = True
            prompt_asked = True  # in a 思考题: the prompt a unit answers shares a term with the question
            for i, unit in enumerate(sec.units):
                c = Candidate(unit, sec, rank, i)
                out.append(c)
                if unit.kind == "code":
                    continue
                # A question in the text (a 思考题's prompt, "为什么选择它？") sets up an answer; it is not one.
                asks = ASKS.search(unit.text) is not None
                if thought and (asks or PROMPT.match(unit.text)):
                    prompt_asked = self.match(unit.text) > 0 and (self.asked(unit.text) >= PROMPT_ASKED
                                                                    or not self.chinese)
                # A 思考题 section answers several prompts: an answer to a prompt the reader did not ask about
                # ("常见原因包括：…" under "有哪些原因让有状态应用难以迁移") answers another question.
                c.framing = not self.about_lecture and (asks or is_framing(sec, unit.text) or not prompt_asked)
                what = said(sec, i)
                c.terms = frozenset(t for t in terms_of(self.snap, what)[0] if t in self.weights)
                start, end = sec.offset + unit.start, sec.offset + unit.end
                c.features[:] = (
                    1.0, self.match(what), heading_match, 0.0, self.meaning(sec, unit),
                    1.0 / (1.0 + 0.35 * (rank - 1)) if rank else 0.0, float(first),
                    float(any(src == sec.source and s <= start and end <= e for src, s, e in spans)),
                    float(c.framing), float(unit.kind == "sentence" and asks),
                    float(thought), float(update), float(faq),
                    min(len(unit.text), 200) / 100, float(rank == 0),
                    # A FAQ entry's first sentence answers its title's question.
                    float(first and opening),
                )
                first = False
        competing: list[Candidate] = []
        self.held = []
        for c in out:
            (self.held if (c.section.source, c.section.name) in self.reserve else competing).append(c)
        prose = [c for c in out if c.unit.kind != "code"]
        if prose:
            ranked = [c for c in competing if c.unit.kind != "code"] or prose
            raw = np.array([c.features[4] for c in ranked])
            low, high = float(raw.min()), float(raw.max())
            for c in prose:  # closeness in meaning relative to the units competing here
                c.features[3] = (c.features[4] - low) / (high - low) if high > low else 0.0
            scores = 1.0 / (1.0 + np.exp(-(np.stack([c.features for c in prose]) @ self.weights_)))
            for c, score in zip(prose, scores, strict=True):
                c.score = float(score)
        return competing

    def contrasts(self, c: Candidate) -> bool:
        """In a comparison, a sentence that judges one side ("IPVS 用哈希表查找，规模大时性能更稳定"): names some but
        not all of the sides, in words that weigh (更, 慢, 性能, 适合…)."""
        if not self.compares or len(self.sides) < 2:
            return False
        named = sum(s in c.terms for s in self.sides)
        return 0 < named < len(self.sides) and EVALUATIVE.search(c.unit.text) is not None

    def sections(self, hits: list[Hit]) -> list[tuple[Section, int]]:
        """The hits' sections with their best rank, then each file's lead section (rank 0) if not
        among them: a FAQ entry answers its title's question first, a lecture note states its topic."""
        found = sections_of(self.snap, hits)
        have = {(s.source, s.name) for s, _ in found}
        self.reserve = set()
        for source in dict.fromkeys(s.source for s, _ in found):
            lead = self.snap.lead_sections.get(source)
            if lead is not None and (source, lead) not in have:
                found.append((section(self.snap, (source, lead)), 0))
                have.add((source, lead))
        last = max((rank for _, rank in found), default=0) + 1
        for sec, _ in list(found):
            for key in [*self.series(sec), *([sec.items[1]] if sec.items else [])]:
                if key not in have:
                    found.append((section(self.snap, key), last))
                    have.add(key)
        if found and found[0][0].source.startswith("faq/"):
            # A FAQ entry that answers best is short: every section of it is a candidate (the
            # answer may sit in one no passage of the top few came from).
            source = found[0][0].source
            last = max(rank for _, rank in found) + 1
            # Its opening answers the title's question: it ranks with the entry's best passage.
            found = [(sec, found[0][1] if sec.source == source and not rank else rank) for sec, rank in found]
            self.rest_of(source, last, found, have)
        # A lecture note among the hits: its other sections that say the rare name the question is about (NAME_SHARE of
        # its weight, idf RARE_NAME: "pause" in "Pod 的实现：Infra 容器与共享机制", for "pause 容器到底是干啥的") are
        # candidates too.
        if (name := self.name()) is not None and self.weights[name] >= RARE_NAME:
            last = max((rank for _, rank in found), default=0) + 1
            for source in dict.fromkeys(s.source for s, _ in found if not s.source.startswith("faq/")):
                keys = [key for key in self.snap.file_sections.get(source, ()) if key not in have
                        and not key[1].startswith(UPDATE_SECTION)
                        and name in terms_of(self.snap, section(self.snap, key).text)[1]]
                found.extend((section(self.snap, key), last) for key in keys)
                have.update(keys)
        # Another FAQ entry among the hits may still lead the answer (its opening asks the reader's question
        # best: "Kubernetes 集群由哪些组件组成" behind an entry about the control plane's taint). Its other
        # sections are scored too, held in reserve: rest_of_entry reads on in them, but they do not compete
        # for the answer (let in as candidates, they moved 14 development answers and lost 0.001 recall).
        last = max((rank for _, rank in found), default=0) + 1
        for source in dict.fromkeys(s.source for s, _ in found if s.source.startswith("faq/")):
            self.reserve.update(self.rest_of(source, last, found, have))
        return found

    def rest_of(self, source: str, rank: int, found: list[tuple[Section, int]],
                have: set[tuple[str, str]]) -> list[tuple[str, str]]:
        """Add the file's sections not in `have` (but its 现状 section) to `found` at `rank`; their keys."""
        keys = [key for key in self.snap.file_sections.get(source, ())
                if key not in have and not key[1].startswith(UPDATE_SECTION)]
        found.extend((section(self.snap, key), rank) for key in keys)
        have.update(keys)
        return keys

    def meaning(self, sec: Section, unit: Unit) -> float:
        """Cosine of the question and the unit (0 when the index has no unit vectors)."""
        row = self.snap.unit_rows.get((sec.source, sec.name, unit.text))
        if row is None or self.query is None:
            return 0.0
        return float(self.snap.unit_vectors[row] @ self.query)

    def match(self, text: str) -> float:
        """The idf-weighted share of the question's terms that `text` (a text of the corpus) contains."""
        found = terms_of(self.snap, text)[1]
        return sum(w for t, w in self.weights.items() if t in found) / self.total

    # groups: a unit with what it needs

    def group(self, c: Candidate, cands: list[Candidate]) -> list[Candidate]:
        """`c` with what it cannot stand without, in order; [] when that cannot be had."""
        same = [x for x in cands if x.section is c.section]
        if c.unit.kind == "item":
            return self.whole_list(c, same)
        if series := self.ranked_series(c, same):
            return series if sum(len(x.unit.text) for x in series) <= EXTENDED_CHARS - 80 else []
        if VALUE.match(c.unit.text) and (whole := self.among_values(c, same)):
            return whole
        head = self.leaned_on(c, same)
        tail = self.follows(c, same)
        if head is None or tail is None:
            return []
        return [*head, c, *tail]

    def leaned_on(self, c: Candidate, same: list[Candidate], depth: int = 0) -> list[Candidate] | None:
        """What `c` leans on (因此…, 上面这段…), back to a unit that stands on its own; [] when it
        leans on nothing, None when what it leans on cannot be had."""
        if c.unit.kind != "sentence" or not leans_on_before(c.unit.text):
            return []
        if self.on_title(c):
            return []
        if (step := self.step_before(c, same)) is not None:
            head = self.leaned_on(step, same, depth)
            return None if head is None else [*head, step]
        before = self.before(c, same)
        if before is not None and before.unit.kind == "code" and ORDINAL.match(c.unit.text):
            before = self.before(before, same)  # "第二步…" leans on the first step, not on its commands
        if before is None or before.framing or depth >= 2:
            return None
        if before.unit.kind == "item":
            return self.whole_list(before, same) or None
        if before.unit.kind == "code":
            return [before] if len(before.unit.text) <= CODE_CHARS else None
        further = self.leaned_on(before, same, depth + 1)
        return None if further is None else [*further, before]

    def ranked_series(self, c: Candidate, same: list[Candidate]) -> list[Candidate]:
        """The sentences of `c`'s section that number kinds as `c` does (第一类…, 第二类…), in order, when `c` is one
        of them and they run from 第一 without a gap; [] otherwise ("第一个控制平面节点" alone is no series)."""
        mine = RANKED.match(c.unit.text) if c.unit.kind == "sentence" else None
        if mine is None:
            return []
        series = [(x, m) for x in same if x.unit.kind == "sentence" and (m := RANKED.match(x.unit.text)) is not None
                  and m.group(2) == mine.group(2)]
        numbers = [STEP_NUMERALS.index(m.group(1)) for _, m in series]
        return [x for x, _ in series] if len(series) > 1 and numbers == list(range(len(series))) else []

    def step_before(self, c: Candidate, same: list[Candidate]) -> Candidate | None:
        """For "第三步，…": the section's "第二步，…" sentence, however much (the second step's own
        sentences, its commands) lies between; None when `c` is no numbered step or its section lacks it."""
        m = NUMBERED.match(c.unit.text)
        if m is None:
            return None
        want = "第" + STEP_NUMERALS[STEP_NUMERALS.index(m.group(1)) - 1] + m.group(2)
        return next((x for x in reversed(same[: c.order]) if x.unit.kind == "sentence"
                     and x.unit.text.startswith(want)), None)

    def follows(self, c: Candidate, same: list[Candidate]) -> list[Candidate] | None:
        """What a unit that announces a list, a count or a block needs after it, or the sentence that turns on it; None
        when the announcement cannot be kept whole."""
        text = c.unit.text
        nxt = self.after(c, same)
        ahead = POINTS_AHEAD.search(text) is not None
        count = announced_count(text)
        if nxt is not None and nxt.unit.kind == "item" and (ahead or count):
            return self.whole_list(nxt, same, with_intro=False) or None
        if nxt is not None and nxt.unit.kind == "code" and self.shows(c, nxt):
            return [nxt] if len(nxt.unit.text) <= CODE_CHARS else None
        inline = count is not None and listed_inline(text, count)
        if count and not inline and text.rstrip().endswith(("。", ".", "：", ":")) and nxt is not None:
            n = count_value(count.group(1))
            # Kinds a series numbers after it (第一类…第二类…, however much lies between them) are its items.
            series = self.ranked_series(nxt, same)
            if series and series[0] is nxt and (not n or len(series) == n):
                return series
            # "这几类", "从几个方面": its items are the numbered sentences after it (第一…第二…); without them it is
            # not quoted.
            if not n:
                run = self.enumeration(nxt, same) if ENUM.match(nxt.unit.text) else None
                return [nxt, *run] if run else None
            items = self.following(c, same, n)
            return items if len(items) == n else None
        if nxt is None and (carried := self.carried_over(c, same)) != []:
            return carried
        if ahead and text.rstrip().endswith(("：", ":")):
            return None  # announces something that is not there
        if ENUM.match(text) and text.startswith(("第一", "首先", "其一", "一是")):
            return self.enumeration(c, same)
        if ORDINAL.match(text):  # "第二，…": the items right after it too, as a list is not cut short
            return self.enumeration(c, same) or []
        # "…在技术上完全可行。" then "问题在于 supervisord 会掩盖故障…": the claim comes with its turn. (A turn that
        # needs more after it, a block or a list of its own, makes a new point:
        # "但控制平面节点的污点不会被自动容忍，…：" and YAML.)
        if nxt is not None and nxt.unit.kind == "sentence" and TURNS.match(nxt.unit.text) \
                and self.follows(nxt, same) == []:
            return [nxt]
        return self.values(c, same)

    def carried_over(self, c: Candidate, same: list[Candidate]) -> list[Candidate] | None:
        """The items of a count that closes its section when they open the next one (`items_section`):
        that section's opening sentence with the items it needs itself, or its first n units; [] when `c`
        announces nothing there, None when the items cannot be had."""
        if c.unit.kind != "sentence" or self.after(c, same) is not None or c.section.items is None \
                or c.section.items[0] != c.order:
            return []
        following = c.section.items[1]
        units = sorted((x for x in self.cands if (x.section.source, x.section.name) == following),
                       key=lambda x: x.order)
        if not units or units[0].unit.kind == "code" or units[0].framing:
            return None
        if announced_count(units[0].unit.text):
            tail = self.follows(units[0], units)
            return None if tail is None else [units[0], *tail]
        named = announced_count(following[1])
        n = count_value(named.group(1)) if named else 0
        items = self.following(units[0], units, n - 1)
        return [units[0], *items] if n and len(items) == n - 1 else None

    def among_values(self, c: Candidate, same: list[Candidate]) -> list[Candidate]:
        """A value `c` defines with the sentence about the setting and the other values (see `values`); []
        when `c` is not one of such a run."""
        intro = self.before(c, same)
        while intro is not None and intro.unit.kind == "sentence" and VALUE.match(intro.unit.text):
            intro = self.before(intro, same)
        if intro is None or intro.unit.kind != "sentence" or intro.framing:
            return []
        run = self.values(intro, same)
        return [intro, *run] if c in run else []

    def values(self, c: Candidate, same: list[Candidate]) -> list[Candidate]:
        """The values a sentence about a setting goes on to define, one sentence each ("`concurrencyPolicy`
        决定…该怎么办。`Allow` 是默认值…。`Forbid` 表示…。`Replace` 表示…"): a list with no count to announce
        it, which is not cut short either; [] when fewer than two follow."""
        out = self.run_after(c, same, lambda x: x.unit.kind == "sentence" and VALUE.match(x.unit.text) is not None)
        return out if len(out) >= 2 and not VALUE.match(c.unit.text) else []

    def run_after(self, c: Candidate, same: list[Candidate], fits: Callable[[Candidate], bool]) -> list[Candidate]:
        """The units right after `c` in its section, as long as each `fits`."""
        out: list[Candidate] = []
        cur = c
        while (nxt := self.after(cur, same)) is not None and fits(nxt):
            out.append(nxt)
            cur = nxt
        return out

    def shows(self, c: Candidate, code: Candidate) -> bool:
        """The code block right after `c` belongs with it: `c` points at it (如下：), or the block is a
        few shell commands and the reader asks how or `c` names the command (the command that does what
        `c` says; a manifest after a sentence is usually an illustration)."""
        if POINTS_AHEAD.search(c.unit.text):
            return True
        return (self.asks_how or NAMES_COMMAND.search(c.unit.text) is not None) and is_command(code)

    def following(self, c: Candidate, same: list[Candidate], n: int) -> list[Candidate]:
        """The next `n` sentences or items after `c` in its paragraph(s), when that is where the
        announced items are (each starts a line of its own or the count is small)."""
        out: list[Candidate] = []
        cur = c
        while len(out) < n:
            nxt = self.after(cur, same)
            if nxt is None or nxt.unit.kind == "code" or nxt.framing:
                break
            out.append(nxt)
            cur = nxt
        return out

    def enumeration(self, c: Candidate, same: list[Candidate]) -> list[Candidate] | None:
        """After "第一…" / "首先…": the following "第二…", "其次…" … sentences."""
        return self.run_after(c, same, lambda x: ENUM.match(x.unit.text) is not None) or None

    def whole_list(self, item: Candidate, same: list[Candidate], with_intro: bool = True) -> list[Candidate]:
        items = [x for x in same if x.unit.kind == "item" and x.unit.list_id == item.unit.list_id]
        if sum(len(x.unit.text) for x in items) > EXTENDED_CHARS - 80:
            return []
        if not with_intro:
            return items
        first = items[0]
        intro = self.before(first, same)
        if intro is None or intro.unit.kind != "sentence" or intro.framing:
            return items
        return [intro, *items]

    def before(self, c: Candidate, same: list[Candidate]) -> Candidate | None:
        i = c.order - 1
        return same[i] if 0 <= i < len(same) and same[i].order == i else None

    def after(self, c: Candidate, same: list[Candidate]) -> Candidate | None:
        i = c.order + 1
        return same[i] if i < len(same) and same[i].order == i else None

    def restates(self, c: Candidate, plan: Plan) -> bool:
        """`c` says what a chosen unit already says, in other words or in another source: their
        vectors nearly coincide, or most of the shorter one's character pairs are in the other; or, from
        another file, it sums up what several chosen units say. Closeness in meaning does not count for a unit with
        NEW_TERMS of the question's term weight that no chosen unit has: "Kata…兼容性几乎与普通虚拟机相同" is close to
        "区别在于 Kata 用轻量级虚拟机…" and answers "兼容性呢". (Its words still do: "…拿不到真实的客户端 IP" after
        "…客户端的 IP 丢失" from another file is the same sentence.)"""
        key = (c.section.source, c.section.name, c.unit.text)
        mine = [p for p in plan.picked.values() if p.section.source == c.section.source]
        others = [p for p in plan.picked.values() if p.section.source != c.section.source]
        # Within a file a close neighbour usually adds a detail; from another file it usually repeats.
        within, elsewhere = SAME_MEANING, SAME_ELSEWHERE
        # (Its own words: a glossary equivalent, "无头服务" for "headless", says again what the answer says.)
        if sum(self.weights[t] for t in c.terms & self.own if not plan.names(t)) >= NEW_TERMS * self.total:
            within = elsewhere = math.inf  # close in meaning, but it says more of what was asked: only the words count
        # In one file a longer sentence holding a chosen one says more. A code block held in another is the same
        # commands either way round; a 现状 line is held to that two-way test too, so that it takes no body sentence's
        # room (answer.saying_more adds it at the end when it says more).
        return says_again(self.snap, key, mine, within,
                          shorter=c.unit.kind != "code" and not c.section.name.startswith(UPDATE_SECTION)) \
            or says_again(self.snap, key, others, elsewhere) \
            or sums_up(c.unit.text, [p.unit.text for p in others])

    def vector(self, c: Candidate) -> np.ndarray | None:
        row = self.snap.unit_rows.get((c.section.source, c.section.name, c.unit.text))
        return None if row is None else self.snap.unit_vectors[row]

    # reading order

    def ordered(self, plan: Plan) -> list[tuple[Candidate, Chunk]]:
        files: dict[str, int] = {}
        for c in sorted(plan.picked.values(), key=lambda c: (self.original_first and not is_original(c.section),
                                                            -c.score)):
            files.setdefault(c.section.source, len(files))
        # Within a file, the section with the likeliest unit first; each section's units in reading order.
        best: dict[tuple[str, str], float] = {}
        for c in plan.picked.values():
            key = (c.section.source, c.section.name)
            best[key] = max(best.get(key, 0.0), c.score)
        # The items of a count closing a section (items_section) are read right after it, as its own.
        for c in plan.picked.values():
            if c.unit.kind == "sentence" and c.section.items and c.section.items[0] == c.order \
                    and c.section.items[1] in best:
                best[c.section.items[1]] = best[(c.section.source, c.section.name)]
        out = []
        for c in sorted(plan.picked.values(), key=lambda c: (files[c.section.source],
                                                             -best[(c.section.source, c.section.name)],
                                                             c.section.offset + c.unit.start)):
            chunk = holder(c.section, c.unit)
            if chunk is not None:
                out.append((c, chunk))
        return self.answer_first(out)

    def answer_first(self, out: list[tuple[Candidate, Chunk]]) -> list[tuple[Candidate, Chunk]]:
        """A FAQ entry's opening leading the answer answers its title's question first; when the reader asks
        another one (the question has under LEAD_TITLE of the title's terms), the opening's likeliest sentence,
        LEAD_RATIO times as likely as its first, leads instead, if it stands alone: it does not lean on what came
        before, announce a list or a count, number an item (方案一…) or tell the past (早期…), and the next sentence
        does not lean on it.
        ("deployment 三个副本挂同一个 pvc 报 Multi-Attach error" opened on what each access mode means; it now opens
        on the error's cause. Session 11 moved any section's likeliest sentence: readers preferred that 27 times in 60.)
        """
        if not out:
            return out
        head = out[0][0]
        if not is_faq_opening(self.snap, head.section) or self.asked(title(head.section)) >= LEAD_TITLE:
            return out
        n = 0
        while n < len(out) and out[n][0].section is head.section:
            n += 1
        lead = out[:n]
        i, (b, _) = max(enumerate(lead), key=lambda p: p[1][0].score)
        if i == 0 or b.unit.kind != "sentence" or b.score < LEAD_RATIO * head.score or leans_on_before(b.unit.text) \
                or POINTS_AHEAD.search(b.unit.text) or announced_count(b.unit.text) or RANKED.match(b.unit.text) \
                or ENUM.match(b.unit.text) or NOT_A_LEAD.match(b.unit.text) \
                or (i + 1 < n and leans_on_before(lead[i + 1][0].unit.text)):
            return out
        return [lead[i], *lead[:i], *lead[i + 1:], *out[n:]]


def items_section(snap: Snapshot, sec: Section, unit: Unit) -> tuple[str, str] | None:
    """The next section of `sec`'s file when `unit`, the unit closing `sec` (`section` finds it), is a
    count ("QoS 一共三种，…。") and that section's heading names a count too ("## 三种类别的判定规则"): the
    items are there."""
    count = announced_count(unit.text)
    if count is None or listed_inline(unit.text, count):
        return None
    keys = snap.file_sections.get(sec.source, [])
    here = (sec.source, sec.name)
    i = keys.index(here) + 1 if here in keys else len(keys)
    named = announced_count(keys[i][1]) if i < len(keys) else None
    # The same count of the same things: "一共三种" and "三种类别…", "几个级别" and "三个安全级别".
    if named is None or counted(named) != counted(count) or count.group(1) not in ("几", named.group(1)):
        return None
    return keys[i]


def counted(count: re.Match[str]) -> str:
    """What a count counts: 种, 个, 步…"""
    return count.group(0)[len(count.group(1)):].strip()


def says_again(snap: Snapshot, key: tuple[str, str, str], chosen: Iterable[Candidate],
               bar: float = SAME_MEANING, shorter: bool = False) -> bool:
    """The unit `key` (source, section, text) says what one of the chosen units says: most of its
    character pairs are in it, or their vectors coincide above `bar`. With `shorter`, the pairs count only when most
    of the unit's own are in the chosen one: in one file, a longer sentence after "第四步，检查 Service 的 Endpoints。"
    says what that step finds, not the step again."""
    mine = _grams(key[2])
    row = snap.unit_rows.get(key)
    for c in chosen:
        theirs = _grams(c.unit.text)
        if (len(mine & theirs) / len(mine) if shorter and mine else _overlap(mine, theirs)) >= SAME_PAIRS:
            return True
        other = snap.unit_rows.get((c.section.source, c.section.name, c.unit.text))
        if row is not None and other is not None and float(snap.unit_vectors[row] @ snap.unit_vectors[other]) >= bar:
            return True
    return False


def sums_up(text: str, chosen: list[str]) -> bool:
    """Most of `text`'s character pairs (SAME_PAIRS) are in the chosen units' texts together: a FAQ entry's one-line
    summary of what the lecture's sentences already said ("Felix 组件负责…，BIRD 组件负责…" after a sentence on
    each). Only across files: within one, the author's next sentence reuses the words for a new point. (At 0.5 a
    sentence with the one fact the answer needed went too; at 0.7 no answer changes.)"""
    grams = _grams(text)
    if not grams or not chosen:
        return False
    return len(grams & frozenset().union(*(_grams(t) for t in chosen))) / len(grams) >= SAME_PAIRS


def leans_on_before(text: str) -> bool:
    """The sentence leans on what came before it (因此…, 上面这段…)."""
    return LEANS.match(text) is not None or POINTS_BACK.search(text) is not None or CONTRASTS.match(text) is not None


def is_command(c: Candidate) -> bool:
    """`c` is a short block of shell commands (what to run, not a manifest that illustrates)."""
    return c.unit.kind == "code" and len(c.unit.text) <= CODE_CHARS and SHELL.match(c.unit.text) is not None


def is_original(sec: Section) -> bool:
    """The section is the column's own text (a reader's copy), not a note about it."""
    return bool(sec.chunks) and sec.chunks[0].kind == COLUMN


@lru_cache(maxsize=1 << 14)  # restates() compares the same corpus units again and again
def _grams(text: str) -> frozenset[str]:
    text = re.sub(r"\s+", "", text)
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Containment of the smaller in the larger: a restatement is often a shorter version."""
    small = min(len(a), len(b))
    return len(a & b) / small if small else 0.0
