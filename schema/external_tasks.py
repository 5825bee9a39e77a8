"""External tasks: workers in any language fetch, lock and report service-task jobs.

The verbs of Camunda 7's external task API (fetchAndLock, extendLock, complete,
handleFailure, handleBpmnError) as mutations; the logic is in ``server.services.external``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from schema import fields
from schema.context import Context
from schema.errors import (
    ConflictError,
    NotFoundError,
    ValidationFailed,
    attempt,
    expected_error,
    validation_failed,
)
from server.services.errors import InvalidInput
from server.services.external import ExternalJob, ExternalTasks, TopicRequest

if TYPE_CHECKING:
    from schema.instances import ProcessInstance

Info = strawberry.Info[Context, None]


@strawberry.type(
    description="A service-task job whose handler lives outside the engine. `status` is "
    "pending until a report is applied (then done), or cancelled when its step moved on."
)
class ExternalTask:
    id: int
    topic_name: str = strawberry.field(description="The step's service_name.")
    method: str | None
    step_id: str
    instance_id: int
    business_key: str | None
    definition_key: str
    variables: JSON = strawberry.field(description="The step's input.")
    attempt: int = strawberry.field(description="1 for the first attempt, +1 per retry.")
    max_attempts: int
    idempotency_key: str = strawberry.field(
        description="The same for every delivery of one attempt, new for a retry: pass it on "
        "to what the work changes, so that doing it twice does no harm."
    )
    status: str
    worker_id: str | None
    locked_until: datetime | None
    run_at: datetime = strawberry.field(description="Not fetchable before (a retry's backoff).")

    @classmethod
    def from_job(cls, found: ExternalJob) -> ExternalTask:
        job = found.job
        assert job.id is not None
        return cls(
            id=job.id,
            topic_name=job.service_name,
            method=job.method,
            step_id=job.step_id,
            instance_id=job.instance_id,
            business_key=found.business_key,
            definition_key=found.definition_key,
            variables=JSON(found.variables),
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            idempotency_key=found.idempotency_key,
            status=job.status,
            worker_id=job.worker_id,
            locked_until=job.locked_until,
            run_at=job.run_at,
        )

    @strawberry.field
    async def instance(
        self, info: Info
    ) -> Annotated[ProcessInstance, strawberry.lazy("schema.instances")]:
        from schema.instances import load_instance

        return await load_instance(info, self.instance_id)


@strawberry.input(description="A topic a worker serves, and how long its jobs stay locked.")
class ExternalTopicInput:
    topic_name: str
    lock_duration_ms: int = strawberry.field(
        description="Milliseconds, up to a day; a longer job extends its lock."
    )

    def request(self) -> TopicRequest:
        return TopicRequest(self.topic_name, timedelta(milliseconds=self.lock_duration_ms))


@strawberry.type
class ExternalTaskBatch:
    tasks: list[ExternalTask]


@strawberry.type
class ExternalTaskSuccess:
    task: ExternalTask


FetchExternalTasksResult = Annotated[
    ExternalTaskBatch | ValidationFailed, strawberry.union("FetchExternalTasksResult")
]
ExternalTaskResult = Annotated[
    ExternalTaskSuccess | ValidationFailed | NotFoundError | ConflictError,
    strawberry.union("ExternalTaskResult"),
]


def _batch(jobs: list[ExternalJob]) -> ExternalTaskBatch:
    return ExternalTaskBatch(tasks=[ExternalTask.from_job(j) for j in jobs])


def _success(job: ExternalJob) -> ExternalTaskSuccess:
    return ExternalTaskSuccess(task=ExternalTask.from_job(job))


def _service(info: Info) -> ExternalTasks:
    return ExternalTasks(info.context.workflow)


@strawberry.type
class Query:
    @fields.field("An external task by id; null when none has it.")
    async def external_task(self, info: Info, id: int) -> ExternalTask | None:
        found = await _service(info).get(id)
        return None if found is None else ExternalTask.from_job(found)


@strawberry.type
class Mutation:
    @fields.mutation(
        "Lock up to maxTasks due jobs of the topics to workerId, oldest first; an empty list "
        "when none is due (poll again later). Concurrent callers never get the same job."
    )
    async def fetch_and_lock_external_tasks(
        self,
        info: Info,
        worker_id: str,
        topics: list[ExternalTopicInput],
        max_tasks: int = 10,
    ) -> FetchExternalTasksResult:
        requests = [t.request() for t in topics]
        try:
            jobs = await _service(info).fetch_and_lock(worker_id, requests, max_tasks)
        except InvalidInput as error:
            failed = expected_error(error)
            assert isinstance(failed, ValidationFailed)  # what an InvalidInput becomes
            return failed
        return _batch(jobs)

    @fields.mutation("Keep a job locked for lockDurationMs from now.")
    async def extend_external_task_lock(
        self, info: Info, id: int, worker_id: str, lock_duration_ms: int
    ) -> ExternalTaskResult:
        service = _service(info)
        duration = timedelta(milliseconds=lock_duration_ms)
        return await attempt(lambda: service.extend_lock(id, worker_id, duration), _success)

    @fields.mutation(
        "The work is done: variables go to the step (mapped by its output). Refused with "
        "ConflictError lock_lost when the lock ran out or another worker holds it."
    )
    async def complete_external_task(
        self, info: Info, id: int, worker_id: str, variables: JSON | None = None
    ) -> ExternalTaskResult:
        if variables is not None and not isinstance(variables, dict):
            return validation_failed("variables", "invalid_type", "variables are a JSON object")
        values: dict[str, Any] = variables or {}
        service = _service(info)
        return await attempt(lambda: service.complete(id, worker_id, values), _success)

    @fields.mutation(
        "The work failed: the step's retry policy schedules the next attempt after its "
        "backoff, or raises an incident after the last (at once when retryable is false)."
    )
    async def fail_external_task(
        self, info: Info, id: int, worker_id: str, message: str, retryable: bool = True
    ) -> ExternalTaskResult:
        service = _service(info)
        return await attempt(
            lambda: service.fail(id, worker_id, message, retryable=retryable), _success
        )

    @fields.mutation(
        "A business error (a BPMN error): caught by the step's error boundary event with "
        "that code, else an incident. Never retried."
    )
    async def report_external_task_error(
        self, info: Info, id: int, worker_id: str, error_code: str, message: str = ""
    ) -> ExternalTaskResult:
        service = _service(info)
        return await attempt(
            lambda: service.bpmn_error(id, worker_id, error_code, message), _success
        )
