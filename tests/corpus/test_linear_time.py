"""One hostile line costs what ordinary text costs: loading and chunking stay linear.

Each pattern that once backtracked on a long line (a line of `[`, an unterminated `{{<`, a heading of
spaces and `#`...) gets a 1 MB file of its worst case, timed against a normal 1 MB file in the same
test: the shared machine's speed varies, the ratio much less. Quadratic code takes hours on 1 MB, so a
timer stops it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from corpus.chunk import ChunkOptions, chunk_document
from corpus.load import read_documents
from tests.conftest import CORPUS

MB = 1_000_000

HOSTILE: dict[str, str] = {
    "a line of [": "[" * MB,
    "a line of ![": "![" * (MB // 2),
    "nested brackets": "[" * (MB // 2) + "]" * (MB // 2),
    "labels, never a target": "[a](" * (MB // 4),
    "a target that never closes": "[a](" + "b" * MB,
    "a title that never closes": '[a](b "' + "c" * MB,
    "a line of {{<": "{{<" * (MB // 3),
    "unterminated shortcodes": "{{< note " * (MB // 9),
    "a shortcode name of 1 MB": "{{< " + "a" * MB,
    "spaces after {{<": "{{<" + " " * MB,
    "an attribute name of 1 MB": "{{< x " + "a" * MB + " >}}",
    "an unterminated comment": "<!--" + "注释" * (MB // 6),
    "a line of <!--": "<!--" * (MB // 4),
    "a heading of #": "# " + "#" * MB + "x\n\n正文。",
    "a heading of ' #'": "# " + " #" * (MB // 2) + "x\n\n正文。",
    "a heading of spaces": "# a" + " " * MB + "x\n\n正文。",
    "a heading with an anchor": "# a" + " {#a}" * (MB // 5) + "\n\n正文。",
    "a line of backticks": "`" * MB,
    "fences that never close": "```a\n" * (MB // 5),
    "a fence of 0.5 MB, then lines": "`" * (MB // 2) + "\n" + "a\n" * (MB // 4),
    "spaces before no newline": "a" + " " * MB + "a",
    "front matter that never closes": "---\n" + "a: b\n" * (MB // 5),
    "no separator to cut at": "容" * (MB // 3),
}
# html.parser before Python 3.11.13 rescans the rest of the text from each construct that never closes.
HOSTILE_HTML: dict[str, str] = {
    "<a, then a newline": "<a\n" * (MB // 3),
    "<a x='y": "<a x='y" * (MB // 7),
    "comments never closed": "<!-- - >" * (MB // 8),
    "a line of <!--": "<!--" * (MB // 4),
}


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in whatever runs longer than `seconds` (the re module checks for signals)."""
    def stop(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_and_chunk(folder: Path) -> int:
    return sum(len(chunk_document(doc, ChunkOptions())) for doc in read_documents(folder))


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of `runs` timings: the one least disturbed by other work on the machine."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def write(folder: Path, text: str, name: str = "x.md") -> Path:
    folder.mkdir()
    (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture lecture (front matter aside: headings, links, a comment, a shortcode) repeated to 1 MB."""
    body = (CORPUS / "05-namespace.md").read_text().split("---\n", 2)[2]
    return write(tmp_path_factory.mktemp("normal") / "corpus", body * (MB // len(body.encode()) + 1))


@pytest.mark.parametrize(("name", "file"), [(n, "x.md") for n in HOSTILE] + [(n, "x.html") for n in HOSTILE_HTML])
def test_a_hostile_megabyte_loads_and_chunks_as_fast_as_a_normal_one(
        name: str, file: str, normal: Path, tmp_path: Path) -> None:
    hostile = write(tmp_path / "corpus", {**HOSTILE, **HOSTILE_HTML}[name], file)
    with deadline(20):
        normal_s = best_of(2, lambda: load_and_chunk(normal))
        hostile_s = best_of(2, lambda: load_and_chunk(hostile))
    # Well under a second here; on a busy machine, still no more than a few normal files.
    assert hostile_s < max(1.0, 5 * normal_s), f"{name}: {hostile_s:.2f} s, a normal 1 MB file {normal_s:.2f} s"
