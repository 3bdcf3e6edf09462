"""Settings as the deployer wrote them: a value kqa cannot use stops it with one line naming the
variable as written (`KQA_LLM__PROVIDER`, an old flat name, a group given as JSON) and what is
accepted; `KQA_*` variables kqa does not know are named with the closest one it does; and the
effective settings, secrets redacted, for the start-up log and `kqa config`.
"""

from __future__ import annotations

import difflib
import logging
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from bot.errors import KqaError
from bot.settings import ALIASES, PREFIX, Settings, env_name, written

log = logging.getLogger("kqa.settings")
S = TypeVar("S", bound=Settings)
HIDDEN = "**********"


class InvalidSettings(KqaError):
    """One or more settings kqa cannot use; its message is the first, as one line."""

    title = "settings not valid"
    status = 500

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more: run kqa config)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = problems


class Written:
    """The `KQA_*` variables given (`bot.settings.written`), looked up by name."""

    def __init__(self, settings_cls: type[Settings]) -> None:
        self.given = written(settings_cls.model_config.get("env_file"))

    def first(self, names: list[str]) -> tuple[str, str | None, str] | None:
        return next((self.given[n] for n in names if n in self.given), None)


def fields(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every field, groups and their fields, by path."""
    for name, info in model.model_fields.items():
        yield (*path, name), info
        group = group_of(info)
        if group is not None:
            yield from fields(group, (*path, name))


def group_of(info: FieldInfo) -> type[BaseModel] | None:
    ann = info.annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def other_names(settings_cls: type[Settings]) -> dict[str, tuple[str, ...]]:
    """Names read besides the nested ones: renamed ones (with a warning) and aliases."""
    return {**settings_cls.renamed, **ALIASES}


def known_names(settings_cls: type[Settings]) -> dict[str, str]:
    """Every setting's variable, and the old names still read → the name to suggest for each."""
    known = {env_name(path): env_name(path) for path, info in fields(settings_cls) if group_of(info) is None}
    known.update({old: env_name(path) for old, path in other_names(settings_cls).items()})
    return known


def unknown_variables(settings_cls: type[Settings]) -> list[str]:
    """One warning per `KQA_*` variable kqa does not read, with the closest name it does (compared
    without the prefix every name shares). A group given whole as JSON (`KQA_LLM`) is read."""
    known = known_names(settings_cls)
    groups = {env_name(path) for path, info in fields(settings_cls) if group_of(info) is not None}
    bare = {name.removeprefix(PREFIX): name for name in known}
    out = []
    for upper, (name, _, where) in sorted(Written(settings_cls).given.items()):
        if upper in known or upper in groups:
            continue
        close = difflib.get_close_matches(upper.removeprefix(PREFIX), list(bare), n=1, cutoff=0.6)
        hint = f"; did you mean {known[bare[close[0]]]}?" if close else ""
        src = "" if where == "environment" else f" (in {where})"
        out.append(f"{name}{src} is not a kqa setting and is ignored{hint}")
    return out


def load(settings_cls: type[S]) -> S:
    """The settings from the environment, or InvalidSettings saying, one line each, which variable
    holds what kqa cannot use. Unknown `KQA_*` variables are logged as warnings."""
    for line in unknown_variables(settings_cls):
        log.warning("%s", line)
    return build(settings_cls)


def build(settings_cls: type[S]) -> S:
    try:
        return settings_cls()
    except (ValidationError, SettingsError) as exc:
        raise InvalidSettings(explain(exc, settings_cls)) from None


def sources(settings_cls: type[Settings]) -> dict[str, str]:
    """Each setting given by a variable → that variable as written and where (`(in .env)`)."""
    given = Written(settings_cls)
    out = {}
    for path, info in fields(settings_cls):
        value = _variable(path, settings_cls, given)[1]
        if group_of(info) is None and value is not None:
            name, _, where = value
            if name == env_name(path):
                out[name] = where
            else:  # an old name, another case, or the group's JSON
                out[env_name(path)] = name if where == "environment" else f"{name} in {where}"
    return out


def explain(exc: ValidationError | SettingsError, settings_cls: type[Settings]) -> list[str]:
    written = Written(settings_cls)
    if isinstance(exc, SettingsError):  # a group or list given as JSON that is not JSON
        m = re.search(r'field "(\w+)"', str(exc))
        path = (m[1],) if m else ()
        name = _variable(path, settings_cls, written)[0]
        return [f"{name}: not valid JSON; accepted: a JSON object of the group's fields, or one "
                f"{name}__FIELD variable per field"]
    return [_line(err, settings_cls, written) for err in exc.errors()]


def _line(err: Any, settings_cls: type[Settings], written: Written) -> str:
    path = _field_path(err["loc"], settings_cls)
    info = dict(fields(settings_cls)).get(path) if path else None
    name, given = _variable(path, settings_cls, written)
    msg = re.sub(r"^(Value|Assertion) error, ", "", err["msg"])
    if err["type"] in ("value_error", "assertion_error"):  # kqa's own checks say what is accepted
        return msg if PREFIX in msg else f"{name}: {msg}"  # a check across fields names its variables
    shown = "the value"
    # Echoed only when it is the field's own variable: a group's JSON may hold a secret.
    if given is not None and info is not None and not _secret(info) \
            and given[0].upper() in (env_name(path), *other_names(settings_cls)):
        shown = _quote(given[1] or "")
    return f"{name}: {shown} is not accepted; accepted: {accepted(info) if info else msg}"


def _field_path(loc: tuple[Any, ...], settings_cls: type[Settings]) -> tuple[str, ...]:
    paths = dict(fields(settings_cls))
    path: tuple[str, ...] = ()
    for part in loc:
        if not isinstance(part, str) or (*path, part) not in paths:
            break
        path = (*path, part)
    return path


def _variable(path: tuple[str, ...], settings_cls: type[Settings],
              written: Written) -> tuple[str, tuple[str, str | None, str] | None]:
    """The variable that gave `path` its value, as written (the new name, an old one, or its
    group's JSON; `(in .env)` when from there), and what was given."""
    if not path:
        return PREFIX + "*", None
    names = [env_name(path), *(old for old, p in other_names(settings_cls).items() if p == path)]
    names += [env_name(path[:i]) for i in range(len(path) - 1, 0, -1)]
    given = written.first(names)
    if given is None:
        return env_name(path), None
    return (given[0] if given[2] == "environment" else f"{given[0]} (in {given[2]})"), given


def _secret(info: FieldInfo) -> bool:
    return "Secret" in str(info.annotation) or "ApiKey" in str(info.annotation)


def _quote(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _plain(ann: Any) -> tuple[Any, bool]:
    """The annotation without `None`, and whether None was allowed."""
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        return (args[0] if len(args) == 1 else ann), len(args) < len(get_args(ann))
    return ann, False


def accepted(info: FieldInfo) -> str:
    """What a field accepts, in words: `'none', 'openai' or 'ollama'`, `a whole number >= 16`."""
    ann, optional = _plain(info.annotation)
    if get_origin(ann) is Literal:
        words = [repr(a) for a in get_args(ann)]
        what = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
    elif ann is bool:
        what = "true or false"
    elif ann in (int, float):
        what = "a whole number" if ann is int else "a number"
        for m in info.metadata:
            for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(m, attr, None) is not None:
                    what += f" {sign} {getattr(m, attr)}"
    elif ann is Path:
        what = "a path"
    else:
        pattern = next((m.pattern for m in info.metadata if getattr(m, "pattern", None)), None)
        what = f"text matching {pattern}" if pattern else "text"
    return what + (" (or unset)" if optional and what != "text" else "")


def effective(settings: Settings) -> dict[str, str]:
    """Every setting by its variable, as kqa uses it, secrets redacted (a URL's password too)."""
    out = {}
    for path, info in fields(type(settings)):
        if group_of(info) is not None:
            continue
        value: Any = settings
        for part in path:
            value = getattr(value, part)
        out[env_name(path)] = shown(value)
    return out


def shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return HIDDEN
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(shown(v) for v in value)
    if isinstance(value, BaseModel):
        return str(value)  # a model meant to be shown (an API key: its scope, the secret hidden)
    text = str(value)
    if "://" in text and "@" in text:
        parts = urlsplit(text)
        if parts.password:
            host = parts.netloc.rpartition("@")[2]
            text = urlunsplit(parts._replace(netloc=f"{parts.username}:{HIDDEN}@{host}"))
    return text
