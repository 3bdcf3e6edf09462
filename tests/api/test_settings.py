"""The doors' settings: API keys with scopes, written as in the environment."""

import pytest
from pydantic import SecretStr, ValidationError

from api.settings import AccessOptions, ApiKey


def keys(value: object, origins: list[str] | None = None) -> list[tuple[str, str]]:
    access = AccessOptions(api_keys=value, cors_origins=origins or ["https://docs.example"])
    return [(k.scope, k.secret.get_secret_value()) for k in access.api_keys]


def test_a_bare_key_is_full_and_widget_is_a_prefix() -> None:
    assert keys("ops-key, widget:site-key") == [("full", "ops-key"), ("widget", "site-key")]
    assert keys('["a1", "widget:w1", "full:x:y"]') == [("full", "a1"), ("widget", "w1"), ("full", "x:y")]
    assert keys([SecretStr("old-style")]) == [("full", "old-style")]  # as code built them before scopes
    assert keys("3f:ab") == [("full", "3f:ab")]  # a colon after something other than letters: part of the key
    assert str(ApiKey.parse("widget:site-key", 1)) == "widget:**********"
    assert "site-key" not in repr(AccessOptions(api_keys="widget:site-key", cors_origins=["https://a.example"]))


@pytest.mark.parametrize(("value", "says"), [
    (" , ", "set but holds no keys"),
    ("", "set but holds no keys"),
    ('"k1,k2"', "quote"),
    ("k1;k2", "';'"),
    ("k1,k 2", "space"),
    ("widgte:site-key", "unknown scope 'widgte'"),
    ("widget:", "key 1 is empty"),
    ('["k1", ', "not a JSON list"),
    ("k1,widget:k1", "the same key is given twice"),
])
def test_key_lists_gone_wrong_are_refused(value: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        keys(value)
    assert says in str(err.value) and "accepted:" in str(err.value)


def test_widget_keys_need_the_allowed_origins() -> None:
    with pytest.raises(ValidationError, match="KQA_ACCESS__CORS_ORIGINS is not set"):
        AccessOptions(api_keys="widget:site-key")
    assert AccessOptions(api_keys="ops-key").cors_origins == []  # full keys need none
