"""How tokens move: entering and leaving steps, branches, joins, and ending an instance.

The scope bookkeeping: a fork opens a scope that holds one unit in the branch that opened it;
each branch counts its live tokens; a branch whose last token ends is finished; the join fires
once, when enough branches are finished; the scope gives its unit back when it is done. The
root scope is the instance: when its branch is finished, the instance has completed.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from engine import commands as cmd
from engine import compiled as c
from engine.expressions import ExpressionError, Value
from engine.state import COMPLETED, FAILED, ROOT, InstanceState, Scope, Token

#: Automatic steps one decision may run before it stops with an incident: a loop of gateways
#: and assignments whose exit condition never holds must not spin forever.
MAX_AUTOMATIC_STEPS = 10_000


class Flow:
    """One decision in progress: a working copy of the state and what it has produced."""

    def __init__(
        self,
        definition: c.CompiledDefinition,
        state: InstanceState,
        now: datetime,
        actor: str | None,
    ) -> None:
        self.definition = definition
        self.state = state
        self.now = now
        self.actor = actor
        self.commands: list[cmd.Command] = []
        self.history: list[cmd.HistoryEvent] = []
        self.queue: deque[tuple[Token, str]] = deque()  # tokens about to enter a step
        self.budget = MAX_AUTOMATIC_STEPS

    def new_id(self, prefix: str) -> str:
        self.state.counter += 1
        return f"{prefix}-{self.state.counter}"

    def record(
        self, kind: str, token: Token | None = None, step_id: str | None = None, **data: Any
    ) -> None:
        self.state.seq += 1
        self.history.append(
            cmd.HistoryEvent(
                seq=self.state.seq,
                type=kind,
                at=self.now,
                step_id=step_id if step_id is not None else (token.step if token else None),
                token_id=token.id if token else None,
                actor=self.actor,
                data=data or None,
            )
        )

    def context(self, token: Token | None) -> dict[str, Any]:
        if token is None or not token.locals:
            return self.state.variables
        return {**self.state.variables, **token.locals}

    def spawn(self, step_id: str, scope: str, branch: int, locals_: dict[str, Any] | None) -> Token:
        token = Token(self.new_id("tok"), step_id, scope, branch, locals=locals_)
        self.state.tokens[token.id] = token
        self.state.scopes[scope].live[branch] += 1
        return token

    def set_variables(self, token: Token | None, changes: dict[str, Any], source: str) -> None:
        current = self.state.variables
        changed = {k: v for k, v in changes.items() if k not in current or current[k] != v}
        if not changed:
            return
        current.update(changed)
        self.record("variables_set", token, source=source, variables=self.masked(changed))

    def masked(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values for the history: a ``sensitive`` variable shows as ``***``."""
        hidden = self.definition.sensitive
        if not hidden or hidden.isdisjoint(values):
            return values
        return {k: "***" if k in hidden and v is not None else v for k, v in values.items()}

    def park(self, token: Token, prefix: str) -> str:
        """The token waits for a new piece of work (a job, task, timer, message or child)."""
        token.status = "waiting"
        token.wait = self.new_id(prefix)
        return token.wait

    def enter(self, token: Token, step_id: str) -> None:
        token.status = "pending"  # until drained: withdrawn before then, it never ran
        self.queue.append((token, step_id))

    def drain(self) -> None:
        while self.queue:
            token, step_id = self.queue.popleft()
            if token.id not in self.state.tokens:
                continue  # withdrawn meanwhile (a join with cancel, a terminate)
            token.step = step_id
            self.budget -= 1
            if self.budget < 0:
                self.incident(
                    token,
                    "loop_limit",
                    f"more than {MAX_AUTOMATIC_STEPS} automatic steps without a wait: "
                    "a loop whose exit condition never holds?",
                )
                continue
            token.status = "active"
            self.record("step_entered", token)
            self.activate(token, self.definition.steps[step_id])

    def leave(
        self, token: Token, step: c.CompiledStep, targets: tuple[str, ...] | None = None
    ) -> None:
        """Follow the outgoing flows: the token takes the first, new tokens the others."""
        targets = step.next if targets is None else targets
        if not targets:
            self.end_branch(token)
            return
        self.enter(token, targets[0])
        for target in targets[1:]:
            self.enter(
                self.spawn(target, token.scope, token.branch, copy_locals(token.locals)), target
            )

    def end_branch(self, token: Token) -> None:
        del self.state.tokens[token.id]
        scope = self.state.scopes[token.scope]
        scope.live[token.branch] -= 1
        if scope.live[token.branch] == 0:
            self.branch_finished(scope)

    def release(self, scope: Scope) -> None:
        """A scope is done: give its unit back to the branch that holds it."""
        del self.state.scopes[scope.id]
        for child in self.state.scopes.values():
            if child.parent == scope.id:  # detached stragglers: still cancellable from above
                child.parent = scope.parent
        holder = (
            self.state.scopes[ROOT] if scope.detached else self.state.scopes[scope.parent or ROOT]
        )
        branch = 0 if scope.detached else scope.parent_branch
        holder.live[branch] -= 1
        if holder.live[branch] == 0:
            self.branch_finished(holder)

    def detach(self, scope: Scope) -> None:
        """A join fired and left its other branches running (a discriminator without cancel):
        they no longer hold up the branch that opened the scope, only the instance's end."""
        assert scope.parent is not None
        self.state.scopes[ROOT].live[0] += 1  # first: the instance must not end meanwhile
        scope.detached = True
        parent = self.state.scopes[scope.parent]
        parent.live[scope.parent_branch] -= 1
        if parent.live[scope.parent_branch] == 0:  # the continuation may have ended already
            self.branch_finished(parent)

    def branch_finished(self, scope: Scope) -> None:
        if scope.kind == "root":
            self.complete_instance()
            return
        scope.completed += 1
        total = len(scope.live)
        if scope.kind == "multi":
            if not scope.fired and self.multi_completion_holds(scope):
                scope.cancel_remaining = True
                self.fire(scope)
                return
            if scope.started < total and not any(scope.live):
                self.start_element(scope, scope.started)
                return
        if not scope.fired and scope.completed >= scope.required:
            self.fire(scope)
        elif scope.fired and scope.id in self.state.scopes and scope.completed >= total:
            self.release(scope)

    def fire(self, scope: Scope) -> None:
        """The join fires: the flow goes on after the gateway, once per activation."""
        scope.fired = True
        assert scope.step is not None and scope.parent is not None
        step = self.definition.steps[scope.step]
        self.record("join_fired", None, step.id, scope=scope.id, completed=scope.completed)
        if scope.kind == "multi":
            multi = step.multi
            if multi is not None and multi.output_collection and scope.results is not None:
                self.set_variables(None, {multi.output_collection: list(scope.results)}, step.id)
        parent_token = self.spawn(step.id, scope.parent, scope.parent_branch, None)
        self.record("step_completed", parent_token)
        self.leave(parent_token, step)
        if scope.cancel_remaining:
            self.cancel_scope(scope, "the join fired")
        if scope.id in self.state.scopes:
            if scope.cancel_remaining or scope.completed >= len(scope.live):
                self.release(scope)
            else:
                self.detach(scope)

    def evaluate(self, token: Token, value: Value | None, what: str) -> tuple[bool, Any]:
        """(ok, result); on failure the token is in incident and ok is False."""
        if value is None:
            return True, None
        try:
            return True, value.evaluate(self.context(token))
        except ExpressionError as error:
            self.incident(token, "expression_failed", f"{what}: {error}")
            return False, None

    def cancel_timers(self, token: Token) -> None:
        for timer_id in token.timers or ():
            self.commands.append(cmd.CancelTimer(timer_id))
        for sub_id in token.subscriptions or ():
            self.commands.append(cmd.CancelSubscription(sub_id))
        token.timers = None
        token.subscriptions = None

    def withdraw(self, token: Token, reason: str) -> None:
        """Stop whatever the token waits for and take it away."""
        step = self.definition.steps[token.step]
        if token.wait is not None:
            self.commands.append(cancel_command(step.kind, token.wait, reason))
        self.cancel_timers(token)
        if token.incident is not None:
            self.commands.append(cmd.ResolveIncident(token.incident, "cancelled"))
        if token.status != "pending":
            self.record("step_cancelled", token, reason=reason)
        self.state.tokens.pop(token.id, None)

    def cancel_scope(self, scope: Scope, reason: str) -> None:
        for child in [s for s in self.state.scopes.values() if s.parent == scope.id]:
            self.cancel_scope(child, reason)
            del self.state.scopes[child.id]
            if child.detached:
                self.state.scopes[ROOT].live[0] -= 1  # never the last unit: a fire holds one
        for token in [t for t in self.state.tokens.values() if t.scope == scope.id]:
            self.withdraw(token, reason)
        scope.live = [0] * len(scope.live)

    def withdraw_all(self, reason: str) -> None:
        for token in list(self.state.tokens.values()):
            self.withdraw(token, reason)
        self.state.scopes.clear()
        self.queue.clear()

    def finish(self, status: str, kind: str, **data: Any) -> None:
        self.state.status = status
        self.state.scopes.clear()
        self.record(kind, None, None, **data)

    def complete_instance(self) -> None:
        self.finish(COMPLETED, "instance_completed")
        self.commands.append(cmd.InstanceCompleted(dict(self.state.variables)))

    def fail_instance(self, error_code: str, message: str) -> None:
        self.withdraw_all("failed")
        self.state.error = {"code": error_code, "message": message}
        self.finish(FAILED, "instance_failed", error_code=error_code, message=message)
        self.commands.append(cmd.InstanceFailed(error_code, message))

    def incident(
        self, token: Token, error: str, message: str, pending: dict[str, Any] | None = None
    ) -> None:
        token.status = "incident"
        token.incident = self.new_id("inc")
        token.resume = "enter" if pending is None else "complete"
        token.pending = pending
        self.record("incident_raised", token, incident=token.incident, error=error, message=message)
        self.commands.append(
            cmd.RaiseIncident(token.incident, token.id, token.step, error, message)
        )

    # --- provided by the step layer (engine.steps) --------------------------------------------

    def activate(self, token: Token, step: c.CompiledStep, *, boundaries: bool = True) -> None:
        raise NotImplementedError

    def start_element(
        self, scope: Scope, index: int, parent_locals: dict[str, Any] | None = None
    ) -> None:
        raise NotImplementedError

    def multi_completion_holds(self, scope: Scope) -> bool:
        raise NotImplementedError


def copy_locals(values: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if values is None else dict(values)


def cancel_command(kind: str, wait_id: str, reason: str) -> cmd.Command:
    if kind == "service_task":
        return cmd.CancelJob(wait_id)
    if kind == "user_task":
        return cmd.CancelUserTask(wait_id, reason)
    if kind == "call_activity":
        return cmd.CancelChildInstance(wait_id)
    if kind == "receive_task":
        return cmd.CancelSubscription(wait_id)
    return cmd.CancelTimer(wait_id)
