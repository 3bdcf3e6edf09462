from bench.misses import PLACES, where

QUOTED = {("faq/009-pod-stuck-pending.md", "不是调度问题的 Pending")}
PASSAGES = {"faq/009-pod-stuck-pending.md", "faq/067-statefulset-stuck-scaling.md"}
RETRIEVED = {"column/42-scheduler.md"}


def test_a_miss_sits_where_its_evidence_is_relative_to_the_answer() -> None:
    def place(source: str, name: str | None) -> str:
        return where([(source, name)], QUOTED, PASSAGES, RETRIEVED)

    assert place("faq/009-pod-stuck-pending.md", "不是调度问题的 Pending") == PLACES[0]
    assert place("faq/009-pod-stuck-pending.md", "") == PLACES[1]
    assert place("faq/067-statefulset-stuck-scaling.md", "") == PLACES[2]
    assert place("column/42-scheduler.md", "Predicates") == PLACES[3]
    assert place("column/13-why-pod.md", None) == PLACES[4]


def test_a_fact_stated_in_two_places_counts_at_the_nearer() -> None:
    evidence = [("column/13-why-pod.md", None), ("faq/009-pod-stuck-pending.md", "")]
    assert where(evidence, QUOTED, PASSAGES, RETRIEVED) == PLACES[1]
    assert where([], QUOTED, PASSAGES, RETRIEVED) == "no evidence given"
