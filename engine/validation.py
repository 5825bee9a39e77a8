"""Deploy-time validation and compilation of definitions.

Every problem is reported at once, each with its JSON path: the shape (pydantic), then the
graph (references, reachability, joins), the expressions (compiled once, here) and the
durations. A definition with no problem is compiled into a :class:`CompiledDefinition`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engine import compiled as c
from engine import definition as d
from engine.errors import DefinitionInvalid, Problem
from engine.graph import predecessors, reach
from engine.problems import from_validation_error
from engine.step_compiler import StepCompiler, join_required
from engine.variables import check_value

_STEP = TypeAdapter[d.Step](d.Step)
_VARIABLES = TypeAdapter(dict[str, d.VariableType | d.VariableSpec])
_BOUNDARY_HOSTS = {
    "timer_event": frozenset({"service_task", "user_task", "receive_task", "call_activity"}),
    "error_event": frozenset({"service_task", "call_activity"}),
}


def validate_definition(data: object) -> list[Problem]:
    """Every problem of a definition (an empty list when it is valid)."""
    return _Compiler(data).run()[1]


def compile_definition(data: object) -> c.CompiledDefinition:
    """Validate and compile; raise :class:`DefinitionInvalid` listing every problem."""
    compiled, problems = _Compiler(data).run()
    if problems or compiled is None:
        raise DefinitionInvalid(problems)
    return compiled


class _Compiler:
    def __init__(self, data: object) -> None:
        if isinstance(data, d.ProcessDefinition):
            data = data.model_dump(mode="json", by_alias=True, exclude_none=True)
        self.raw = data
        self.problems: list[Problem] = []
        self.steps: dict[str, tuple[int, d.Step]] = {}  # id -> (index, parsed step)
        self.known_ids: set[str] = set()  # ids of every step, parsed or not
        self.variables: dict[str, d.VariableSpec] | None = None
        self.edges: dict[str, list[str]] = {}

    def problem(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path, code, message))

    # --- the passes ---------------------------------------------------------------------

    def run(self) -> tuple[c.CompiledDefinition | None, list[Problem]]:
        raw = self.raw
        if not isinstance(raw, Mapping):
            self.problem(
                "$", "not_a_definition", "a definition is a JSON object with 'name' and 'steps'"
            )
            return None, self.problems
        if "steps" not in raw and "type" in raw:
            self.problem(
                "$",
                "not_a_definition",
                f"this is a single step ({raw.get('type')!r}), not a process definition: put it in "
                "the 'steps' list of a definition that has a 'name'",
            )
            return None, self.problems
        model: d.ProcessDefinition | None = None
        try:
            model = d.ProcessDefinition.model_validate(raw)
        except ValidationError as error:
            self.problems.extend(from_validation_error(error))
        self._parse_parts(raw)
        start = self._check_graph(raw)
        compiled_steps = self._compile_steps()
        if self.problems or model is None or start is None or self.variables is None:
            return None, _sorted(self.problems)
        return (
            c.CompiledDefinition(
                key=model.key or model.name,
                name=model.name,
                version=model.version,
                start=start,
                steps=compiled_steps,
                variables=self.variables,
                sensitive=frozenset(n for n, s in self.variables.items() if s.sensitive),
                source=model,
            ),
            [],
        )

    def _parse_parts(self, raw: Mapping[str, Any]) -> None:
        """Parse each step on its own, so one broken step does not hide the others' problems."""
        try:
            declared = _VARIABLES.validate_python(raw.get("variables") or {})
            self.variables = {
                name: spec if isinstance(spec, d.VariableSpec) else d.VariableSpec(type=spec)
                for name, spec in declared.items()
            }
            for name, spec in self.variables.items():
                if spec.default is not None:
                    problem = check_value(spec.type, spec.default, f"$.variables.{name}.default")
                    if problem is not None:
                        self.problems.append(problem)
        except ValidationError:
            self.variables = None  # already reported; skip the reference checks
        steps = raw.get("steps")
        if not isinstance(steps, list):
            return
        if not steps:
            self.problem("$.steps", "no_start", "the process has no steps")
        for index, item in enumerate(steps):
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            step_id: str = item["id"]
            if step_id in self.known_ids:
                self.problem(
                    f"$.steps[{index}].id",
                    "duplicate_step_id",
                    f"step id '{step_id}' is used twice",
                )
                continue
            self.known_ids.add(step_id)
            try:
                self.steps[step_id] = (index, _STEP.validate_python(item))
            except ValidationError:
                pass  # reported by the whole-definition pass

    # --- graph ----------------------------------------------------------------------------

    def _ref(self, path: str, target: str | None) -> str | None:
        if target is None:
            return None
        if target not in self.known_ids:
            self.problem(path, "unknown_step", f"unknown step '{target}'")
            return None
        return target

    def _check_graph(self, raw: Mapping[str, Any]) -> str | None:
        boundaries_by_host: dict[str, list[str]] = {}
        targets_of_flows: dict[str, str] = {}  # step -> path of one flow into it
        for step_id, (index, step) in self.steps.items():
            base = f"$.steps[{index}]"
            outgoing: list[str] = []
            for i, target in enumerate(step.next):
                if self._ref(f"{base}.next[{i}]", target):
                    outgoing.append(target)
                    targets_of_flows.setdefault(target, f"{base}.next[{i}]")
            outgoing += self._config_edges(step, base, targets_of_flows)
            self.edges[step_id] = outgoing
            self._check_step_rules(step, base)
            if isinstance(step, d.TimerEvent | d.ErrorEvent) and step.config.attached_to:
                host = self._ref(f"{base}.config.attached_to", step.config.attached_to)
                if host is not None:
                    boundaries_by_host.setdefault(host, []).append(step_id)
                    self._check_boundary_host(step, host, base)
        for host, boundary_ids in boundaries_by_host.items():
            self.edges.setdefault(host, []).extend(boundary_ids)
        for step_id, flow_path in targets_of_flows.items():
            entry = self.steps.get(step_id)
            if entry and _is_boundary(entry[1]):
                self.problem(
                    flow_path,
                    "boundary_is_target",
                    f"'{step_id}' is a boundary event of '{_attached(entry[1])}': "
                    "it fires from its task and cannot be the target of a flow",
                )
        start = self._find_start(raw)
        if start is None:
            return None
        if len(self.steps) < len(self.known_ids):
            # a step whose shape is wrong has unknown flows: reachability and endings would
            # only report false problems around it, so they wait until the shape is fixed
            return start
        reachable = reach(start, self.edges)
        for step_id, (index, _) in self.steps.items():
            if step_id not in reachable:
                self.problem(
                    f"$.steps[{index}]",
                    "unreachable_step",
                    f"step '{step_id}' can never be reached from the start '{start}'",
                )
        self._check_endings(reachable)
        return start

    def _config_edges(self, step: d.Step, base: str, flows: dict[str, str]) -> list[str]:
        refs: list[tuple[str, str | None]] = []
        if isinstance(step, d.ExclusiveGateway | d.InclusiveGateway):
            refs += [
                (f"{base}.config.conditions[{i}].next", cond.next)
                for i, cond in enumerate(step.config.conditions)
            ]
            refs.append((f"{base}.config.default", step.config.default))
        elif isinstance(step, d.ParallelGateway):
            refs += [
                (f"{base}.config.parallel_tasks[{i}]", t)
                for i, t in enumerate(step.config.parallel_tasks)
            ]
        elif isinstance(step, d.TimerEvent):
            refs.append((f"{base}.config.action", step.config.action))
        found: list[str] = []
        for path, target in refs:
            if self._ref(path, target) is not None:
                assert target is not None
                found.append(target)
                flows.setdefault(target, path)
        return found

    def _check_step_rules(self, step: d.Step, base: str) -> None:  # noqa: C901 - one rule each
        if isinstance(step, d.EndEvent) and step.next:
            self.problem(f"{base}.next", "end_with_next", "an end event has no outgoing path")
        elif isinstance(step, d.ExclusiveGateway | d.InclusiveGateway):
            if isinstance(step, d.ExclusiveGateway) and step.next:
                self.problem(
                    f"{base}.next",
                    "gateway_next",
                    "an exclusive gateway chooses through its conditions: move these ids into "
                    "config.conditions or config.default",
                )
            if not step.config.conditions and step.config.default is None:
                self.problem(
                    f"{base}.config",
                    "gateway_without_paths",
                    f"gateway '{step.id}' has no outgoing paths: add conditions or a default",
                )
        elif isinstance(step, d.ParallelGateway):
            if not step.config.parallel_tasks:
                self.problem(
                    f"{base}.config.parallel_tasks",
                    "gateway_without_paths",
                    f"gateway '{step.id}' has no outgoing paths: list its parallel_tasks",
                )
            else:
                join_required(step, base, self.problems)
        elif isinstance(step, d.EventGateway):
            if not step.next:
                self.problem(
                    f"{base}.next",
                    "gateway_without_paths",
                    f"event gateway '{step.id}' has no outgoing paths: "
                    "list the events it waits for",
                )
            for i, target in enumerate(step.next):
                entry = self.steps.get(target)
                if entry is None:
                    continue
                if _is_boundary(entry[1]):
                    continue  # reported as boundary_is_target
                if isinstance(entry[1], d.ReceiveTask) and entry[1].multi_instance:
                    self.problem(
                        f"{base}.next[{i}]",
                        "invalid_event_gateway_target",
                        f"an event gateway waits for one event: '{target}' is a multi-instance "
                        "receive_task",
                    )
                elif not isinstance(entry[1], d.ReceiveTask | d.TimerEvent):
                    self.problem(
                        f"{base}.next[{i}]",
                        "invalid_event_gateway_target",
                        f"an event gateway waits for events: '{target}' must be a receive_task "
                        "or a timer_event",
                    )
        elif isinstance(step, d.TimerEvent):
            if (step.config.duration is None) == (step.config.until is None):
                self.problem(
                    f"{base}.config",
                    "invalid_timer",
                    "a timer needs exactly one of 'duration' or 'until'",
                )
            if step.config.action and step.next and step.next != [step.config.action]:
                self.problem(
                    f"{base}.config.action",
                    "invalid_timer",
                    "'action' and 'next' both say where to go: keep one",
                )
        if isinstance(step, d.ServiceTask | d.UserTask | d.ReceiveTask | d.CallActivity):
            mi = step.multi_instance
            if mi is not None and (mi.for_each is None) == (mi.cardinality is None):
                self.problem(
                    f"{base}.multi_instance",
                    "invalid_multi_instance",
                    "multi_instance needs exactly one of 'for_each' or 'cardinality'",
                )

    def _check_boundary_host(self, step: d.TimerEvent | d.ErrorEvent, host: str, base: str) -> None:
        host_step = self.steps.get(host)
        if host_step is None:
            return
        allowed = _BOUNDARY_HOSTS[step.type]
        if host_step[1].type not in allowed:
            self.problem(
                f"{base}.config.attached_to",
                "invalid_boundary",
                f"{_article(step.type)} {step.type} can be attached to "
                f"{', '.join(sorted(allowed))}, not to the {host_step[1].type} '{host}'",
            )
        elif getattr(host_step[1], "multi_instance", None) is not None:
            self.problem(
                f"{base}.config.attached_to",
                "invalid_boundary",
                f"'{host}' is a multi-instance step: boundary events on it are not supported; "
                "put it in a call_activity and attach the boundary there",
            )

    def _find_start(self, raw: Mapping[str, Any]) -> str | None:
        starts = [s.id for _, s in self.steps.values() if isinstance(s, d.StartEvent)]
        explicit = raw.get("start")
        if len(starts) > 1:
            self.problem(
                "$.steps",
                "multiple_starts",
                f"a process has one start_event; found {len(starts)}: {', '.join(starts)}",
            )
            return None
        if isinstance(explicit, str):
            if explicit not in self.known_ids:
                self.problem("$.start", "no_start", f"the start step '{explicit}' does not exist")
                return None
            if starts and starts[0] != explicit:
                self.problem(
                    "$.start",
                    "multiple_starts",
                    f"'start' names '{explicit}' but the start_event is '{starts[0]}'",
                )
                return None
            return explicit if explicit in self.steps else None
        if starts:
            return starts[0]
        steps = raw.get("steps")
        if isinstance(steps, list) and steps:
            first = steps[0]
            if isinstance(first, Mapping) and isinstance(first.get("id"), str):
                first_id: str = first["id"]
                return first_id if first_id in self.steps else None
        return None  # no steps, or none whose shape is valid: already reported

    def _check_endings(self, reachable: set[str]) -> None:
        """Every step can reach an end, and every join can fire."""
        enders = {
            step_id for step_id, out in self.edges.items() if not _flow_targets(self, step_id, out)
        }
        reverse: dict[str, list[str]] = {}
        for source, targets in self.edges.items():
            for target in targets:
                reverse.setdefault(target, []).append(source)
        can_finish: set[str] = set()
        queue = deque(enders)
        while queue:
            step_id = queue.popleft()
            if step_id in can_finish:
                continue
            can_finish.add(step_id)
            queue.extend(reverse.get(step_id, ()))
        for step_id, (index, step) in self.steps.items():
            if step_id in reachable and step_id not in can_finish:
                self.problem(
                    f"$.steps[{index}]",
                    "no_path_to_end",
                    f"step '{step_id}' can never finish: every path from it loops back without "
                    "reaching an end",
                )
            if isinstance(step, d.ParallelGateway | d.InclusiveGateway):
                self._check_block(step, index, can_finish)

    def _check_block(
        self, step: d.ParallelGateway | d.InclusiveGateway, index: int, can_finish: set[str]
    ) -> None:
        base = f"$.steps[{index}]"
        if isinstance(step, d.ParallelGateway):
            branches = [
                (f"{base}.config.parallel_tasks[{i}]", b)
                for i, b in enumerate(step.config.parallel_tasks)
            ]
        else:
            branches = [
                (f"{base}.config.conditions[{i}].next", cond.next)
                for i, cond in enumerate(step.config.conditions)
            ]
            if step.config.default:
                branches.append((f"{base}.config.default", step.config.default))
        for path, branch in branches:
            if branch not in self.steps:
                continue
            inside = reach(branch, self.edges, stop=step.id)
            for after in step.next:
                if after in inside:
                    self.problem(
                        path,
                        "branch_leaves_block",
                        f"branch '{branch}' of '{step.id}' runs into '{after}', which follows the "
                        "join: end the branch (no 'next' on its last step) and "
                        f"'{step.id}' joins it",
                    )
        if isinstance(step, d.ParallelGateway) and step.config.parallel_tasks:
            required = join_required(step, base, [])
            finishing = sum(1 for b in step.config.parallel_tasks if b in can_finish)
            if required is not None and finishing < required:
                self.problem(
                    f"{base}.config.join_condition",
                    "join_never_completes",
                    f"the join of '{step.id}' waits for {required} branch(es) but only "
                    f"{finishing} can ever complete",
                )

    # --- compiling steps -------------------------------------------------------------------

    def _compile_steps(self) -> dict[str, c.CompiledStep]:
        earlier = predecessors(self.edges)
        out: dict[str, c.CompiledStep] = {}
        boundaries: dict[str, list[c.Boundary]] = {}
        for step_id, (index, step) in self.steps.items():
            scope = StepCompiler(self, step, index, earlier)
            compiled = scope.compile()
            if compiled is not None:
                out[step_id] = compiled
            boundary = scope.boundary()
            if boundary is not None and isinstance(step, d.TimerEvent | d.ErrorEvent):
                boundaries.setdefault(step.config.attached_to or "", []).append(boundary)
        for host, found in boundaries.items():
            if host in out:
                timers = tuple(b for b in found if b.error_code is None)
                errors = tuple(b for b in found if b.error_code is not None)
                out[host] = replace(out[host], timers=timers, errors=errors)
        return out


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _is_boundary(step: d.Step) -> bool:
    return isinstance(step, d.ErrorEvent) or (
        isinstance(step, d.TimerEvent) and step.config.attached_to is not None
    )


def _attached(step: d.Step) -> str:
    return getattr(step.config, "attached_to", "") or ""


def _flow_targets(owner: _Compiler, step_id: str, out: list[str]) -> list[str]:
    """Outgoing edges that continue the flow (boundary events do not: they are alternatives)."""
    return [t for t in out if not (t in owner.steps and _is_boundary(owner.steps[t][1]))]


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (_path_key(p.path), p.code))


def _path_key(path: str) -> tuple[Any, ...]:
    parts = (p for p in re.split(r"[.\[\]]+", path) if p)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
