"""The built-in ``http`` service against a real HTTP server (uvicorn on a free local port),
invoked the way a worker invokes it (``invoke`` with the step's timeout)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from server.handlers import Completed, Failed, TaskContext, invoke
from server.http_service import SERVICE_NAME, HttpService, handler_registry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "query": dict(request.query_params),
            "idempotency_key": request.headers.get("idempotency-key"),
            "token": request.headers.get("x-token"),
            "json": json.loads(body) if body else None,
        }
    )


async def status(request: Request) -> Response:
    return PlainTextResponse("nope", status_code=int(request.path_params["code"]))


async def slow(request: Request) -> Response:
    await asyncio.sleep(10)
    return PlainTextResponse("late")


async def text(request: Request) -> Response:
    return PlainTextResponse("hello")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/status/{code:int}", status),
            Route("/slow", slow),
            Route("/text", text),
        ]
    )
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", ws="none", log_level="warning"
    )
    uvicorn_server = uvicorn.Server(config)
    task = asyncio.create_task(uvicorn_server.serve())
    async with asyncio.timeout(10):
        while not uvicorn_server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        uvicorn_server.force_exit = True  # the slow endpoint may still be sleeping
        await task


@pytest.fixture
async def http() -> AsyncIterator[HttpService]:
    service = HttpService()
    yield service
    await service.aclose()


async def call(
    http: HttpService, variables: dict[str, Any], *, method: str | None = None, timeout: float = 5
) -> Completed | Failed:
    ctx = TaskContext(
        variables=variables,
        instance_id=7,
        job_id="j-1",
        step_id="call_shop",
        service_name=SERVICE_NAME,
        method=method,
    )
    return await invoke(handler_registry(http=http), ctx, timeout)


async def test_a_post_sends_the_variables_as_json_and_maps_the_response_back(
    server: str, http: HttpService
) -> None:
    outcome = await call(
        http,
        {"url": f"{server}/echo", "headers": {"X-Token": "t"}, "order_id": "O-1", "amount": 5},
        method="post",
    )
    assert outcome == Completed(
        {
            "status": 200,
            "body": {
                "method": "POST",
                "query": {},
                "idempotency_key": "7:j-1",
                "token": "t",
                "json": {"order_id": "O-1", "amount": 5},
            },
        }
    )


async def test_a_get_with_params_sends_no_body_and_a_text_answer_is_text(
    server: str, http: HttpService
) -> None:
    outcome = await call(http, {"url": f"{server}/echo", "params": {"page": 2}})
    assert isinstance(outcome, Completed)
    assert outcome.variables["body"]["method"] == "GET"
    assert outcome.variables["body"]["query"] == {"page": "2"}
    assert outcome.variables["body"]["json"] is None
    assert await call(http, {"url": f"{server}/text"}) == Completed(
        {"status": 200, "body": "hello"}
    )


async def test_an_explicit_json_body_and_method_win(server: str, http: HttpService) -> None:
    outcome = await call(
        http, {"url": f"{server}/echo", "method": "put", "json": [1, 2], "other": "x"}
    )
    assert isinstance(outcome, Completed)
    assert (outcome.variables["body"]["method"], outcome.variables["body"]["json"]) == (
        "PUT",
        [1, 2],
    )


@pytest.mark.parametrize("code", [500, 503, 429])
async def test_a_server_error_is_a_retryable_failure(
    server: str, http: HttpService, code: int
) -> None:
    outcome = await call(http, {"url": f"{server}/status/{code}"})
    assert isinstance(outcome, Failed)
    assert (outcome.error_code, outcome.retryable) == (None, True)
    assert f"GET {server}/status/{code} answered {code}" in outcome.message


@pytest.mark.parametrize("code", [404, 400, 422])
async def test_a_client_error_is_a_business_error_with_its_code_never_retried(
    server: str, http: HttpService, code: int
) -> None:
    outcome = await call(http, {"url": f"{server}/status/{code}"})
    assert isinstance(outcome, Failed)
    assert (outcome.error_code, outcome.retryable) == (f"HTTP_{code}", False)
    assert f"answered {code}" in outcome.message


async def test_the_step_timeout_stops_a_slow_call_and_is_retryable(
    server: str, http: HttpService
) -> None:
    outcome = await call(http, {"url": f"{server}/slow"}, timeout=0.3)
    assert outcome == Failed("timed out after 0.3s")


async def test_a_refused_connection_is_retryable(http: HttpService) -> None:
    outcome = await call(http, {"url": f"http://127.0.0.1:{free_port()}/"})
    assert isinstance(outcome, Failed)
    assert (outcome.error_code, outcome.retryable) == (None, True)
    assert "ConnectError" in outcome.message


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"url": "ftp://x"},
        {"url": "http://x", "method": "FETCH"},
        {"url": "http://x", "body": 1},
    ],
    ids=["no-url", "not-http", "bad-method", "body-not-text"],
)
async def test_a_bad_configuration_is_a_clear_error_not_a_retry(
    http: HttpService, variables: dict[str, Any]
) -> None:
    outcome = await call(http, variables)
    assert isinstance(outcome, Failed)
    assert (outcome.error_code, outcome.retryable) == ("HTTP_INVALID_REQUEST", False)


def test_every_registry_of_a_composition_root_has_the_http_service() -> None:
    registry = handler_registry(["server.demo_services"])
    assert (SERVICE_NAME, None) in registry.registered()
    assert ("CreditService", "check") in registry.registered()
