"""The doors' settings: the bot's (bot.settings) plus the server, who may call it and how often,
and Slack. One object, built once by the entry point (`kqa`, `create_app`) and passed down."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from api.slack.settings import SlackOptions
from bot.settings import RENAMED
from bot.settings import Settings as BotSettings


def comma_list(value: Any) -> Any:
    """`a,b` or a JSON list from the environment; a list as is."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServerOptions(BaseModel):
    host: str = Field("127.0.0.1", description="Address `kqa serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `kqa serve` listens on.")


class AccessOptions(BaseModel):
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        [], description="API keys (comma-separated); when set, /v1/* needs one as `Authorization: Bearer KEY` "
        "or `X-API-Key: KEY`.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [], description="Origins allowed to call the API from a browser (`https://a.example,https://b.example`; "
        "`*` for any). The widget's files are open to every origin.")
    forwarded_allow_ips: str | None = Field(
        None, description="Proxies whose X-Forwarded-For is trusted for the client address (uvicorn's "
        "--forwarded-allow-ips); the per-address rate limit then counts the real client.")

    _split = field_validator("api_keys", "cors_origins", mode="before")(comma_list)


class LimitOptions(BaseModel):
    rate_per_minute: float = Field(120, ge=0, description="Requests to /v1/* per minute per API key, or per "
                                                          "client address without keys (0: no limit).")
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
