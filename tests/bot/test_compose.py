"""The composer over a small corpus written to trip it: lists announced by a count, sentences that
lean on the one before, a lecture's framing and its 思考题, a FAQ entry and a note saying the same
thing, a 现状 section, code. Real model, real Chroma, real sentence vectors."""

from __future__ import annotations

import re
from pathlib import Path
from unittest.mock import ANY

import numpy as np
import pytest

from bot import compose
from bot.answer import MARKER, Answer, extract, gather, latest, lead, lead_in, saying_more, speaks_to
from bot.bot import Bot
from bot.compose import (
    FRAMING,
    LEANS,
    NOW,
    POINTS_BACK,
    SECTION_FEATURES,
    Candidate,
    Composer,
    Plan,
    Section,
    holder,
    is_framing,
    leans_on_before,
    section,
    sums_up,
)
from bot.evaluate import cited_exactly, segments
from bot.retrieve import Hit, Retriever
from bot.terms import tokens
from corpus.chunk import Chunk
from corpus.sentences import Unit, units_of
from index.embed import Embedder
from tests.conftest import indexed

NOTE = """---
lecture: 14
title: Pod 的基本用法
---

# Pod 的基本用法

这一讲处理 Pod 的另一半：它的状态和它的生命周期。

## Pod 的生命周期：phase

Pod 对象的 status.phase 字段描述它处在生命周期的哪个阶段，它有五种取值。
Pending 表示 Pod 已经被 API Server 接受，但还有容器没能创建出来，比如还没调度成功。
Running 表示 Pod 已经绑定到节点，所有容器都已创建，至少有一个正在运行。
Succeeded 表示 Pod 里的所有容器都正常退出了，一次性任务常见这个状态。
Failed 表示所有容器都已终止，并且至少有一个容器以非零退出码结束。
Unknown 表示 kubelet 没法把 Pod 的状态报上来，多半是节点和控制平面之间的网络出了问题。

## 重启策略

Pod 的 restartPolicy 决定容器退出后 kubelet 怎么处理。
因此，Job 里的 Pod 一般把 restartPolicy 设成 OnFailure 或 Never。

## 思考题

思考题：如果 Pod 一直是 Running，应用却不能服务，可能是什么原因？

答：容器的 1 号进程不是应用本身时，应用退出了容器仍然在运行，phase 依旧是 Running。

## 现状

Pod 的 phase 字段至今没有变化，新版本只是在 Conditions 里加了更多类型。
"""

MODES = """---
lecture: 37
title: kube-proxy 与 Service
---

# kube-proxy 与 Service

## 三种代理模式

kube-proxy 把 Service 的规则落到节点上，它支持三种代理模式：

- userspace：最早的实现，流量要经过 kube-proxy 进程本身，性能最差。
- iptables：为每个 Service 生成 iptables 规则，是长期以来的默认模式。
- ipvs：用内核的 IPVS 做负载均衡，Service 很多时性能明显更好。

## 一个例子

下面这条命令列出节点上为 Service 生成的规则：

```bash
iptables-save -t nat | grep KUBE-SVC
```

## 现状

新版本又多了 nftables 这一种，配置文件里写 `mode: nftables` 即可。
"""

STORAGE = """---
lecture: 28
title: 存储插件
---

# 存储插件

## FlexVolume 怎么工作

FlexVolume 要求把插件的可执行文件提前放到每个节点的固定目录下，kubelet 直接调用它来挂载存储。

## 现状

FlexVolume 插件已经被 CSI 取代，新的存储插件都应该按 CSI 规范来写。
"""

ROLLOUT = """---
lecture: 17
title: Deployment 的滚动更新
---

# Deployment 的滚动更新

## 回滚到旧版本

Deployment 每次更新都会留下一个旧的 ReplicaSet，回滚就是把副本数交还给它。
要回到某个旧版本，先看历史，再指定版本号回滚。

```bash
kubectl rollout undo deployment/web --to-revision=2
```

保留多少个旧 ReplicaSet 由 revisionHistoryLimit 决定。

```yaml
spec:
  revisionHistoryLimit: 10
```
"""

AFFINITY = """---
lecture: 42
title: nodeSelector 还是 nodeAffinity？
kind: faq
---

# nodeSelector 还是 nodeAffinity？

nodeSelector 按标签精确选节点，nodeAffinity 是它的增强版，能表达“或”和“尽量满足”。

## 硬性要求与软性偏好

requiredDuringSchedulingIgnoredDuringExecution 是硬性要求，不满足就不调度。
preferredDuringSchedulingIgnoredDuringExecution 只是按权重加分的偏好。
"""

EVICTED = """---
lecture: 40
title: 集群里一堆 Evicted 的 Pod 是怎么回事？
kind: faq
---

# 集群里一堆 Evicted 的 Pod 是怎么回事？

节点资源紧张时，kubelet 会按优先级驱逐 Pod，被驱逐的 Pod 停在 Failed 阶段，原因写着 Evicted。

## 从 Message 读出原因

Message 里写明了是内存、磁盘还是 inode 紧张。

## 怎么清理

Evicted 的 Pod 不会马上被回收，可以按 Failed 阶段批量删除。
"""

FAQ = """---
lecture: 14
title: Pod 的 phase 有哪几种？
kind: faq
---

# Pod 的 phase 有哪几种？

Pod 的 phase 一共有 Pending、Running、Succeeded、Failed、Unknown 五种。
"""

PROBES = """---
lecture: 15
title: 存活探针和就绪探针有什么区别？
kind: faq
---

# 存活探针和就绪探针有什么区别？

两种探针的区别在于失败之后的处理：存活探针失败会让 kubelet 重启容器，就绪探针失败只会把 Pod 从 Service 的后端里摘掉。
"""

DEBUG = """---
lecture: 15
title: distroless 镜像没有 shell，怎么调试？
kind: faq
---

# distroless 镜像没有 shell，怎么调试？

distroless 镜像里没有 shell，kubectl exec 进不去，这时要借助临时容器（Ephemeral Container）。
临时容器挂在一个正在运行的 Pod 上，带着自己的镜像和工具，不会重启 Pod。

## 限制

临时容器有哪些限制？
临时容器不能声明端口和资源，也不能在创建之后删除，只会随 Pod 一起消失。

## 用 kubectl debug 进入

加上 --target 参数，临时容器会加入目标容器的 PID Namespace，可以直接看到业务进程。

```bash
kubectl debug -it my-pod --image=busybox:1.36 --target=app
```
"""


DEBUGGING = """---
lecture: 38
title: Service 调试
---

# Service 调试

## 调试第一板斧：DNS 能不能解析

Service 访问不通时，第一步是在一个 Pod 里解析 Service 的名字。
解析失败说明集群 DNS 本身有问题，要去看 CoreDNS 的日志。

## 调试第二板斧：Endpoints 是否为空

DNS 正常之后，第二步是确认 Service 有没有后端。

```bash
kubectl get endpoints web
```

Endpoints 为空，通常是 selector 与 Pod 标签不匹配。

## 调试第三板斧：kube-proxy 的规则

前两步都没问题，就要检查每个节点上 kube-proxy 写下的规则。

## 思考题

第一个问题：Service 的名字解析不出来，先查什么？
思路提示：先看 CoreDNS 的 Pod 是否在运行，再看它的日志。

第二个问题：有状态应用为什么难以迁移到容器上？
常见原因包括：数据写在某台机器的本地磁盘上、实例之间有主从拓扑。
"""

PRESSURE = """---
lecture: 40
title: 资源模型与驱逐
---

# 资源模型与驱逐

## 驱逐

kubelet 在节点内存不足时按 QoS 类别驱逐 Pod，BestEffort 最先。

## 思考题

思考题问：为什么节点出现 MemoryPressure 之后，调度器就不再往这个节点上调度新 Pod 了。
原因是控制平面会给这个节点打上 memory-pressure 污点。
调度器看到污点，就不会把新的 BestEffort Pod 放上去。
"""


@pytest.fixture(scope="module")
def trap(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Bot:
    return indexed(tmp_path_factory.mktemp("compose"), {
        "column/14-pod.md": NOTE, "column/37-proxy.md": MODES, "column/28-storage.md": STORAGE,
        "column/17-rollout.md": ROLLOUT, "column/38-debug.md": DEBUGGING, "column/40-pressure.md": PRESSURE,
        "faq/001-pod-phase.md": FAQ, "faq/002-evicted.md": EVICTED, "faq/003-affinity.md": AFFINITY,
        "faq/004-probes.md": PROBES, "faq/005-debug.md": DEBUG}, embedder)


def plain(ans: Answer) -> str:
    return MARKER.sub("", ans.answer)


def first_group(composer: Composer, text: str, source: str = "faq/x.md", name: str = "x") -> list[str]:
    """What the first unit of a section holding `text` comes with (Composer.group), as texts."""
    sec = Section(source, name, 0, text, (), tuple(units_of(text)))
    same = [Candidate(u, sec, 1, i) for i, u in enumerate(sec.units)]
    return [c.unit.text for c in composer.group(same[0], same)]


def quotes_of(ans: Answer) -> dict[int, list[str]]:
    return {c.n: c.quotes for c in ans.citations}


def test_every_sentence_carries_its_marker_and_its_citation_quotes_it_exactly(trap: Bot) -> None:
    for question in ("Pod 的 phase 有哪几种？", "kube-proxy 有哪些代理模式", "Job 的 restartPolicy 怎么设"):
        ans = trap.answer(question)
        assert not ans.refused, question
        assert cited_exactly(ans.answer, quotes_of(ans)), ans.answer
        for c in ans.citations:
            assert c.quote == c.quotes[0] and all(q in c.text for q in c.quotes)


def test_a_count_comes_with_all_its_items(trap: Bot) -> None:
    text = plain(trap.answer("Pod 的生命周期有哪几个阶段，分别是什么意思？"))
    assert all(p in text for p in ("Pending", "Running", "Succeeded", "Failed", "Unknown")), text


def test_a_list_announced_by_a_colon_comes_whole_on_lines_of_its_own(trap: Bot) -> None:
    ans = trap.answer("kube-proxy 有哪几种代理模式？")
    lines = ans.answer.splitlines()
    items = [line for line in lines if line.startswith("- ")]
    assert [re.split(r"[：\[]", i[2:])[0] for i in items] == ["userspace", "iptables", "ipvs"], ans.answer
    assert not ans.answer.rstrip().endswith(("：", "；"))


def test_a_sentence_that_leans_on_the_one_before_comes_with_it(trap: Bot) -> None:
    text = plain(trap.answer("为什么 Job 的 Pod 要把 restartPolicy 设成 OnFailure？"))
    assert "因此，Job 里的 Pod" in text
    assert text.index("Pod 的 restartPolicy 决定") < text.index("因此，Job 里的 Pod")


def test_framing_and_thought_question_prompts_are_not_answers(trap: Bot) -> None:
    text = plain(trap.answer("Pod 一直 Running 但应用不服务是怎么回事"))
    assert "这一讲处理" not in text and "思考题：" not in text
    assert "1 号进程不是应用本身" in text  # the 思考题's answer is


def test_a_question_in_the_text_is_not_an_answer(trap: Bot) -> None:
    text = plain(trap.answer("临时容器有什么限制"))
    assert "不能声明端口和资源" in text and "有哪些限制？" not in text, text


def test_one_fact_once_across_a_faq_entry_and_a_note(trap: Bot) -> None:
    parts = [t for t, _ in segments(trap.answer("Pod 的 phase 有哪几种？").answer)]
    assert sum("Succeeded" in p for p in parts) == 1, parts  # the FAQ's list or the note's, not both


def test_an_english_question_gets_an_english_lead_in_naming_the_lecture(trap: Bot) -> None:
    ans = trap.answer("what are the phases of a pod?")
    first, rest = ans.answer.split("\n", 1)
    assert first.startswith("Quoted from the column's Chinese ") and "on lecture 14" in first, first
    assert not MARKER.search(first)
    assert MARKER.search(rest) and cited_exactly(ans.answer, quotes_of(ans))
    assert trap.answer("Pod 的 phase 有哪几种？").answer.split("\n")[0].startswith("Pod")  # none for Chinese
    # It names what it quotes: notes, FAQ entries, or both (a reader read "notes and FAQ" over FAQ entries alone).
    def chunk(source: str) -> Chunk:
        return Chunk(id=source, text="", source=source, title="Pod", lecture=14, section="", start=0, end=0, hash="")
    assert lead_in([chunk("faq/052-crash.md")]) == "Quoted from the column's Chinese FAQ on lecture 14:"
    assert lead_in([chunk("column/14-pod.md"), chunk("faq/052-crash.md")]).startswith(
        "Quoted from the column's Chinese notes and FAQ on lecture 14")


def test_an_update_that_speaks_to_the_subject_ends_the_answer(trap: Bot) -> None:
    ans = trap.answer("FlexVolume 插件是怎么工作的？")
    last = ans.answer.rstrip().splitlines()[-1]
    assert last.startswith("现状：FlexVolume 插件已经被 CSI 取代"), ans.answer
    assert cited_exactly(ans.answer, quotes_of(ans))
    unrelated = trap.answer("kube-proxy 有哪几种代理模式？")
    assert "现状" not in unrelated.answer  # only when it speaks to the subject


def test_an_update_sharing_only_a_version_or_a_word_of_change_does_not_speak_to_the_question(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    assert speaks_to(snap, "FlexVolume 在 1.30 还能用吗？", "FlexVolume 插件已经被 CSI 取代。")
    # The fault this guards: a 现状 line about apt repositories added to a dockershim question.
    assert not speaks_to(snap, "kube-proxy 在 1.30 还能用吗？", "从 1.30 起，官方软件源已被弃用。")


def test_a_question_about_what_became_of_it_takes_the_update_that_shares_a_common_word(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    sec = section(snap, ("column/14-pod.md", "Pod 的生命周期：phase"))
    chosen = [(Candidate(sec.units[0], sec, 1, 0), holder(sec, sec.units[0]))]
    update = "Pod 的 phase 字段至今没有变化，新版本只是在 Conditions 里加了更多类型。"
    assert latest(snap, "Pod 的 phase 字段后来怎么样了", chosen) == (update, ANY)
    # Asked what it is, not what became of it: "phase" is too common a word to make the update speak to it.
    assert latest(snap, "Pod 的 phase 字段是什么", chosen) is None


def test_an_english_questions_word_that_an_update_writes_only_as_code_does_not_make_it_speak(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    sec = section(snap, ("column/37-proxy.md", "三种代理模式"))
    chosen = [(Candidate(sec.units[0], sec, 1, 0), holder(sec, sec.units[0]))]
    update = "新版本又多了 nftables 这一种，配置文件里写 `mode: nftables` 即可。"
    # "mode" is prose in an English question: the line writes it only in a setting (as `START REPLICA` in a MySQL
    # update once joined a question about an app that "starts").
    assert latest(snap, "which proxy mode should I use today?", chosen) is None
    # In a Chinese question a Latin word is the name itself.
    assert latest(snap, "kube-proxy 如今的 mode 有哪些", chosen) == (update, ANY)
    assert latest(snap, "is there an nftables mode today?", chosen) == (update, ANY)  # named in prose


def test_a_how_question_gets_the_short_command_after_the_sentence_that_says_it(trap: Bot) -> None:
    ans = trap.answer("Deployment 怎么回滚到旧版本？")
    assert "kubectl rollout undo deployment/web --to-revision=2" in ans.answer, ans.answer
    assert "revisionHistoryLimit: 10" not in ans.answer  # a manifest after a sentence is an illustration
    assert cited_exactly(ans.answer, quotes_of(ans))
    why = trap.answer("Deployment 回滚的原理是什么？")  # not a how question: the sentence alone
    assert "kubectl rollout undo" not in why.answer, why.answer


def test_every_section_of_a_faq_entry_that_answers_best_is_a_candidate(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    lead = next(i for i, c in enumerate(snap.chunks) if c.source == "faq/002-evicted.md" and c.section == "")
    hit = Hit(chunk=snap.chunks[lead], score=1.0, dense=0.9, sparse=1.0, rank=1)
    composer = Composer(snap, "Evicted 的 Pod 怎么清理", None, 600, 6)
    names = {sec.name for sec, _ in composer.sections([hit])}
    assert names == {"", "从 Message 读出原因", "怎么清理"}  # the answer sits in a section no passage came from
    ans = trap.answer("Evicted 的 Pod 怎么清理")
    assert "按 Failed 阶段批量删除" in ans.answer, ans.answer


def test_a_lecture_notes_sections_that_say_the_name_asked_about_are_candidates(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    phase = next(i for i, c in enumerate(snap.chunks)
                 if c.source == "column/14-pod.md" and c.section == "Pod 的生命周期：phase")
    hit = Hit(chunk=snap.chunks[phase], score=1.0, dense=0.9, sparse=1.0, rank=1)
    composer = Composer(snap, "restartPolicy 有什么用", None, 600, 6)
    composer.weights, composer.total = {"restartpolicy": 4.0, "用": 0.9}, 4.9  # the name carries most of it
    names = {sec.name for sec, _ in composer.sections([hit])}
    # The section that says restartPolicy, which no passage came from; not the note's sections that do not say it.
    assert "重启策略" in names and "思考题" not in names, names


def test_an_answer_led_by_a_faq_entry_that_is_not_the_best_hit_reads_on_into_its_other_sections(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    hits = [Hit(chunk=snap.chunks[i], score=1.0, dense=0.9, sparse=1.0, rank=n + 1) for n, i in enumerate(
        next(i for i, c in enumerate(snap.chunks) if c.source == source and c.section == "")
        for source in ("faq/001-pod-phase.md", "faq/002-evicted.md"))]
    question = "集群里一堆 Evicted 的 Pod 是怎么回事？"
    composer = Composer(snap, question, trap.embedder.encode_query(question), 600, 6)
    cands = composer.candidates(hits)
    # The Evicted entry's other sections are scored but held back: they do not compete for the answer ...
    held = {c.section.name for c in composer.held}
    assert held == {"从 Message 读出原因", "怎么清理"}
    assert not any(c.section.name in held for c in cands)
    chosen = composer.compose(hits)
    text = "".join(c.unit.text for c, _ in chosen)
    # ... but the answer its opening leads reads on into them, as it would were the entry the best hit.
    assert composer.first == "faq/002-evicted.md"
    assert "Message 里写明了" in text, text


def test_of_two_faq_openings_only_the_one_whose_title_asks_the_question_keeps_the_lead_weight(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    hits = [Hit(chunk=snap.chunks[i], score=1.0, dense=0.9, sparse=1.0, rank=n + 1) for n, i in enumerate(
        next(i for i, c in enumerate(snap.chunks) if c.source == source and c.section == "")
        for source in ("faq/002-evicted.md", "faq/001-pod-phase.md"))]
    composer = Composer(snap, "Pod 的 phase 有哪几种", None, 600, 6)
    ranked = composer.rank_sections(composer.candidates(hits), with_features=True)
    lead = {g[0].section.source: f[SECTION_FEATURES.index("faq_lead")] for g, _, f in ranked if not g[0].section.name}
    # The Evicted entry's title asks about something the question does not (Evicted, 集群).
    assert lead == {"faq/001-pod-phase.md": 1.0, "faq/002-evicted.md": 0.0}


def test_a_faq_opening_alone_loses_the_lead_weight_when_a_chinese_question_shares_almost_nothing_of_its_title(
        trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    opening = next(i for i, c in enumerate(snap.chunks) if c.source == "faq/002-evicted.md" and c.section == "")
    hits = [Hit(chunk=snap.chunks[opening], score=1.0, dense=0.9, sparse=1.0, rank=1)]

    def lead(question: str) -> float:
        composer = Composer(snap, question, None, 600, 6)
        ranked = composer.rank_sections(composer.candidates(hits), with_features=True)
        return next(f[SECTION_FEATURES.index("faq_lead")] for g, _, f in ranked if not g[0].section.name)

    assert lead("集群里为啥一堆 Evicted 的 Pod") == 1.0  # the title's question
    assert lead("Pod 的 phase 有哪几种") == 0.0  # shares only "Pod" with it: another question
    assert lead("what are the phases of a pod?") == 1.0  # English words are no measure of a Chinese title


def test_each_part_of_a_question_is_answered_even_when_its_term_sits_inside_a_longer_name(trap: Bot) -> None:
    ans = trap.answer("nodeSelector 和 nodeAffinity 选哪个？required 和 preferred 啥区别")
    assert "nodeAffinity 是它的增强版" in ans.answer and "是硬性要求" in ans.answer, ans.answer


def test_a_comparison_whose_sides_are_both_quoted_takes_nothing_from_another_comparison(trap: Bot) -> None:
    ans = trap.answer("kube-proxy 的 iptables 模式和 ipvs 模式有什么区别？")
    assert "iptables 规则" in ans.answer and "IPVS 做负载均衡" in ans.answer, ans.answer
    assert "探针" not in ans.answer, ans.answer  # another file's 区别 is not the other side of this one


def test_a_sentence_opening_on_a_next_step_leans_on_the_one_before() -> None:
    assert LEANS.match("再读取 Deployment 对象里 replicas 字段的值，这就是期望状态。")
    assert not LEANS.match("再次强调：requests 只影响调度。")  # 再次 opens a point of its own
    # So does one opening with 然后 / 接着 / 随后: "然后 init-mysql 判断编号…" is the step after another.
    for text in ("然后 init-mysql 判断编号，编号为 0 的 Pod 拷贝 master.cnf。", "接着控制器创建新的 ReplicaSet。",
                 "随后 kubelet 拉起容器。"):
        assert LEANS.match(text), text
    # ... and one on "no such …": the thing the sentence before named ("没有这样的 Pod" was quoted alone).
    assert LEANS.match("没有这样的 Pod，就在这个节点上创建一个。")


def test_the_second_point_of_a_list_comes_with_the_first() -> None:
    assert LEANS.match("第二，默认情况下 kube-apiserver 把 Secret 以未加密的形式存进 Etcd。")
    assert LEANS.match("第三步为各组件生成 kubeconfig 文件。") and LEANS.match("其次检查 path 和 pathType。")
    assert not LEANS.match("第二个 InitContainer 叫 clone-mysql，它在从节点第一次启动时拷贝数据。")  # a name


def test_a_how_to_question_answered_from_a_faq_entry_gets_its_command(trap: Bot) -> None:
    ans = trap.answer("distroless 镜像里没有 shell，要怎么进去调试？")
    assert "临时容器" in ans.answer and "kubectl debug -it my-pod" in ans.answer, ans.answer


def test_a_how_to_question_is_answered_from_the_faq_section_named_for_it(trap: Bot) -> None:
    options = trap.settings

    def first_sections(question: str) -> list[str]:
        ev = gather(question, trap.retriever, options.answer, options.refusal)
        composer = Composer(ev.snapshot, question, ev.query, 600, 6)
        entry = [(g, s) for g, s in composer.rank_sections(composer.candidates(ev.passages))
                 if g[0].section.source == "faq/002-evicted.md"]
        entry.sort(key=lambda gs: gs[0][0].section.offset)  # in the entry's order: the opening first
        assert entry[0][0][0].section.name != "怎么清理"
        return [g[0].section.name for g, _ in composer.how_first(entry)]

    assert first_sections("Evicted 的 Pod 怎么清理")[0] == "怎么清理"
    # not for a question in parts (its first part is answered from the opening), nor one that asks what
    assert first_sections("Evicted 的 Pod 为啥会有？要怎么清理")[0] != "怎么清理"
    assert first_sections("Evicted 的 Pod 清理前要看什么")[0] != "怎么清理"


def test_a_command_for_a_how_to_question_takes_the_room_of_less_likely_sentences(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "证书过期了怎么续期", None, 600, 6)
    composer.first = "faq/x.md"
    text = "甲" * 150 + "。\n" + "乙" * 150 + "。\n因此" + "丙" * 148 + "。\n" + "丁" * 100 + "。\n" + "戊" * 50 + "。"
    sec = Section("faq/x.md", "", 0, text, (), tuple(units_of(text)))

    def plan_of(scores: tuple[float, ...]) -> Plan:
        plan = Plan()
        plan.add([Candidate(u, sec, 1, i, score) for i, (u, score) in enumerate(zip(sec.units, scores, strict=True))])
        return plan

    # the opening; what a kept sentence (因此…) leans on; that sentence; two that stand alone
    plan = plan_of((0.1, 0.05, 0.2, 0.15, 0.3))
    assert plan.chars == 605
    # The least likely sentences that stand alone make room; the opening and a sentence's support stay.
    assert composer.make_room(plan, 120, below=0.5)
    assert [c.order for c in plan.picked.values()] == [0, 1, 2] and plan.chars == 453
    assert not composer.make_room(plan, 300, below=0.5) and plan.chars == 453  # cannot be had: nothing goes
    plan = plan_of((0.1, 0.05, 0.2, 0.15, 0.3))
    assert not composer.make_room(plan, 150, below=0.2) and plan.chars == 605  # only less likely ones make room


def test_a_refusals_closest_passages_quote_prose_never_code(trap: Bot, tmp_path: Path) -> None:
    ans = trap.answer("红烧肉怎么做才不腻？")
    assert ans.refused and ans.citations
    assert all(not c.quote.startswith(("```", "#")) and c.quote in c.text for c in ans.citations)


def test_a_snapshot_read_ahead_answers_as_one_read_as_questions_come(trap: Bot) -> None:
    prepared = trap.retriever.snapshot()
    # bot.compose.prepare ran when it loaded: every section read, with its units' terms as tokens() reads them
    assert prepared.sections_cache.keys() == prepared.section_chunks.keys()
    units = {u.text for sec in prepared.sections_cache.values() for u in sec.units}
    assert units <= prepared.terms_cache.keys()
    assert all(terms == (tuple(tokens(text)), frozenset(tokens(text))) for text, terms in prepared.terms_cache.items())
    fresh = Retriever(trap.store, trap.embedder, trap.settings.retrieval)
    assert not fresh.snapshot().terms_cache  # nothing read ahead: the composer reads as questions come
    options = trap.settings
    for question in ("Pod 的生命周期有哪几个阶段，分别是什么意思？", "FlexVolume 插件是怎么工作的？",
                     "为什么 Job 的 Pod 要把 restartPolicy 设成 OnFailure？", "what are the phases of a pod?"):
        ahead = extract(gather(question, trap.retriever, options.answer, options.refusal), options.answer,
                        options.refusal)
        asked = extract(gather(question, fresh, options.answer, options.refusal), options.answer, options.refusal)
        assert (ahead.answer, ahead.citations) == (asked.answer, asked.citations), question


def test_an_upgrade_asks_what_changed_only_once_it_is_done() -> None:
    # What changed after an upgrade is what a 现状 section says: it may lead such an answer ...
    for question in ("升级到1.24以后 serviceaccount 下面没有 secret token 了", "kubelet 升级以后起不来",
                     "after upgrading the cluster, helm upgrade fails", "we upgraded to 1.25 and PSP is gone"):
        assert NOW.search(question), question
    # ... not an answer to how to upgrade, or to an update rolled out to a few Pods.
    for question in ("用 kubeadm 升级集群要注意啥", "statefulset 怎么只先升级一两个pod做灰度",
                     "how do I upgrade a kubeadm cluster?"):
        assert not NOW.search(question), question


def test_a_lecture_pointing_back_at_earlier_ones_is_framing() -> None:
    assert FRAMING.search("前两讲介绍了 StatefulSet 的编号，这一讲把它们用在一个真实场景里。")
    assert FRAMING.search("读完这一讲，你会知道 Pod 为什么是最小单位。")
    assert not FRAMING.search("StatefulSet 把应用状态抽象为两种。")


def test_a_sentence_about_the_column_itself_is_framing() -> None:
    assert FRAMING.search("第 05 讲说明了 Namespace 负责修改容器进程的视图，这一讲讨论 Namespace 隔离的局限。")
    assert FRAMING.search("核心概念只有三个：Network Namespace、docker0 网桥和 Veth Pair，"
                          "后面几讲的 Flannel 都建立在这些概念之上。")
    assert FRAMING.search("后面讲 StatefulSet 和 Operator 时，会看到 Kubernetes 如何逐一应对这些问题。")
    assert FRAMING.search("第 43 讲讲的是优先级和抢占的机制，本条讲的是落地时怎么分档。")
    assert FRAMING.search("笔记要回答的问题是：CRI shim 处在调用链的哪个位置，CRI 定义了哪些接口。")
    assert FRAMING.search("预习篇第一讲回到 2013 年，看 Docker 是在什么样的 PaaS 背景下出现的。")
    # A lecture's outline: what it goes on to present.
    assert FRAMING.search("然后介绍另一个重要控制器 DaemonSet，它保证集群里每个节点上都运行一个指定的 Pod。")
    assert FRAMING.search("最后说明 DaemonSet 和 StatefulSet 在没有 ReplicaSet 的情况下如何管理版本。")
    assert not FRAMING.search("最后删除旧的 Pod，滚动更新就完成了。")
    # ... or what the reader is about to see.
    assert FRAMING.search("我们会看到：docker exec 是怎样“钻进”容器的，以及数据卷在底层如何实现。")
    assert not FRAMING.search("在宿主机上我们会看到一个普通进程。")
    # ... but not the question the 预习篇 answers
    assert not FRAMING.search("预习篇要回答的核心问题是：在众多竞争者之中，Kubernetes 为什么会赢。")
    # A lecture's note naming itself by its number frames it; naming another lecture states what it said.
    own = Section("column/32-container-network.md", "容器网络", 0, "", (), ())
    assert is_framing(own, "第 32 讲是容器网络模块的第一讲，只看单台宿主机上的 Docker 容器是怎么联网的。")
    assert not is_framing(own, "第 6 讲讲容器的单进程模型时说过，容器的生命周期和它的 PID=1 进程绑定。")
    assert not is_framing(Section("column/32-container-network.md", "现状", 0, "", (), ()),
                          "第 32 讲以 Docker 的 docker0 网桥为例，但 1.24 之后节点通常不再有 docker0。")  # what changed
    assert not is_framing(Section("faq/097-sigterm.md", "", 0, "", (), ()),
                          "第 6 讲讲容器的单进程模型时说过，容器的生命周期和它的 PID=1 进程绑定。")


def test_a_sentence_opening_on_zhe_or_naming_an_example_of_what_came_before_leans_on_it() -> None:
    for text in ("这类“一组容器要么都调度成功、要么都不调度”的需求，就是成组调度问题。",
                 "这套机器人系统叫 Prow。", "这是有意的保护：Released 的 PV 里还留着上一个使用者的数据。"):
        assert LEANS.match(text), text
    assert not LEANS.match("这一讲讲 Pod 的字段。")  # framing, not leaning
    assert POINTS_BACK.search("NVIDIA 的 GPU Device Plugin 就是这样一个程序。")
    assert POINTS_BACK.search("第 42 讲讲的 Predicates 就是这些原因的来源。")
    assert not POINTS_BACK.search("Operator 就是这种范式最典型的应用。")  # 这种 names the sentence's own 范式


def test_the_second_half_of_a_contrast_leans_on_the_first() -> None:
    # "requests 和 limits 到底怎么设" opened on "`limits` 则是…": the requests half was left out.
    for text in ("`limits` 则是容器运行时真正受到的上限，由 kubelet 通过 Cgroups 强制执行。",
                 "角色绑定（RoleBinding）则把某个 Role 授予某个或某些 Subject。",
                 "蓝绿发布（Blue-Green）则是同时部署完整的新旧两套。"):
        assert leans_on_before(text), text
    for text in ("容器超过 CPU limits 则不会被杀，只会被限流。",  # a condition's result, not a contrast
                 "iptables 规则是线性匹配的。", "RBAC 的原则是最小权限。"):
        assert not leans_on_before(text), text


def test_a_faq_entrys_opening_that_points_back_points_at_its_title(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    composer = Composer(snap, "Evicted 的 Pod 怎么清理", None, 600, 6)
    text = "这类 Evicted 的 Pod 是 kubelet 在节点资源紧张时驱逐的。\n它们会一直留在列表里。"
    source = "faq/002-evicted.md"
    assert first_group(composer, text, source, snap.lead_sections[source]) == [text.split("\n")[0]]  # 这类: the title's
    assert first_group(composer, text, source, "清理") == []  # under another heading it points at what is not shown


def test_a_count_whose_items_follow_a_colon_in_the_sentence_needs_nothing_after_it(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "DNS 解析卡 5 秒怎么缓解", None, 600, 6)
    counts = "缓解常用三种办法：第一，加 single-request-reopen；第二，部署 NodeLocal DNSCache；第三，改走 TCP。"
    assert first_group(composer, counts + "\n选项会合并到 resolv.conf 里。") == [counts]
    announced = "缓解常用三种办法。\n第一，加 single-request-reopen。"  # the items should follow, and one is missing
    assert first_group(composer, announced) == []


def test_an_ordinal_announces_nothing_and_leans_on_the_step_before_not_on_its_commands(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "Service 没有后端是什么原因", None, 600, 6)
    second = "DNS 正常之后，第二步是确认 Service 有没有后端。"
    assert first_group(composer, second + "\n```bash\nkubectl get endpoints web\n```") == [second]  # not "two items"
    text = "第一步，先测同一节点上两个 Pod 之间通不通。\n```bash\nping -c 3 10.1.0.5\n```\n第二步，测跨节点的 Pod。"
    sec = Section("faq/x.md", "x", 0, text, (), tuple(units_of(text)))
    same = [Candidate(u, sec, 1, i) for i, u in enumerate(sec.units)]
    assert [c.unit.text for c in composer.group(same[2], same)] == [same[0].unit.text, same[2].unit.text]


def test_a_claim_comes_with_the_sentence_that_turns_on_it(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "一个容器里同时跑 nginx 和 php-fpm 行不行", None, 600, 6)
    claim = "在容器里用 supervisord 拉起多个进程在技术上完全可行。"
    turn = "问题在于某个子进程挂掉时，容器状态依然是 Running，Kubernetes 感知不到。"
    # Quoted alone, the concession tells the reader "yes"; the column's point is the "but" after it.
    assert first_group(composer, f"{claim}{turn}日志也会混在一起。") == [claim, turn]
    assert first_group(composer, f"{claim}日志会混在一起。") == [claim]  # a next sentence that does not turn stays


def test_a_numbered_step_comes_with_the_steps_before_it_not_with_the_sentence_before_it(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "网络不通按什么顺序排查", None, 600, 6)
    text = ("第一步，确认 Pod 的 IP 和所在节点。同节点都不通时，先查网桥和 veth。\n"
            "第二步，测跨节点 Pod 之间的连通性。跨节点不通时，检查节点路由表。\n```bash\nip route\n```\n"
            "第三步，检查 Service 的 DNS 解析。")
    sec = Section("faq/x.md", "x", 0, text, (), tuple(units_of(text)))
    same = [Candidate(u, sec, 1, i) for i, u in enumerate(sec.units)]
    # "第三步" quoted after "跨节点不通时…" alone would leave the reader without steps one and two.
    steps = ["第一步，确认 Pod 的 IP 和所在节点。", "第二步，测跨节点 Pod 之间的连通性。",
             "第三步，检查 Service 的 DNS 解析。"]
    assert [c.unit.text for c in composer.group(same[-1], same)] == steps


def test_two_names_asked_side_by_side_are_both_named(trap: Bot) -> None:
    # "ListAndWatch 和 Allocate 分别是干啥的": an answer about one of them answers half the question.
    composer = Composer(trap.retriever.snapshot(), "kube-proxy 的 iptables 和 ipvs 分别是怎么转发的", None, 600, 6)
    text = "iptables 模式下，kube-proxy 为每个 Service 写一串 NAT 规则。\n换成 ipvs 以后，转发交给内核的负载均衡模块。"
    sec = Section("faq/x.md", "x", 0, text, (), tuple(units_of(text)))
    cands = [Candidate(u, sec, 1, i, score=0.9) for i, u in enumerate(sec.units)]
    composer.first = "faq/x.md"
    plan = Plan()
    plan.add([cands[0]])
    composer.answer_every_part(cands, plan)
    assert plan.has(cands[1])


def test_a_question_about_a_lecture_itself_is_answered_from_the_section_of_its_note_it_asks_for(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    note = "column/14-pod.md"
    assert snap.lecture_asked("第 14 讲的思考题是什么") == (note, "思考题")
    assert snap.lecture_asked("what's the answer to lecture 14's thought question?") == (note, "思考题")
    assert snap.lecture_asked("第14讲讲了什么") == (note, snap.lead_sections[note])
    # A subject in that lecture is asked as any question is; a lecture the column does not have is no lecture.
    assert snap.lecture_asked("第 14 讲里 restartPolicy 怎么设") is None
    assert snap.lecture_asked("第 99 讲讲了什么") is None
    # The thought question, its prompt too (a prompt is otherwise never quoted), and its answer.
    text = plain(trap.answer("第 14 讲的思考题是什么"))
    assert "思考题：如果 Pod 一直是 Running" in text and "答：容器的 1 号进程不是应用本身时" in text
    # The 现状 section asked for is the answer itself, not an update dropped for speaking to nothing.
    assert "Pod 的 phase 字段至今没有变化" in plain(trap.answer("第 14 讲的现状是什么"))
    # Such a question is close to no passage in meaning, and still answered; a lecture the column lacks is refused.
    ans = trap.answer("第 14 讲讲了什么")
    assert not ans.refused and "这一讲处理 Pod 的另一半" in plain(ans)
    missing = trap.answer("第 99 讲讲了什么")
    assert missing.refused and "第 99 讲" in missing.not_covered


def test_a_side_of_a_choice_the_answer_never_names_takes_the_room_of_less_likely_sentences(trap: Bot) -> None:
    # "Cilium 和 Calico 选哪个" was answered with Flannel and Calico only, Cilium's one sentence did not fit.
    def plan_and_cilium(question: str) -> tuple[Plan, Candidate, Composer]:
        composer = Composer(trap.retriever.snapshot(), question, None, 600, 6)
        composer.weights = {"cilium": 4.7, "calico": 3.8}
        composer.first = "faq/081-calico.md"
        text = "Calico 是一个纯三层方案。\n" + "\n".join(f"Calico 的第{i}个细节" + "，细节" * 90 + "。" for i in (1, 2))
        sec = Section(composer.first, "x", 0, text, (), tuple(units_of(text)))
        calico = [Candidate(u, sec, 1, i, score=s, terms=frozenset({"calico"}))
                  for i, (u, s) in enumerate(zip(sec.units, (0.9, 0.1, 0.1), strict=True))]
        note = "基于 eBPF 的 Cilium 近年来非常流行，它可以替代大量 iptables 规则。"
        other = Section("column/35-layer3.md", "现状", 0, note, (), tuple(units_of(note)))
        cilium = Candidate(other.units[0], other, 2, 0, score=0.33, terms=frozenset({"cilium"}))
        plan = Plan()
        plan.add(calico)
        assert plan.chars + len(note) > 600  # it does not fit as the answer stands
        composer.answer_every_part([*calico, cilium], plan)
        return plan, cilium, composer

    plan, cilium, _ = plan_and_cilium("Cilium 和 Calico 选哪个")
    assert plan.has(cilium) and plan.chars <= 600
    # A name beside a word the corpus does not know ("client-go and why") is no side of a choice: nothing gives way.
    plan, cilium, _ = plan_and_cilium("Cilium 和 foo 选哪个")
    assert not plan.has(cilium)


def test_a_thought_questions_answer_to_another_prompt_is_not_an_answer(trap: Bot) -> None:
    # A 思考题 section answers several prompts; what it says under one the reader did not ask about
    # ("常见原因包括：…" under the stateful-apps prompt) answers another question.
    question = "Service 的名字解析不出来，CoreDNS 要先查什么？"
    composer = Composer(trap.retriever.snapshot(), question, None, 600, 6)
    cands = {c.unit.text: c for c in composer.candidates(trap.search(question, k=8))
             if c.section.name == "思考题" and c.section.source == "column/38-debug.md"}
    assert not cands["思路提示：先看 CoreDNS 的 Pod 是否在运行，再看它的日志。"].framing
    assert cands["常见原因包括：数据写在某台机器的本地磁盘上、实例之间有主从拓扑。"].framing


def test_a_thought_questions_prompt_written_as_a_statement_sets_up_its_answers(trap: Bot) -> None:
    # "思考题问：为什么…了。" is a prompt though it ends in "。"; its answers answer it, not a question that only
    # shares 调度 and Pod with it ("为啥不直接调度容器"), and answer a question that asks it.
    def thought(question: str) -> dict[str, Candidate]:
        composer = Composer(trap.retriever.snapshot(), question, None, 600, 6)
        return {c.unit.text: c for c in composer.candidates(trap.search(question, k=8))
                if c.section.name == "思考题" and c.section.source == "column/40-pressure.md"}

    answer = "调度器看到污点，就不会把新的 BestEffort Pod 放上去。"
    assert thought("节点 MemoryPressure 了，调度器为什么不再往上调度新 Pod？")[answer].framing is False
    assert thought("为啥调度器不直接调度容器，非要调度整个 Pod？")[answer].framing is True
    # An English question shares few of a Chinese prompt's words even when it asks it: any shared term will do.
    assert thought("which taint keeps BestEffort pods off a node?")[answer].framing is False


def test_a_sentence_that_names_the_command_comes_with_the_short_command_after_it(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "join token 过期了，新机器加不进集群", None, 600, 6)  # asks no how
    block = "```bash\nkubeadm token create --print-join-command\n```"
    names = "过期后重新生成一个即可，最省事的是让 kubeadm 直接打印出完整的 join 命令。"
    assert first_group(composer, names + "\n" + block) == [names, block]
    plain_text = "引导令牌默认只有 24 小时有效期。"
    assert first_group(composer, plain_text + "\n" + block) == [plain_text]  # a block after any sentence: no


def test_an_answer_that_quotes_one_section_of_a_numbered_series_names_the_others(trap: Bot) -> None:
    # The lecture spreads its three steps over three sections; the first step alone is a list cut short.
    ans = trap.answer("Service 访问不通，DNS 那一步之后还要按什么顺序排查？")
    text = plain(ans)
    assert ans.citations[0].source == "column/38-debug.md"
    assert "第二步是确认 Service 有没有后端" in text and "前两步都没问题" in text
    assert cited_exactly(ans.answer, quotes_of(ans))


def test_reading_on_into_a_section_that_opens_on_a_long_list_takes_its_likeliest_item(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    source = "faq/002-evicted.md"
    composer = Composer(snap, "Evicted 的 Pod 是怎么回事", None, 600, 6)
    composer.first = source

    def units(name: str, text: str, scores: list[float]) -> list[Candidate]:
        sec = Section(source, name, 0, text, (), tuple(units_of(text)))
        return [Candidate(u, sec, 1, i, score=s) for i, (u, s) in enumerate(zip(sec.units, scores, strict=True))]

    opening = units(snap.lead_sections[source], "节点资源紧张时 kubelet 会驱逐 Pod。", [0.9])
    # The section opens on "…有：" and its items are too many to show: its likeliest one comes, alone.
    items = "\n".join(f"第{i}种原因是资源{i}不够用了，" + "细节" * 100 + "。" for i in range(1, 4))
    listed = units("常见原因", f"驱逐的原因有：\n{items}\n内存不足时最常见。", [0.2, 0.1, 0.1, 0.1, 0.6])
    plan = Plan()
    plan.add(opening)
    composer.rest_of_entry(opening + listed, plan)
    assert [c.unit.text for c in plan.picked.values()] == [opening[0].unit.text, "内存不足时最常见。"]


def test_a_short_answer_reads_on_in_its_first_file_after_its_opening(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "Job 的 Pod 数怎么算", None, 600, 6)
    composer.first = "column/22-job.md"
    text = "Job 是离线任务。\nparallelism 是同时运行的 Pod 数上限。\ncompletions 是要成功完成的 Pod 数。\n天气不错。"
    sec = Section(composer.first, "并行控制", 0, text, (), tuple(units_of(text)))
    before, opening, after, unlikely = (Candidate(u, sec, 1, i, score=s)
                                        for i, (u, s) in enumerate(zip(sec.units, [0.8, 0.9, 0.7, 0.1], strict=True)))
    plan = Plan()
    plan.add([opening])
    composer.fill([before, opening, after, unlikely], plan)
    # The likely unit after the opening comes; the one before it would open the answer; the unlikely one stays out.
    assert [c.unit.text for c in plan.picked.values()] == [opening.unit.text, after.unit.text]


def test_making_room_never_drops_the_only_sentence_with_a_question_term(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "轮询还是随机", None, 600, 6)
    composer.first = "column/37-proxy.md"
    text = "第一句是开头。\n随机选择后端" + "，细节" * 40 + "。\n负载说点别的" + "，细节" * 40 + "。"
    sec = Section(composer.first, "模式", 0, text, (), tuple(units_of(text)))
    first, only, other = (Candidate(u, sec, 1, i, score=s, terms=t) for i, (u, s, t) in enumerate(
        zip(sec.units, [0.9, 0.2, 0.2], [frozenset({"轮询"}), frozenset({"随机"}), frozenset({"轮询"})], strict=True)))
    plan = Plan()
    plan.add([first, only, other])
    assert composer.make_room(plan, 600 - plan.chars + len(other.unit.text) - 1, 0.5)
    assert plan.has(only) and not plan.has(other)  # "随机" is said once, "轮询" twice
    assert not composer.make_room(plan, 600 - plan.chars + 1, 0.5)  # the rest cannot go


def test_within_a_file_the_section_likeliest_to_answer_is_read_first(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    source = "faq/002-evicted.md"
    composer = Composer(snap, "Evicted 的 Pod 怎么批量删除", None, 600, 6)
    opening, cleanup = (section(snap, (source, name)) for name in (snap.lead_sections[source], "怎么清理"))
    plan = Plan()
    plan.add([Candidate(opening.units[0], opening, 1, 0, score=0.3),
              Candidate(cleanup.units[0], cleanup, 1, 0, score=0.9)])
    assert [c.section.name for c, _ in composer.ordered(plan)] == ["怎么清理", opening.name]


def test_a_count_of_what_the_sentence_just_named_announces_nothing(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "cfs_quota_us 去哪了", None, 600, 6)
    # "两个文件" counts the two files named before it; "超过 100 个" is a number; neither has items to come.
    named = "v1 的 cpu.cfs_quota_us 和 cpu.cfs_period_us 两个文件在 v2 里合并成 cpu.max。"
    assert first_group(composer, named + "\n```bash\ncat cpu.max\n```") == [named]
    assert first_group(composer, "每秒请求超过 100 个时扩容。\n```yaml\nx: 1\n```") == ["每秒请求超过 100 个时扩容。"]
    announced = "控制组的文件分为两类。\n```bash\ncat cpu.max\n```"  # its items should follow, and a block does
    assert first_group(composer, announced) == []


def test_a_part_of_the_question_is_not_answered_again_by_another_files_restatement(trap: Bot) -> None:
    question = "NodePort 怎么用？拿不到客户端真实 IP 怎么办"
    composer = Composer(trap.retriever.snapshot(), question, None, 600, 6)
    composer.weights = {"nodeport": 3.0, "真实": 5.0}  # the second part's key term, which the plan lacks

    def unit(source: str, text: str, terms: frozenset[str]) -> Candidate:
        sec = Section(source, "SNAT", 0, text, (), tuple(units_of(text)))
        return Candidate(sec.units[0], sec, 1, 0, score=0.8, terms=terms)

    said = unit("faq/057-nodeport.md", "SNAT 的副作用是 Pod 看到的来源 IP 变成了节点 IP，客户端的 IP 丢失。",
                frozenset())
    again = unit("column/38-service.md", "SNAT 的副作用是后端 Pod 看到的来源 IP 变成了节点 IP，拿不到真实的客户端 IP。",
                 frozenset({"真实"}))
    plan = Plan()
    plan.add([said])
    composer.answer_every_part([said, again], plan)
    assert list(plan.picked.values()) == [said]  # the same fact from another file, once


def test_a_short_answer_from_a_faq_entrys_opening_reads_on_into_the_entrys_other_sections(
        trap: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    def fresh(question: str) -> Answer:  # composed now, not from the bot's answer cache
        options, refusal = trap.settings.answer, trap.settings.refusal
        return extract(gather(trap.check(question), trap.retriever, options, refusal), options, refusal)

    question = "集群里一堆 Evicted 的 Pod 是怎么回事？"
    monkeypatch.setattr(compose, "FILL", 0.0)
    before = fresh(question).answer
    monkeypatch.undo()
    ans = fresh(question)
    # Each section of the entry opens with the answer to a follow-up: where the reason is written, how to clean up.
    assert "Message 里写明了" in ans.answer and "按 Failed 阶段批量删除" in ans.answer, ans.answer
    assert "Message 里写明了" not in before, before
    assert cited_exactly(ans.answer, quotes_of(ans))


def test_a_question_word_the_corpus_never_uses_does_not_shrink_a_units_share_of_the_question(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    plain = Composer(snap, "what are the phases of a pod", None, 600, 6)
    chatty = Composer(snap, "what are the phases of a pod, wondering honestly", None, 600, 6)
    assert "wondering" not in chatty.weights and "honestly" not in chatty.weights
    text = "Pod 对象的 status.phase 字段描述它处在生命周期的哪个阶段，它有五种取值。"
    assert plain.match(text) > 0 and chatty.match(text) == pytest.approx(plain.match(text))


def test_the_values_a_sentence_about_a_setting_defines_come_with_it(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "CronJob 的 concurrencyPolicy 管什么", None, 600, 6)
    whole = ["CronJob 的 `concurrencyPolicy` 决定上一个 Job 还没结束时该怎么办。",
             "`Allow` 是默认值，表示允许同时运行。", "`Forbid` 表示跳过这一次调度。",
             "`Replace` 表示用新 Job 替换旧 Job。"]
    text = "".join(whole) + "\n\n另外，`successfulJobsHistoryLimit` 控制保留多少个 Job。"
    assert first_group(composer, text) == whole  # an unannounced list is not cut short
    sec = Section("faq/x.md", "x", 0, text, (), tuple(units_of(text)))
    same = [Candidate(u, sec, 1, i, 0.5 - 0.1 * i) for i, u in enumerate(sec.units)]
    assert [c.unit.text for c in composer.group(same[2], same)] == whole  # nor is one value quoted alone
    # ... nor does a less likely value make room for something else.
    plan = Plan()
    plan.add(same[:4])
    composer.first = "faq/x.md"
    assert not composer.make_room(plan, 580 - plan.chars + 40, below=0.9)
    assert len(plan.picked) == 4


def test_a_short_lead_section_keeps_a_sentence_without_the_questions_words(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "docker exec 是怎么进入容器的", None, 600, 6)

    def kept(text: str, lead: bool) -> list[int]:
        sec = Section("faq/x.md", "x", 0, text, (), tuple(units_of(text)))
        units = [Candidate(u, sec, 1, i, 0.6 if i == 0 else 0.05) for i, u in enumerate(sec.units)]
        for c in units:  # every unit as close in meaning as the best one: only the score tells them apart
            c.features[4] = 0.9
        return [c.order for c in composer.on_topic(units, lead=lead)]

    short = ("docker exec 用 setns() 让新进程加入容器已有的 Namespace。\n"
             "一个进程的 Namespace 以文件的形式出现在 /proc/<pid>/ns/ 下，打开它们再调用 setns() 就能进入。")
    assert kept(short, lead=True) == [0, 1]  # the second sentence says how, in words the question does not use
    assert kept(short, lead=False) == [0]  # a second section or another file's: the usual floor
    long = short + "\n" + "另外，容器里的进程还受 Cgroups 限制，能用多少 CPU 和内存由它决定，这和 exec 无关。" * 4
    assert len(long) > compose.SHORT_SECTION and kept(long, lead=True) == [0]


def test_a_section_shown_whole_keeps_the_short_block_a_sentence_points_back_at(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "怎么给 Pod 读权限", None, 600, 6)

    def shown(block: str) -> list[str]:
        text = f"Role 只在自己的 Namespace 内生效。\n\n```yaml\n{block}\n```\n\n上面这个 Role 允许读取 Pod。"
        sec = Section("column/26-rbac.md", "Role", 0, text, (), tuple(units_of(text)))
        units = [Candidate(u, sec, 1, i) for i, u in enumerate(sec.units)]
        return [c.unit.kind for c in composer.with_needs([c for c in units if c.unit.kind != "code"], units)]

    assert shown("kind: Role\nrules: []") == ["sentence", "code", "sentence"]  # "上面这个 Role" with its Role
    assert shown("x: " + "y" * 500) == ["sentence"]  # a block too long to show: the sentence cannot stand alone


QOS = """---
title: "QoS 类别是怎么定的？"
lecture: 40
kind: faq
---

# QoS 类别是怎么定的？

Kubernetes 根据容器的 requests 和 limits 自动推导 Pod 的 QoS 类别，不能直接声明。
QoS 类别一共三种，决定了节点资源紧张时谁先被驱逐。

## 三种类别的判定规则

Guaranteed：每个容器都设置了 CPU 和内存的 limits，并且 requests 与 limits 相等。
Burstable：不满足 Guaranteed，但至少有一个容器设置了 requests 或 limits。
BestEffort：所有容器都没有设置任何 requests 和 limits。

## 为什么一个容器只跑一个进程

如果把好几个服务塞进一个容器，平台就只能看见其中一个。

## 两件额外工作

PID=1 的进程要转发信号。
PID=1 的进程要回收僵尸进程。
"""


@pytest.fixture(scope="module")
def qos(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Bot:
    return indexed(tmp_path_factory.mktemp("qos"), {"faq/006-qos.md": QOS}, embedder)


def test_a_count_closing_its_section_comes_with_the_items_that_open_the_next(qos: Bot) -> None:
    text = plain(qos.answer("QoS 类别有哪些？"))
    count = "QoS 类别一共三种，决定了节点资源紧张时谁先被驱逐。"
    assert count in text, text
    # The items, all three, read right after the count that announces them.
    items = [text.index(f"{name}：") for name in ("Guaranteed", "Burstable", "BestEffort")]
    assert text.index(count) < items[0] < items[1] < items[2], text
    assert text[text.index(count) + len(count):items[0]].strip() == "", text


def test_a_closing_count_of_other_things_than_the_next_heading_counts_carries_nothing(qos: Bot) -> None:
    snap = qos.retriever.snapshot()
    opening, _, why, _ = (section(snap, key) for key in snap.file_sections["faq/006-qos.md"])
    assert compose.items_section(snap, opening, opening.units[-1]) == ("faq/006-qos.md", "三种类别的判定规则")
    # "好几个服务" counts services; the next heading counts 两件 pieces of work: not its items.
    assert compose.items_section(snap, why, why.units[-1]) is None


def test_a_count_whose_items_are_named_in_the_sentence_needs_nothing_after_it() -> None:
    for text, inline in (("标准定义了三个级别，从宽到严依次是 privileged、baseline 和 restricted。", True),
                         ("处理模式有三种：enforce、audit、warn。", True),
                         ("QoS 类别一共三种，决定了谁先被驱逐。", False),
                         ("它支持两种后端、一种插件。", False)):
        count = compose.announced_count(text)
        assert count is not None and compose.listed_inline(text, count) is inline, text


def test_a_section_that_never_says_the_name_the_question_is_about_ranks_below_one_that_does(
        trap: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # Other things equal (every section scores the same features), only the name decides: a section on
    # volumes in general does not answer "what kinds of projected volumes…".
    monkeypatch.setattr(Composer, "section_features", lambda self, group: np.ones(len(SECTION_FEATURES)))
    composer = Composer(trap.retriever.snapshot(), "what kinds of projected volumes are there", None, 600, 6)
    composer.weights = {"projected": 5.0, "volumes": 3.0, "kinds": 1.0}
    composer.total = sum(composer.weights.values())

    def group(name: str, text: str, terms: set[str]) -> list[Candidate]:
        sec = Section("column/15-x.md", name, 0, text, (), tuple(units_of(text)))
        return [Candidate(u, sec, 1, i, terms=frozenset(terms)) for i, u in enumerate(sec.units)]

    general = group("Volume", "Pod 的 Volume 写在 spec.volumes 里。", {"volumes"})
    projected = group("投射数据卷", "Projected Volume 有四种。", {"projected", "volumes"})
    ranked = composer.rank_sections(general + projected)
    assert [g[0].section.name for g, _ in ranked] == ["投射数据卷", "Volume"]
    # A question no one term of which carries most of its weight ranks them as the features say (a tie: in order).
    composer.weights = {"projected": 2.0, "volumes": 2.0, "kinds": 2.0, "there": 2.0}
    composer.total = 8.0
    assert [g[0].section.name for g, _ in composer.rank_sections(general + projected)] == ["Volume", "投射数据卷"]


CNI = """---
title: "CNI 网络插件"
lecture: 34
kind: column
---

# CNI 网络插件

## 插件是怎么被调用的

容器运行时先创建 Network Namespace，再读取 /etc/cni/net.d 下的配置，执行 /opt/cni/bin 里对应的插件。
参数通过 CNI_COMMAND、CNI_NETNS 这些环境变量传进去，网络配置走标准输入。

## /opt/cni/bin 下的三类插件

Main 插件创建网络设备，例如 bridge；IPAM 插件分配 IP，例如 host-local；Meta 插件做端口映射，例如 portmap。
"""


@pytest.fixture(scope="module")
def cni(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Bot:
    return indexed(tmp_path_factory.mktemp("cni"), {"column/34-cni.md": CNI}, embedder)


def test_a_section_whose_heading_writes_a_rare_name_of_the_question_ranks_higher(
        cni: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = cni.retriever.snapshot()
    hits = [Hit(chunk=c, score=1.0, dense=0.9, sparse=1.0, rank=n + 1) for n, c in enumerate(snap.chunks)]

    def factors(question: str) -> dict[str, float]:
        composer = Composer(snap, question, None, 600, 6)
        groups = [g for g, _ in composer.rank_sections(composer.candidates(hits))]
        return dict(zip((g[0].section.name for g in groups), composer.name_in_heading(groups), strict=True))

    monkeypatch.setattr(compose, "RARE_NAME", 0.0)  # a corpus of one file has no rare word by idf
    asked = factors("/opt/cni/bin 下面那些二进制都是干啥的")
    assert asked["/opt/cni/bin 下的三类插件"] == compose.NAME_IN_HEADING and asked["插件是怎么被调用的"] == 1.0
    assert set(factors("CNI 插件是怎么被调用的").values()) == {1.0}  # no name written with separators

    def scores(question: str) -> dict[str, float]:
        composer = Composer(snap, question, None, 600, 6)
        return {g[0].section.name: score for g, score in composer.rank_sections(composer.candidates(hits))}

    boosted = scores("/opt/cni/bin 下面那些二进制都是干啥的")
    monkeypatch.setattr(compose, "NAME_IN_HEADING", 1.0)
    plain = scores("/opt/cni/bin 下面那些二进制都是干啥的")
    assert boosted["/opt/cni/bin 下的三类插件"] == pytest.approx(1.3 * plain["/opt/cni/bin 下的三类插件"])
    assert boosted["插件是怎么被调用的"] == pytest.approx(plain["插件是怎么被调用的"])
    monkeypatch.setattr(compose, "RARE_NAME", 99.0)  # a name as common as kube-apiserver is no subject
    assert set(factors("/opt/cni/bin 下面那些二进制都是干啥的").values()) == {1.0}


CALICO = ["Calico 主要由三个部分组成：Calico 的 CNI 插件、Felix 和 BIRD。",
          "Felix 是运行在每台宿主机上的守护进程，负责在宿主机上写入路由规则、配置 iptables 等访问控制规则，"
          "并维护 Calico 所需的网络设备。",
          "BIRD 是 BGP 的客户端，专门负责在集群里分发路由信息：它把本节点负责的容器地址段通过 BGP 通告给其他节点，"
          "也把别的节点通告来的路由写进本机路由表。"]
CALICO_SUMMARY = ("Calico 的 Felix 组件负责在节点上配置路由和 iptables 规则，"
                  "BIRD 组件负责通过 BGP 把本节点的路由广播给其他节点。")


def test_a_sentence_summing_up_what_several_quoted_sentences_say_is_a_restatement() -> None:
    quoted, summary = CALICO, CALICO_SUMMARY
    assert sums_up(summary, quoted)
    assert not any(sums_up(summary, [one]) for one in quoted)  # neither sentence alone says it all
    # A sentence with a point of its own, in some of the same words, is no summary.
    mesh = "Calico 默认使用 Node-to-Node Mesh 模式：集群里每台宿主机都和其他所有宿主机建立 BGP 会话。"
    assert not sums_up(mesh, quoted)


def test_the_composer_leaves_out_another_files_summary_of_what_it_quoted(trap: Bot) -> None:
    def cand(source: str, order: int, text: str) -> Candidate:
        sec = Section(source=source, name="Calico", offset=0, text=text, chunks=(), units=())
        return Candidate(unit=Unit("sentence", text, 0, 0), section=sec, rank=1, order=order)

    composer = Composer(trap.retriever.snapshot(), "Felix 和 BIRD 是干啥的", None, 600, 6)
    plan = Plan()
    plan.add([cand("column/35-calico.md", i, t) for i, t in enumerate(CALICO)])
    assert composer.restates(cand("faq/081-calico.md", 0, CALICO_SUMMARY), plan)
    # ... the lecture's own next sentence in the same words is not read so: it makes a point of its own.
    assert not composer.restates(cand("column/35-calico.md", 9, CALICO_SUMMARY), plan)


def test_a_longer_sentence_of_the_same_file_that_holds_a_chosen_one_says_more_and_a_shorter_one_again(
        trap: Bot) -> None:
    def cand(source: str, order: int, text: str) -> Candidate:
        sec = Section(source=source, name="排查", offset=0, text=text, chunks=(), units=())
        return Candidate(unit=Unit("sentence", text, 0, 0), section=sec, rank=1, order=order)

    step = "第四步，检查 Service 的 Endpoints。"
    finds = "Endpoints 为空通常说明 Service 的 selector 没有选中 Pod，或者 Pod 没有通过 readinessProbe。"
    composer = Composer(trap.retriever.snapshot(), "my service has no endpoints", None, 600, 6)
    plan = Plan()
    plan.add([cand("faq/050-debug.md", 0, step)])
    # Most of the step's words are in the next sentence; that sentence says what the step finds, not the step again.
    assert not composer.restates(cand("faq/050-debug.md", 1, finds), plan)
    # ... while a shorter version of a chosen sentence says it again, in one file or from another.
    plan = Plan()
    plan.add([cand("faq/050-debug.md", 1, finds)])
    shorter = "Endpoints 为空通常说明 Service 的 selector 没有选中 Pod。"
    assert composer.restates(cand("faq/050-debug.md", 0, shorter), plan)
    plan = Plan()
    plan.add([cand("faq/050-debug.md", 0, step)])
    assert composer.restates(cand("column/38-debug.md", 3, finds), plan)  # another file: the shorter's pairs count
    # A 现状 line holding a chosen sentence takes no body sentence's room here: it is added at the end when it says
    # more (answer.saying_more).
    update = cand("faq/050-debug.md", 9, finds)
    update.section = Section(source="faq/050-debug.md", name="现状", offset=0, text=finds, chunks=(), units=())
    assert composer.restates(update, plan)


def test_a_passages_lead_stands_on_its_own_when_a_sentence_of_it_does() -> None:
    def hit(text: str) -> Hit:
        return Hit(Chunk(id=text[:8], text=text, source="faq/x.md", title="x", lecture=None, section="", start=0,
                         end=len(text), hash=""), 0.0, 0.0, 0.0, 1)

    # A refusal's closest passage quoted "第六步，检查 NetworkPolicy。": a step out of its list.
    step = ("第六步，检查 NetworkPolicy。只要有一条 NetworkPolicy 选中了目标 Pod，不在白名单里的流量就会被拒绝。\n\n"
            "因此要先看有没有策略把流量挡住。")
    assert lead(hit(step)) == "只要有一条 NetworkPolicy 选中了目标 Pod，不在白名单里的流量就会被拒绝。"
    # With no sentence that stands alone, the first that says something.
    assert lead(hit("第六步，检查 NetworkPolicy。因此要先看有没有策略把流量挡住。")) == "第六步，检查 NetworkPolicy。"


def test_an_update_holding_a_quoted_sentence_and_more_is_no_repeat_of_it(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    sec = section(snap, ("column/28-storage.md", "FlexVolume 怎么工作"))
    quoted = [Candidate(Unit("sentence", "FlexVolume 要求把插件的可执行文件放到节点目录下。", 0, 0), sec, 1, 0)]
    chunk = holder(sec, sec.units[0])
    assert chunk is not None
    more = "FlexVolume 要求把插件的可执行文件放到节点目录下，这一做法已被 CSI 取代，新插件都按 CSI 规范写。"
    again = "FlexVolume 要求插件的可执行文件放到节点目录下。"
    # Most of the quoted sentence's words are in the first line, which says what replaced it: it ends the answer.
    assert saying_more(snap, [(more, chunk), (again, chunk)], quoted) == [(more, chunk)]


SANDBOX_SAID = ("Kata Containers 和 gVisor 都是为了解决“容器共享宿主机内核、隔离不够强”而生的安全容器运行时，"
                "区别在于 Kata 用轻量级虚拟机，gVisor 用一个用户态内核。")
SANDBOX_FAQ = """---
title: "Kata Containers 和 gVisor 有什么区别？"
lecture: 47
kind: faq
---

# Kata Containers 和 gVisor 有什么区别？

""" + SANDBOX_SAID + "\n"

SANDBOX_NOTE = """---
lecture: 47
title: 安全容器
---

# 安全容器

## 两条路线的取舍

Kata Containers 运行的是真正的 Linux 内核，兼容性几乎与普通虚拟机相同，代价是虚拟机带来的启动时间和内存开销。
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Bot:
    return indexed(tmp_path_factory.mktemp("sandbox"),
                   {"faq/033-sandbox.md": SANDBOX_FAQ, "column/47-sandbox.md": SANDBOX_NOTE}, embedder)


def test_a_sentence_close_in_meaning_that_says_more_of_what_was_asked_is_no_restatement(sandbox: Bot) -> None:
    snap = sandbox.retriever.snapshot()

    def restated(question: str, equivalent: str = "") -> bool:
        composer = Composer(snap, question, None, 600, 6)
        if equivalent:  # as if the question had the word (and its parts) only as a glossary equivalent of its own
            composer.own -= {t for t in composer.own if t in equivalent}
        said, compat = (Candidate(sec.units[0], sec, 1, 0) for sec in (
            section(snap, ("faq/033-sandbox.md", snap.lead_sections["faq/033-sandbox.md"])),
            section(snap, ("column/47-sandbox.md", "两条路线的取舍"))))
        for c in (said, compat):
            c.terms = frozenset(t for t in tokens(c.unit.text.lower()) if t in composer.weights)
        plan = Plan()
        plan.add([said])
        return composer.restates(compat, plan)

    # Their vectors are close (the note's sentence reads as another file's restatement of the FAQ's) ...
    assert restated("kata containers 跟 gvisor 有啥区别")
    # ... but it answers "兼容性呢", which nothing chosen says.
    assert not restated("kata containers 跟 gvisor 有啥区别，兼容性呢")
    # Only the question's own words count: "无头服务", the glossary's word for "headless", is what the answer said.
    assert restated("kata containers 跟 gvisor 有啥区别，兼容性呢", equivalent="兼容性")


KINDS = ["SyncLoop 不是轮询，而是由几类事件驱动的。", "驱动 SyncLoop 的第一类事件是本节点 Pod 的更新。",
         "驱动 SyncLoop 的第二类事件是容器生命周期的变化。", "驱动 SyncLoop 的第三类事件是 kubelet 自己的同步周期。",
         "驱动 SyncLoop 的第四类事件是定时的清理。"]


def sentences(texts: list[str], name: str = "SyncLoop", score: float = 0.0) -> list[Candidate]:
    sec = Section(source="column/45-kubelet.md", name=name, offset=0, text="".join(texts), chunks=(), units=())
    return [Candidate(unit=Unit("sentence", t, 0, 0), section=sec, rank=1, order=i, score=score)
            for i, t in enumerate(texts)]


def test_a_sentence_numbering_its_kind_comes_with_the_whole_series(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "SyncLoop 处理哪些事件", None, 600, 6)
    kinds = sentences(KINDS)
    # "第二类…第三类" alone was quoted for "SyncLoop 到底在循环处理啥": the list cut at both ends.
    assert [c.order for c in composer.group(kinds[3], kinds)] == [1, 2, 3, 4]
    # Examples numbered one by one are not a list to quote whole; nor is a series that does not start at 第一.
    examples = sentences(["第一个例子是 WAR 包与 Tomcat。", "第二个例子是日志收集。"], name="例子")
    assert composer.group(examples[1], examples) == [examples[1]]
    gap = sentences(["Calico 的第二种办法是让网关学会路由。", "Calico 的第三种办法是隧道。"], name="跨网段")
    assert composer.group(gap[1], gap) == [gap[1]]


def test_the_sentences_of_a_series_are_not_left_out_to_make_room(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "SyncLoop 处理哪些事件", None, 600, 6)
    kinds = sentences(KINDS, score=0.1)
    filler = sentences(["kubelet 还会启动一批 Manager。"], name="Manager", score=0.2)
    plan = Plan()
    plan.add(kinds)
    plan.add(filler)
    assert composer.make_room(plan, compose.EXTENDED_CHARS - plan.chars + 1, below=0.5)
    assert all(plan.has(c) for c in kinds[1:]) and not plan.has(filler[0])  # the likelier filler went first


def test_a_faq_opening_asked_another_question_than_its_title_leads_with_its_likeliest_sentence(trap: Bot) -> None:
    snap = trap.retriever.snapshot()
    real = section(snap, ("faq/002-evicted.md", ""))  # titled "集群里一堆 Evicted 的 Pod 是怎么回事？"

    def ordered(question: str, texts: list[str], scores: list[float]) -> list[str]:
        text = "".join(texts)
        sec = Section(real.source, real.name, 0, text, real.chunks, tuple(units_of(text)))
        cands = [Candidate(unit=u, section=sec, rank=1, order=i, score=s)
                 for i, (u, s) in enumerate(zip(sec.units, scores, strict=True))]
        out = Composer(snap, question, None, 600, 6).answer_first([(c, real.chunks[0]) for c in cands])
        return [c.unit.text for c, _ in out]

    texts = ["Pod 有 Pending、Running 等几个阶段。", "内存不够时，kubelet 按 QoS 从 BestEffort 开始驱逐 Pod。",
             "被驱逐的 Pod 停在 Failed 阶段。"]
    # Asked which Pods go first, not what the title asks: the sentence that answers leads, the rest in order.
    assert ordered("内存紧张时 kubelet 先踢哪些 pod", texts, [0.2, 0.6, 0.3]) == [texts[1], texts[0], texts[2]]
    # Asked the title's question: the opening answers it in its own order.
    assert ordered("集群里一堆 Evicted 的 Pod 是怎么回事", texts, [0.2, 0.6, 0.3]) == texts
    assert ordered("内存紧张时 kubelet 先踢哪些 pod", texts, [0.2, 0.25, 0.3]) == texts  # not much likelier
    # Not a sentence the next one leans on, nor an item of a list.
    leaned = [*texts[:2], "因此 BestEffort 的 Pod 最先被驱逐。"]
    assert ordered("内存紧张时 kubelet 先踢哪些 pod", leaned, [0.2, 0.6, 0.3]) == leaned
    item = [texts[0], "方案一是按 QoS 从 BestEffort 开始驱逐。", texts[2]]
    assert ordered("内存紧张时 kubelet 先踢哪些 pod", item, [0.2, 0.6, 0.3]) == item


PROTECT = ["保护 Secret 要从几个方面入手。", "第一，用 RBAC 控制谁能读 secrets。", "第二，开启 etcd 的静态加密。",
           "第三，以 Volume 方式挂载 Secret。", "kubelet 用 tmpfs 存放挂载的 Secret。"]


def test_a_numbered_item_comes_with_the_items_after_it_and_a_vague_count_with_its_items(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "secret 安全吗", None, 600, 6)
    items = sentences(PROTECT, name="保护")
    # "第二" was quoted with 第一 before it but not 第三 after it: the list cut short.
    assert [c.order for c in composer.group(items[2], items)] == [1, 2, 3]
    assert [c.order for c in composer.group(items[3], items)] == [1, 2, 3]
    # "从几个方面入手" counts no number: its items are the numbered sentences after it...
    assert [c.order for c in composer.group(items[0], items)] == [0, 1, 2, 3]
    # ... and with none after it, it announces what is not there: it is not quoted alone.
    vague = sentences(["常见原因有这几类。", "kubelet 会按指数退避重启容器。"], name="原因")
    assert composer.group(vague[0], vague) == []
    # ... and so are the kinds a series numbers after it ("由几类事件驱动的。驱动 SyncLoop 的第一类事件…").
    kinds = sentences(KINDS)
    assert [c.order for c in composer.group(kinds[0], kinds)] == [0, 1, 2, 3, 4]
    # A count's kinds are its items however much lies between them (FAQ 053's causes, a how-to between the second
    # and the third), not the sentences that happen to follow it.
    pulls = sentences(["常见原因有三类。", "第一类原因是镜像名写错。", "第二类原因是没配凭证。",
                       "凭证放进 Secret 里引用。", "第三类原因是网络问题。"], name="拉取")
    assert [c.order for c in composer.group(pulls[0], pulls)] == [0, 1, 2, 4]


CRASH = ["CrashLoopBackOff 表示容器反复退出，先用 kubectl logs --previous 看日志。",
         "排查时可以先把启动命令改成 sleep。", "常见原因有这几类。", "第一，应用自身报错退出。",
         "第二，容器被 OOMKilled。", "第三，主进程不在前台。", "第四，livenessProbe 太激进。"]


def crash_entry(source: str = "faq/052-crashloopbackoff.md") -> list[Candidate]:
    sec = Section(source=source, name="", offset=0, text="".join(CRASH), chunks=(), units=())
    scores = [0.8, 0.5, 0.05, 0.1, 0.1, 0.1, 0.1]
    return [Candidate(unit=Unit("sentence", t, 0, 0), section=sec, rank=1, order=i, score=s,
                      terms=frozenset({"排查"} if i == 1 else ()))
            for i, (t, s) in enumerate(zip(CRASH, scores, strict=True))]


def test_a_reader_whose_pod_goes_wrong_gets_the_causes_the_entry_lists(trap: Bot) -> None:
    snap = trap.retriever.snapshot()

    def answered(question: str, cands: list[Candidate], max_chars: int = 600) -> list[int]:
        composer = Composer(snap, question, None, max_chars, 6)
        plan = Plan()
        plan.add(cands[:2])
        composer.show_causes(cands, plan)
        return sorted(c.order for c in plan.picked.values())

    # "pod 一直 CrashLoopBackOff 怎么排查" showed the commands, not the four kinds of cause: now the list, whole.
    assert answered("pod 一直 CrashLoopBackOff 怎么排查", crash_entry()) == [0, 1, 2, 3, 4, 5, 6]
    assert answered("my pod keeps crashing, how do I debug it", crash_entry()) == [0, 1, 2, 3, 4, 5, 6]
    assert answered("the app never seems to get SIGTERM", crash_entry()) == [0, 1, 2, 3, 4, 5, 6]
    assert answered("改了 dnsConfig 不生效", crash_entry()) == [0, 1, 2, 3, 4, 5, 6]
    # A list of causes inside the sentence that announces them comes as that sentence.
    entry = crash_entry()
    said = Unit("sentence", "丢请求的原因还有两类：第一，长连接；第二，缓存。", 0, 0)
    inline = [*entry[:2], Candidate(unit=said, section=entry[0].section, rank=1, order=2, score=0.05)]
    assert answered("滚动更新还是丢请求，为啥", inline) == [0, 1, 2]
    # Not asked what goes wrong, or not a FAQ entry's list: nothing is added.
    assert answered("CrashLoopBackOff 的重启间隔是多少", crash_entry()) == [0, 1]
    assert answered("pod 一直 CrashLoopBackOff 怎么排查", crash_entry("column/15-pod.md")) == [0, 1]
    # Short of room, a sentence standing alone gives way, even the only one with a word of the question.
    long = crash_entry()
    long[1].unit = Unit("sentence", "排查时可以先把启动命令改成 sleep。" * 30, 0, 0)
    assert answered("pod 一直 CrashLoopBackOff 怎么排查", long) == [0, 2, 3, 4, 5, 6]
    # ... and so does one with a count ("两个实例同时写…") but none of its items after it: it leads into nothing.
    # (The Terminating entry's three causes did not fit beside such a sentence on StatefulSets.)
    stateful = crash_entry()
    warning = "强制删除后两个实例同时写同一份数据会造成数据损坏" + "，排查时要小心" * 85 + "。"
    stateful[1].unit = Unit("sentence", warning, 0, 0)
    assert answered("pod 一直 CrashLoopBackOff 怎么排查", stateful) == [0, 2, 3, 4, 5, 6]
    # A count whose items the sentence names itself is a list: it stays.
    listed = crash_entry()
    levels = "标准定义了三个级别，从宽到严依次是 privileged、baseline 和 restricted" + "，排查时要小心" * 85 + "。"
    listed[1].unit = Unit("sentence", levels, 0, 0)
    assert answered("pod 一直 CrashLoopBackOff 怎么排查", listed) == [0, 1]


def shrink_entry(source: str = "faq/020-shrink.md") -> list[Candidate]:
    def unit(name: str, order: int, text: str, score: float) -> Candidate:
        sec = sections[name]
        return Candidate(unit=Unit("sentence", text, 0, 0), section=sec, rank=1, order=order, score=score)

    sections = {name: Section(source=source, name=name, offset=0, text="", chunks=(), units=())
                for name in ("", "常用瘦身手段")}
    return [unit("", 0, "镜像大多是因为基础镜像太重。", 0.6), unit("", 1, "后一层删除文件不会让镜像变小。", 0.5),
            unit("常用瘦身手段", 0, "把安装和清理写在同一条 RUN 指令里。", 0.05),
            unit("常用瘦身手段", 1, "用多阶段构建把编译环境和运行环境分开。", 0.04),
            unit("常用瘦身手段", 2, "写好 .dockerignore。", 0.08)]


def test_a_reader_who_asks_how_gets_the_section_headed_for_the_fix(trap: Bot) -> None:
    snap = trap.retriever.snapshot()

    def answered(question: str, cands: list[Candidate]) -> list[tuple[str, int]]:
        composer = Composer(snap, question, None, 600, 6)
        composer.first = cands[0].section.source
        plan = Plan()
        plan.add([*cands[:2], cands[4]])  # the entry's opening, and one item of the fix that happened to score
        composer.show_fix(cands, plan)
        return sorted((c.section.name, c.order) for c in plan.picked.values())

    whole = [("", 0), ("", 1), ("常用瘦身手段", 0), ("常用瘦身手段", 1), ("常用瘦身手段", 2)]
    # "how do I make it smaller" got why images grow and .dockerignore, not the builds that shrink them.
    assert answered("my docker image is 1.5GB, how do I make it smaller", shrink_entry()) == whole
    assert answered("镜像太大了怎么办", shrink_entry()) == whole
    assert answered("the image is too big, any fix?", shrink_entry()) == whole
    # Not asked how, or not a FAQ entry's fix: nothing is added.
    assert answered("为什么镜像这么大", shrink_entry()) == whole[:2] + whole[4:]
    assert answered("镜像太大了怎么办", shrink_entry("column/07-image.md")) == whole[:2] + whole[4:]
    # Asked which to choose: the section headed for the choice.
    choice = shrink_entry()
    choose = Section(source="faq/020-shrink.md", name="怎么选", offset=0, text="", chunks=(), units=())
    for c in choice[2:]:
        c.section = choose
    assert answered("alpine or distroless, which should I use", choice) == sorted(
        [("", 0), ("", 1), ("怎么选", 0), ("怎么选", 1), ("怎么选", 2)])
    assert answered("alpine 和 distroless 有啥区别", choice) == [("", 0), ("", 1), ("怎么选", 2)]
    # An answer from a lecture gets a FAQ entry's fix when a passage came from that section itself.
    composer = Composer(snap, "CPU 被 throttle 了怎么办", None, 600, 6)
    composer.first = "column/40-qos.md"
    plan = Plan()
    plan.add(shrink_entry()[:1])
    composer.show_fix(shrink_entry(), plan)
    assert len(plan.picked) == 1  # not retrieved: the entry's fix is another question's
    composer.retrieved = {("faq/020-shrink.md", "常用瘦身手段")}
    composer.show_fix(shrink_entry(), plan)
    assert sorted(k[1:] for k in plan.picked) == [("", 0), *whole[2:]]
    # A long section: its likeliest sentence not quoted yet.
    long = shrink_entry()
    for c in long[2:4]:
        c.unit = Unit("sentence", c.unit.text * 12, 0, 0)
    assert answered("镜像太大了怎么办", long) == whole[:3] + whole[4:]


def test_a_part_of_the_question_whose_words_are_each_named_somewhere_is_still_answered(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "pod 的 QoS 有哪几种？节点内存不够的时候先驱逐谁", None, 600, 6)
    composer.weights = {"pod": 0.5, "qos": 3.0, "节点": 1.0, "内存": 2.4, "不够": 3.9, "先": 2.2, "驱逐": 3.1}
    composer.first = "faq/006-qos.md"  # the answer's own file: its sentences may be quoted however unlikely

    def unit(order: int, text: str, terms: set[str], score: float) -> Candidate:
        sec = Section(source="faq/006-qos.md", name="", offset=0, text=text, chunks=(), units=())
        return Candidate(unit=Unit("sentence", text, 0, 0), section=sec, rank=1, order=order, score=score,
                         terms=frozenset(terms))

    classes = unit(0, "QoS 一共三种，决定节点资源紧张时 Pod 被驱逐的先后。", {"qos", "节点", "驱逐", "pod"}, 0.6)
    memory = unit(1, "Guaranteed 要求每个容器都设置 CPU 和内存的 limits。", {"内存"}, 0.5)
    order = unit(2, "节点出现内存压力时，kubelet 按 QoS 从低到高的顺序驱逐。", {"节点", "内存", "驱逐"}, 0.1)
    plan = Plan()
    plan.add([classes, memory])
    # 节点, 内存 and 驱逐 are each in the answer, but no sentence says the eviction order: it is added.
    composer.answer_every_part([classes, memory, order], plan)
    assert plan.has(order)
    # A part one chosen sentence already says is not answered twice.
    plan = Plan()
    plan.add([classes, order])
    other = unit(3, "节点内存紧张时 kubelet 驱逐 BestEffort 的 Pod。", {"节点", "内存", "驱逐"}, 0.05)
    composer.answer_every_part([classes, order, other], plan)
    assert not plan.has(other)


def test_a_comparisons_sentence_judging_one_side_weighs_more_when_the_files_units_are_chosen(trap: Bot) -> None:
    composer = Composer(trap.retriever.snapshot(), "kube-proxy 的 iptables 模式和 ipvs 模式有什么区别", None, 200, 6)
    composer.sides = ["iptables", "ipvs"]
    both = "kube-proxy 的 iptables 模式和 IPVS 模式都运行在每个节点上，监听 Service 的变化。"
    ipvs = "IPVS 模式下，kube-proxy 把每个 ClusterIP 绑定到名为 kube-ipvs0 的虚拟网卡上。"
    chains = ("iptables 模式下，包依次经过 KUBE-SERVICES 链、KUBE-SVC-xxx 链和 KUBE-SEP-xxx 链："
              "第一条按 ClusterIP 和端口匹配 Service，第二条按概率随机选一个后端，"
              "第三条把目标地址 DNAT 成那个 Pod 的 IP 和端口。")
    texts = [(both, {"iptables", "ipvs"}, 0.85), (ipvs, {"ipvs"}, 0.6), (chains, {"iptables"}, 0.5),
             ("IPVS 用哈希表查找，规模大时性能更稳定。", {"ipvs"}, 0.2)]
    sec = Section(source="faq/088-kube-proxy.md", name="", offset=0, text="".join(t for t, _, _ in texts), chunks=(),
                  units=())
    cands = [Candidate(unit=Unit("sentence", t, 0, i), section=sec, rank=1, order=i, score=s, terms=frozenset(terms))
             for i, (t, terms, s) in enumerate(texts)]
    for c in cands:
        c.features[1] = 1.0  # each has the question's terms: none is off its topic
    assert composer.contrasts(cands[3]) and not composer.contrasts(cands[0]) and not composer.contrasts(cands[1])
    plan = Plan()
    composer.first = sec.source
    composer.quote_file([(cands, 0.9)], plan, 200)
    # "IPVS 用哈希表查找，规模大时性能更稳定" is the difference asked about, though its score alone is below the bar.
    assert plan.has(cands[3]), [c.unit.text[:12] for c in plan.picked.values()]
    other = Composer(trap.retriever.snapshot(), "IPVS 模式是怎么工作的", None, 300, 6)
    assert not other.contrasts(cands[3])  # not a comparison
