"""The seed's REST calls, as a thin facade over the same services as GraphQL.

JSON in and out. Expected failures are ``{"error": {"code", "message", "problems": [...]}}``
with 400 (invalid input), 404 (unknown id) or 409 (the state does not allow it); the user is the
``X-User`` header until authentication exists.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine import Problem
from server.crypto import masked
from server.db import Database
from server.models import Definition, Instance, UserTask
from server.services import definitions, queries
from server.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from server.services.workflow import Workflow

CURRENT_USER = "current_user"
Order = TypeVar("Order", queries.TaskOrder, queries.InstanceOrder)
MAX_DEFINITIONS = 500


# --- shapes ---------------------------------------------------------------------------------------


def error_response(
    status: int,
    code: str,
    message: str,
    problems: list[Problem] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "problems": [
                {"path": p.path, "code": p.code, "message": p.message} for p in problems or []
            ],
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def service_error(error: ServiceError) -> JSONResponse:
    if isinstance(error, NotFound):
        return error_response(404, error.code, error.message)
    if isinstance(error, Conflict):
        return error_response(409, error.code, error.message)
    problems = error.problems if isinstance(error, InvalidInput) else []
    return error_response(400, error.code, error.message, problems)


class BadRequest(Exception):
    """The request body or a parameter is wrong: 400 with one problem."""

    def __init__(self, path: str, code: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(path, code, message)


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def definition_json(row: Definition) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "name": row.name,
        "version": row.version,
        "revision": row.revision,
        "deployed_at": _when(row.deployed_at),
        "deployed_by": row.deployed_by,
    }


def instance_json(row: Instance) -> dict[str, Any]:
    return {
        "id": row.id,
        "process_definition_id": row.definition_id,
        "process_definition_key": row.definition_key,
        "business_key": row.business_key,
        "status": row.status,
        "variables": masked(row.variables),  # sensitive: "***" (see schema/instances.py)
        "started_at": _when(row.started_at),
        "updated_at": _when(row.updated_at),
        "ended_at": _when(row.ended_at),
        "started_by": row.started_by,
    }


def task_json(row: UserTask) -> dict[str, Any]:
    return {
        "id": row.id,
        "process_instance_id": row.instance_id,
        "step_id": row.step_id,
        "name": row.name,
        "status": row.status,
        "assignee": row.assignee,
        "candidate_users": row.candidate_users,
        "candidate_groups": row.candidate_groups,
        "priority": row.priority,
        "due_at": _when(row.due_at),
        "form": row.form,
        "created_at": _when(row.created_at),
        "completed_at": _when(row.completed_at),
        "completed_by": row.completed_by,
    }


def _page_json(page: queries.Page[Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "end_cursor": page.end_cursor, "has_next": page.has_next}


# --- request helpers ------------------------------------------------------------------------------


def _user(request: Request) -> str | None:
    return request.headers.get("x-user") or None


def _workflow(request: Request) -> Workflow:
    workflow: Workflow = request.app.state.workflow
    return workflow


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest("$", "malformed_json", f"the body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequest("$", "invalid_type", "the body must be a JSON object")
    return body


def _int_param(request: Request, name: str, default: int | None = None) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as error:
        raise BadRequest(name, "invalid_value", f"{name} must be an integer") from error


def _order_param(request: Request, orders: type[Order], default: Order) -> Order:
    """``?order=`` as one of the orders' values (e.g. ``due``); the default when absent."""
    value = request.query_params.get("order")
    if value is None:
        return default
    try:
        return orders(value)
    except ValueError as error:
        choices = ", ".join(o.value for o in orders)
        raise BadRequest("order", "invalid_value", f"order must be one of: {choices}") from error


def _variables(body: Mapping[str, Any], path: str = "variables") -> dict[str, Any]:
    value = body.get("variables")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(path, "invalid_type", "variables must be a JSON object")
    return value


Endpoint = Callable[[Request], Awaitable[JSONResponse]]


def endpoint(handler: Endpoint) -> Endpoint:
    """Turn typed service errors and bad requests into the facade's JSON errors."""

    async def wrapped(request: Request) -> JSONResponse:
        try:
            response: JSONResponse = await handler(request)
        except BadRequest as error:
            return error_response(400, error.problem.code, str(error), [error.problem])
        except ServiceError as error:
            return service_error(error)
        return response

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# --- routes ---------------------------------------------------------------------------------------


async def login(request: Request) -> JSONResponse:
    """Authentication arrives with the security work; until then the user is ``X-User``."""
    return error_response(
        501,
        "not_implemented",
        "login is not available yet: authentication (JWT) arrives with the security work. "
        "Until then, requests name their user in the X-User header (and groups in "
        "X-User-Groups, comma-separated).",
    )


@endpoint
async def list_definitions(request: Request) -> JSONResponse:
    """Deployed definitions, by key and revision; ``?key=`` filters, ``?latest=true`` keeps
    the latest revision of each key."""
    latest_only = request.query_params.get("latest", "").lower() in ("1", "true", "yes")
    async with _db(request).reading() as session:
        rows = await definitions.listing(
            session,
            key=request.query_params.get("key") or None,
            latest_only=latest_only,
            limit=MAX_DEFINITIONS,
        )
    return JSONResponse({"items": [definition_json(r) for r in rows]})


@endpoint
async def deploy_definition(request: Request) -> JSONResponse:
    """The body is the definition; 201 when a new version was stored, 200 when identical."""
    source = await _json_object(request)
    deployed = await _workflow(request).deploy(source, actor=_user(request))
    body = {**definition_json(deployed.definition), "created": deployed.created}
    return JSONResponse(body, status_code=201 if deployed.created else 200)


@endpoint
async def list_instances(request: Request) -> JSONResponse:
    """Instances; ``order=started`` (most recently started first, the default) or ``updated``
    (most recently changed first)."""
    params = request.query_params
    where = queries.InstanceFilter(
        definition_key=params.get("process_definition_key"),
        definition_id=_int_param(request, "process_definition_id"),
        status=params.get("status"),
        business_key=params.get("business_key"),
    )
    first = _int_param(request, "first", 50) or 50
    order = _order_param(request, queries.InstanceOrder, queries.InstanceOrder.STARTED)
    async with _db(request).reading() as session:
        page = await queries.instance_page(
            session, where, first=first, after=params.get("after"), order=order
        )
    return JSONResponse(_page_json(page, [instance_json(r) for r in page.items]))


@endpoint
async def start_instance(request: Request) -> JSONResponse:
    """``{"process_definition_id": 1 | "process_definition_key": "...", "business_key": ...,
    "variables": {...}}``; 201 with the instance."""
    body = await _json_object(request)
    definition_id = body.get("process_definition_id")
    key = body.get("process_definition_key")
    version = body.get("version")
    business_key = body.get("business_key")
    if definition_id is None and key is None:
        raise BadRequest(
            "process_definition_id",
            "required",
            "give process_definition_id (a number) or process_definition_key (a string)",
        )
    if definition_id is not None and (
        not isinstance(definition_id, int) or isinstance(definition_id, bool)
    ):
        raise BadRequest("process_definition_id", "invalid_type", "must be an integer")
    for name, value in (("process_definition_key", key), ("version", version)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(name, "invalid_type", f"{name} must be a string")
    if business_key is not None and not isinstance(business_key, str):
        raise BadRequest("business_key", "invalid_type", "business_key must be a string")
    instance = await _workflow(request).start(
        definition_id=definition_id,
        key=None if definition_id is not None else key,
        version=version,
        business_key=business_key,
        variables=_variables(body),
        actor=_user(request),
    )
    return JSONResponse(instance_json(instance), status_code=201)


@endpoint
async def list_tasks(request: Request) -> JSONResponse:
    """Tasks (open by default). ``assignee=current_user`` means the ``X-User`` header;
    ``candidate_group=`` the tasks a group may claim; ``status=all`` every status;
    ``order=created`` (newest first, the default), ``due`` (soonest due first) or ``priority``."""
    params = request.query_params
    assignee = params.get("assignee")
    if assignee == CURRENT_USER:
        assignee = _user(request)
        if assignee is None:
            raise BadRequest("assignee", "no_user", "assignee=current_user needs the X-User header")
    status = params.get("status", "open")
    groups = tuple(g.strip() for g in params.getlist("candidate_group") if g.strip())
    where = queries.TaskFilter(
        status=None if status == "all" else status,
        assignee=assignee,
        candidate_groups=groups,
        instance_id=_int_param(request, "process_instance_id"),
    )
    first = _int_param(request, "first", 50) or 50
    order = _order_param(request, queries.TaskOrder, queries.TaskOrder.CREATED)
    async with _db(request).reading() as session:
        page = await queries.task_page(
            session, where, first=first, after=params.get("after"), order=order
        )
    return JSONResponse(_page_json(page, [task_json(r) for r in page.items]))


@endpoint
async def complete_task(request: Request) -> JSONResponse:
    """``{"variables": {...}}``; 200 with the completed task, 409 when it is not open."""
    task_id: int = request.path_params["task_id"]
    raw = await request.body()
    body = await _json_object(request) if raw.strip() else {}
    task = await _workflow(request).complete_task(task_id, _variables(body), actor=_user(request))
    return JSONResponse(task_json(task))


routes = [
    Route("/api/v1/auth/login", login, methods=["POST"]),
    Route("/api/v1/process-definitions", list_definitions, methods=["GET"]),
    Route("/api/v1/process-definitions", deploy_definition, methods=["POST"]),
    Route("/api/v1/process-instances", list_instances, methods=["GET"]),
    Route("/api/v1/process-instances", start_instance, methods=["POST"]),
    Route("/api/v1/tasks", list_tasks, methods=["GET"]),
    Route("/api/v1/tasks/{task_id:int}/complete", complete_task, methods=["PUT"]),
]
