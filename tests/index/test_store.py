"""Calls to a Chroma server are bounded: a server that accepts connections and never answers
becomes StoreUnavailable after `timeout_s`, like one that is gone."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from index.store import CALLS_IN_FLIGHT, Store, StoreOptions, StoreUnavailable, within


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real TCP listener that never reads or answers: the kernel completes each handshake, and
    the request then waits, as it would on a server that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_server_that_never_answers_is_unavailable_after_the_timeout(silent_server: str) -> None:
    store = Store(StoreOptions(url=silent_server, timeout_s=0.5))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"no answer within 0\.5 s"):
        store.info()
    waited = time.monotonic() - started
    # Again, with a longer timeout: the wait follows the setting (a ratio, not a wall-clock bound).
    slower = Store(StoreOptions(url=silent_server, timeout_s=1.5))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        slower.info()
    assert (time.monotonic() - started) / waited > 1.8


def test_a_server_that_is_gone_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable):
        Store(StoreOptions(url=f"http://127.0.0.1:{port}", timeout_s=5)).info()


def test_calls_given_up_on_hold_a_bounded_number_of_threads() -> None:
    slots = threading.BoundedSemaphore(CALLS_IN_FLIGHT)
    release = threading.Event()
    for _ in range(CALLS_IN_FLIGHT):
        with pytest.raises(TimeoutError):
            within(0.05, slots, release.wait)
    hung = [t for t in threading.enumerate() if t.name == "kqa-chroma-call"]
    assert len(hung) == CALLS_IN_FLIGHT and all(t.daemon for t in hung)
    ran = threading.Event()
    with pytest.raises(TimeoutError, match="calls still waiting"):  # no slot: not started at all
        within(0.05, slots, ran.set)
    assert not ran.is_set()
    release.set()  # the calls end, their slots come back
    for t in hung:
        t.join(timeout=5)
    assert within(1, slots, lambda: 42) == 42


def test_a_call_that_fails_raises_its_own_error() -> None:
    slots = threading.BoundedSemaphore(CALLS_IN_FLIGHT)
    with pytest.raises(ZeroDivisionError):
        within(1, slots, lambda: 1 / 0)
