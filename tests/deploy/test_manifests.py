"""deploy/kubernetes/: every manifest valid against Kubernetes' own schemas (strict: no unknown
field), checked offline with the schemas kubernetes-validate ships, for one fixed Kubernetes
version; the pieces agree with each other, with the image and with kqa's settings; the memory
given the API covers the measured RSS; and Chroma's container command runs here as it would there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from api.settings import Settings
from tests.api.conftest import free_port, wait_ok
from tests.conftest import ROOT
from tests.deploy.image import image

KUBERNETES = "1.35.0"  # the version the manifests are checked against, offline
MANIFESTS = ROOT / "deploy" / "kubernetes"
FIGURES = ROOT / "bench" / "results" / "outage.json"
SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "DATABASE_URL")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object applied (the kustomization's files) and the Secrets' template, by (kind, name)."""
    files = [*kustomization()["resources"], "secrets.example.yaml"]
    return {(d["kind"], d["metadata"]["name"]): d for f in files for d in documents(MANIFESTS / f)}


def kustomization() -> dict[str, Any]:
    return documents(MANIFESTS / "kustomization.yaml")[0]


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


@pytest.mark.parametrize("path", sorted(p.name for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_manifest_is_valid_for_kubernetes(path: str) -> None:
    for doc in documents(MANIFESTS / path):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_a_wrong_field_is_caught() -> None:
    """The check above can fail: a misspelt field, or a value of the wrong type, is refused."""
    deployment = resources()["Deployment", "kqa-api"]
    misspelt = json.loads(json.dumps(deployment))
    misspelt["spec"]["replica"] = misspelt["spec"].pop("replicas")
    wrong_type = json.loads(json.dumps(deployment))
    wrong_type["spec"]["replicas"] = "two"
    for doc in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_kustomization_applies_every_manifest_but_the_secrets_template() -> None:
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml", "secrets.example.yaml"}
    assert kustomization()["namespace"] == resources()["Namespace", "kqa"]["metadata"]["name"]


def test_the_api_deployment() -> None:
    objects, img = resources(), image()
    deployment = objects["Deployment", "kqa-api"]
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert spec["replicas"] == 2 and "command" not in api and api["args"] == img.cmd  # the image's entrypoint
    port = next(p for p in api["ports"] if p["name"] == "http")
    assert str(port["containerPort"]) == img.env["KQA_SERVER__PORT"]
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {m["mountPath"] for m in api["volumeMounts"]} >= set(img.volumes)  # writable, with a read-only root
    assert api["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    assert str(pod["securityContext"]["runAsUser"]) == img.user.split(":")[0]

    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    for kind in ("Service", "PodDisruptionBudget"):
        obj = objects[kind, "kqa-api"]
        selector = obj["spec"]["selector"].get("matchLabels", obj["spec"]["selector"])
        assert selector.items() <= labels.items(), kind
    assert objects["Service", "kqa-api"]["spec"]["ports"][0]["targetPort"] == "http"
    assert objects["PodDisruptionBudget", "kqa-api"]["spec"]["minAvailable"] < spec["replicas"]
    hpa = objects["HorizontalPodAutoscaler", "kqa-api"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kqa-api"}
    assert hpa["minReplicas"] == spec["replicas"] < hpa["maxReplicas"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu" and "cpu" in api["resources"]["requests"]


def test_the_api_memory_covers_the_measured_rss() -> None:
    """Sized from bench/results/outage.json: the request holds a serving process's peak RSS, and the
    limit leaves it room (a third again) before the kernel would kill it."""
    measured = json.loads(FIGURES.read_text())["memory"]["end"]["peak_rss_mb"]
    (api,) = resources()["Deployment", "kqa-api"]["spec"]["template"]["spec"]["containers"]
    assert mebibytes(api["resources"]["requests"]["memory"]) >= measured * 1.0
    assert mebibytes(api["resources"]["limits"]["memory"]) >= measured * 4 / 3


def test_configuration_comes_from_the_configmap_and_secrets() -> None:
    objects = resources()
    config = objects["ConfigMap", "kqa-config"]["data"]
    secrets = {name: obj["stringData"] for (kind, name), obj in objects.items() if kind == "Secret"}
    assert not [k for k in config if any(word in k for word in SECRET_WORDS)]  # nothing secret in plain sight
    assert set(secrets) == {"kqa-database", "kqa-api-keys", "kqa-slack"}
    names = {*config, *(k for data in secrets.values() for k in data)}
    groups = {k.removeprefix("KQA_").split("__")[0].lower() for k in names}
    # KQA_DATABASE_URL is read once shared state in PostgreSQL lands (issue 17, part 1).
    assert groups - {"database_url"} <= set(Settings.model_fields)
    for key, value in config.items():  # each value one kqa takes: settings built from it alone
        group, _, field = key.removeprefix("KQA_").lower().partition("__")
        Settings.model_validate({group: {field: value}})

    (api,) = objects["Deployment", "kqa-api"]["spec"]["template"]["spec"]["containers"]
    sources = {(s.get("configMapRef") or s["secretRef"])["name"]: s for s in api["envFrom"]}
    assert set(sources) == {"kqa-config", *secrets}
    assert "optional" not in sources["kqa-database"]["secretRef"]  # the replicas need it: no start without
    (ingest,) = objects["Job", "kqa-ingest"]["spec"]["template"]["spec"]["containers"]
    assert ingest["envFrom"] == [{"configMapRef": {"name": "kqa-config"}}] and ingest["args"] == ["ingest"]


def test_chroma_is_a_statefulset_on_a_volume_behind_the_configured_url() -> None:
    objects = resources()
    sts = objects["StatefulSet", "chroma"]["spec"]
    service = objects["Service", sts["serviceName"]]
    url = httpx.URL(objects["ConfigMap", "kqa-config"]["data"]["KQA_STORE__URL"])
    assert url.host == service["metadata"]["name"] and url.port == service["spec"]["ports"][0]["port"]
    (chroma,) = sts["template"]["spec"]["containers"]
    claim = sts["volumeClaimTemplates"][0]["metadata"]["name"]
    path = chroma["command"][chroma["command"].index("--path") + 1]
    assert {"name": claim, "mountPath": path} in chroma["volumeMounts"]
    assert str(service["spec"]["ports"][0]["port"]) == chroma["command"][chroma["command"].index("--port") + 1]


def test_chroma_container_command_runs(tmp_path: Path) -> None:
    """The StatefulSet's command, in the image's environment, on a folder standing for its volume."""
    sts = resources()["StatefulSet", "chroma"]["spec"]
    (chroma,) = sts["template"]["spec"]["containers"]
    command = list(chroma["command"])
    port = free_port()
    command[command.index("--path") + 1] = str(tmp_path / "data")
    command[command.index("--port") + 1] = str(port)
    env = image().run_env(tmp_path / "volume", free_port())
    program = subprocess.run(["sh", "-c", f'command -v "{command[0]}"'], env=env, capture_output=True, text=True)
    assert program.stdout.strip().startswith(env["PATH"].split(":")[0])  # from the image's virtualenv
    log = tmp_path / "chroma.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([program.stdout.strip(), *command[1:]], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        probe = chroma["readinessProbe"]["httpGet"]["path"]
        wait_ok(f"http://127.0.0.1:{port}{probe}", 60, alive=lambda: proc.poll() is None,
                why=lambda: log.read_text()[-2000:])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "data" / "chroma.sqlite3").exists()  # it keeps its data on the volume
