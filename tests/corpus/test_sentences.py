"""A passage cut into the units answers quote: every unit an exact slice, sentences ending at
。！？ and line ends (never at ；or ：), list items grouped into their list, code kept whole."""

from corpus.sentences import units_of

TEXT = """Pod 的 status.phase 有五种取值；最常见的是 Running。调度失败时是 Pending！
Unknown 表示状态报不上来：多半是网络问题。It also speaks English. Like this?

kube-proxy 有三种模式：

- userspace：最早的实现。
- iptables：默认模式。
1. ipvs：大规模集群用。

| 模式 | 说明 |
|---|---|

```bash
kubectl get pods
```
最后一句"""


def test_units_are_exact_slices_in_order() -> None:
    units = units_of(TEXT)
    assert all(TEXT[u.start : u.end] == u.text for u in units)
    assert [u.start for u in units] == sorted(u.start for u in units)


def test_sentences_end_at_full_stops_and_line_ends_not_at_semicolons_or_colons() -> None:
    sentences = [u.text for u in units_of(TEXT) if u.kind == "sentence"]
    assert sentences[:3] == ["Pod 的 status.phase 有五种取值；最常见的是 Running。", "调度失败时是 Pending！",
                             "Unknown 表示状态报不上来：多半是网络问题。"]
    assert "It also speaks English." in sentences and "Like this?" in sentences
    assert sentences[-1] == "最后一句"  # the text's end ends a sentence too


def test_a_latin_full_stop_inside_chinese_text_ends_nothing() -> None:
    first = "避免把 .git 通过 COPY . . 带进镜像。"
    second = "AuFS 用 .wh. 前缀的文件表示，读 /sys/fs/cgroup/memory/... 这类路径。"
    assert [u.text for u in units_of(first + second)] == [first, second]
    english = [u.text for u in units_of("It ends. And e.g. this goes on. Then")]
    assert english == ["It ends.", "And e.g. this goes on.", "Then"]
