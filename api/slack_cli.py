"""`kqa slack --socket`: the Slack door over Socket Mode, for teams that cannot expose a URL.
Same Bolt app, same Assistant (answers, conversations, feedback store) as /slack/events;
Slack sends events over a WebSocket that this process opens, so no signing secret is needed."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler

from api.slack import SlackDoor, build_app
from bot.assistant import Assistant
from bot.errors import KqaError
from bot.settings import Settings, SlackOptions

log = logging.getLogger("kqa.slack")


class SlackNotConfigured(KqaError):
    title = "Slack is not configured"
    status = 503


def require_tokens(options: SlackOptions) -> None:
    missing = [name for name, value in (("KQA_SLACK__BOT_TOKEN", options.bot_token),
                                        ("KQA_SLACK__APP_TOKEN", options.app_token))
               if value is None or not value.get_secret_value().strip()]
    if missing:
        raise SlackNotConfigured(f"set {' and '.join(missing)} for Socket Mode (see README, Slack)")


def socket_handler(assistant: Assistant, settings: Settings) -> SocketModeHandler:
    """A Socket Mode connection for the Slack door; `.start()` blocks, `.connect()` does not."""
    options = settings.slack
    require_tokens(options)
    app = build_app(SlackDoor(assistant, options), socket_mode=True)
    return SocketModeHandler(app, options.app_token.get_secret_value())  # type: ignore[union-attr]


def run_socket_mode(settings: Settings) -> int:
    """Load the model and index, then answer Slack until interrupted."""
    require_tokens(settings.slack)  # before the slow part
    assistant = Assistant.open(settings)
    assistant.bot.warm()
    handler = socket_handler(assistant, settings)
    logging.getLogger("kqa").setLevel(logging.INFO)
    log.info("kqa is answering in Slack over Socket Mode (Ctrl-C to stop)")
    handler.start()
    return 0
