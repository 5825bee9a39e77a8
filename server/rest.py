"""The seed's REST calls, as a thin facade over the same services as GraphQL.

JSON in and out. Expected failures are ``{"error": {"code", "message", "problems": [...]}}``
with 400 (invalid input), 404 (unknown id) or 409 (the state does not allow it).

Every route but login needs ``Authorization: Bearer <access token>`` (401 without a valid
one) and the same permission as its GraphQL twin (403 without it: see schema/permissions.py);
lists are narrowed by the same row-level rules (``server.auth.visibility``).
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
from server.auth.errors import AuthError
from server.auth.http import bearer, challenge
from server.auth.roles import Permission, Principal
from server.auth.sessions import AuthService
from server.auth.visibility import instance_viewer, may_see_task, starter, task_viewer
from server.crypto import masked
from server.db import Database
from server.models import Definition, Instance, UserTask, utcnow
from server.services import definitions, queries
from server.services.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
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
    if isinstance(error, Forbidden):
        return error_response(403, error.code, error.message)
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


def _user(request: Request) -> str:
    principal: Principal = request.state.principal  # set by ``endpoint`` before the handler
    return principal.username


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _auth(request: Request) -> AuthService:
    auth: AuthService = request.app.state.auth
    return auth


async def authenticate(request: Request, needs: Permission | None) -> Principal:
    """The request's principal, holding ``needs``; an ``AuthError`` otherwise."""
    token = bearer(request.headers.get("authorization"))
    if token is None:
        raise AuthError("invalid_token", "authentication required: send Authorization: Bearer")
    principal = (await _auth(request).authenticate(token)).principal
    if needs is not None and needs not in principal.permissions:
        raise AuthError("forbidden", f"not allowed: needs the permission {needs.value}")
    return principal


def auth_error(error: AuthError) -> JSONResponse:
    return error_response(error.status, error.code, error.message, headers=challenge(error))


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


def endpoint(needs: Permission | None) -> Callable[[Endpoint], Endpoint]:
    """A route for an authenticated principal holding ``needs`` (None: any); typed service
    errors and bad requests become the facade's JSON errors."""

    def decorate(handler: Endpoint) -> Endpoint:
        async def wrapped(request: Request) -> JSONResponse:
            try:
                request.state.principal = await authenticate(request, needs)
                response: JSONResponse = await handler(request)
            except BadRequest as error:
                return error_response(400, error.problem.code, str(error), [error.problem])
            except AuthError as error:
                return auth_error(error)
            except ServiceError as error:
                return service_error(error)
            return response

        wrapped.__name__ = handler.__name__
        wrapped.__doc__ = handler.__doc__
        return wrapped

    return decorate


# --- routes ---------------------------------------------------------------------------------------


async def login(request: Request) -> JSONResponse:
    """``{"username", "password"}`` -> ``{"access_token", "refresh_token", "token_type":
    "Bearer", "expires_in"}``; 401 ``invalid_credentials``, 429 with ``Retry-After`` when
    too many logins failed for the user or the client's address."""
    try:
        body = await _json_object(request)
        username, password = body.get("username"), body.get("password")
        for name, value in (("username", username), ("password", password)):
            if not isinstance(value, str) or not value:
                raise BadRequest(name, "required", f"{name} (a string) is required")
        assert isinstance(username, str) and isinstance(password, str)
        address = None if request.client is None else request.client.host
        session = await _auth(request).login(username, password, address=address)
    except BadRequest as error:
        return error_response(400, error.problem.code, str(error), [error.problem])
    except AuthError as error:
        return auth_error(error)
    left = (session.access_expires_at - utcnow()).total_seconds()
    return JSONResponse(
        {
            "access_token": session.access_token,
            "refresh_token": session.refresh_token,
            "token_type": "Bearer",
            "expires_in": max(0, int(left)),
        },
        headers={"Cache-Control": "no-store"},  # RFC 6749 5.1: tokens are never cached
    )


@endpoint(Permission.DEFINITIONS_READ)
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


@endpoint(Permission.DEFINITIONS_DEPLOY)
async def deploy_definition(request: Request) -> JSONResponse:
    """The body is the definition; 201 when a new version was stored, 200 when identical."""
    source = await _json_object(request)
    deployed = await _workflow(request).deploy(source, actor=_user(request))
    body = {**definition_json(deployed.definition), "created": deployed.created}
    return JSONResponse(body, status_code=201 if deployed.created else 200)


@endpoint(None)
async def list_instances(request: Request) -> JSONResponse:
    """Instances; ``order=started`` (most recently started first, the default) or ``updated``
    (most recently changed first)."""
    params = request.query_params
    where = queries.InstanceFilter(
        definition_key=params.get("process_definition_key"),
        definition_id=_int_param(request, "process_definition_id"),
        status=params.get("status"),
        business_key=params.get("business_key"),
        visible_to=instance_viewer(_principal(request)),  # row-level rule
    )
    first = _int_param(request, "first", 50) or 50
    order = _order_param(request, queries.InstanceOrder, queries.InstanceOrder.STARTED)
    async with _db(request).reading() as session:
        page = await queries.instance_page(
            session, where, first=first, after=params.get("after"), order=order
        )
    return JSONResponse(_page_json(page, [instance_json(r) for r in page.items]))


@endpoint(Permission.INSTANCES_START)
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
        starter=starter(_principal(request)),
    )
    return JSONResponse(instance_json(instance), status_code=201)


@endpoint(Permission.TASKS_WORK)
async def list_tasks(request: Request) -> JSONResponse:
    """Tasks (open by default) the principal may see. ``assignee=current_user``: theirs;
    ``candidate_group=`` the tasks a group may claim; ``status=all`` every status;
    ``order=created`` (newest first, the default), ``due`` (soonest due first) or ``priority``."""
    params = request.query_params
    assignee = params.get("assignee")
    if assignee == CURRENT_USER:
        assignee = _user(request)
    status = params.get("status", "open")
    groups = tuple(g.strip() for g in params.getlist("candidate_group") if g.strip())
    where = queries.TaskFilter(
        status=None if status == "all" else status,
        assignee=assignee,
        candidate_groups=groups,
        instance_id=_int_param(request, "process_instance_id"),
        visible_to=task_viewer(_principal(request)),  # row-level rule
    )
    first = _int_param(request, "first", 50) or 50
    order = _order_param(request, queries.TaskOrder, queries.TaskOrder.CREATED)
    async with _db(request).reading() as session:
        page = await queries.task_page(
            session, where, first=first, after=params.get("after"), order=order
        )
    return JSONResponse(_page_json(page, [task_json(r) for r in page.items]))


@endpoint(Permission.TASKS_WORK)
async def complete_task(request: Request) -> JSONResponse:
    """``{"variables": {...}}``; 200 with the completed task, 409 when it is not open."""
    task_id: int = request.path_params["task_id"]
    raw = await request.body()
    body = await _json_object(request) if raw.strip() else {}
    async with _db(request).reading() as session:
        row = await session.get(UserTask, task_id)
    if row is not None and not may_see_task(_principal(request), row):
        raise AuthError("forbidden", "not allowed: the task is neither assigned nor offered to you")
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
