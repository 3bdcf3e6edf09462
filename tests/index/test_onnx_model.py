"""The ONNX Runtime encoder computes what sentence-transformers computes, and a serving
process that only embeds questions never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embed import DEFAULT_MODEL_DIR, Embedder, EmbedOptions, ModelUnavailable
from index.onnx_model import ONNX_FILE, exportable
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
QUESTIONS = ["Pod 和容器到底啥关系", "how does kube-proxy pick a backend?", "k8s 里 Deployment 回滚咋弄", "x"]
PASSAGES = [
    "Namespace 让容器只看到自己的进程、网络和挂载点。" * 12,
    "A Deployment owns ReplicaSets; rolling back means scaling an older ReplicaSet up again.",
    "短句。",
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(EmbedOptions(backend="torch"))


@pytest.fixture(scope="module")
def onnx_embedder() -> Embedder:
    return Embedder(EmbedOptions(backend="onnx"))


def test_default_model_ships_an_onnx_export() -> None:
    assert exportable(DEFAULT_MODEL_DIR)
    assert (DEFAULT_MODEL_DIR / ONNX_FILE).exists()


def test_onnx_vectors_equal_torch_vectors(torch_embedder: Embedder, onnx_embedder: Embedder) -> None:
    for q in QUESTIONS:
        assert float(onnx_embedder.encode_query(q) @ torch_embedder.encode_query(q)) > 0.9999
    both = (onnx_embedder.encode_passages(PASSAGES) * torch_embedder.encode_passages(PASSAGES)).sum(1)
    assert both.min() > 0.9999


def test_padding_does_not_change_a_vector(onnx_embedder: Embedder) -> None:
    """A short passage batched with a long one (so padded) gets the vector it gets alone."""
    encoder = onnx_embedder.onnx
    assert encoder is not None
    batched = encoder.encode(PASSAGES, "document", batch_size=3)
    alone = np.stack([encoder.encode([p], "document", batch_size=1)[0] for p in PASSAGES])
    assert (batched * alone).sum(1).min() > 0.99999


def test_auto_embeds_questions_on_onnx_and_passages_on_torch(torch_embedder: Embedder) -> None:
    auto = Embedder(EmbedOptions())
    assert auto.onnx is not None
    assert float(auto.encode_query(QUESTIONS[0]) @ torch_embedder.encode_query(QUESTIONS[0])) > 0.9999
    assert "model" not in auto.__dict__  # torch not loaded for a question


def test_a_folder_without_an_export_runs_on_torch(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for item in DEFAULT_MODEL_DIR.iterdir():
        if item.name != ONNX_FILE.parent.name:
            (folder / item.name).symlink_to(item)
    assert Embedder(EmbedOptions(model=str(folder))).onnx is None
    with pytest.raises(ModelUnavailable):
        Embedder(EmbedOptions(model=str(folder), backend="onnx")).encode_query("x")


def test_exportable_refuses_other_pooling(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text((DEFAULT_MODEL_DIR / "modules.json").read_text())
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}))
    assert not exportable(tmp_path)
    assert not exportable(tmp_path / "missing")


def test_answering_a_question_does_not_import_torch(built) -> None:
    code = (
        "import sys\n"
        "from bot.bot import Bot\n"
        "from bot.settings import Settings\n"
        "from index.store import StoreOptions\n"
        f"bot = Bot.open(Settings(store=StoreOptions(path={str(built.store.path)!r})))\n"
        "a = bot.answer('Pod 是什么')\n"
        "print(len(a.citations), 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                         timeout=120, check=True)
    citations, torch_loaded, st_loaded = out.stdout.split()
    assert int(citations) > 0
    assert (torch_loaded, st_loaded) == ("False", "False")
