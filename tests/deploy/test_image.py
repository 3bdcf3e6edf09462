"""The container image, without a container engine (none runs on these machines): the
Dockerfile's entrypoint, command and environment, read from the file, run here as a process
against a built index, answer over real HTTP, write only under the image's volume, and reach
for no network (every HTTP client that honours a proxy is pointed at a listener that must stay
unasked)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import httpx

from api.settings import Settings
from index.embed import EmbedOptions
from tests.api.conftest import free_port, wait_ok
from tests.conftest import ROOT
from tests.deploy.image import VENV_BIN, image
from tests.fakes.loopback import Listener


def test_the_image_entrypoint_serves_a_built_index_offline(built: Settings, tmp_path: Path) -> None:
    img = image()
    assert [*img.entrypoint, *img.cmd] == ["kqa", "serve"]
    volume = tmp_path / "volume"  # what `docker run -v` would mount at the image's VOLUME
    env = img.run_env(volume, free_port())
    assert Path(env["KQA_STORE__PATH"]).parent == volume == Path(env["KQA_DATA_DIR"]).parent
    shutil.copytree(built.store.path, env["KQA_STORE__PATH"])
    program = shutil.which(img.entrypoint[0], path=env["PATH"])
    assert program == str(Path(env["PATH"].split(":")[0]) / "kqa")  # the image's virtualenv comes first
    base = f"http://127.0.0.1:{env['KQA_SERVER__PORT']}"
    log = tmp_path / "serve.log"
    with Listener() as outside, log.open("wb") as out:
        proxy = {"HTTP_PROXY": outside.url, "HTTPS_PROXY": outside.url, "ALL_PROXY": outside.url,
                 "NO_PROXY": "127.0.0.1,localhost"}
        # Only the image's environment (a container inherits nothing else), and its WORKDIR: the
        # Dockerfile copies the checkout's folders to the same places under it.
        proc = subprocess.Popen([program, *img.entrypoint[1:], *img.cmd], cwd=ROOT, env={**env, **proxy},
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ok(f"{base}/readyz", 180, alive=lambda: proc.poll() is None, why=lambda: log.read_text()[-3000:])
            ready = httpx.get(f"{base}/readyz").json()
            assert ready["files"] == 5 and ready["store"] == "ok"
            r = httpx.post(f"{base}/v1/ask", json={"question": "Cgroups 是怎么限制 CPU 的？"}, timeout=30)
            assert r.status_code == 200 and r.json()["citations"][0]["source"] == "06-cgroups.md"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        assert outside.requests == []
    assert (volume / "data" / "kqa.sqlite3").exists()  # the question log, under the volume
    assert '"logger": "kqa.access"' in log.read_text()  # JSON lines, as `kqa serve` logs


def test_the_image_is_built_as_the_makefile_builds_a_machine() -> None:
    img = image()
    build, final = img.stages[0], img.stages[-1]
    runs = [value for name, value in build if name == "RUN"]
    at = {key: next(i for i, run in enumerate(runs) if re.search(pattern, run)) for key, pattern in {
        "torch": r"pip install --index-url \S+/whl/cpu torch==", "kqa": r"pip install -e \.",
        "model": r"python -m index\.build_model"}.items()}
    assert at["torch"] < at["kqa"] < at["model"]  # torch's CPU build first, the model expanded at build time
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert re.search(r"torch==(\S+)", runs[at["torch"]])[1] == next(p for p in pins if p.startswith("torch=="))[7:]
    model = Path(EmbedOptions().model).relative_to(ROOT)
    assert f"python -m index.build_model {model}" in runs[at["model"]]  # where kqa looks for it by default
    copies = [value.split() for name, value in build if name == "COPY"]
    assert all(src.rstrip("/") == dest.rstrip("/") for *srcs, dest in copies if len(srcs) == 1 for src in srcs)
    assert ["--from=build", VENV_BIN.rsplit("/", 1)[0], VENV_BIN.rsplit("/", 1)[0]] in \
        [value.split() for name, value in final if name == "COPY"]
    uid, _, gid = img.user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit()  # numeric, so runAsNonRoot can check it
    assert {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}.items() \
        <= img.env.items()
    assert img.ports == [img.env["KQA_SERVER__PORT"]] and img.workdir == "/app"
    groups = {k.removeprefix("KQA_").split("__")[0].lower() for k in img.env if k.startswith("KQA_")}
    assert groups <= set(Settings.model_fields)  # every KQA_ variable names a real setting
