"""Grafana's provisioning (datasource, dashboards provider) and the dashboard JSON: the seed's
four sections, the provisioned datasource everywhere, every query parsed and naming only
metrics of server/metrics.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from deploy.checks import (
    DOCKER,
    compose_config,
    dashboard_panels,
    dashboard_problems,
    grafana_query,
    known_metrics,
    promql_nodes,
)
from deploy.exporters import EXPORTER_METRICS

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


def _section(dashboard: Any, title: str) -> list[dict[str, Any]]:
    """The panels under the row ``title``, up to the next row."""
    panels: list[dict[str, Any]] = []
    inside = False
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            inside = panel.get("title") == title
        elif inside:
            panels.append(panel)
    return panels


def _queries(panels: list[dict[str, Any]]) -> list[str]:
    return [str(target["expr"]) for panel in panels for target in panel.get("targets", [])]


def test_the_infrastructure_row_shows_the_databases_and_the_processes(dashboard: Any) -> None:
    # the seed: 基础设施 shows 数据库、Redis、资源使用情况
    queries = " ".join(_queries(_section(dashboard, "基础设施")))
    for job, metrics in EXPORTER_METRICS.items():
        for name in metrics:
            assert f'{name}{{job="{job}"' in queries, name
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
        assert name in queries


def test_process_metrics_are_the_engine_s(dashboard: Any) -> None:
    # the exporters (Go programs) expose process_* too: a bare selector would mix them in
    for expr in _queries(list(dashboard_panels(dashboard))):
        selectors = [
            node
            for node in promql_nodes(grafana_query(expr))
            if isinstance(node, promql_parser.VectorSelector)
        ]
        for node in selectors:
            if node.name and node.name.startswith("process_"):
                jobs = [m.value for m in node.matchers.matchers if m.name == "job"]
                assert jobs == ["workflow-engine-api|workflow-engine-worker"], expr


def _infrastructure_target(dashboard: Any, metric: str) -> dict[str, Any]:
    for panel in _section(dashboard, "基础设施"):
        for target in panel.get("targets", []):
            if metric in target["expr"]:
                found: dict[str, Any] = target
                return found
    raise AssertionError(metric)


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
        (
            lambda d: _infrastructure_target(d, "workflow_outbox_pending").update(
                expr="max(workflow_outbox_pendng)"
            ),
            "unknown metric workflow_outbox_pendng",
        ),
        (
            lambda d: _infrastructure_target(d, "redis_connected_clients").update(
                expr='max(redis_connected_client{job="redis"})'
            ),
            "unknown metric redis_connected_client",
        ),
        (
            lambda d: _infrastructure_target(d, "pg_database_size_bytes").update(
                expr='max(pg_database_size_bytes{job="redis"})'
            ),
            "exposed by job 'postgres'",
        ),
        (
            lambda d: _infrastructure_target(d, "process_resident_memory_bytes").update(
                expr='process_resident_memory_bytes{job="postgres"}'
            ),
            "the engine's, not exposed by job 'postgres'",
        ),
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
        "our-metric-typo-infrastructure",
        "exporter-metric-typo",
        "exporter-metric-wrong-job",
        "process-metric-exporter-job",
    ],
)
def test_a_broken_dashboard_is_found(
    dashboard: Any, datasource: dict[str, Any], change: Any, problem: str
) -> None:
    broken = copy.deepcopy(dashboard)
    change(broken)
    problems = dashboard_problems(broken, datasource["uid"], SECTIONS, KNOWN)
    assert any(problem in p for p in problems), problems
