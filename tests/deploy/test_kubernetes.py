"""docker/kubernetes/: every manifest against the Kubernetes 1.30 schemas (kubernetes-validate,
strict: unknown fields are errors), and what the seed's kubectl commands and the application
need of them: names and labels, probes on paths and ports the processes serve, security,
graceful shutdown, configuration that the settings read."""

from __future__ import annotations

import copy
import re
from typing import Any, cast

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type hints
import pytest
from deploy.checks import (
    DOCKER,
    cli_commands,
    env_problems,
    load_yaml_documents,
)
from starlette.routing import Route

from server.app import create_app
from server.authentication import check_auth_settings
from server.crypto import KeyConfigError
from server.keys import vault_from_settings
from server.settings import Settings
from workers.ops_http import ops_app

KUBERNETES_VERSION = "1.30.0"
MANIFESTS = sorted((DOCKER / "kubernetes").glob("*.yaml"))
RESOURCES = [doc for path in MANIFESTS for doc in load_yaml_documents(path)]
IMAGE_UID = int(
    re.search(r"^ARG APP_UID=(\d+)$", (DOCKER / "Dockerfile").read_text("utf-8"), re.M)[1]  # type: ignore[index]  # the Dockerfile has it (test_dockerfile)
)


def _default(setting: str) -> Any:
    """A setting's default, whatever this test process' environment says."""
    return Settings.model_fields[setting].default


def _one(kind: str, name: str) -> dict[str, Any]:
    [resource] = [r for r in RESOURCES if r["kind"] == kind and r["metadata"]["name"] == name]
    return cast(dict[str, Any], resource)


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for resource in RESOURCES:
        if resource["kind"] in ("Deployment", "Job"):
            specs.append((resource["metadata"]["name"], resource["spec"]["template"]["spec"]))
    return specs


def _container(deployment: str) -> dict[str, Any]:
    [container] = _one("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return cast(dict[str, Any], container)


def _port(container: dict[str, Any], port: int | str) -> int:
    """A probe's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return cast(int, number)


@pytest.mark.parametrize(
    "resource",
    RESOURCES,
    ids=[f"{r['kind']}/{r['metadata']['name']}" for r in RESOURCES],
)
def test_every_manifest_is_valid_for_kubernetes(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    # namespace-less: `kubectl apply -n NAME -f docker/kubernetes/` puts them anywhere
    assert "namespace" not in resource["metadata"]


def test_the_set_is_complete() -> None:
    kinds = {(r["kind"], r["metadata"]["name"]) for r in RESOURCES}
    assert kinds == {
        ("ConfigMap", "workflow-engine-config"),
        ("Secret", "workflow-engine-secrets"),
        ("Job", "workflow-engine-migrate"),
        ("Deployment", "workflow-engine"),
        ("Service", "workflow-engine"),
        ("HorizontalPodAutoscaler", "workflow-engine"),
        ("PodDisruptionBudget", "workflow-engine"),
        ("Deployment", "workflow-engine-worker"),
        ("PodDisruptionBudget", "workflow-engine-worker"),
    }


def _deployment() -> dict[str, Any]:
    return copy.deepcopy(_one("Deployment", "workflow-engine"))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["spec"].update(replica=2),
        lambda d: d["spec"].update(replicas="two"),
        lambda d: d["spec"]["template"]["spec"].pop("containers"),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"].update(
            httpGet={"path": "/health/live"}
        ),
    ],
    ids=["unknown-field", "wrong-type", "no-containers", "probe-without-port"],
)
def test_the_validator_refuses_a_broken_manifest(change: Any) -> None:
    broken = _deployment()
    change(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_seed_kubectl_commands_find_the_api() -> None:
    # kubectl get pods -l app=workflow-engine; kubectl logs -f deployment/workflow-engine
    api = _one("Deployment", "workflow-engine")
    selector = api["spec"]["selector"]["matchLabels"]
    assert selector["app"] == "workflow-engine"
    assert selector.items() <= api["spec"]["template"]["metadata"]["labels"].items()
    worker = _one("Deployment", "workflow-engine-worker")
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    # the two Deployments, the Service and the budgets never claim each other's pods
    assert not selector.items() <= worker_labels.items()
    assert (
        not worker["spec"]["selector"]["matchLabels"].items()
        <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    service = _one("Service", "workflow-engine")
    assert service["spec"]["selector"] == selector
    assert _one("PodDisruptionBudget", "workflow-engine")["spec"]["selector"]["matchLabels"] == (
        selector
    )
    assert (
        _one("PodDisruptionBudget", "workflow-engine-worker")["spec"]["selector"]["matchLabels"]
        == worker["spec"]["selector"]["matchLabels"]
    )


def test_the_service_and_autoscaler_reach_the_api() -> None:
    service = _one("Service", "workflow-engine")
    [port] = service["spec"]["ports"]
    assert port["port"] == 8080
    assert _port(_container("workflow-engine"), port["targetPort"]) == 8080
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "8080"
    hpa = _one("HorizontalPodAutoscaler", "workflow-engine")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "workflow-engine",
    }
    # the autoscaler owns the count: an apply must not reset it
    assert "replicas" not in _one("Deployment", "workflow-engine")["spec"]
    assert hpa["spec"]["minReplicas"] >= 2  # one pod may be drained (the budget) and one serve
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # CPU utilisation is relative to the request: without one the autoscaler cannot work
    assert "cpu" in _container("workflow-engine")["resources"]["requests"]


def _served(app_routes: list[Any]) -> set[str]:
    return {route.path for route in app_routes if isinstance(route, Route)}


def test_api_probes_ask_what_the_api_serves() -> None:
    container = _container("workflow-engine")
    served = _served(create_app(Settings()).routes)
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == "/health/ready"
    for probe in probes.values():
        assert probe["path"] in served
        assert _port(container, probe["port"]) == _default("server_port") == 8080


def test_worker_probes_ask_what_the_worker_serves() -> None:
    container = _container("workflow-engine-worker")
    served = _served(ops_app(cast(Any, None)).routes)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[kind]["httpGet"]
        assert probe["path"] in served
        assert _port(container, probe["port"]) == _default("worker_metrics_port") == 9091
    annotations = _one("Deployment", "workflow-engine-worker")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/port"] == "9091"
    assert "/metrics" in served


def test_prometheus_scrapes_each_pod_once() -> None:
    # the API through its Service's endpoints, the workers (no Service) through their pods
    api = _one("Deployment", "workflow-engine")["spec"]["template"]["metadata"]
    assert "prometheus.io/scrape" not in api.get("annotations", {})
    service = _one("Service", "workflow-engine")["metadata"]["annotations"]
    assert service["prometheus.io/scrape"] == "true"
    assert service["prometheus.io/path"] == "/metrics"
    assert "/metrics" in _served(create_app(Settings()).routes)


@pytest.mark.parametrize(("name", "spec"), _pod_specs(), ids=[n for n, _ in _pod_specs()])
def test_pods_run_as_the_image_user_read_only(name: str, spec: dict[str, Any]) -> None:
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == IMAGE_UID
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        # the one writable place, as Python's tempfile expects
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert container["image"] == "workflow-engine:latest"
        assert container["args"][0] in cli_commands()


def _environment(deployment: str) -> dict[str, str]:
    """What a container's process sees: the ConfigMap, then its own env (which wins)."""
    environment = dict(_one("ConfigMap", "workflow-engine-config")["data"])
    environment.update({e["name"]: e["value"] for e in _container(deployment).get("env", [])})
    return environment


def test_shutdown_fits_in_the_grace_period() -> None:
    api = _one("Deployment", "workflow-engine")["spec"]["template"]["spec"]
    pre_stop = _container("workflow-engine")["lifecycle"]["preStop"]["sleep"]["seconds"]
    environment = _environment("workflow-engine")
    drain = float(environment["SHUTDOWN_GRACE_SECONDS"]) + float(
        environment.get("SHUTDOWN_DELAY_SECONDS", _default("shutdown_delay_seconds"))
    )
    assert api["terminationGracePeriodSeconds"] >= pre_stop + drain + 10
    worker = _one("Deployment", "workflow-engine-worker")["spec"]["template"]["spec"]
    environment = _environment("workflow-engine-worker")
    job_grace = float(environment["SHUTDOWN_GRACE_SECONDS"])
    assert job_grace >= float(environment["WORKER_JOB_TIMEOUT"])  # the longest job finishes
    assert worker["terminationGracePeriodSeconds"] >= job_grace + 10


def test_configuration_is_what_the_settings_read() -> None:
    config = _one("ConfigMap", "workflow-engine-config")["data"]
    secret = _one("Secret", "workflow-engine-secrets")["stringData"]
    assert env_problems([*config, *secret]) == []
    assert set(secret) == {"DATABASE_URL", "REDIS_URL", "JWT_SECRET", "ENCRYPTION_KEYS"}
    assert not set(config) & set(secret)
    # one name for both would merge the API's and the workers' spans into one service
    assert "OTEL_SERVICE_NAME" not in config
    # placeholders, and they say so
    assert all("CHANGE-ME" in value for value in secret.values())
    assert secret["DATABASE_URL"].startswith("postgres://")
    Settings.model_validate({name.lower(): value for name, value in config.items()})
    for name, spec in _pod_specs():
        for container in spec["containers"]:
            sources = {
                ref.get("configMapRef", ref.get("secretRef"))["name"]
                for ref in container["envFrom"]
            }
            assert sources == {"workflow-engine-config", "workflow-engine-secrets"}, name
            assert env_problems(e["name"] for e in container.get("env", [])) == []


def test_the_placeholder_secrets_stop_the_engine() -> None:
    # applied by mistake, they must not run a cluster on keys everyone can read
    secret = _one("Secret", "workflow-engine-secrets")["stringData"]
    settings = Settings.model_validate({name.lower(): value for name, value in secret.items()})
    refused = check_auth_settings(settings)
    assert refused is not None and "JWT_SECRET" in refused
    with pytest.raises(KeyConfigError):
        vault_from_settings(settings)


def test_the_migration_job_migrates() -> None:
    job = _one("Job", "workflow-engine-migrate")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    # deleted after a while, so that the next apply (a new image) runs it again
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_manifest_files_hold_yaml_only() -> None:
    # kubectl apply -f docker/kubernetes/ reads every file there: no stray kinds
    assert {path.suffix for path in (DOCKER / "kubernetes").iterdir()} == {".yaml"}
    assert all(r["apiVersion"] and r["kind"] for r in RESOURCES)
