"""Every setting a deployer can set is in docs/operations.md's table, with its default."""

from pathlib import Path
from typing import Any

from api.settings import Settings
from bot.settings import ALIASES, env_name
from bot.settings_check import fields, group_of
from tests.conftest import ROOT

DOC = ROOT / "docs" / "operations.md"


def variables(model: type[Settings]) -> dict[str, Any]:
    """Each environment variable of `model` (nested groups joined by `__`) and its default."""
    return {env_name(path): info.default for path, info in fields(model) if group_of(info) is None}


def shown(default: Any) -> str | None:
    """How the table shows a default, or None where it does not name it (a path, a list, unset)."""
    if default is None or isinstance(default, list | Path) or default == "":
        return None
    if isinstance(default, str) and default.startswith(f"{ROOT}/"):
        return default.removeprefix(f"{ROOT}/")  # a folder of the project, shown relative
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_every_setting_is_in_the_operations_table_with_its_default() -> None:
    rows = {line.split("|")[1].strip(" `"): line for line in DOC.read_text().splitlines()
            if line.startswith("| `KQA_")}
    rows |= {env_name(path): rows[alias] for alias, path in ALIASES.items() if alias in rows}  # shown by its alias
    missing = [name for name in variables(Settings) if name not in rows]
    assert not missing, f"not in docs/operations.md: {missing}"
    wrong = [(name, shown(default)) for name, default in variables(Settings).items()
             if shown(default) is not None and f"`{shown(default)}`" not in rows[name].split("|")[2]]
    assert not wrong, f"defaults that differ from docs/operations.md: {wrong}"
