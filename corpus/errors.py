"""The root of kqa's error family. Each stage raises its own subclasses next to the code
that fails; `bot.errors` draws the whole tree and the API maps it in one place."""


class KqaError(Exception):
    """Something a user can act on; `title` is safe to show, `status` is the HTTP meaning."""

    title = "kqa error"
    status = 500


class CorpusNotFound(KqaError):
    title = "corpus folder not found"
    status = 400
