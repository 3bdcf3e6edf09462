"""The Slack door's options (`KQA_SLACK__*`), and the error for Socket Mode without its tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from bot.errors import KqaError


class SlackOptions(BaseModel):
    """Without a bot token and a signing secret the door is off."""

    bot_token: SecretStr | None = Field(None, description="Bot token (`xoxb-…`), OAuth & Permissions page.")
    signing_secret: SecretStr | None = Field(
        None, description="Signing secret (Basic Information page); every request's signature is checked with it.")
    app_token: SecretStr | None = Field(
        None, description="App-level token (`xapp-…`, scope connections:write), only for `kqa slack --socket`.")
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (a stand-in for tests).")
    response_url_prefix: str = Field(
        "https://hooks.slack.com/", pattern=r"^https?://[^/?#@\\\s]+/(?:[^?#\s]*/)?$",
        description="Replies go to a request's response_url only under this prefix (scheme, host and a path "
        "ending in `/`); any other is dropped with a warning. Change it only for a stand-in in tests.")
    command: str = Field("/kqa", pattern=r"^/[a-z0-9_-]{1,31}$", description="The slash command kqa answers.")
    command_ephemeral: bool = Field(
        True, description="Slash command answers are shown only to the caller, with a button to share them; "
        "false: posted in the channel.")
    thread_followups: bool = Field(
        True, description="In a channel thread kqa has answered in, answer later messages without a mention.")

    @property
    def enabled(self) -> bool:
        return all(s is not None and s.get_secret_value().strip() for s in (self.bot_token, self.signing_secret))


class SlackNotConfigured(KqaError):
    title = "Slack is not configured"
    status = 503


def require_tokens(options: SlackOptions) -> None:
    """SlackNotConfigured naming the variables Socket Mode still needs."""
    missing = [name for name, value in (("KQA_SLACK__BOT_TOKEN", options.bot_token),
                                        ("KQA_SLACK__APP_TOKEN", options.app_token))
               if value is None or not value.get_secret_value().strip()]
    if missing:
        raise SlackNotConfigured(f"set {' and '.join(missing)} for Socket Mode (see docs/slack.md)")
