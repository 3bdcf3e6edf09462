"""The refusal signals and rule on the fixture corpus (real model, real Chroma)."""

from dataclasses import replace

import pytest

from bot.bot import Bot
from bot.refusal import (
    RefusalOptions,
    Signals,
    known_words,
    mentions,
    refuse,
    signals,
    unknown_identifiers,
    unseen_names,
    unseen_terms,
    unseen_words,
)
from index.embed import Embedder
from tests.conftest import indexed


def test_unseen_terms_are_latin_words_of_a_chinese_question_the_corpus_never_uses(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    assert unseen_terms(snap, "用 velero 备份 Namespace 里的 PVC 要怎么配") == ("velero",)
    assert unseen_terms(snap, "cgroups 怎么限制 CPU") == ()  # in the corpus
    assert unseen_terms(snap, "cgruops 怎么限制内存") == ()  # one typo from a corpus word
    assert unseen_terms(snap, "sts 的 Pod 为什么一个一个起") == ()  # the glossary maps it (StatefulSet)
    assert unseen_terms(snap, "how do I back up a namespace with velero") == ()  # English: not judged
    assert unseen_terms(snap, "veleroBackup 要怎么配") == ("velerobackup",)  # a name once, not its parts too


def test_an_unseen_term_refuses_only_with_middling_evidence() -> None:
    options = RefusalOptions()
    strong, middling = options.unseen_min_dense + 0.01, options.min_dense + 0.01
    assert not refuse(Signals(dense=middling, margin=0.05, unknown=()), options)
    assert refuse(Signals(dense=middling, margin=0.05, unknown=(), unseen=("velero",)), options)
    assert not refuse(Signals(dense=strong, margin=0.05, unknown=(), unseen=("velero",)), options)
    # Two such terms are stronger evidence: they refuse up to a higher bar ("mvcc", "defrag" in an etcd question).
    assert refuse(Signals(dense=strong, margin=0.05, unknown=(), unseen=("mvcc", "defrag")), options)
    assert not refuse(Signals(dense=options.unseen_many_min_dense + 0.01, margin=0.05, unknown=(),
                              unseen=("mvcc", "defrag")), options)
    # ... but a name and its part are one term ("image-prefetch-peers", "peers")
    assert not refuse(Signals(dense=strong, margin=0.05, unknown=(), unseen=("image-prefetch-peers", "peers")), options)


def test_an_english_question_has_a_cosine_floor_of_its_own() -> None:
    options = RefusalOptions(min_dense_en=0.845)
    between = (options.min_dense_en + options.min_dense) / 2
    assert not refuse(Signals(dense=between, margin=0.05, unknown=(), english=True), options)
    assert refuse(Signals(dense=between, margin=0.05, unknown=()), options)  # a Chinese question at that cosine
    assert refuse(Signals(dense=options.min_dense_en - 0.001, margin=0.05, unknown=(), english=True), options)
    # the English floor is the only one that moves for it: a made-up name still refuses at any cosine
    assert refuse(Signals(dense=0.95, margin=0.05, unknown=("podReplicaBalancer",), english=True), options)


def test_an_english_question_in_the_column_s_words_has_a_lower_floor() -> None:
    options = RefusalOptions()
    between = (options.min_dense_en_known + options.min_dense_en) / 2
    own_words = Signals(dense=between, margin=0.05, unknown=(), english=True, known=options.known_share)
    assert not refuse(own_words, options)
    assert refuse(replace(own_words, known=options.known_share - 0.01), options)  # mostly words it never uses
    assert refuse(replace(own_words, dense=options.min_dense_en_known - 0.001), options)
    assert refuse(replace(own_words, english=False), options)  # the share is an English question's only


def test_the_share_of_an_english_question_s_words_the_column_uses(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    # its Latin terms, a plural of one, words looked up as their Chinese (deleting → 删除, seconds → 秒)
    assert known_words(snap, "why does deleting my pod always take 30 seconds?") >= RefusalOptions().known_share
    assert known_words(snap, "the cgroups and namespaces of my pods") == 1.0
    assert known_words(snap, "how do I replace the brake pads on my car?") < RefusalOptions().known_share
    assert known_words(snap, "the and of") == 0.0  # stop words alone: nothing to go on
    # chat ("whats", "people keep saying") is no word of the subject; "different" is 区别
    assert known_words(snap, "whats different? people keep saying") == 1.0


def test_the_question_s_language_reaches_the_rule(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    for question, english in (("how does a Pod get its IP address?", True), ("Pod 的 IP 是怎么分配的", False),
                              ("kubectl get pods 显示 Pending 是为啥", False)):
        assert signals(snap, question, bot.retriever.retrieve(question, k=5)).english is english, question


def test_a_chinese_question_about_a_tool_the_corpus_never_names_is_refused_with_passages(bot: Bot) -> None:
    answer = bot.answer("用 velero 把 Namespace 备份到 minio 要怎么配置")
    assert answer.refused and answer.citations
    assert answer.confidence["unseen_terms"] >= 2 and {"velero", "minio"} <= set(answer.not_covered)
    # the passages are similar enough to pass the plain cosine threshold: the unseen terms decide
    assert answer.confidence["dense"] >= RefusalOptions().min_dense


# What the question names that the corpus does not know: made up, or real but never covered.

MADE_UP = [
    ("专栏里讲的 PodReplicaBalancer 控制器怎么配", "PodReplicaBalancer"),  # CamelCase, any case
    ("podReplicaBalancer 这个控制器是干嘛的", "podReplicaBalancer"),
    ("kube-meshd 这个组件负责啥", "kube-meshd"),  # a component-style name
    ("Service 的 stablePodIP 字段怎么开", "stablePodIP"),  # an acronym as the last hump
    ("HTTPBalancer 这个对象在哪个 API 组里", "HTTPBalancer"),  # an acronym as the first hump
    ("给 Pod 加上 scheduler.kubernetes.io/prefer-idle-node 注解会怎样", "scheduler.kubernetes.io/prefer-idle-node"),
    ("Service 的 clusterIP: Floating 是什么意思", "clusterIP: Floating"),  # a value the field never takes
    ("Pod 的 Premium 级别是不是比别的都高", "Premium"),  # a capitalised name in a Chinese question
    ("k8s 自带的 pod 热迁移怎么开启", "热迁移"),  # a new compound of known words
]


def test_made_up_names_are_refused_and_named_whatever_the_passages_look_like(bot: Bot) -> None:
    for question, name in MADE_UP:
        ans = bot.answer(question)
        assert ans.refused, question
        assert ans.not_covered and ans.not_covered[0] == name, (question, ans.not_covered)
        assert ans.answer.startswith(f"专栏没有讲到 {name}")
        assert "最接近的内容是" in ans.answer and ans.citations  # the closest it has, quoted


def test_real_names_the_corpus_uses_are_answered(bot: Bot) -> None:
    for question in ("PersistentVolumeController 是怎么绑定 PV 和 PVC 的", "CLONE_NEWPID 是干什么的",
                     "StorageClass 的 Dynamic Provisioning 是什么", "cpu.cfs_quota_us 写 20000 是什么意思",
                     "Headless Service 的 DNS 记录长什么样"):
        ans = bot.answer(question)
        assert not ans.refused and not ans.not_covered, (question, ans.confidence)
    assert not bot.answer("Headless Service 的 clusterIP: None 是什么意思").refused  # a value it does take
    assert not bot.answer("Headless Service 的 clusterIP 为什么是 None").refused  # an acronym hump it uses


def test_an_english_compound_of_prose_is_no_component_name(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    for question in ("will my docker-built images still work after the switch?",
                     "is a cluster-wide default the same as a node-level one?"):
        assert unknown_identifiers(snap, question) == (), question
    # a component-style name the corpus never uses still is one, in English too
    assert unknown_identifiers(snap, "what does the docker-meshd daemon do?") == ("docker-meshd",)
    # ... and so is a name ending as a component's does (an exporter, a controller's -manager, -dns)
    assert unknown_identifiers(snap, "should I run dcgm-exporter as a daemonset?") == ("dcgm-exporter",)
    assert unknown_identifiers(snap, "what IAM permissions does external-dns need?") == ("external-dns",)


def test_a_verbs_complement_and_its_object_are_no_new_compound(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    # jieba tags 成 in "挂载成文件" as a noun: 成文件 is no feature the column fails to name.
    for question in ("ConfigMap 挂载成文件和环境变量有什么区别", "容器的根目录能设成只读吗"):
        assert unseen_words(snap, question) == (), question
    assert unseen_words(snap, "k8s 自带的 pod 热迁移怎么开启") == ("热迁移",)  # a compound still is one
    # jieba calls 传 and 照 nouns: before another noun they are a verb and its object, a preposition and its
    # object (both questions were refused by readers who asked them: "专栏没有讲到 传文件", "…照专栏").
    for question in ("pod 里俩容器要共享个目录互相传文件，emptyDir 就够了吧",
                     "用 kubebuilder 还是照专栏那样拿 code-generator 手撸 informer"):
        assert unseen_words(snap, question) == (), question
    assert "成文件" not in bot.answer("ConfigMap 挂载成文件和环境变量有什么区别").not_covered


def test_an_english_question_about_a_product_the_corpus_never_names(bot: Bot) -> None:
    ans = bot.answer("how do I write a Kustomize overlay for the Cgroups limits of a namespace?")
    assert ans.refused and ans.not_covered == ["Kustomize"]
    assert ans.answer.startswith("The column does not cover Kustomize; the closest it has is")


def test_a_word_with_a_digit_inside_is_a_name_and_one_the_corpus_lacks_is_refused(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    assert unknown_identifiers(snap, "how do I make k9s open in all namespaces by default?") == ("k9s",)
    assert unknown_identifiers(snap, "k9s 里咋切 namespace") == ("k9s",)
    # a number at the end is not a name: base64, x509, a Pod called pod1
    assert unknown_identifiers(snap, "pod1 连不上 pod2，x509 报错，base64 解不开") == ()
    ans = bot.answer("how do I make k9s open in all namespaces by default?")
    assert ans.refused and ans.not_covered == ["k9s"]


def test_a_long_hostile_question_costs_about_what_a_long_ordinary_one_does(bot: Bot) -> None:
    """A question stuffed with made-up names or unknown nouns is looked at only so far: it costs
    about what an ordinary question of the same length does (both embed at most QUERY_TOKENS;
    ratios measured in the same run, as the machine is shared)."""
    import random
    import string
    import time

    rng = random.Random(7)

    def word(n: int) -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))

    hostile = [" ".join(word(5) + word(4).capitalize() + word(4).capitalize() for _ in range(180))[:1990],
               " ".join(f"restartPolicy: {word(6).capitalize()}" for _ in range(100))[:1990],
               " ".join(f"--{word(6)}-{word(3)}" for _ in range(160))[:1990],
               "".join(rng.choice(["温度", "曲线", "机房", "岗位", "热迁移"]) + "的" for _ in range(600))[:1990]]
    ordinary = [("容器的 Cgroups 是怎么限制 CPU 和内存的，Namespace 又隔离了什么，" * 40)[:1990],
                ("why can't I ping a Service and how does kube-proxy route traffic to Pods " * 30)[:1990]]

    def cost(q: str) -> float:
        best = float("inf")
        for i in range(3):  # best of three: the machine is shared
            started = time.perf_counter()
            bot.answer(f"{q} {i}")
            best = min(best, time.perf_counter() - started)
        return best

    base = max(cost(q) for q in ordinary)
    worst = max(cost(q) for q in hostile)
    assert worst < 2.5 * base, (worst, base)  # measured: about 1x


def test_a_name_the_corpus_mentions_once_elsewhere_is_not_what_it_covers(bot: Bot) -> None:
    """SIGCHLD appears once in the fixture corpus, in a clone() call of the Namespace notes: a
    question about it in kube-proxy rules finds Service passages that never name it."""
    snap = bot.retriever.snapshot()
    assert mentions(snap, "SIGCHLD") == 1 and mentions(snap, "Service") > 1
    question = "kube-proxy 规则为啥要用 SIGCHLD"
    sig = signals(snap, question, bot.retriever.retrieve(question, k=5))
    assert "SIGCHLD" in sig.absent and "SIGCHLD" in sig.unseen  # as the reader wrote it
    ans = bot.answer(question)
    assert ans.refused and ans.not_covered == ["SIGCHLD"] and ans.citations
    assert "SIGCHLD" not in ans.citations[0].quote  # it is named in code: the refusal quotes prose only
    # ... while for a question whose passages name it, it counts for nothing
    question = "PID Namespace 的 clone 为什么要传 SIGCHLD"
    sig = signals(snap, question, bot.retriever.retrieve(question, k=5))
    assert "SIGCHLD" not in sig.absent + sig.unseen and not bot.answer(question).refused
    # An English question's capitalised name counts the same ("how do I back up namespaces with Velero?": the
    # column names Velero once, in passing).
    question = "how do kube-proxy iptables rules load balance a Service, and do they need SIGCHLD?"
    sig = signals(snap, question, bot.retriever.retrieve(question, k=5))
    assert "SIGCHLD" in sig.absent and "SIGCHLD" in sig.unseen


def test_a_refusal_says_where_the_column_names_in_passing_what_it_does_not_cover(bot: Bot) -> None:
    """lxcfs is named once in the fixture corpus, in a sentence of the Cgroups notes: a refusal that names
    it points at that sentence first, rather than only at the nearest passages."""
    from bot.answer import Evidence, extract, in_passing

    snap = bot.retriever.snapshot()
    assert mentions(snap, "lxcfs") == 1
    term, chunk, sentence = in_passing(snap, ("velero", "lxcfs")) or ("", None, "")
    assert term == "lxcfs" and chunk is not None and "lxcfs" in sentence and sentence in chunk.text
    assert in_passing(snap, ("SIGCHLD",)) is None  # named only in code: nothing to quote

    question = "Service 的负载均衡和 lxcfs 有什么关系"
    hits = bot.retriever.retrieve(question, k=5).hits
    ev = Evidence(question=question, hits=hits, passages=hits[:4], refused=True, confidence={}, snapshot=snap,
                  started=0.0, not_covered=("lxcfs",))
    ans = extract(ev, bot.settings.answer, bot.settings.refusal)
    assert "只在" in ans.answer and "顺带提到 lxcfs" in ans.answer, ans.answer
    assert ans.citations[0].quote == sentence and ans.citations[0].source == chunk.source
    assert len({c.source + c.quote for c in ans.citations}) == len(ans.citations)  # that passage once
    english = extract(replace(ev, question="how is Service load balancing related to lxcfs?"),
                      bot.settings.answer, bot.settings.refusal)
    assert english.answer.startswith("The column does not cover lxcfs; it names lxcfs only in passing, in ")


def test_an_acronym_s_plural_is_the_acronym(bot: Bot) -> None:
    snap = bot.retriever.snapshot()
    # "VMs" is no product the column fails to name: the glossary has vm (虚拟机), and "people keep saying docker
    # containers are just lightweight VMs" was refused as not covering VMs.
    assert unseen_names(snap, "are containers just lightweight VMs?") == ()
    assert unseen_names(snap, "how do I tune Karpenter for spot nodes?") == ("Karpenter",)


ONE_PROCESS = """---
title: "为什么容器里只能跑一个进程？"
lecture: 6
kind: faq
---

# 为什么容器里只能跑一个进程？

这句话的本意是：容器的生命周期跟着它的 1 号进程走，运行时只看这个进程是否还活着。

1 号进程退出，容器也就结束了；别的进程挂掉，平台并不知道。

需要几个进程紧密配合时，把它们放进同一个 Pod 的不同容器里，而不是塞进一个容器。
"""

CGROUPS = """---
title: Cgroups 限制资源
lecture: 6
kind: note
---

# Cgroups 限制资源

Cgroups 按进程组限制 CPU、内存等资源，限制写在 /sys/fs/cgroup 下的文件里。

容器的内存上限就是它所在控制组的 memory.limit_in_bytes。
"""


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Bot:
    return indexed(tmp_path_factory.mktemp("one-process"),
                   {"faq/001-one-process.md": ONE_PROCESS, "column/06-cgroups.md": CGROUPS}, embedder)


def test_a_part_asking_a_faq_title_is_answered_whatever_names_another_part_adds(one_process: Bot) -> None:
    snap = one_process.retriever.snapshot()
    asked = "为啥都说容器里只能跑一个进程？我想在一个容器里同时跑 nginx 和 php-fpm 行不行"
    assert snap.title_asked(asked) == "为啥都说容器里只能跑一个进程"  # 为啥 is 为什么's equivalent
    assert "php-fpm" in unknown_identifiers(snap, asked)  # a name the corpus never uses ...
    ans = one_process.answer(asked)
    assert not ans.refused and "1 号进程" in ans.answer, ans.answer  # ... beside a question the column answers
    # A part sharing only some of the title's words asks something else; the name still refuses.
    assert snap.title_asked("php-fpm 容器里的进程数怎么调") is None
    assert one_process.answer("php-fpm 容器里的进程数怎么调").not_covered == ["php-fpm"]
    # A name written inside the part that asks the title is what that part asks about.
    assert snap.title_asked("为什么 php-fpm 容器里只能跑一个进程") is not None
    assert one_process.answer("为什么 php-fpm 容器里只能跑一个进程").refused


def test_a_side_of_a_comparison_that_the_passages_never_name_refuses(bot: Bot) -> None:
    """"Operator 和 Helm 有什么区别" was answered from StatefulSet vs Operator: the column names Helm, never beside
    Operator. A side of a comparison that the passages found never name is a term the column does not cover."""
    snap = bot.retriever.snapshot()
    assert mentions(snap, "kube-proxy") > 1  # named in the corpus, often enough not to be a name in passing

    def sig(question: str) -> Signals:
        found = bot.retriever.retrieve(question, k=5)
        # Passages that never name it, as the column's passages on Operator never name Helm.
        hits = [h for h in found.hits
                if "kube-proxy" not in snap.section_text(h.chunk.source, h.chunk.section).lower()]
        return signals(snap, question, replace(found, hits=hits))

    assert "kube-proxy" in sig("Cgroups 和 kube-proxy 有什么区别").unknown
    assert "kube-proxy" in sig("Cgroups 跟 kube-proxy 该用哪个").unknown
    # Asked beside it without comparing, or compared where the passages name it, it refuses nothing.
    assert "kube-proxy" not in sig("Cgroups 和 kube-proxy 怎么一起用").unknown
    question = "Cgroups 和 kube-proxy 有什么区别"
    assert "kube-proxy" not in signals(snap, question, bot.retriever.retrieve(question, k=5)).unknown
