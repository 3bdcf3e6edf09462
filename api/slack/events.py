"""The Slack door: a Bolt app over the same Bot as HTTP (same answers, conversations and
feedback store), mounted at POST /slack/events or run over Socket Mode (`kqa slack --socket`).

- A mention in a channel, or a message in a DM, gets a threaded reply: "looking…" at once,
  then the answer in its place (chat.update). The thread is the conversation: its id is
  `slack:<channel>:<thread ts>`, so a later message in the thread is read as a follow-up.
  In a channel thread kqa has answered in, later messages need no mention (`thread_followups`).
- The slash command (`/kqa QUESTION`) answers only the caller, with a share button
  (`command_ephemeral`), or in the channel.
- Answer buttons: show passages (a modal), 👍 / 👎 (feedback, as POST /v1/feedback), share.
- Nothing is done for a request before its signature is checked. The route is rate-limited per
  client address like /v1/*; then a missing or malformed timestamp or signature, a wrong one, or
  one older than 5 minutes is a plain 401 (problem+json) with one log line, before Bolt sees the
  request (`check_signature`). Bolt checks again (its RequestVerification), and only after that
  does `screen` mark the request as Slack's: nothing is ever sent for a request not so marked.
- A reply goes to a request's `response_url` only when that URL is under
  `response_url_prefix` (Slack's https://hooks.slack.com/): any other is dropped with a warning,
  so no request, signed or not, can make kqa POST to an address of its choosing.
- Slack's retries of an event already seen, and retries after a timeout, are acknowledged and
  dropped, as are repeated deliveries of one click or command (same trigger); the bot's own
  messages (Bolt) and other bots' are ignored. Bolt acknowledges events before the listener
  runs; commands and buttons call ack() first, and the work happens after, in Bolt's worker
  threads.
- 👍 / 👎 are one vote per answer per Slack user (`slack:<user id>`): a second click replaces it.
- A thread's conversation is Slack's: the HTTP API cannot read or extend it, nor Slack an HTTP one.
- One error handler, `on_error`, registered with `@app.error` (commands and buttons route
  failures after their ack() to it directly: see `after_ack`): the reader gets a short message
  in place of the answer, the log gets the detail.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.params import Depends
from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from api.slack import blocks
from api.slack.settings import SlackOptions
from bot.answer import Answer
from bot.bot import AnswerCache, Bot, Reply
from bot.database import DatabaseUnavailable
from bot.errors import KqaError
from bot.terms import is_chinese

log = logging.getLogger("kqa.slack")
EVENTS_PATH = "/slack/events"
SEEN_S = 3600.0  # Slack retries within minutes; an hour is ample
SEEN_MAX = 10_000
RECENT_ANSWERS = 512

TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() also takes " 1", "+1", "1_0" and "١"
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
VERIFIED = "kqa_verified"  # set in a request's Bolt context once Bolt has checked its signature

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SLACK_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>|<([^<>]+)>")

LOOKING = ("正在专栏里查找…", "Looking in the column…")
USAGE = ("问我一个关于专栏《深入剖析Kubernetes》的问题，例如：`{cmd} 为什么容器里只能跑一个进程？`",
         "Ask me about the column 《深入剖析Kubernetes》, for example: `{cmd} why can't I ping a Service?`")
THANKS = ("谢谢反馈！", "Thanks for the feedback!")
SORRY = ("抱歉，这次没能回答，问题已记录。请稍后再试。", "Sorry, something went wrong on our side; it has been logged. "
         "Please try again in a moment.")
GONE = ("这个回答已经不在手边了，请重新提问。", "That answer is no longer at hand; please ask again.")
ALONE = ("对话记录暂时不可用：这次只按这条消息本身回答，没有结合本帖之前的对话。",
         "The conversation store is unavailable: this answer reads your message on its own, without the thread's "
         "earlier messages.")


def say(pair: tuple[str, str], like: str = "") -> str:
    """The Chinese or English line, in the language of `like` (the question)."""
    return pair[0] if is_chinese(like) else pair[1]


def plain(text: str) -> str:
    """A Slack message as the question it asks: mentions dropped, links to their labels,
    Slack's escapes undone."""
    text = MENTION.sub(" ", text or "")
    text = SLACK_LINK.sub(lambda m: m.group(2) or (m.group(3) or "").lstrip("#!@"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def conversation_id(channel: str, thread_ts: str) -> str:
    return f"slack:{channel}:{thread_ts}"


class SignatureRefused(KqaError):
    title = "Slack request signature missing or not valid"
    status = 401
    headers = MappingProxyType({"WWW-Authenticate": 'Slack-Signature realm="kqa"'})


def check_signature(verifier: SignatureVerifier, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why the request is not Slack's, or None when its signature holds. The shapes are checked
    before slack_sdk parses them: its int(timestamp) raises on anything else, inside Bolt."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not TIMESTAMP.fullmatch(timestamp):
        return "timestamp missing or malformed"
    if not SIGNATURE.fullmatch(signature):
        return "signature missing or malformed"
    if not verifier.is_valid(body, timestamp, signature):
        return "signature wrong, or older than 5 minutes"
    return None


class Seen:
    """Keys met in the last `ttl` seconds (bounded), to drop what Slack delivers twice."""

    def __init__(self, ttl: float = SEEN_S, size: int = SEEN_MAX, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.size, self.clock = ttl, size, clock
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        """True the first time `key` is met (within the window), False after."""
        now = self.clock()
        with self._lock:
            while self._keys and (len(self._keys) >= self.size or next(iter(self._keys.values())) < now - self.ttl):
                self._keys.popitem(last=False)
            if key in self._keys:
                return False
            self._keys[key] = now
            return True


class SlackDoor:
    """What the listeners do; Bolt only routes to it."""

    def __init__(self, bot: Bot, options: SlackOptions) -> None:
        self.bot, self.options = bot, options
        self.seen = Seen()
        self.recent = AnswerCache(RECENT_ANSWERS)

    # events

    def on_event(self, event: dict, request: BoltRequest, context: BoltContext, client: WebClient) -> None:
        if not self._wanted(event, context):
            log.debug("ignored %s/%s event %s:%s", event.get("type"), event.get("subtype"), event.get("channel"),
                      event.get("ts"))
            return
        if not self._first_delivery(event, request):
            return
        question = plain(event.get("text", ""))
        channel, thread = event["channel"], event.get("thread_ts") or event["ts"]
        if not question:
            text = "\n".join(USAGE).format(cmd=self.options.command)
            client.chat_postMessage(channel=channel, thread_ts=thread, text=text)
            return
        looking = blocks.notice(say(LOOKING, question))
        placeholder = client.chat_postMessage(channel=channel, thread_ts=thread, text=looking.text,
                                              blocks=looking.blocks)
        context["kqa_reply_to"] = (channel, placeholder["ts"], question)
        self.bot.ready()
        alone = False
        try:
            reply = self.bot.chat(question, conversation_id(channel, thread), door="slack", start=True)
        except DatabaseUnavailable:
            # The thread's memory is in the database; the answer is not: the reader gets it, and is told.
            log.warning("conversation store unavailable: a Slack message answered without its thread")
            reply, alone = self.bot.ask(question, door="slack"), True
        first, *rest = blocks.answer_messages(self._remember(reply))
        client.chat_update(channel=channel, ts=placeholder["ts"], text=first.text, blocks=first.blocks)
        for more in rest:
            client.chat_postMessage(channel=channel, thread_ts=thread, text=more.text, blocks=more.blocks)
        if alone:
            note = blocks.notice(say(ALONE, question))
            client.chat_postMessage(channel=channel, thread_ts=thread, text=note.text, blocks=note.blocks)

    def _wanted(self, event: dict, context: BoltContext) -> bool:
        """A person's new message kqa should answer: a mention, a DM, or a follow-up in a
        channel thread kqa answers in. Not bots, not edits, deletions or joins."""
        if event.get("bot_id") or event.get("subtype") not in (None, "thread_broadcast", "file_share"):
            return False
        if not event.get("user") or not event.get("channel") or not event.get("ts"):
            return False
        if event.get("type") == "app_mention" or event.get("channel_type") == "im":
            return True
        thread = event.get("thread_ts")
        if not (self.options.thread_followups and thread and thread != event["ts"]):
            return False
        if context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", ""):
            return False  # the app_mention event answers it
        return self.bot.has_conversation(conversation_id(event["channel"], thread), "slack")

    def _first_delivery(self, event: dict, request: BoltRequest) -> bool:
        """One answer per message: a message arrives once as app_mention and maybe again as
        message.channels, and Slack retries when it thinks we did not answer in 3 s. A retry
        after a timeout means the first delivery reached some worker: drop it too."""
        first = self.seen.first(f"{event['channel']}:{event['ts']}")
        retry = request.headers.get("x-slack-retry-num")
        if retry:
            reason = (request.headers.get("x-slack-retry-reason") or [""])[0]
            log.info("Slack retry %s (%s) of %s:%s: %s", retry[0], reason, event["channel"], event["ts"],
                     "answering" if first and reason != "http_timeout" else "dropped")
            return first and reason != "http_timeout"
        if not first:
            log.debug("already answering %s:%s", event["channel"], event["ts"])
        return first

    # the slash command

    def on_command(self, ack: Callable, command: dict, respond: Callable, context: BoltContext, body: dict,
                   client: WebClient) -> None:
        if not self._first_trigger(command.get("trigger_id"), "command"):
            ack()
            return
        question = plain(command.get("text", ""))
        if not question or question.lower() in ("help", "帮助"):
            ack(text="\n".join(USAGE).format(cmd=self.options.command))
            return
        private = self.options.command_ephemeral
        if private:
            ack(text=blocks.escape(say(LOOKING, question)))
        else:
            ack(response_type="in_channel")
        context["kqa_reply_to"] = (None, None, question)
        context["kqa_replace"] = private  # an error message takes the place of "looking…"
        with self.after_ack(body, context, client, respond):
            self.bot.ready()
            reply = self.bot.ask(question, door="slack")
            for i, msg in enumerate(blocks.answer_messages(self._remember(reply), share=private)):
                respond(text=msg.text, blocks=msg.blocks, response_type="ephemeral" if private else "in_channel",
                        replace_original=private and i == 0)

    # buttons

    def on_upvote(self, ack: Callable, action: dict, body: dict, context: BoltContext, client: WebClient,
                  respond: Callable) -> None:
        self._click(ack, action, body, context, client, respond,
                    lambda: self._feedback(action.get("value", ""), "up", _user(body), respond))

    def on_downvote(self, ack: Callable, action: dict, body: dict, context: BoltContext, client: WebClient,
                    respond: Callable) -> None:
        self._click(ack, action, body, context, client, respond,
                    lambda: self._feedback(action.get("value", ""), "down", _user(body), respond))

    def _feedback(self, answer_id: str, rating: str, user: str, respond: Callable) -> None:
        self.bot.feedback(answer_id, rating, voter=f"slack:{user or 'unknown'}")
        respond(text=say(THANKS, self._question(answer_id)), response_type="ephemeral", replace_original=False)

    def on_passages(self, ack: Callable, action: dict, body: dict, context: BoltContext, client: WebClient,
                    respond: Callable) -> None:
        self._click(ack, action, body, context, client, respond, lambda: self._passages(action, body, client))

    def _passages(self, action: dict, body: dict, client: WebClient) -> None:
        found = self._recall(action.get("value", ""))
        view = blocks.passages_view(found) if found else blocks.modal("Passages", blocks.notice(say(GONE)).blocks)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def on_share(self, ack: Callable, action: dict, body: dict, context: BoltContext, client: WebClient,
                 respond: Callable) -> None:
        self._click(ack, action, body, context, client, respond,
                    lambda: self._share(action.get("value", ""), _user(body), respond))

    def _click(self, ack: Callable, action: dict, body: dict, context: BoltContext, client: WebClient,
               respond: Callable, work: Callable[[], None]) -> None:
        """A button's `work`: acknowledged at once, done once per click (a retried or replayed
        delivery carries the same trigger and action time), failures to `on_error`."""
        ack()
        if self._first_trigger(f"{body.get('trigger_id')}:{action.get('action_ts')}", "click"):
            with self.after_ack(body, context, client, respond):
                work()

    def _first_trigger(self, trigger: str | None, what: str) -> bool:
        if not trigger or self.seen.first(f"{what}:{trigger}"):
            return True
        log.info("Slack %s %s delivered again: dropped", what, trigger)
        return False

    def _share(self, value: str, user: str, respond: Callable) -> None:
        """Post the answer in the channel, saying who asked, and remove the private copy."""
        answer_id, _ = blocks.parse_reference(value)
        found = self._recall(value)
        if found is None:
            respond(text=say(GONE), response_type="ephemeral", replace_original=False)
            return
        who = f"<@{user}>: " if re.fullmatch(r"[A-Z0-9]+", user) else ""
        asked = {"type": "context", "elements": [{"type": "mrkdwn", "text": blocks.clip_lines(
            who + blocks.escape(found.question), blocks.SECTION_CHARS)}]}
        for i, msg in enumerate(blocks.answer_messages(Reply(answer_id, found))):
            respond(text=msg.text, blocks=[asked, *msg.blocks] if i == 0 else msg.blocks,
                    response_type="in_channel", replace_original=False)
        respond(delete_original=True)

    # errors

    @contextmanager
    def after_ack(self, body: dict, context: BoltContext, client: WebClient, respond: Callable) -> Iterator[None]:
        """Work after ack() in a command or button: a failure goes to `on_error` here, because
        Bolt, when such a listener raises after its ack, drops the ack and answers Slack 500
        after 3 s."""
        try:
            yield
        except Exception as exc:
            self.on_error(exc, body, context, client, respond)

    def on_error(self, error: Exception, body: dict, context: BoltContext, client: WebClient | None,
                 respond: Callable | None) -> BoltResponse | None:
        """Log the detail; tell the reader in a sentence, where the answer would have been. For a
        request Bolt has not verified (the route checks first, so this is a second line), nothing
        is sent anywhere: one log line, and 401."""
        if not context.get(VERIFIED):
            log.warning("Slack request refused before its signature was checked: %s", type(error).__name__)
            return BoltResponse(status=401, body="")
        channel, placeholder, question = context.get("kqa_reply_to") or (None, None, "")
        if isinstance(error, KqaError):
            log.warning("Slack request not answered: %s", error)
            text = str(error) or error.title
        else:
            log.error("Slack request failed (%s)", _what(body), exc_info=error)
            text = say(SORRY, question)
        msg = blocks.notice(text)
        try:
            if channel and placeholder and client is not None:
                client.chat_update(channel=channel, ts=placeholder, text=msg.text, blocks=msg.blocks)
            elif respond is not None and context.response_url:
                respond(text=msg.text, response_type="ephemeral", replace_original=bool(context.get("kqa_replace")))
        except Exception as exc:  # Slack itself is failing: the log is all we have
            log.error("could not tell the Slack user about the failure: %s", exc)
        return None

    # after Bolt's signature check

    def screen(self, context: BoltContext, body: dict, next: Callable[[], Any]) -> Any:
        """Bolt's first middleware after its signature check (`before_authorize`): the request is
        Slack's from here on. A response_url off Slack's hooks is dropped, and replies to it with
        it: `respond` becomes a stand-in that only logs."""
        context[VERIFIED] = True
        url = context.response_url
        if url and not self._slack_hook(url):
            log.warning("Slack request with a response_url outside %s: dropped (%s)",
                        self.options.response_url_prefix, _what(body))
            context["response_url"] = None
            context["respond"] = _not_sent
        return next()

    def _slack_hook(self, url: str) -> bool:
        # The prefix ends in "/", so the host cannot be extended (hooks.slack.com.example.org).
        return url.startswith(self.options.response_url_prefix) and url.isprintable() and " " not in url

    # answers at hand

    def _remember(self, reply: Reply) -> Reply:
        self.recent.put(reply.answer_id, reply.answer)
        return reply

    def _recall(self, value: str) -> Answer | None:
        """The answer a button refers to: from memory, or answered again from the text asked
        (same index, same passages), or None."""
        answer_id, asked = blocks.parse_reference(value)
        found = self.recent.get(answer_id) if answer_id else None
        if found is None and asked:
            try:
                found = self.bot.answer(asked)
            except KqaError as exc:
                log.info("could not answer %r again: %s", asked, exc)
        return found

    def _question(self, answer_id: str) -> str:
        found = self.recent.get(answer_id)
        return found.question if found else ""


def build_app(door: SlackDoor, socket_mode: bool = False, *, wait: bool = False) -> App:
    """The Bolt app, its listeners routed to `door`. auth.test is called on the first
    request rather than at start-up, so the service starts while Slack is unreachable.
    `wait`: dispatch returns after the listener has run (`kqa slack try`), not at its ack."""
    options = door.options
    token = options.bot_token.get_secret_value() if options.bot_token else None
    secret = options.signing_secret.get_secret_value() if options.signing_secret else None
    app = App(signing_secret=secret, client=WebClient(token=token, base_url=options.api_url.rstrip("/") + "/"),
              token_verification_enabled=False, request_verification_enabled=not socket_mode,
              before_authorize=door.screen, process_before_response=wait,
              logger=logging.getLogger("kqa.slack.bolt"))
    app.event("app_mention")(door.on_event)
    app.event("message")(door.on_event)
    app.command(options.command)(door.on_command)
    app.action(blocks.UP)(door.on_upvote)
    app.action(blocks.DOWN)(door.on_downvote)
    app.action(blocks.PASSAGES)(door.on_passages)
    app.action(blocks.SHARE)(door.on_share)
    app.error(door.on_error)
    return app


class EventsHandler(SlackRequestHandler):
    """Bolt's FastAPI adapter, with the signature checked before Bolt sees the request, and
    Bolt's dispatch (its own check, ack, and up to 3 s of waiting for a listener's ack) in a
    worker thread rather than on the event loop."""

    def __init__(self, app: App, signing_secret: str) -> None:
        super().__init__(app)
        self.verifier = SignatureVerifier(signing_secret)

    async def handle(self, req: Request, addition_context_properties: dict[str, Any] | None = None) -> Response:
        body = await req.body()
        refused = check_signature(self.verifier, req.headers, body)
        if refused:
            addr = req.client.host if req.client else "unknown"
            log.warning("Slack request from %s refused: %s", addr, refused)
            raise SignatureRefused(f"not a signed request from Slack: {refused}")
        bolt_resp = await run_in_threadpool(self.app.dispatch, to_bolt_request(req, body, addition_context_properties))
        return to_starlette_response(bolt_resp)


def mount(app: FastAPI, bot: Bot, options: SlackOptions, dependencies: Sequence[Depends] = ()) -> None:
    """POST /slack/events on `app`, when a bot token and signing secret are set; `dependencies`
    run first (the rate limit)."""
    if not options.enabled or options.signing_secret is None:
        log.info("Slack is off: set KQA_SLACK__BOT_TOKEN and KQA_SLACK__SIGNING_SECRET to turn it on")
        return
    door = SlackDoor(bot, options)
    handler = EventsHandler(build_app(door), options.signing_secret.get_secret_value())
    app.state.slack = door

    @app.post(EVENTS_PATH, include_in_schema=False, dependencies=list(dependencies))
    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)


def _not_sent(*args: Any, **kwargs: Any) -> None:
    """`respond` for a request whose response_url was dropped."""
    log.info("reply not sent: the request's response_url was dropped")


def _user(body: dict) -> str:
    return (body.get("user") or {}).get("id", "")


def _what(body: dict) -> str:
    """Which request failed, for the log: event type, command or action, and where."""
    if "event" in body:
        event = body["event"]
        return f"event {event.get('type')} in {event.get('channel')} at {event.get('ts')}"
    if "command" in body:
        return f"command {body.get('command')} in {body.get('channel_id')}"
    actions = body.get("actions") or [{}]
    return f"{body.get('type')} {actions[0].get('action_id')} in {(body.get('channel') or {}).get('id')}"
