"""Key terms and when a message is a follow-up: no model, just the glossary and the text."""

import pytest

from bot.followup import FollowUpOptions, carry, key_terms, refers_back, search_text


@pytest.mark.parametrize(("text", "terms"), [
    ("StatefulSet 是怎么给 Pod 编号的？", ["StatefulSet", "Pod", "编号"]),
    ("Headless Service 的 DNS 记录是什么样的", ["Headless Service", "DNS"]),
    ("容器里执行 free 为什么看到的是宿主机内存？", ["容器", "宿主机", "内存"]),
    ("kube-apiserver 和 /proc/meminfo 以及 CLONE_NEWPID", ["kube-apiserver", "/proc/meminfo", "CLONE_NEWPID"]),
    ("K8S 的容器镜像", ["K8S", "容器镜像"]),  # the longer glossary term, not 容器 inside it
    ("how do I do that?", []),
])
def test_key_terms_as_written(text: str, terms: list[str]) -> None:
    assert key_terms(text) == terms


@pytest.mark.parametrize(("text", "refers"), [
    ("那它和 Deployment 有什么区别？", True), ("DaemonSet 呢？", True), ("这个怎么调试", True),
    ("and how do I debug that?", True), ("what about DaemonSet", True),
    ("PVC 和 PV 是怎么绑定的", False), ("why can't I ping a Service ClusterIP?", False),
])
def test_refers_back(text: str, refers: bool) -> None:
    assert refers_back(text) is refers


def test_carry_only_into_follow_ups() -> None:
    options = FollowUpOptions()
    earlier = ["StatefulSet", "Pod", "编号"]
    assert carry("那它和 Deployment 有什么区别？", earlier, options) == earlier
    assert carry("how do I debug that?", earlier, options) == earlier
    assert carry("呢？", earlier, options) == earlier  # nothing of its own
    assert carry("PVC 和 PV 是怎么绑定的", earlier, options) == []  # its own topic
    assert carry("那它和 Deployment、DaemonSet、ReplicaSet 有什么区别", earlier, options) == []  # names enough
    assert carry("那 Pod 呢？", earlier, options) == ["StatefulSet", "编号"]  # not what it says itself
    assert carry("它呢", earlier, options, known=lambda t: t != "编号") == ["StatefulSet", "Pod"]
    assert carry("它呢", earlier, FollowUpOptions(max_terms=1)) == ["StatefulSet"]
    assert carry("它呢", earlier, FollowUpOptions(max_terms=0)) == []
    assert carry("它呢", [], options) == []


def test_search_text() -> None:
    assert search_text("它呢", ["StatefulSet", "Pod"]) == "它呢 StatefulSet Pod"
    assert search_text("Pod 是什么", []) == "Pod 是什么"


def test_a_long_message_that_names_and_points_at_nothing_is_a_new_topic() -> None:
    earlier = ["PID Namespace", "CLONE_NEWPID"]
    assert carry("周末去杭州玩两天，有啥推荐路线", earlier, FollowUpOptions()) == []
    assert carry("然后呢？", earlier, FollowUpOptions()) == earlier
