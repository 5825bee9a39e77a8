"""docker/prometheus/alerts.yaml: Prometheus' rule-file format, every expression parsed by a
PromQL parser and naming only metrics of server/metrics.py and the catalogue's job names."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from deploy.checks import DOCKER, known_metrics, query_problems, rule_file_problems
from deploy.exporters import EXPORTER_METRICS

from server.metrics import REGISTRY

KNOWN = known_metrics()


@pytest.fixture(scope="module")
def rules() -> Any:
    return yaml.safe_load((DOCKER / "prometheus" / "alerts.yaml").read_text("utf-8"))


def test_the_rule_file_is_valid(rules: Any) -> None:
    assert rule_file_problems(rules, KNOWN) == []


def test_the_seed_alert_is_there_as_the_seed_writes_it(rules: Any) -> None:
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    seed = alerts["HighErrorRate"]
    assert seed["expr"] == 'rate(http_requests_total{status=~"5.."}[5m]) > 0.1'
    assert seed["for"] == "5m"
    assert seed["annotations"]["summary"] == "工作流引擎错误率过高"
    # and the ones operators need beside it
    assert {
        "WorkflowEngineApiDown",
        "WorkflowEngineWorkerDown",
        "ApiLatencyHigh",
        "IncidentsGrowing",
        "OutboxLagHigh",
        "TimersLate",
        "DatabaseConnectionsNearMax",
        "PostgresDown",
        "RedisDown",
    } <= set(alerts)
    assert "pg_up" in alerts["PostgresDown"]["expr"]
    assert "redis_up" in alerts["RedisDown"]["expr"]


def test_the_catalogue_is_known_with_its_labels() -> None:
    # the seed's five metrics and the seed alert's counter, as exposed, with the catalogue's labels
    expected = {
        "workflow_instances_total": {"definition"},
        "workflow_instances_active": {"definition"},
        "task_completion_time_bucket": {"definition", "kind", "le"},
        "api_request_duration_bucket": {"method", "route", "status", "le"},
        "database_connections": {"state"},
        "http_requests_total": {"method", "route", "status"},
        "up": {"job", "instance"},
    }
    for name, labels in expected.items():
        assert labels <= KNOWN[name], name


def test_the_exporter_allow_list_is_apart_from_our_metrics() -> None:
    # an exporter name that our registry also has would hide a fault on either side
    ours = {sample for family in REGISTRY.collect() for sample in _names(family)}
    listed = [name for metrics in EXPORTER_METRICS.values() for name in metrics]
    assert len(listed) == len(set(listed))
    assert not ours & set(listed)
    prefixes = {"postgres": "pg_", "redis": "redis_"}
    for job, metrics in EXPORTER_METRICS.items():
        assert all(name.startswith(prefixes[job]) for name in metrics), job


def _names(family: Any) -> set[str]:
    return {family.name, *(sample.name for sample in family.samples)}


def _first_rule(rules: Any) -> dict[str, Any]:
    rule: dict[str, Any] = rules["groups"][0]["rules"][0]
    return rule


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.update(expr="rate(http_requests_total[5m]"), "does not parse"),
        (lambda r: r.update(expr="rate(http_requests_total)"), "does not parse"),
        (lambda r: r.update(expr="rate(http_request_total[5m]) > 1"), "unknown metric"),
        (lambda r: r.update(expr='up{job="workflow-engine"} == 0'), "unknown scrape job"),
        (lambda r: r.update(expr='rate(http_requests_total{code=~"5.."}[5m]) > 1'), "no label"),
        (
            lambda r: r.update(expr="sum by (path) (rate(http_requests_total[5m])) > 1"),
            "no selected metric has the label path",
        ),
        (lambda r: r.update(expr="pg_upp == 0"), "unknown metric"),
        (lambda r: r.update(expr="redis_connected_client > 1"), "unknown metric"),
        (lambda r: r.update(expr='pg_up{job="redis"} == 0'), "exposed by job 'postgres'"),
        (
            lambda r: r.update(expr='rate(http_requests_total{job="postgres"}[5m]) > 1'),
            "the engine's, not exposed by job 'postgres'",
        ),
        (lambda r: r.update(expr='up{job=~"postgre"} == 0'), "the pattern matches none"),
        (
            lambda r: r.update(expr='process_open_fds{job=~"redis|workflow-engine-api"} > 1'),
            "the engine's, not exposed by job 'redis'",
        ),
        (lambda r: r.update(expr='redis_up{datname="x"} == 0'), "no label datname"),
        (lambda r: r.pop("expr"), "`expr` is missing"),
        (lambda r: r.update({"for": "five minutes"}), "not a duration"),
        (lambda r: r.update(record="x"), "exactly one of"),
        (lambda r: r.update(alert="High Error Rate"), "invalid alert name"),
        (lambda r: r.update(annotations={}), "summary"),
        (lambda r: r.update(severity="page"), "unknown keys"),
    ],
    ids=[
        "unclosed",
        "type-error",
        "unknown-metric",
        "unknown-job",
        "unknown-label",
        "unknown-grouping-label",
        "exporter-metric-typo",
        "exporter-metric-typo-2",
        "exporter-metric-wrong-job",
        "our-metric-exporter-job",
        "job-pattern-matches-none",
        "job-pattern-includes-exporter",
        "exporter-metric-unknown-label",
        "no-expr",
        "bad-for",
        "alert-and-record",
        "bad-name",
        "no-summary",
        "unknown-key",
    ],
)
def test_a_broken_rule_is_found(rules: Any, change: Any, problem: str) -> None:
    broken = copy.deepcopy(rules)
    change(_first_rule(broken))
    problems = rule_file_problems(broken, KNOWN)
    assert any(problem in p for p in problems), problems


def test_a_repeated_alert_is_found(rules: Any) -> None:
    broken = copy.deepcopy(rules)
    broken["groups"][0]["rules"].append(copy.deepcopy(_first_rule(broken)))
    assert any("defined twice" in p for p in rule_file_problems(broken, KNOWN))


@pytest.mark.parametrize("doc", [None, [], {"groups": {}}, {"groups": [], "extra": 1}])
def test_a_file_that_is_not_a_rule_file_is_found(doc: Any) -> None:
    assert rule_file_problems(doc, KNOWN) != []


@pytest.mark.parametrize(
    "expr",
    [
        'pg_up{job="postgres"} == 0',
        'sum by (datname) (rate(pg_stat_database_xact_commit{job="postgres"}[5m])) > 0',
        'rate(redis_commands_processed_total{job="redis"}[5m]) > 0',
        'process_resident_memory_bytes{job=~"workflow-engine-api|workflow-engine-worker"} > 0',
        'up{job=~"postgres|redis"} == 0',
        'up{job!="prometheus"} == 0',
    ],
)
def test_an_exporter_query_from_its_job_is_accepted(expr: str) -> None:
    assert query_problems("q", expr, KNOWN) == []
