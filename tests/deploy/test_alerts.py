"""docker/prometheus/alerts.yaml: Prometheus' rule-file format, every expression parsed by a
PromQL parser and naming only metrics of server/metrics.py and the catalogue's job names."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from deploy.checks import DOCKER, known_metrics, rule_file_problems

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
    } <= set(alerts)


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
