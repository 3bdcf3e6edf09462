"""The HTTP door: one FastAPI app over one Bot, with the widget's files and Slack's events on it.

Routes are in `routes` (schemas in `schemas`), errors become problem+json in `problems` and
nowhere else, access rules are in `access`, request ids, the access log and /metrics in
`observe`, Server-Sent Events in `stream`, the API docs page (/docs) in `docs`, the report page
(/report) in `report`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from api.http import docs, problems, report, routes
from api.http.access import AddressLimit, BodyLimit, Cors, Gate
from api.http.observe import Metrics, Observe, configure_logging, install_log_context
from api.settings import Settings
from api.slack import events as slack
from api.widget.routes import router as widget
from bot.bot import Bot
from bot.database import DatabaseUnavailable, head
from bot.settings_check import InvalidSettings, effective, load
from index.embed import Embedder

log = logging.getLogger("kqa.api")
settings_log = logging.getLogger("kqa.settings")


def create_app(settings: Settings, embedder: Embedder | None = None) -> FastAPI:
    """The app for `settings` (`embedder`: an embedding model already loaded, to share it)."""
    install_log_context()
    settings_log.info("effective settings: %s", json.dumps(effective(settings), ensure_ascii=False))
    for doubt in settings.doubts():
        settings_log.warning("%s", doubt)
    bot = Bot.open(settings, embedder)
    metrics = Metrics(bot.index_info, bot.store_state, bot.cache, lambda: bot.log_dropped)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(prepare_history, bot)
        bot.warm_in_background()  # /healthz answers at once; /readyz once loaded
        yield
        bot.history.close()

    app = FastAPI(title="kqa", version="0.2.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Questions about 《深入剖析Kubernetes》, answered from the column with citations.")
    timeout = settings.limits.answer_timeout_s
    llm_budget = settings.llm.timeout_s if settings.llm.enabled else 0.0
    app.state.bot, app.state.metrics = bot, metrics
    app.state.runner = routes.Runner(bot, timeout, timeout + llm_budget)
    problems.install(app)
    docs.install(app)  # Swagger UI from the package, under a strict CSP
    app.include_router(routes.ops)
    app.include_router(routes.v1, dependencies=[Depends(Gate(settings, metrics.rate_limited.inc))])
    app.include_router(widget)
    report.install(app, bot, settings, metrics.rate_limited.inc)  # GET /report, when enabled
    slack.mount(app, bot, settings.slack, [Depends(AddressLimit(settings.limits, metrics.rate_limited.inc))])
    # Outermost last: Observe (request id, log, metrics, crash → 500) › CORS › body limit › routes.
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(Cors, origins=settings.access.cors_origins)
    app.add_middleware(Observe, metrics=metrics)
    return app


def prepare_history(bot: Bot) -> None:
    """Bring the history's schema up to date before serving. A schema newer than this code stops
    the start (SchemaTooNew); a database that is away does not: answers go on without it, and
    the schema is seen to on first use."""
    try:
        if bot.history.prepare():
            log.info("history schema brought up to date (%s)", head())
    except DatabaseUnavailable as exc:
        log.warning("starting without the conversation and feedback database: %s", exc)
    except BaseException:
        bot.history.close()  # not starting: let its connections go
        raise


def app_from_env() -> FastAPI:
    """For `uvicorn --factory api.http.app:app_from_env` (each of several workers): settings from
    the environment, JSON logs like `kqa serve`."""
    configure_logging()
    try:
        settings = load(Settings)
    except InvalidSettings as exc:
        settings_log.error("%s", exc)
        sys.exit(2)
    return create_app(settings)
