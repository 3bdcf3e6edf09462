"""What the Dockerfile's final stage declares (its ENV, WORKDIR, USER, VOLUME, ENTRYPOINT, CMD),
read with dockerfile-parse, and how to run that here without a container engine."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = "/opt/kqa/bin"  # where the image's virtualenv puts `kqa` and `chroma`


@dataclass(frozen=True)
class Image:
    env: dict[str, str]  # as written: `$PATH` is the base image's, expanded when run
    workdir: str
    user: str
    volumes: list[str]
    entrypoint: list[str]
    cmd: list[str]
    ports: list[str]
    stages: list[list[tuple[str, str]]]  # every stage's (instruction, value), in order

    def run_env(self, volume: Path, port: int) -> dict[str, str]:
        """The image's environment as `docker run -v VOLUME -p PORT` would give the process, with the
        image's places mapped to this machine's: its virtualenv to this one, its volume to `volume`."""
        places = {VENV_BIN: str(Path(sys.executable).parent), self.volumes[0]: str(volume)}

        def here(value: str) -> str:
            for there, local in places.items():
                value = re.sub(rf"(^|:){re.escape(there)}(?=/|:|$)", lambda m, local=local: m.group(1) + local, value)
            return value.replace("$PATH", os.environ["PATH"])

        return {**{k: here(v) for k, v in self.env.items()}, "KQA_SERVER__PORT": str(port)}


def image() -> Image:
    parser = DockerfileParser(str(DOCKERFILE), env_replace=False)
    stages: list[list[tuple[str, str]]] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages and item["instruction"] != "COMMENT":
            stages[-1].append((item["instruction"], item["value"]))
    final = stages[-1]

    def last(instruction: str) -> str:
        return [value for name, value in final if name == instruction][-1]

    return Image(env=parser.envs, workdir=last("WORKDIR"), user=last("USER"),
                 volumes=[v for name, value in final if name == "VOLUME" for v in value.split()],
                 entrypoint=json.loads(last("ENTRYPOINT")), cmd=json.loads(last("CMD")),
                 ports=[value for name, value in final if name == "EXPOSE"], stages=stages)
