"""kqa's error family, the whole tree. Every stage raises subclasses of `KqaError` defined next
to the code that fails (the module in brackets); the HTTP door turns the family into problem+json
in one handler (api/http/problems.py), the CLI into one line, Slack into one message.

    KqaError                                                                 (corpus.errors)
    ├── CorpusNotFound          corpus folder missing                        (corpus.errors)
    ├── ModelUnavailable        embedding model cannot be loaded             (index.embed)
    ├── IndexNotBuilt           nothing ingested yet                         (index.store)
    ├── ModelMismatch           index built with another embedding model     (index.store)
    ├── StoreUnavailable        Chroma unreachable                           (index.store)
    ├── BadQuestion             empty, too long or not text                  (bot.errors)
    ├── NotReady                the model and index are still loading        (bot.errors)
    ├── InvalidSettings         a setting kqa cannot use                     (bot.settings_check)
    ├── ConversationNotFound    unknown, expired or another door's conversation     (bot.errors)
    ├── AnswerNotFound          feedback on an answer never given, or on a vote not the voter's (bot.errors)
    ├── BadFeedback             a comment with control characters            (bot.errors)
    ├── DatabaseUnavailable     the history's database cannot be reached     (bot.database)
    ├── SchemaTooNew            the database was migrated by a newer kqa     (bot.database)
    ├── AccessDenied            API keys are set and none or a wrong one was sent   (api.http.access)
    ├── Forbidden               a widget key off the widget's routes or origins     (api.http.access)
    ├── RateLimited             too many requests from one key or address           (api.http.access)
    ├── BodyTooLarge            request body over the size limit                    (api.http.access)
    ├── AnswerTimeout           no answer within the time limit                     (api.http.routes)
    ├── ReportLocked            /report without a valid key, when keys are set      (api.http.report)
    ├── SignatureRefused        a Slack request not signed, or signed wrongly       (api.slack.events)
    └── SlackNotConfigured      Socket Mode asked for without its tokens            (api.slack.settings)

`status` is the error's HTTP meaning and `title` a phrase safe to show anyone. The HTTP door
shows a 4xx error's message to the client; a 5xx error's only when it sets `public` (others may
name hosts or folders: they are logged, and the client gets the title). tests/bot/test_errors.py
checks this tree against the classes that exist.
"""

from bot.database import DatabaseUnavailable, SchemaTooNew
from corpus.errors import CorpusNotFound, KqaError
from index.embed import ModelUnavailable
from index.store import IndexNotBuilt, ModelMismatch, StoreUnavailable

__all__ = [
    "AnswerNotFound", "BadFeedback", "BadQuestion", "ConversationNotFound", "CorpusNotFound", "DatabaseUnavailable",
    "IndexNotBuilt", "KqaError", "ModelMismatch", "ModelUnavailable", "NotReady", "SchemaTooNew", "StoreUnavailable",
]


class BadQuestion(KqaError):
    title = "question not accepted"
    status = 422


class NotReady(KqaError):
    title = "kqa is starting up"
    status = 503
    public = True  # says only that loading is under way


class ConversationNotFound(KqaError):
    title = "conversation not found"
    status = 404


class AnswerNotFound(KqaError):
    title = "answer not found"
    status = 404


class BadFeedback(KqaError):
    title = "feedback not accepted"
    status = 422
