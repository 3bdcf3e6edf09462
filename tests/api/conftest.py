import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.http.app import create_app
from api.settings import LimitOptions, Settings
from bot.bot import Bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ok(url: str, seconds: float, alive: Callable[[], bool] = lambda: True,
            why: Callable[[], str] = lambda: "server did not become ready") -> None:
    """Poll `url` until it answers 200; fail with `why()` after `seconds` or once `alive()` is false."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert alive() and time.monotonic() < deadline, why()
        time.sleep(0.1)


@contextmanager
def serving(app: FastAPI, ready: str = "/readyz", timeout: float = 60) -> Iterator[str]:
    """`app` under real uvicorn on a free loopback port, in a thread; yields the base URL."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_ok(f"{base}{ready}", timeout)
    try:
        yield base
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def open_settings(bot: Bot, data_dir, **changes) -> Settings:
    """The test bot's settings with a private data dir and no rate limit, plus `changes`."""
    return bot.settings.model_copy(update={"data_dir": data_dir, "limits": LimitOptions(rate_per_minute=0),
                                           **changes})


@pytest.fixture(scope="session")
def served_settings(bot: Bot, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return open_settings(bot, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def server(bot: Bot, served_settings: Settings) -> Iterator[str]:
    """The real app under real uvicorn on a free loopback port."""
    with serving(create_app(served_settings, bot.embedder)) as base:
        yield base
