"""`kqa slack --socket`: the Slack door over Socket Mode, for teams that cannot expose a URL.
Same Bolt app, same Bot (answers, conversations, feedback store) as /slack/events; Slack sends
events over a WebSocket that this process opens, so no signing secret is needed."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler

from api.settings import Settings
from api.slack.events import SlackDoor, build_app
from api.slack.settings import require_tokens
from bot.bot import Bot

log = logging.getLogger("kqa.slack")


def socket_handler(bot: Bot, settings: Settings) -> SocketModeHandler:
    """A Socket Mode connection for the Slack door; `.start()` blocks, `.connect()` does not."""
    options = settings.slack
    require_tokens(options)
    app = build_app(SlackDoor(bot, options), socket_mode=True)
    return SocketModeHandler(app, options.app_token.get_secret_value())  # type: ignore[union-attr]


def run_socket_mode(settings: Settings) -> int:
    """Load the model and index, then answer Slack until interrupted."""
    require_tokens(settings.slack)  # before the slow part
    bot = Bot.open(settings)
    bot.warm()
    handler = socket_handler(bot, settings)
    logging.getLogger("kqa").setLevel(logging.INFO)
    log.info("kqa is answering in Slack over Socket Mode (Ctrl-C to stop)")
    handler.start()
    return 0
