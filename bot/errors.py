"""kqa's error family, in one place. Every stage raises a subclass of `KqaError`; the API
turns the family into problem+json in one handler, the CLI into one line.

    KqaError
    ├── CorpusNotFound          corpus folder missing                      (corpus.errors)
    ├── ModelUnavailable        embedding model cannot be loaded           (index.embed)
    ├── IndexNotBuilt           nothing ingested yet                       (index.store)
    ├── ModelMismatch           index built with another embedding model   (index.store)
    ├── StoreUnavailable        Chroma unreachable                         (index.store)
    └── BadQuestion             empty, too long or not text
"""

from corpus.errors import CorpusNotFound, KqaError
from index.embed import ModelUnavailable
from index.store import IndexNotBuilt, ModelMismatch, StoreUnavailable

__all__ = [
    "BadQuestion", "CorpusNotFound", "IndexNotBuilt", "KqaError", "ModelMismatch",
    "ModelUnavailable", "StoreUnavailable",
]


class BadQuestion(KqaError):
    title = "question not accepted"
    status = 422
