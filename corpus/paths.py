"""A folder or file setting: an empty value (`KQA_STORE__PATH=` in a compose file or `.env`) is an
error naming the variable, not Path(""), which is ".": the folder the process happened to start in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator


def _given(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("set but empty; accepted: a path (unset the variable for the default)")
    return value


PathSetting = Annotated[Path, BeforeValidator(_given)]
