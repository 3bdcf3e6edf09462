"""kqa's error family, in one place. Every stage raises a subclass of `KqaError`; the API
turns the family into problem+json in one handler, the CLI into one line.

    KqaError
    ├── CorpusNotFound          corpus folder missing                      (corpus.errors)
    ├── ModelUnavailable        embedding model cannot be loaded           (index.embed)
    ├── IndexNotBuilt           nothing ingested yet                       (index.store)
    ├── ModelMismatch           index built with another embedding model   (index.store)
    ├── StoreUnavailable        Chroma unreachable                         (index.store)
    ├── BadQuestion             empty, too long or not text
    ├── ConversationNotFound    unknown or expired conversation id         (bot.history)
    ├── AnswerNotFound          feedback for an answer id never given      (bot.history)
    ├── AccessDenied            API keys are set and none or a wrong one was sent   (api.access)
    ├── RateLimited             too many requests from one key or address           (api.access)
    ├── BodyTooLarge            request body over the size limit                    (api.access)
    └── AnswerTimeout           no answer within the time limit                     (api.app)

An error may carry `headers` for the HTTP door (`Retry-After`, `WWW-Authenticate`). The HTTP door
shows a 4xx error's message to the client; a 5xx error's only when it sets `public` (others may
name hosts or folders: they are logged, and the client gets the title).
"""

from types import MappingProxyType

from corpus.errors import CorpusNotFound, KqaError
from index.embed import ModelUnavailable
from index.store import IndexNotBuilt, ModelMismatch, StoreUnavailable

__all__ = [
    "AccessDenied", "AnswerNotFound", "AnswerTimeout", "BadQuestion", "BodyTooLarge", "ConversationNotFound",
    "CorpusNotFound", "IndexNotBuilt", "KqaError", "ModelMismatch", "ModelUnavailable", "RateLimited",
    "StoreUnavailable",
]


class BadQuestion(KqaError):
    title = "question not accepted"
    status = 422


class ConversationNotFound(KqaError):
    title = "conversation not found"
    status = 404


class AnswerNotFound(KqaError):
    title = "answer not found"
    status = 404


class AccessDenied(KqaError):
    title = "API key missing or not valid"
    status = 401
    headers = MappingProxyType({"WWW-Authenticate": 'Bearer realm="kqa"'})


class RateLimited(KqaError):
    title = "too many requests"
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class BodyTooLarge(KqaError):
    title = "request body too large"
    status = 413


class AnswerTimeout(KqaError):
    title = "no answer in time"
    status = 503
    public = True  # the message says only how long was waited
    headers = MappingProxyType({"Retry-After": "5"})
