"""Settings that fail closed: a value kqa cannot use is one line naming the variable as written
and what is accepted; unknown variables are named with the closest known one; the effective
settings never show a secret."""

import logging
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from api.settings import Settings
from bot.settings_check import InvalidSettings, effective, load, unknown_variables


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env, and none of the runner's own KQA_* variables."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.upper().startswith("KQA_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(("name", "value", "line"), [
    ("KQA_LLM__PROVIDER", "gpt", "KQA_LLM__PROVIDER: 'gpt' is not accepted; accepted: 'none', 'openai' or 'ollama'"),
    ("kqa_llm__provider", "gpt", "kqa_llm__provider: 'gpt' is not accepted"),  # as written, in any case
    ("KQA_LIMITS__BURST", "lots", "KQA_LIMITS__BURST: 'lots' is not accepted; accepted: a whole number >= 1"),
    ("KQA_EMBED_THREADS", "-1", "KQA_EMBED_THREADS: '-1' is not accepted; accepted: a whole number >= 0"),  # old name
    ("KQA_RETRIEVAL__EXPAND_DENSE", "maybe",
     "KQA_RETRIEVAL__EXPAND_DENSE: 'maybe' is not accepted; accepted: true or false"),
    ("KQA_API_KEYS", " , ", "KQA_API_KEYS: set but holds no keys; accepted: KEY (full access) or widget:KEY"),
    ("KQA_ACCESS__API_KEYS", "", "KQA_ACCESS__API_KEYS: set but holds no keys"),
    # Path("") is ".": the index would be read, and written, wherever the process started.
    ("KQA_STORE__PATH", "", "KQA_STORE__PATH: set but empty; accepted: a path"),
    ("KQA_DATA_DIR", " ", "KQA_DATA_DIR: set but empty; accepted: a path"),
    ("KQA_ACCESS__API_KEYS", '"k1,k2"', "KQA_ACCESS__API_KEYS: key 1 contains a space, a quote or ';'; accepted:"),
    ("KQA_ACCESS__API_KEYS", "k1;k2", "KQA_ACCESS__API_KEYS: key 1 contains a space, a quote or ';'"),
    ("KQA_ACCESS__API_KEYS", '["k1",', "KQA_ACCESS__API_KEYS: not a JSON list; accepted: a,b or a JSON list"),
    ("KQA_ACCESS__CORS_ORIGINS", "https://docs.example/", "KQA_ACCESS__CORS_ORIGINS: 'https://docs.example/' is not "
     "an origin; accepted: scheme://host[:port] (http or https; no path, no trailing slash)"),
    ("KQA_ACCESS__CORS_ORIGINS", "docs.example", "KQA_ACCESS__CORS_ORIGINS: 'docs.example' is not an origin"),
    ("KQA_ACCESS__API_KEYS", "widget:site-key", "KQA_ACCESS__CORS_ORIGINS is not set, and the widget keys in "
     "KQA_ACCESS__API_KEYS are accepted only from the sites listed there; accepted: scheme://host[:port]"),
    ("KQA_LLM", "{oops", "KQA_LLM: not valid JSON; accepted: a JSON object of the group's fields"),
])
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                     line: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSettings) as err:
        load(Settings)
    assert str(err.value).startswith(line) and "\n" not in str(err.value)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KQA_ACCESS__API_KEYS", "good-key,bad key-secret-part")
    with pytest.raises(InvalidSettings) as err:
        load(Settings)
    assert "key 2" in str(err.value) and "secret-part" not in str(err.value)


def test_a_group_given_as_json_is_named_and_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KQA_LLM", '{"provider": "gpt", "api_key": "sk-secret-77"}')
    with pytest.raises(InvalidSettings) as err:
        load(Settings)
    assert str(err.value).startswith("KQA_LLM: the value is not accepted; accepted: 'none', 'openai' or 'ollama'")
    assert "sk-secret-77" not in str(err.value)


def test_several_problems_are_one_line_and_all_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KQA_LIMITS__BURST", "0")
    monkeypatch.setenv("KQA_SERVER__PORT", "http")
    with pytest.raises(InvalidSettings) as err:
        load(Settings)
    assert "(and 1 more: run kqa config)" in str(err.value) and len(err.value.problems) == 2


def test_a_bad_value_in_dotenv_says_so(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KQA_LLM__PROVIDER=claude\n")
    with pytest.raises(InvalidSettings, match=r"^KQA_LLM__PROVIDER \(in \.env\): 'claude' is not accepted"):
        load(Settings)


def test_unknown_variables_are_warned_about_with_the_closest_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("KQA_API_KEY", "k1")
    monkeypatch.setenv("KQA_CORS_ORIGINS", "https://docs.example")
    monkeypatch.setenv("KQA_LLM_PROVIDER", "openai")
    monkeypatch.setenv("KQA_LLM", '{"provider": "none"}')  # a group given whole: read, not unknown
    (tmp_path / ".env").write_text("KQA_WIBBLE=1\n")
    with caplog.at_level(logging.WARNING, logger="kqa.settings"):
        settings = load(Settings)
    assert settings.access.api_keys == []  # ignored: that is why it is warned about
    assert unknown_variables(Settings) == [
        "KQA_API_KEY is not a kqa setting and is ignored; did you mean KQA_ACCESS__API_KEYS?",
        "KQA_CORS_ORIGINS is not a kqa setting and is ignored; did you mean KQA_ACCESS__CORS_ORIGINS?",
        "KQA_LLM_PROVIDER is not a kqa setting and is ignored; did you mean KQA_LLM__PROVIDER?",
        "KQA_WIBBLE (in .env) is not a kqa setting and is ignored",
    ]
    assert "did you mean KQA_ACCESS__CORS_ORIGINS?" in caplog.text


def test_the_effective_settings_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KQA_ACCESS__API_KEYS", "ops-key-1234,widget:site-key-5678")
    monkeypatch.setenv("KQA_ACCESS__CORS_ORIGINS", "https://Docs.Example:443")
    monkeypatch.setenv("KQA_STORE__URL", "http://chroma:pa55word@chroma.internal:8000")
    settings = load(Settings)
    settings.llm = settings.llm.model_copy(update={"api_key": SecretStr("sk-live-9999")})
    shown = effective(settings)
    assert shown["KQA_ACCESS__API_KEYS"] == "full:**********,widget:**********"
    assert shown["KQA_ACCESS__CORS_ORIGINS"] == "https://docs.example"  # as a browser sends it
    assert shown["KQA_STORE__URL"] == "http://chroma:**********@chroma.internal:8000"
    assert shown["KQA_LLM__API_KEY"] == "**********" and shown["KQA_SLACK__BOT_TOKEN"] == "unset"
    assert shown["KQA_LIMITS__BURST"] == "30" and "KQA_LIMITS" not in shown
    assert not any(s in str(shown) for s in ("1234", "5678", "pa55word", "9999"))
