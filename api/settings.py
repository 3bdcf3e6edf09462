"""The doors' settings: the bot's (bot.settings) plus the server, who may call it and how often,
and Slack. One object, built once by the entry point (`kqa`, `create_app`) and passed down."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from api.slack.settings import SlackOptions
from bot.settings import RENAMED
from bot.settings import Settings as BotSettings


def comma_list(value: Any) -> Any:
    """`a,b` or a JSON list from the environment; a list as is."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("not a JSON list; accepted: a,b or a JSON list of strings") from None
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Scope = Literal["full", "widget"]
SCOPED = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
KEY_FORMAT = "KEY (full access) or widget:KEY, comma-separated"


class ApiKey(BaseModel):
    """An API key and what it opens: `full` (every /v1 route) or `widget` (the widget's routes,
    from an allowed origin, limited per reader address). Written `widget:KEY`; a bare KEY is full."""

    model_config = ConfigDict(frozen=True)
    scope: Scope = "full"
    secret: SecretStr

    @classmethod
    def parse(cls, text: str, n: int) -> ApiKey:
        """`KEY`, `full:KEY` or `widget:KEY`; anything that looks like a list gone wrong is refused."""
        scope, key = "full", text
        if m := SCOPED.fullmatch(text):
            if m[1] not in ("full", "widget"):
                raise ValueError(f"key {n} has the unknown scope {m[1][:20]!r}; accepted: {KEY_FORMAT} "
                                 "(a key that itself starts with letters and ':' is written full:KEY)")
            scope, key = m[1], m[2]
        if not key.strip():
            raise ValueError(f"key {n} is empty; accepted: {KEY_FORMAT}")
        if re.search(r"[\s\"';]", key):  # `"k1,k2"` kept quoted by an env-file loader, `k1;k2`, `k1 k2`
            raise ValueError(f"key {n} contains a space, a quote or ';'; accepted: {KEY_FORMAT}, no quotes")
        return cls(scope=scope, secret=SecretStr(key))

    def __str__(self) -> str:
        return f"{self.scope}:**********"


def key_list(value: Any) -> Any:
    """The keys from `KEY,widget:KEY` (or a JSON list); set but empty is an error, never "no keys"."""
    items = comma_list(value)
    if isinstance(value, str) and not items:
        raise ValueError(f"set but holds no keys; accepted: {KEY_FORMAT} (unset it for an API without keys)")
    if not isinstance(items, list):
        return items
    keys = [ApiKey.parse(item.get_secret_value() if isinstance(item, SecretStr) else item, n)
            if isinstance(item, str | SecretStr) else item for n, item in enumerate(items, 1)]
    secrets = [k.secret.get_secret_value() for k in keys if isinstance(k, ApiKey)]
    if len(set(secrets)) < len(secrets):  # which scope would it have?
        raise ValueError(f"the same key is given twice; accepted: {KEY_FORMAT}, each key once")
    return keys


ORIGIN_FORMAT = "scheme://host[:port] (http or https; no path, no trailing slash), comma-separated, or *"
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_list(value: Any) -> Any:
    """Origins as a browser sends them (`https://docs.example.org`, lower case, no default port);
    anything else would never match, so the reader would see a network error: refused here."""
    items = comma_list(value)
    if not isinstance(items, list):
        return items
    return [item if item == "*" else _origin(item) for item in items]


def _origin(item: Any) -> Any:
    if not isinstance(item, str):
        return item
    try:
        parts = urlsplit(item)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None
            or parts.path or parts.query or parts.fragment or item.endswith(("?", "#"))):
        raise ValueError(f"{item[:80]!r} is not an origin; accepted: {ORIGIN_FORMAT}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    keep_port = port is not None and port != DEFAULT_PORTS[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if keep_port else "")


class ServerOptions(BaseModel):
    host: str = Field("127.0.0.1", description="Address `kqa serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `kqa serve` listens on.")


class AccessOptions(BaseModel):
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(
        [], description="API keys (comma-separated); when set, /v1/* needs one as `Authorization: Bearer KEY` "
        "or `X-API-Key: KEY`. `widget:KEY` is a key for a public page: only /v1/ask, /v1/chat and "
        "/v1/feedback, only from an allowed origin, rate-limited per reader address.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [], description="Origins allowed to call the API from a browser (`https://a.example,https://b.example`, "
        "each scheme://host[:port]; `*` for any). The widget's files are open to every origin.")
    forwarded_allow_ips: str | None = Field(
        None, description="Proxies whose X-Forwarded-For is trusted for the client address (uvicorn's "
        "--forwarded-allow-ips); the per-address rate limit then counts the real client.")

    _keys = field_validator("api_keys", mode="before")(key_list)
    _origins = field_validator("cors_origins", mode="before")(origin_list)

    @model_validator(mode="after")
    def _widget_keys_need_origins(self) -> AccessOptions:
        if any(k.scope == "widget" for k in self.api_keys) and not self.cors_origins:
            raise ValueError("KQA_ACCESS__CORS_ORIGINS is not set, and the widget keys in KQA_ACCESS__API_KEYS "
                             f"are accepted only from the sites listed there; accepted: {ORIGIN_FORMAT}")
        return self


class LimitOptions(BaseModel):
    rate_per_minute: float = Field(120, ge=0, description="Requests to /v1/* per minute per full API key, or "
                                   "per client address with a widget key or without keys (0: no limit).")
    burst: int = Field(30, ge=1, description="Requests allowed at once before the per-minute rate applies.")
    max_body_bytes: int = Field(65536, ge=1024, description="Larger request bodies get 413.")
    answer_timeout_s: float = Field(15.0, gt=0, description="An answer not ready in this time gets 503.")


class ReportOptions(BaseModel):
    enabled: bool = Field(False, description="Serve GET /report, the question report as a web page. With API "
                          "keys set it needs one (a browser asks for it: any user name, the key as password); "
                          "without keys anyone who can reach the service can read it.")
    days: int = Field(30, ge=1, le=3660, description="The period /report shows when the URL names none (?days=N).")


class Settings(BotSettings):
    renamed: ClassVar[dict[str, tuple[str, ...]]] = {**RENAMED, "KQA_API_KEYS": ("access", "api_keys")}

    server: ServerOptions = ServerOptions()
    access: AccessOptions = AccessOptions()
    limits: LimitOptions = LimitOptions()
    slack: SlackOptions = SlackOptions()
    report: ReportOptions = ReportOptions()

    def doubts(self) -> list[str]:
        """Settings that are valid but probably not meant: logged at start, problems for `kqa config`."""
        out = []
        if "*" in self.access.cors_origins and any(k.scope == "widget" for k in self.access.api_keys):
            out.append("KQA_ACCESS__CORS_ORIGINS=* with widget keys: any site may use them; list the embedding sites")
        return out
