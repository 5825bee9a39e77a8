"""One transition: lock the instance, ask the engine, write everything it decided.

All of it happens in the caller's transaction: the instance's new state, the task, job,
timer, subscription and incident rows, and the history; what subscribers will see of it is
collected in ``changes`` (the outbox). Jobs and timers are collected in ``after`` and handed
to the runner only once the transaction has committed: a rolled-back change must never start
work. Child instances (call activities) start, and
report back to their parent, inside the same transaction.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine import (
    CompiledDefinition,
    Decision,
    EventRejected,
    InstanceState,
    InvalidVariables,
    StaleEvent,
    decide,
)
from engine import commands as cmd
from engine import events as ev
from server.crypto import KeyUnavailable, Vault
from server.metrics import Observations
from server.models import (
    Definition,
    Incident,
    Instance,
    Job,
    MessageSubscription,
    OutboxRecord,
    TaskCandidate,
    Timer,
    UserTask,
)
from server.services import definitions
from server.services.changes import Changes
from server.services.errors import Conflict, InvalidInput, NotFound

RUNNING = "running"
SUSPENDED = "suspended"
ENDED = frozenset({"completed", "failed", "cancelled"})


def sealed(
    vault: Vault, instance_id: int, values: dict[str, Any], names: frozenset[str]
) -> dict[str, Any]:
    """``values`` with the sensitive ones encrypted (as written to a row); without a key, a
    clear error instead of plaintext at rest."""
    if not names:
        return values
    try:
        return vault.seal(instance_id, values, names)
    except KeyUnavailable as error:
        raise _no_key(error) from error


def _no_key(error: KeyUnavailable) -> Conflict:
    return Conflict(
        f"this definition has sensitive variables and {error}", code="encryption_not_configured"
    )


@dataclass
class AfterCommit:
    """Work to hand over once the transaction has committed (and metrics to count then)."""

    jobs: list[Job] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)
    observed: Observations = field(default_factory=Observations)


class Transitions:
    """Applies events to instances within one session (one transaction)."""

    def __init__(
        self,
        session: AsyncSession,
        cache: definitions.DefinitionCache,
        *,
        now: datetime,
        actor: str | None,
        changes: Changes | None = None,
        after: AfterCommit | None = None,
        vault: Vault | None = None,
    ) -> None:
        self.session = session
        self.vault = Vault() if vault is None else vault
        self.cache = cache
        self.now = now
        self.actor = actor
        self.changes = Changes() if changes is None else changes
        self.after = AfterCommit() if after is None else after
        self._followups: deque[tuple[Instance, ev.Event]] = deque()

    # --- entry points -------------------------------------------------------------------

    async def start(
        self,
        row: Definition,
        variables: dict[str, Any],
        *,
        business_key: str | None,
        parent: Instance | None = None,
        parent_child_key: str | None = None,
    ) -> Instance:
        compiled = self.cache.get(row)
        if business_key is not None:
            taken = (
                await self.session.exec(
                    select(Instance.id).where(
                        col(Instance.definition_key) == row.key,
                        col(Instance.business_key) == business_key,
                    )
                )
            ).first()
            if taken is not None:
                raise Conflict(
                    f"business key {business_key!r} is already used by instance {taken} "
                    f"of {row.key!r}",
                    code="business_key_taken",
                )
        decision = self._decide(compiled, None, ev.InstanceStarted(variables, self.actor))
        assert row.id is not None
        instance = Instance(
            definition_id=row.id,
            definition_key=row.key,
            business_key=business_key,
            status=RUNNING,
            started_at=self.now,
            updated_at=self.now,
            started_by=self.actor,
            parent_id=None if parent is None else parent.id,
            parent_child_key=parent_child_key,
        )
        sensitive = compiled.sensitive
        if not sensitive:
            self._set_state(instance, decision.state, sensitive)  # inserted whole: no UPDATE
        self.session.add(instance)
        await self.session.flush()  # the id: rows below refer to it
        if sensitive:  # the id is the ciphertexts' associated data: the state follows the INSERT
            self._set_state(instance, decision.state, sensitive)
        await self._write(instance, decision, sensitive, state_set=True)
        self.after.observed.instance_started(row.key)
        await self._run_followups()
        return instance

    async def apply(self, instance: Instance, event: ev.Event) -> Decision:
        """Apply ``event`` to a locked instance (see :func:`lock_instance`)."""
        decision = await self._apply_one(instance, event)
        await self._run_followups()
        return decision

    # --- the engine ---------------------------------------------------------------------

    def _decide(
        self, compiled: CompiledDefinition, state: InstanceState | None, event: ev.Event
    ) -> Decision:
        try:
            return decide(compiled, state, event, self.now)
        except InvalidVariables as error:
            raise InvalidInput(error.problems, code="invalid_variables") from error
        except StaleEvent as error:
            raise Conflict(str(error), code="stale") from error
        except EventRejected as error:
            raise Conflict(str(error), code=error.code) from error

    async def _apply_one(self, instance: Instance, event: ev.Event) -> Decision:
        if instance.status in ENDED:
            raise Conflict(f"instance {instance.id} is {instance.status}", code="instance_ended")
        compiled = await self.cache.by_id(self.session, instance.definition_id)
        stored = instance.state
        if compiled.sensitive:
            assert instance.id is not None
            try:
                stored = self.vault.open_state(instance.id, stored)
            except KeyUnavailable as error:
                raise _no_key(error) from error
        decision = self._decide(compiled, InstanceState.from_json(stored), event)
        await self._write(instance, decision, compiled.sensitive)
        return decision

    async def _run_followups(self) -> None:
        while self._followups:
            instance, event = self._followups.popleft()
            await self._apply_one(instance, event)

    # --- writing a decision -------------------------------------------------------------

    def _set_state(
        self, instance: Instance, state: InstanceState, sensitive: frozenset[str]
    ) -> None:
        data = state.to_json()
        if sensitive:
            assert instance.id is not None
            try:
                data = self.vault.seal_state(instance.id, data, sensitive)
            except KeyUnavailable as error:
                raise _no_key(error) from error
        instance.state = data
        instance.variables = dict(data["variables"])
        instance.seq = state.seq
        instance.lock_version += 1
        instance.updated_at = self.now
        if state.status != RUNNING:
            instance.status = state.status
            instance.ended_at = self.now

    async def _write(
        self,
        instance: Instance,
        decision: Decision,
        sensitive: frozenset[str],
        *,
        state_set: bool = False,
    ) -> None:
        assert instance.id is not None
        if not state_set:
            self._set_state(instance, decision.state, sensitive)
        self.changes.instance(instance)
        for h in decision.history:
            self.changes.history(
                {
                    "instance_id": instance.id,
                    "seq": h.seq,
                    "type": h.type,
                    "step_id": h.step_id,
                    "token_id": h.token_id,
                    "actor": h.actor,
                    "at": h.at,
                    "data": h.data,
                }
            )
        for command in decision.commands:
            await self._carry_out(instance, command, sensitive)

    async def _carry_out(  # noqa: C901
        self, instance: Instance, c: cmd.Command, sensitive: frozenset[str]
    ) -> None:
        assert instance.id is not None
        iid = instance.id
        match c:
            case cmd.RunServiceTask():
                job = Job(
                    instance_id=iid,
                    key=c.job_id,
                    token_id=c.token_id,
                    step_id=c.step_id,
                    service_name=c.service_name,
                    method=c.method,
                    variables=sealed(self.vault, iid, c.variables, sensitive),
                    attempt=c.attempt,
                    max_attempts=c.max_attempts,
                    timeout_seconds=c.timeout_seconds,
                    run_at=c.run_at or self.now,
                    created_at=self.now,
                    external=c.external,
                )
                self.session.add(job)
                if not c.external:  # an external job waits for a client to fetch it
                    self.after.jobs.append(job)
            case cmd.CancelJob():
                await self._close(Job, iid, c.job_id, "cancelled", ("pending",))
            case cmd.CreateUserTask():
                await self._create_task(iid, c)
            case cmd.CancelUserTask():
                await self._cancel_task(iid, c.task_id)
            case cmd.ScheduleTimer():
                timer = Timer(
                    instance_id=iid,
                    key=c.timer_id,
                    token_id=c.token_id,
                    step_id=c.step_id,
                    due_at=c.due_at,
                )
                self.session.add(timer)
                self.after.timers.append(timer)
            case cmd.CancelTimer():
                await self._close(Timer, iid, c.timer_id, "cancelled", ("pending",))
            case cmd.SubscribeMessage():
                self.session.add(
                    MessageSubscription(
                        instance_id=iid,
                        key=c.subscription_id,
                        token_id=c.token_id,
                        step_id=c.step_id,
                        message=c.message,
                        correlation_key=c.correlation_key,
                        created_at=self.now,
                    )
                )
            case cmd.CancelSubscription():
                await self._delete_subscription(iid, c.subscription_id)
            case cmd.StartChildInstance():
                await self._start_child(instance, c)
            case cmd.CancelChildInstance():
                child = await self._child(instance, c.child_id)
                if child is not None and child.status not in ENDED:
                    self._followups.append((child, ev.CancelRequested("parent withdrew it")))
            case cmd.RaiseIncident():
                incident = Incident(
                    instance_id=iid,
                    key=c.incident_id,
                    token_id=c.token_id,
                    step_id=c.step_id,
                    error=c.error,
                    message=c.message,
                    created_at=self.now,
                )
                self.session.add(incident)
                self.changes.incident(incident)
                self.after.observed.incident_raised(instance.definition_key)
            case cmd.ResolveIncident():
                await self._resolve_incident(iid, c.incident_id, c.resolution)
            case cmd.InstanceCompleted():
                ended = "completed" if c.terminated_at is None else "terminated"
                self.after.observed.instance_ended(instance.definition_key, ended)
                await self._report_to_parent(
                    instance, lambda key: ev.ChildInstanceCompleted(key, c.variables)
                )
            case cmd.InstanceFailed():
                self.after.observed.instance_ended(instance.definition_key, "failed")
                await self._report_to_parent(
                    instance,
                    lambda key: ev.ChildInstanceFailed(key, c.message, c.error_code),
                )
            case cmd.InstanceCancelled():
                self.after.observed.instance_ended(instance.definition_key, "cancelled")
                await self._report_to_parent(
                    instance,
                    lambda key: ev.ChildInstanceFailed(key, f"the child was cancelled: {c.reason}"),
                )

    async def _close(
        self,
        table: type[Job] | type[Timer],
        iid: int,
        key: str,
        status: str,
        open_states: tuple[str, ...],
    ) -> None:
        await self.session.exec(
            update(table)
            .where(
                col(table.instance_id) == iid,
                col(table.key) == key,
                col(table.status).in_(open_states),
            )
            .values(status=status)
        )

    async def _cancel_task(self, iid: int, key: str) -> None:
        task = (
            await self.session.exec(
                select(UserTask).where(
                    col(UserTask.instance_id) == iid,
                    col(UserTask.key) == key,
                    col(UserTask.status) == "open",
                )
            )
        ).first()
        if task is not None:
            task.status = "cancelled"
            self.changes.task(task)

    async def _resolve_incident(self, iid: int, key: str, resolution: str) -> None:
        incident = (
            await self.session.exec(
                select(Incident).where(col(Incident.instance_id) == iid, col(Incident.key) == key)
            )
        ).first()
        if incident is not None:
            incident.status = "resolved"
            incident.resolution = resolution
            incident.resolved_at = self.now
            self.changes.incident(incident)

    async def _delete_subscription(self, iid: int, key: str) -> None:
        found = (
            await self.session.exec(
                select(MessageSubscription).where(
                    col(MessageSubscription.instance_id) == iid,
                    col(MessageSubscription.key) == key,
                )
            )
        ).first()
        if found is not None:
            await self.session.delete(found)

    async def _create_task(self, iid: int, c: cmd.CreateUserTask) -> None:
        task = UserTask(
            instance_id=iid,
            key=c.task_id,
            token_id=c.token_id,
            step_id=c.step_id,
            name=c.name,
            assignee=c.assignee,
            candidate_users=list(c.candidate_users),
            candidate_groups=list(c.candidate_groups),
            due_at=c.due_at,
            priority=c.priority,
            form=None if c.form is None else [f.model_dump(mode="json") for f in c.form],
            created_at=self.now,
        )
        self.session.add(task)
        await self.session.flush()
        assert task.id is not None
        self.changes.task(task)
        for user in dict.fromkeys(c.candidate_users):
            self.session.add(TaskCandidate(task_id=task.id, kind="user", value=user))
        for group in dict.fromkeys(c.candidate_groups):
            self.session.add(TaskCandidate(task_id=task.id, kind="group", value=group))

    async def _start_child(self, parent: Instance, c: cmd.StartChildInstance) -> None:
        try:
            row = await definitions.find(self.session, key=c.process, version=c.version)
        except NotFound as error:
            self._followups.append(
                (parent, ev.ChildInstanceFailed(c.child_id, error.message, None))
            )
            return
        await self.start(
            row,
            c.variables,
            business_key=c.business_key,
            parent=parent,
            parent_child_key=c.child_id,
        )

    async def _child(self, parent: Instance, child_key: str) -> Instance | None:
        return (
            await self.session.exec(
                select(Instance)
                .where(
                    col(Instance.parent_id) == parent.id,
                    col(Instance.parent_child_key) == child_key,
                )
                .with_for_update()
            )
        ).first()

    async def _report_to_parent(self, child: Instance, event: Any) -> None:
        if child.parent_id is None or child.parent_child_key is None:
            return
        parent = await lock_instance(self.session, child.parent_id)
        if parent.status not in ENDED:
            self._followups.append((parent, event(child.parent_child_key)))


async def lock_instance(session: AsyncSession, instance_id: int) -> Instance:
    """Load an instance for a transition, locked against concurrent ones (``FOR UPDATE`` on
    PostgreSQL; SQLite's single writer excludes them already). ``populate_existing``: a row
    read before the lock was taken is read again."""
    instance = (
        await session.exec(
            select(Instance)
            .where(col(Instance.id) == instance_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if instance is None:
        raise NotFound("process instance", instance_id)
    return instance
