from bot.terms import expand, glossary_hits, in_glossary, joined, normalize, query_terms, tokens


def test_identifiers_stay_whole_and_latin_is_lowercased() -> None:
    toks = tokens("kube-apiserver 读取 /proc/meminfo，clone() 传入 CLONE_NEWPID 创建 StatefulSet")
    for whole in ("kube-apiserver", "/proc/meminfo", "clone_newpid", "statefulset"):
        assert whole in toks
    assert "apiserver" in toks and "meminfo" in toks  # parts too, so either spelling matches


def test_chinese_is_segmented_and_stopwords_dropped() -> None:
    toks = tokens("为什么容器里只能跑一个进程")
    assert "容器" in toks and "进程" in toks
    assert "为什么" not in toks and "的" not in toks
    # A chat question's function words are rare in the notes' prose, so they would weigh as much as its subject.
    toks = tokens("cf push 到底干了啥，跟 docker 的打包方式有啥不一样，我想知道")
    assert "打包" in toks and not {"干", "跟", "想"} & set(toks)


def test_normalisation_full_width_and_k8s() -> None:
    assert normalize("Ｋ８Ｓ里的ＰＯＤ") == "kubernetes里的pod"
    assert "kubernetes" in tokens("k8s 集群")


def test_glossary_expands_both_ways() -> None:
    assert "taint" in expand(["污点"]) and "污点" in expand(["taint"])
    assert "statefulset" in expand(glossary_hits("有状态应用怎么部署"))
    _, extra = query_terms("how do taints work")
    assert "污点" in extra


def test_what_a_question_asks_with_is_not_what_it_is_about() -> None:
    # An English contraction's halves and filler, and a Chinese question word, would otherwise weigh as
    # rare terms (the corpus is Chinese): "else" outweighed "OOMKilled", 谁 picked a sentence about who.
    toks = tokens("my container doesn't say OOMKilled, what else could it be? 谁来合代码")
    assert {"container", "oomkilled", "代码"} <= set(toks)
    assert not {"doesn", "t", "say", "else", "谁"} & set(toks)


def test_the_words_inside_a_camel_case_name_match_the_words_written_apart() -> None:
    # "readiness gates" finds `readinessGates`, "jdk 8" finds JDK8; the whole name still matches whole.
    assert {"readinessgates", "readiness", "gates"} <= set(tokens("spec.readinessGates"))
    assert {"httproute", "http", "route"} <= set(tokens("HTTPRoute"))
    # An acronym's plural is the acronym, not a letter and a word: VMs is vm (虚拟机), not v and ms (milliseconds).
    assert tokens("VMs") == ["vms", "vm"] and "ps" not in tokens("externalIPs") and "ip" in tokens("externalIPs")
    assert {"jdk8", "jdk", "8"} <= set(tokens("JDK8"))
    assert tokens("k8s.io/api") == ["kubernetes.io/api", "kubernetes", "io", "api"]  # k8s is a name, not k, 8, s
    assert tokens("Pod") == ["pod"]  # a plain word has no humps


def test_a_name_the_question_spells_as_separate_words_is_a_term() -> None:
    # "readiness gates" is the corpus's readinessGates; the phrase, not only its two common words.
    known = {"readinessgates", "initcontainers", "dockerignore", "init"}
    assert joined("what are pod readiness gates and when would I need one", known) == ["readinessgates"]
    assert joined("what happens when an init container keeps failing", known) == ["initcontainers"]  # plural
    assert query_terms("pod readiness gates?", known)[0] == ["pod", "readiness", "gates", "readinessgates"]
    # Only words spaced apart, never a stop word, never a verb's -s taken off: no .dockerignore for
    # "docker ignores", no init for "in it", nothing across Chinese.
    assert joined("java in docker ignores the memory limit", known) == []
    assert joined("freeze every pod in it", known) == []
    assert joined("init 了一个 containers", known) == []
    assert query_terms("pod readiness gates?")[0] == ["pod", "readiness", "gates"]  # without the corpus's terms


def test_an_english_questions_plain_words_find_the_chinese_the_notes_write_but_not_the_other_way() -> None:
    _, extra = query_terms("what levels does pod security admission have, and which is the default?")
    assert "级别" in extra and "默认" in extra
    # "vs" asks for the difference, as 区别 does: "requests vs limits?" was answered from the LimitRange entry.
    assert "区别" in query_terms("requests vs limits?")[1]
    # Units and frequency: the notes write "偶尔卡 5 秒" where a reader writes "sometimes hang for 5 seconds".
    _, extra = query_terms("dns lookups sometimes hang for exactly 5 seconds")
    assert {"偶尔", "卡住", "秒"} <= set(extra)
    # "expose my app outside the cluster" is lecture 38's 从外界连通 Service (it was answered with DNS records).
    assert {"暴露", "外界", "外部"} <= set(query_terms("how do I expose my app outside the cluster?")[1])
    # "if a node dies" is 节点宕机 / 失联 (it was answered with nodeSelector).
    assert {"宕机", "失联"} <= set(query_terms("what happens to my pods if a node dies?")[1])
    # Plain words a reader writes where the notes write Chinese: 持久化, 超时, 目录 (each answer moved to the
    # passage that answers, read blind).
    assert {"持久", "数据"} <= set(query_terms("how do I persist data for a database in kubernetes?")[1])
    assert {"超时", "失败"} <= set(query_terms("my pods fail with a timeout when pulling images")[1])
    assert "目录" in query_terms("how does a container get its own root directory?")[1]
    # A container's clock is the notes' 系统时间 / 时钟 (it was answered with a DaemonSet's tolerations).
    assert {"时间", "时钟"} <= set(query_terms("can I set the clock inside one container?")[1])
    # A bare Pod is the notes' 单独创建的 Pod; customers on one cluster are its 租户 (both were answered with
    # something else: ReplicaSets, RBAC).
    assert "单独" in query_terms("is there any point in running a bare Pod instead of a Deployment?")[1]
    assert {"租户", "多租户"} <= set(query_terms("can namespaces separate different customers? what about tenants?")[1])
    # "a specific node" is the notes' 指定节点 (it was answered with hostNetwork's ports).
    assert "指定" in query_terms("how do I make a pod run on a specific node?")[1]
    # "twice" is the notes' 两遍 (the section headed "两遍 Predicates" was never among the passages).
    assert {"两遍", "两次"} <= set(query_terms("why does the scheduler run predicates twice?")[1])
    # ... and 组件 for "components" (the word otherwise matched only lecture 30's "External Components").
    assert "组件" in query_terms("why is the kubelet not a container like the other components?")[1]
    # ... as words to look up: what is embedded with the question keeps only the glossary's terms.
    _, meant = query_terms("what levels does pod security admission have, and which is the default?", plain=False)
    assert "级别" not in meant and "默认" not in meant
    _, meant = query_terms("how do taints work", plain=False)
    assert "污点" in meant
    # A Chinese question gains no English words from them (they would mostly match code and YAML), and its
    # Latin words are names, not plain words.
    _, extra = query_terms("flannel 默认用哪个后端")
    assert "backend" not in extra and "default" not in extra
    _, extra = query_terms("自己写一个 csi driver 要实现哪些接口")
    assert "驱动" not in extra
    # Only a question's lookup uses them: refusal and follow-ups read the glossary alone ("default" is no term).
    assert not in_glossary("default") and "default" not in glossary_hits("what is the default?")


def test_a_glossary_name_of_several_words_matches_its_plural_and_one_word_does_not() -> None:
    # "Containers vs virtual machines…" was refused: "virtual machines" found no 虚拟机.
    assert "virtual machine" in glossary_hits("containers vs virtual machines: what's different?")
    assert "init container" in glossary_hits("what do init containers do?")
    assert "virtual machine" not in glossary_hits("virtual machinery")
    # One word used in passing ("containers", "images") is not taken for the name.
    assert "container" not in glossary_hits("how do containers start?")


def test_processes_is_the_glossarys_process() -> None:
    # "can two containers in a pod see each other's processes?" was answered with Init containers: no 进程.
    assert "进程" in expand(glossary_hits("can two containers in a pod see each other's processes?"))


def test_a_pod_that_keeps_crashing_is_crashloopbackoff() -> None:
    # "my pod keeps crashing, how do I see why?" was refused: no word of it named the FAQ entry's subject.
    assert "crashloopbackoff" in expand(glossary_hits("my pod keeps crashing, how do I see why?"))
    assert "crashloopbackoff" in expand(glossary_hits("why does my pod keep restarting?"))
    assert "crashloopbackoff" in expand(glossary_hits("pod 一直重启是什么原因"))
