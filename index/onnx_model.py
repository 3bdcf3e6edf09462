"""The embedding model on ONNX Runtime: the same weights as the sentence-transformers folder,
exported once at install time, run without torch.

Why: a question's embedding is most of an answer's CPU time, and ONNX Runtime computes it
in about 60% of torch's time on this CPU (vectors equal to cosine 1.0), releases the GIL while
it runs, and spares a serving process the torch import (seconds and hundreds of MB).
Only BERT-style folders with mean pooling and normalisation (the default e5 model) are exported;
any other model keeps running on sentence-transformers.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np

ONNX_FILE = Path("onnx") / "model.onnx"
MAX_TOKENS = 512


def exportable(folder: Path) -> bool:
    """True for a sentence-transformers folder this module can run: transformer, mean pooling, normalize."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    return kinds == ["Transformer", "Pooling", "Normalize"] and pooling.get("pooling_mode") == "mean"


def export(folder: Path) -> Path:
    """Write `folder/onnx/model.onnx` (weights beside it in `model.onnx.data`), atomically."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder)).eval()
    ids = torch.tensor([[0, 2000, 3000, 2], [0, 2001, 2, 1]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.int64)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=MAX_TOKENS)
    tmp = folder / "onnx.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with warnings.catch_warnings():  # the exporter's notes on axis names are not ours to act on
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (ids, mask), str(tmp / ONNX_FILE.name), dynamo=True, external_data=True, verbose=False,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        )
    dest = folder / ONNX_FILE.parent
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return folder / ONNX_FILE


class OnnxEncoder:
    """Tokenize, run the exported BERT, mean-pool over real tokens, normalise: what the
    sentence-transformers folder computes, for the prompts it declares."""

    def __init__(self, folder: Path, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        config = json.loads((folder / "config_sentence_transformers.json").read_text())
        self.prompts: dict[str, str] = config.get("prompts", {})
        self.dim = int(json.loads((folder / "1_Pooling" / "config.json").read_text())["embedding_dimension"])

    def encode(self, texts: list[str], prompt: str, batch_size: int = 8, max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """`prompt`: "query" or "document" (sentence-transformers' names; the index was built with
        its `encode_document`, which prefers a "document" prompt to a "passage" one)."""
        prefix = self.prompts.get(prompt, self.prompts.get("passage", "") if prompt == "document" else "")
        # Cut to max_tokens, keeping the closing special token: the model saw every input end with it.
        encoded = [e.ids if len(e.ids) <= max_tokens else e.ids[: max_tokens - 1] + e.ids[-1:]
                   for e in self.tokenizer.encode_batch([prefix + t for t in texts])]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Batches of similar length, so padding (wasted work) stays small.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in part)
            ids = np.full((len(part), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(part), width), dtype=np.int64)
            for row, i in enumerate(part):
                n = len(encoded[i])
                ids[row, :n], mask[row, :n] = encoded[i], 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            out[part] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out
