"""Who may call the API, how often, and with how much: optional API keys, a per-key (or
per-address) rate limit, a request body limit, and CORS.

- Keys (`KQA_ACCESS__API_KEYS`) come as `Authorization: Bearer KEY` or `X-API-Key: KEY` and are compared
  in constant time against every configured key. Only /v1/* needs one: health, readiness,
  metrics, the docs and the widget's files stay open.
- A `full` key opens every /v1 route. A `widget` key is in a public page, so anyone has it: it
  opens only the widget's routes (`WIDGET_ROUTES`), only with an allowed `Origin`, and is
  rate-limited per reader address, so a copy of it is no skeleton key and nobody's loop is
  everybody's 429.
- The rate limit is a token bucket per full key (per client address with a widget key, a wrong
  key, or when no keys are set): `burst` requests at once, refilled at `rate_per_minute`. Over
  it: 429 with `Retry-After`. Buckets
  live in the process: N worker processes allow up to N times the rate. Slack's events route
  has the same limit per client address (`AddressLimit`), before its signature is checked.
- Bodies over `max_body_bytes` get 413 before the app reads them (declared or streamed).
- CORS: the API answers browsers from the configured origins; the widget's files (`/`,
  `/widget.js`, `/static/*`) from any.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable
from types import MappingProxyType

from fastapi import Request
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import problems
from api.settings import LimitOptions, Settings
from bot.errors import KqaError

log = logging.getLogger("kqa.access")
PUBLIC_FILES = ("/", "/widget.js")
WIDGET_ROUTES = frozenset({"/v1/ask", "/v1/chat", "/v1/feedback"})
PUBLIC_PREFIX = "/static/"
MAX_BUCKETS = 100_000


class AccessDenied(KqaError):
    title = "API key missing or not valid"
    status = 401
    headers = MappingProxyType({"WWW-Authenticate": 'Bearer realm="kqa"'})


class Forbidden(KqaError):
    title = "not allowed with this key"
    status = 403


class RateLimited(KqaError):
    title = "too many requests"
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class BodyTooLarge(KqaError):
    title = "request body too large"
    status = 413


def is_public_file(path: str) -> bool:
    return path in PUBLIC_FILES or path.startswith(PUBLIC_PREFIX)


class RateLimit:
    """Token buckets by client identity."""

    def __init__(self, options: LimitOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = options.rate_per_minute / 60.0
        self.burst = float(options.burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 when allowed, else the seconds until the next request would be."""
        if not self.rate:
            return 0.0
        now = self.clock()
        with self._lock:
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_full(now)
            tokens, then = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (the same as no bucket); if that is not enough, the
        least recently seen half, so memory stays bounded whatever the number of clients."""
        full = [k for k, (t, then) in self._buckets.items() if t + (now - then) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > MAX_BUCKETS // 2:
            recent = sorted(self._buckets.items(), key=lambda kv: kv[1][1])[-(MAX_BUCKETS // 2):]
            self._buckets = dict(recent)


class Gate:
    """The dependency every /v1 route has: the key check, the rate limit, then what the key's
    scope allows. A wrong or missing key counts against the client's address, so guessing keys
    is rate-limited too."""

    def __init__(self, settings: Settings, on_limited: Callable[[], None] = lambda: None) -> None:
        self.keys = [(k.secret.get_secret_value().encode(), k.scope) for k in settings.access.api_keys]
        self.origins = frozenset(settings.access.cors_origins)
        self.limit = RateLimit(settings.limits)
        self.on_limited = on_limited

    async def __call__(self, request: Request) -> None:
        addr = client_address(request)
        sent = _sent_key(request) if self.keys else b""
        scope = self._scope(sent) if self.keys else "full"
        if scope is None:
            self._throttle(addr)
            raise AccessDenied("send an API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
        # A widget key is shared by every reader of a page: the reader's address is the client
        # (its bucket, its vote), never the key.
        who = "key:" + hashlib.sha256(sent).hexdigest()[:12] if sent and scope == "full" else addr
        request.state.client = who
        self._throttle(who)
        if scope == "widget":
            self._widget_only(request)

    def _scope(self, sent: bytes) -> str | None:
        """The scope of the key sent, or None. Compared with every key whatever the outcome, so
        timing tells nothing about which matched."""
        found = None
        for key, scope in self.keys:
            if hmac.compare_digest(sent, key):
                found = scope
        return found if sent else None

    def _widget_only(self, request: Request) -> None:
        route = getattr(request.scope.get("route"), "path", "")
        if route not in WIDGET_ROUTES:
            raise Forbidden(f"a widget key may call {', '.join(sorted(WIDGET_ROUTES))} only")
        origin = request.headers.get("origin", "")
        if not origin or ("*" not in self.origins and origin not in self.origins):
            raise Forbidden("a widget key is accepted only from the pages of the sites allowed to embed the widget")

    def _throttle(self, who: str) -> None:
        throttle(self.limit, who, self.on_limited)


class AddressLimit:
    """The rate limit alone, per client address: the dependency of a route whose callers carry
    no API key (Slack's events), so what is sent there is bounded like what is sent to /v1/*."""

    def __init__(self, limits: LimitOptions, on_limited: Callable[[], None] = lambda: None) -> None:
        self.limit = RateLimit(limits)
        self.on_limited = on_limited

    async def __call__(self, request: Request) -> None:
        request.state.client = who = client_address(request)
        throttle(self.limit, who, self.on_limited)


def client_address(request: Request) -> str:
    """The client's identity by address (behind a trusted proxy, the forwarded one)."""
    return "addr:" + (request.client.host if request.client else "unknown")


def throttle(limit: RateLimit, who: str, on_limited: Callable[[], None]) -> None:
    """RateLimited (429, with Retry-After) when `who` is over the limit."""
    wait = limit.take(who)
    if wait:
        on_limited()
        raise RateLimited(f"slow down: try again in {math.ceil(wait)} s", retry_after=math.ceil(wait))


def _sent_key(request: Request) -> bytes:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip().encode()
    return request.headers.get("x-api-key", "").strip().encode()


class BodyLimit:
    """413 for bodies over the limit, whether declared in Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: disconnect notices for streaming responses
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        exc = BodyTooLarge(f"the request body is over the limit of {self.max_bytes} bytes")
        await problems.send_problem(send, exc, [(b"connection", b"close")])


class Cors:
    """CORS for the API from the allowed origins; the widget's public files for any origin. A
    refused preflight is a warning naming the origin: the reader behind it only sees a network
    error, so the log is where a mistyped or missing origin shows."""

    HEADERS = ("Accept", "Authorization", "Content-Type", "Last-Event-ID", "X-API-Key", "X-KQA-Door", "X-Request-ID")
    EXPOSE = ("Retry-After", "X-Request-ID")

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.api = CORSMiddleware(app, allow_origins=origins, allow_methods=["GET", "POST"],
                                  allow_headers=self.HEADERS, expose_headers=self.EXPOSE, max_age=600)
        self.files = CORSMiddleware(app, allow_origins=["*"], allow_methods=["GET", "HEAD"],
                                    expose_headers=self.EXPOSE, max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_public_file(scope["path"]):
            await self.files(scope, receive, send)
        elif scope["type"] == "http" and scope["method"] == "OPTIONS":
            await self.api(scope, receive, self._warn_if_refused(scope, send))
        else:
            await self.api(scope, receive, send)

    def _warn_if_refused(self, scope: Scope, send: Send) -> Send:
        """Starlette answers a refused preflight 400 with its reason as the body."""
        refused = False

        async def watch(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                refused = message["status"] == 400
            elif refused and message["type"] == "http.response.body":
                headers = Headers(scope=scope)
                origin = headers.get("origin", "")[:200]
                log.warning("CORS preflight from origin %r to %s refused (%s); allowed origins "
                            "(KQA_ACCESS__CORS_ORIGINS): %s", origin, scope["path"],
                            message.get("body", b"").decode("utf-8", "replace")[:200],
                            ",".join(self.api.allow_origins) or "none")
            await send(message)

        return watch
