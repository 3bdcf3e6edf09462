"""The one settings object: nested groups from the environment, and the previous release's
flat names still read, with a warning naming the new one."""

import logging
from pathlib import Path

import pytest

from api.settings import Settings
from corpus.load import LoadOptions


def test_nested_groups_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("KQA_STORE__URL", "http://chroma:8000")
    monkeypatch.setenv("KQA_EMBED__BATCH_SIZE", "4")
    monkeypatch.setenv("KQA_REFUSAL__MIN_DENSE", "0.8")
    monkeypatch.setenv("KQA_REFUSAL__MIN_DENSE_EN", "0.78")
    monkeypatch.setenv("KQA_ACCESS__API_KEYS", "k1,k2")
    s = Settings()
    assert s.store.url == "http://chroma:8000" and s.embed.batch_size == 4 and s.refusal.min_dense == 0.8
    assert s.refusal.min_dense_en == 0.78
    assert [(k.scope, k.secret.get_secret_value()) for k in s.access.api_keys] == [("full", "k1"), ("full", "k2")]


def test_old_names_still_work_with_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KQA_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("KQA_CHROMA_URL", "http://old:8000")
    monkeypatch.setenv("KQA_EMBED_THREADS", "2")
    monkeypatch.setenv("KQA_SERVER__MAX_QUESTION_CHARS", "500")
    monkeypatch.setenv("KQA_ANSWER__MIN_DENSE", "0.7")
    monkeypatch.setenv("KQA_API_KEYS", "old-key")
    with caplog.at_level(logging.WARNING, logger="kqa.settings"):
        s = Settings()
    assert s.store.path == tmp_path / "idx" and s.store.url == "http://old:8000" and s.embed.threads == 2
    assert s.questions.max_chars == 500 and s.refusal.min_dense == 0.7
    assert [k.secret.get_secret_value() for k in s.access.api_keys] == ["old-key"]
    assert "KQA_INDEX_DIR is deprecated" in caplog.text and "use KQA_STORE__PATH" in caplog.text
    assert "KQA_API_KEYS is deprecated" in caplog.text and "use KQA_ACCESS__API_KEYS" in caplog.text


def test_the_new_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KQA_CHROMA_URL", "http://old:8000")
    monkeypatch.setenv("KQA_STORE__URL", "http://new:8000")
    assert Settings().store.url == "http://new:8000"


def test_old_names_in_a_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KQA_EMBED_MODEL=/models/e5\nKQA_EMBED__BATCH_SIZE=3\n")
    s = Settings()
    assert s.embed.model == "/models/e5" and s.embed.batch_size == 3


def test_the_loading_caps_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("KQA_LOADING__MAX_FILE_BYTES", "1000")
    monkeypatch.setenv("KQA_LOADING__MAX_FRONT_MATTER_BYTES", "2000")
    assert Settings().loading == LoadOptions(max_file_bytes=1000, max_front_matter_bytes=2000)


def test_the_database_url_under_its_common_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KQA_DATA_DIR", str(tmp_path / "data"))
    assert Settings().history_location() == tmp_path / "data" / "kqa.sqlite3"  # unset: the SQLite file
    monkeypatch.setenv("KQA_DATABASE_URL", "postgresql://kqa:pw@db:5432/kqa")
    monkeypatch.setenv("KQA_DATABASE__POOL_SIZE", "3")
    with caplog.at_level(logging.WARNING, logger="kqa.settings"):
        s = Settings()
    assert s.history_location() == "postgresql://kqa:pw@db:5432/kqa" and s.database.pool_size == 3
    assert "pw" not in repr(s.database) and caplog.text == ""  # a secret, and no deprecation warning
    monkeypatch.setenv("KQA_DATABASE__URL", "postgresql://kqa@other/kqa")  # the nested name wins
    assert Settings().history_location() == "postgresql://kqa@other/kqa"
    monkeypatch.setenv("KQA_DATABASE__URL", "mysql://kqa@db/kqa")
    with pytest.raises(ValueError, match="must start with postgresql://"):
        Settings()
