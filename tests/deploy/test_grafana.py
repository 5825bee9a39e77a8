"""Grafana's provisioning (datasource, dashboards provider) and the dashboard JSON: the seed's
four sections, the provisioned datasource everywhere, every query parsed and naming only
metrics of server/metrics.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy.checks import (
    DOCKER,
    compose_config,
    dashboard_panels,
    dashboard_problems,
    known_metrics,
)

GRAFANA = DOCKER / "grafana"
SECTIONS = ("系统概览", "流程监控", "API 监控", "基础设施")  # the seed's Grafana 仪表板
KNOWN = known_metrics()
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    config = _yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yaml")
    assert config["apiVersion"] == 1
    [source] = config["datasources"]
    result: dict[str, Any] = source
    return result


@pytest.fixture(scope="module")
def dashboard() -> Any:
    return json.loads((GRAFANA / "dashboards" / "workflow-engine.json").read_text("utf-8"))


def test_the_datasource_is_compose_prometheus(datasource: dict[str, Any]) -> None:
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    stack = compose_config([DOCKER / "compose.yaml"])
    assert "prometheus" in stack["services"]
    assert "--web.listen-address" not in " ".join(stack["services"]["prometheus"]["command"])


def test_the_dashboards_provider_reads_the_mounted_folder() -> None:
    config = _yaml(GRAFANA / "provisioning" / "dashboards" / "workflow-engine.yaml")
    [provider] = config["providers"]
    assert provider["type"] == "file"
    grafana = compose_config([DOCKER / "compose.yaml"])["services"]["grafana"]
    mounts = {Path(v["source"]): v["target"] for v in grafana["volumes"] if v["type"] == "bind"}
    assert mounts[GRAFANA / "dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent == Path(provider["options"]["path"])
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_every_dashboard_is_valid(path: Path, datasource: dict[str, Any]) -> None:
    dashboard = json.loads(path.read_text("utf-8"))
    assert dashboard_problems(dashboard, datasource["uid"], SECTIONS, KNOWN) == []


def test_the_seed_metrics_are_on_the_dashboard(dashboard: Any) -> None:
    queries = " ".join(
        target["expr"]
        for panel in dashboard_panels(dashboard)
        for target in panel.get("targets", [])
    )
    for name in (
        "workflow_instances_total",
        "workflow_instances_active",
        "task_completion_time_bucket",
        "api_request_duration_bucket",
        "database_connections",
    ):
        assert name in queries


def _first_query_panel(dashboard: Any) -> dict[str, Any]:
    panel: dict[str, Any] = next(p for p in dashboard["panels"] if p.get("targets"))
    return panel


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["panels"].pop(0), "are not the sections"),
        (lambda d: _first_query_panel(d).update(datasource={"uid": "other"}), "datasource"),
        (lambda d: _first_query_panel(d)["targets"][0].pop("datasource"), "datasource"),
        (
            lambda d: _first_query_panel(d)["targets"][0].update(expr="sum(nope_total)"),
            "unknown metric",
        ),
        (lambda d: _first_query_panel(d)["targets"][0].update(expr="sum(up"), "does not parse"),
        (lambda d: _first_query_panel(d).update(targets=[]), "no query"),
        (lambda d: d["panels"][2].update(id=d["panels"][1]["id"]), "repeated"),
        (lambda d: d["panels"][2]["gridPos"].update(x=20, w=8), "24 columns"),
    ],
    ids=[
        "missing-section",
        "panel-datasource",
        "target-datasource",
        "unknown-metric",
        "unparsable",
        "no-query",
        "same-id",
        "off-grid",
    ],
)
def test_a_broken_dashboard_is_found(
    dashboard: Any, datasource: dict[str, Any], change: Any, problem: str
) -> None:
    broken = copy.deepcopy(dashboard)
    change(broken)
    problems = dashboard_problems(broken, datasource["uid"], SECTIONS, KNOWN)
    assert any(problem in p for p in problems), problems
