"""The answer judge on answers made up to test it, and the nugget sets against the shipped corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bot.evaluate import Nugget, Question, cited_exactly, judge, load_questions, segments
from tests.conftest import ROOT

CORPUS = ROOT / "corpus"
SETS = [ROOT / "tests" / "data" / name
        for name in ("answers-dev.jsonl", "dev-ops.jsonl", "answers-dev-en.jsonl", "answers-dev-en-2.jsonl",
                     "answers-reads.jsonl", "answers-reads-2.jsonl", "answers-reads-3.jsonl", "answers-reads-4.jsonl",
                     "answers-reads-5.jsonl", "answers-reads-6.jsonl", "answers-reads-7.jsonl",
                     "held-out-answers.jsonl")]


def nugget(*patterns: str) -> Nugget:
    return Nugget("f", tuple(re.compile(p, re.I | re.S) for p in patterns))


Q = Question("q1", "Pod 有哪几种 phase？", "zh", (14,), "list",
             vital=(nugget("(?=.*Pending)(?=.*Running)(?=.*Failed)"), nugget("kubelet")),
             extra=(nugget("状态报不上来"),))


def test_vital_recall_full_answers_length_and_endings() -> None:
    full = "Pod 有 Pending、Running、Failed 三种。[1]状态由 kubelet 上报。[2]"
    plain = "Pod 有 Pending、Running、Failed 三种。状态由 kubelet 上报。"
    assert judge(Q, full) == {"vital": 1.0, "full": True, "leads": True, "chars": len(plain), "repeated": False,
                              "bad_end": False}
    half = judge(Q, "Pod 有 Pending 和 Running。[1]")
    assert half["vital"] == 0.0 and not half["full"] and not half["leads"]
    assert not judge(Q, "phase 是 Pod 的阶段。[1]状态由 kubelet 上报。[2]")["leads"]  # stated, but not first
    assert not judge(Q, "phase 是 Pod 的阶段。状态由 kubelet 上报。[1]")["leads"]  # one marker for both
    assert judge(Q, "Pod 的 phase 有下面几种：[1]")["bad_end"]
    assert judge(Q, "phase 有三种。[1]\n- Pending：还没调度。[1]")["bad_end"]  # ends on a list's first item


def test_a_restatement_counts_but_a_sentence_adding_to_the_fact_does_not() -> None:
    same = "节点状态报不上来时 Pod 为 Unknown。[1]节点的状态报不上来，Pod 就是 Unknown。[2]"
    assert judge(Q, same, lambda text: np.ones(3) / np.sqrt(3))["repeated"]  # same nugget, same meaning
    far = {"A": np.array([1.0, 0.0]), "B": np.array([0.0, 1.0])}
    adds = "状态报不上来时是 Unknown。[1]状态报不上来多半是网络问题。[1]"
    assert not judge(Q, adds, lambda text: far["A"] if "Unknown" in text else far["B"])["repeated"]
    # A command shown after the sentence that describes it is not the fact said twice.
    shown = "用 kubelet 查看状态报不上来的原因。[1]\n```bash\njournalctl -u kubelet  # 状态报不上来\n```\n[1]\n"
    assert not judge(Q, shown, lambda text: np.ones(3) / np.sqrt(3))["repeated"]


def test_citations_must_hold_each_sentence_exactly() -> None:
    answer = "Quoted from the column's Chinese notes on lecture 14 (Pod):\n甲。[1]\n- 乙[1]\n现状：丙。[2]"
    assert [t for t, _ in segments(answer)] == ["甲。", "- 乙", "现状：丙。"]
    assert cited_exactly(answer, {1: ["甲。", "乙"], 2: ["丙。"]})
    assert not cited_exactly(answer, {1: ["甲。"], 2: ["丙。"]})
    assert not cited_exactly("没有任何标记", {})
    # An answer may open with a code block: its first line is then not a lead-in.
    code = "```bash\nkubectl get pods\n```"
    assert [t for t, _ in segments(code + "\n[1]甲。[1]")] == [code, "甲。"]
    assert cited_exactly(code + "\n[1]甲。[1]", {1: [code, "甲。"]})


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_every_nugget_points_at_the_corpus(path: Path) -> None:
    texts = {f.relative_to(CORPUS).as_posix(): f.read_text(encoding="utf-8") for f in CORPUS.rglob("*.md")}
    sentences = [s for t in texts.values() for s in re.split(r"(?<=[。！？\n])", t) if len(s.strip()) > 5]
    problems = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert 1 <= len(row["vital"]) <= 3, row["id"]
        for kind in ("vital", "extra"):
            for i, n in enumerate(row.get(kind) or []):
                where = f"{row['id']} {kind}[{i}]"
                patterns = [re.compile(p, re.I | re.S) for p in n["patterns"]]
                for p in patterns:
                    if p.search(row["q"]):
                        problems.append(f"{where}: {p.pattern!r} matches the question")
                    if sum(1 for s in sentences if p.search(s)) > 0.03 * len(sentences):
                        problems.append(f"{where}: {p.pattern!r} is generic")
                for e in n["evidence"]:
                    if e["sentence"] not in texts.get(e["source"], ""):
                        problems.append(f"{where}: evidence no longer in {e['source']}: {e['sentence'][:40]!r}")
                    elif not any(p.search(e["sentence"]) for p in patterns):
                        problems.append(f"{where}: no pattern matches its evidence in {e['source']}")
    assert not problems, "\n".join(problems[:20])
    assert load_questions(path)  # and the loader reads it


def test_the_whole_answer_repeat_labels_name_two_sentences_of_their_answer() -> None:
    """Each reader's repeat names two sentences of the answer read (bench/repeats.py reads the file)."""
    data = ROOT / "tests" / "data"
    rows = [json.loads(line) for line in (data / "repeat-answers.jsonl").read_text(encoding="utf-8").splitlines()]
    dev = {q.id for name in ("answers-dev.jsonl", "dev-ops.jsonl") for q in load_questions(data / name)}
    assert {r["id"] for r in rows} == dev and len(rows) == len(dev)
    for r in rows:
        assert len(r["readers"]) == 2, r["id"]
        plain = re.sub(r"\[\d+\]", "", r["answer"])
        for v in r["readers"]:
            if v["repeats"]:
                assert v["a"] != v["b"] and v["a"] in plain and v["b"] in plain, (r["id"], v["a"][:30], v["b"][:30])
