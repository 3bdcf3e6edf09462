"""The error tree drawn in bot/errors.py is the tree that exists: every KqaError subclass is drawn,
under the module that defines it, and nothing drawn is missing."""

import importlib
import pkgutil
import re

import api
import bot
import corpus
import index
from bot import errors
from bot.errors import KqaError

DRAWN = re.compile(r"^\s*(?:[├└]── )?(\w+)\s.*\((\w+(?:\.\w+)*)\)\s*$", re.M)


def every_module() -> None:
    for package in (corpus, index, bot, api):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)


def subclasses(cls: type) -> set[type]:
    return {c for s in cls.__subclasses__() for c in {s} | subclasses(s)}


def test_the_drawn_tree_is_the_real_one() -> None:
    every_module()
    drawn = {name: module for name, module in DRAWN.findall(errors.__doc__ or "")}
    real = {c.__name__: c.__module__ for c in subclasses(KqaError) | {KqaError}
            if not c.__module__.startswith("tests.")}
    assert drawn == real


def test_every_error_has_a_title_and_an_http_meaning() -> None:
    every_module()
    for cls in subclasses(KqaError):
        assert cls.title != KqaError.title and 400 <= cls.status < 600, cls
