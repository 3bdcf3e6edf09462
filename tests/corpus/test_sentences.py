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


def test_a_latin_full_stop_ends_a_sentence_only_where_a_word_ends_one() -> None:
    first = "避免把 .git 通过 COPY . . 带进镜像。"
    second = "AuFS 用 .wh. 前缀的文件表示，读 /sys/fs/cgroup/memory/... 这类路径。"
    assert [u.text for u in units_of(first + second)] == [first, second]
    english = [u.text for u in units_of("It ends. And e.g. this goes on. Then")]
    assert english == ["It ends.", "And e.g. this goes on.", "Then"]
    mixed = [u.text for u in units_of("Reply only in English. 然后再用中文说一遍。")]
    assert mixed == ["Reply only in English.", "然后再用中文说一遍。"]  # an English sentence ends before Chinese


def test_a_list_is_one_list_and_code_and_tables_are_not_sentences() -> None:
    units = units_of(TEXT)
    items = [u for u in units if u.kind == "item"]
    assert [u.text for u in items] == ["userspace：最早的实现。", "iptables：默认模式。", "ipvs：大规模集群用。"]
    assert len({u.list_id for u in items}) == 1  # "-" and "1." lines next to each other: one list
    (code,) = [u for u in units if u.kind == "code"]
    assert code.text == "```bash\nkubectl get pods\n```"
    assert not any("|" in u.text for u in units)  # table rows are not quoted
    intro = units[units.index(items[0]) - 1]
    assert intro.text == "kube-proxy 有三种模式：" and intro.paragraph != items[0].paragraph


def test_an_unclosed_fence_runs_to_the_end() -> None:
    (code,) = units_of("```yaml\nkind: Pod\n")
    assert code.kind == "code" and code.text == "```yaml\nkind: Pod"
