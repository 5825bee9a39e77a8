"""The hardened GraphQL surface and TLS (issue 5): request ids, masked errors, introspection by
settings, mutations only over a JSON POST, batches refused unless configured, the body limit on
/graphql, and ``workflow-engine serve`` over HTTPS with a certificate made here.

The transport rules are tested on the real ``GraphQLView`` over a tiny schema (built with the
real schema class and error masking), so that they hold whatever the resolvers do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import strawberry
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket
from strawberry.schema.config import BatchingConfig, StrawberryConfig
from support.auth import SECRET as JWT_SECRET
from support.processes import BIN, free_port
from typer.testing import CliRunner

from schema import build_schema
from schema.errors import INTERNAL_ERROR, Schema, mask_errors
from server import cli
from server.app import _internal_error, create_app
from server.graphql_view import GraphQLView
from server.request_id import RequestIdFilter, RequestIdMiddleware, current_request_id
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
HEX_ID = re.compile(r"[0-9a-f]{32}")
SECRET = "secret internals at /srv/app/server/db.py"
KEY = SecretStr(JWT_SECRET)
INTROSPECTION = "{ __schema { queryType { name } } }"


# --- a tiny schema on the real view ---------------------------------------------------------


@strawberry.type
class _Query:
    @strawberry.field
    def hello(self) -> str:
        return "hello"

    @strawberry.field
    def boom(self) -> int:
        raise RuntimeError(SECRET)


@strawberry.type
class _Mutation:
    @strawberry.mutation
    def touch(self, info: strawberry.Info) -> int:
        calls: list[str] = info.context["calls"]
        calls.append("touch")
        return len(calls)


def tiny_app(calls: list[str], *, max_batch: int = 0) -> Starlette:
    batching = BatchingConfig(max_operations=max_batch) if max_batch else None
    schema = Schema(
        query=_Query,
        mutation=_Mutation,
        extensions=[mask_errors],
        config=StrawberryConfig(batching_config=batching),
    )
    view = GraphQLView(schema, make_context=lambda *args, **kwargs: {"calls": calls})

    async def crash(request: Request) -> JSONResponse:
        raise RuntimeError(SECRET)

    async def logs(request: Request) -> JSONResponse:
        return JSONResponse({"request_id": current_request_id()})

    return Starlette(
        routes=[Route("/graphql", view), Route("/crash", crash), Route("/id", logs)],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={Exception: _internal_error},
    )


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
async def client(calls: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tiny_app(calls), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def refusal(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code]
    message: str = errors[0]["message"]
    return message


# --- mutations only over a JSON POST ----------------------------------------------------------


async def test_mutations_only_over_a_json_post(client: httpx.AsyncClient, calls: list[str]) -> None:
    mutation = '{"query": "mutation { touch }"}'
    over_get = await client.get("/graphql", params={"query": "mutation { touch }"})
    assert "POST" in refusal(over_get, 405, "mutation_over_get")
    assert over_get.headers["allow"] == "POST"

    # what a cross-site form or fetch can send without a CORS preflight, and other non-JSON
    for content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/graphql",
        "application/json-patch+json",  # strawberry alone accepts any type containing the JSON one
    ):
        sent = await client.post(
            "/graphql", content=mutation, headers={"content-type": content_type}
        )
        message = refusal(sent, 415, "unsupported_media_type")
        assert "application/json" in message, content_type
    form = await client.post("/graphql", data={"query": "mutation { touch }"})
    refusal(form, 415, "unsupported_media_type")
    upload = await client.post("/graphql", files={"operations": ("o.json", mutation.encode())})
    refusal(upload, 415, "unsupported_media_type")
    bare = await client.post("/graphql", content=mutation)  # no Content-Type at all
    refusal(bare, 415, "unsupported_media_type")
    assert calls == []  # none of them executed

    json_post = await client.post(
        "/graphql", content=mutation, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert json_post.json() == {"data": {"touch": 1}}
    query_over_get = await client.get("/graphql", params={"query": "{ hello }"})
    assert query_over_get.json() == {"data": {"hello": "hello"}}  # reads stay cacheable
    assert calls == ["touch"]


async def test_batches_are_refused_unless_configured(
    client: httpx.AsyncClient, calls: list[str]
) -> None:
    batch = [{"query": "mutation { touch }"}, {"query": "{ hello }"}]
    message = refusal(await client.post("/graphql", json=batch), 400, "batching_not_enabled")
    assert "GRAPHQL_MAX_BATCH" in message
    assert calls == []

    transport = httpx.ASGITransport(app=tiny_app(calls, max_batch=2))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as configured:
        both = await configured.post("/graphql", json=batch)
        assert both.status_code == 200, both.text
        assert both.json() == [{"data": {"touch": 1}}, {"data": {"hello": "hello"}}]
        three = await configured.post("/graphql", json=[*batch, {"query": "{ hello }"}])
        refusal(three, 400, "too_many_operations")
    assert calls == ["touch"]


def test_batch_setting_reaches_the_schema() -> None:
    assert build_schema().config.batching_config is None
    configured = build_schema(max_batch=5).config.batching_config
    assert configured is not None and configured["max_operations"] == 5


# --- masked errors and request ids ---------------------------------------------------------


async def test_unexpected_error_is_masked_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    response = await client.post("/graphql", json={"query": "{ hello boom }"})
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(request_id)
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": INTERNAL_ERROR,
            "locations": [{"line": 1, "column": 9}],
            "path": ["boom"],
            "extensions": {"code": "internal_error", "requestId": request_id},
        }
    ]
    assert "secret" not in response.text and "RuntimeError" not in response.text
    # the log has what the client does not: the traceback, under the same id, logged once
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].exc_info is not None and SECRET in str(logged[0].exc_info[1])
    assert "RuntimeError" in logged[0].getMessage()


async def test_expected_errors_are_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ nope }"})
    (error,) = response.json()["errors"]
    assert "Cannot query field 'nope'" in error["message"]
    assert "requestId" not in error.get("extensions", {})


async def test_request_id_header_kept_when_well_formed(client: httpx.AsyncClient) -> None:
    given = "edge-7f3a.1:42_x"
    kept = await client.get("/id", headers={"x-request-id": given})
    assert kept.headers["x-request-id"] == given
    assert kept.json() == {"request_id": given}  # the context variable, inside the request
    for bad in (b"has space", b"x" * 129, b"semi;colon", "ünicode".encode()):
        replaced = await client.get("/id", headers={b"x-request-id": bad})
        assert HEX_ID.fullmatch(replaced.headers["x-request-id"]), bad
        assert replaced.json()["request_id"] == replaced.headers["x-request-id"]
    fresh = [(await client.get("/id")).headers["x-request-id"] for _ in range(2)]
    assert fresh[0] != fresh[1]
    assert current_request_id() is None  # reset after each request


async def test_rest_500_carries_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    response = await client.get("/crash", headers={"x-request-id": "trace-123"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-123"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "problems"}  # REST's error shape, unchanged
    assert error["code"] == "internal_error"
    assert "trace-123" in error["message"]
    assert "secret" not in response.text
    assert any("trace-123" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_websocket_keeps_its_handshake_id() -> None:
    """The accept carries the id, and code run for the socket (and tasks it starts) sees it."""

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        seen = await asyncio.create_task(_current_id())  # a task, as strawberry runs operations
        await websocket.send_json({"request_id": seen})
        await websocket.close()

    app = Starlette(
        routes=[WebSocketRoute("/ws", echo)], middleware=[Middleware(RequestIdMiddleware)]
    )
    scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": [(b"x-request-id", b"ws-1"), (b"host", b"test")],
        "scheme": "ws",
        "server": ("test", 80),
        "subprotocols": [],
    }
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "websocket.accept"
    assert (b"x-request-id", b"ws-1") in sent[0]["headers"]
    assert json.loads(sent[1]["text"]) == {"request_id": "ws-1"}


async def _current_id() -> str | None:
    return current_request_id()


def test_log_filter_adds_the_request_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    assert RequestIdFilter().filter(record)
    assert record.__dict__["request_id"] == "-"  # outside any request


# --- introspection and GraphiQL by settings --------------------------------------------------


async def test_introspection_off_refuses_schema_queries_only() -> None:
    closed = build_schema(introspection=False)
    for document in (INTROSPECTION, '{ __type(name: "Query") { name } }'):
        result = await closed.execute(document)
        assert result.errors and "introspection" in result.errors[0].message.lower(), document
        assert result.data is None
    typename = await closed.execute("{ __typename }")  # unions need it: still answered
    assert typename.errors is None and typename.data == {"__typename": "Query"}
    opened = await build_schema(introspection=True).execute(INTROSPECTION)
    assert opened.errors is None
    assert opened.data == {"__schema": {"queryType": {"name": "Query"}}}


def test_introspection_defaults_by_mode() -> None:
    embedded = Settings(database_url=None, graphql_introspection=None)
    production = Settings(database_url="postgres://u@db/wf", graphql_introspection=None)
    assert embedded.introspection is True
    assert production.introspection is False
    enabled = production.model_copy(update={"graphql_introspection": True})
    assert enabled.introspection is True
    disabled = embedded.model_copy(update={"graphql_introspection": False})
    assert disabled.introspection is False


def graphql_view(app: Starlette) -> GraphQLView:
    for route in app.routes:
        if isinstance(route, Route) and isinstance(route.app, GraphQLView):
            return route.app
    raise AssertionError("no /graphql route")


async def test_the_app_applies_its_settings(tmp_path: Path) -> None:
    production = Settings(
        database_url="postgres://u@127.0.0.1:1/none", jwt_secret=KEY, graphql_max_batch=3
    )
    view = graphql_view(create_app(production))
    assert (await view.schema.execute(INTROSPECTION)).errors
    assert view.schema.config.batching_config == {"max_operations": 3}
    assert view.graphql_ide is None  # GraphiQL is off (docs/graphql.md, Hardening)
    embedded = Settings(database_url=None, sqlite_path=tmp_path / "x.db", jwt_secret=KEY)
    assert (await graphql_view(create_app(embedded)).schema.execute(INTROSPECTION)).errors is None


async def test_graphql_body_limit_and_request_id_on_the_app(tmp_path: Path) -> None:
    """Both middlewares of create_app, without the lifespan (no database is reached)."""
    app = create_app(Settings(sqlite_path=tmp_path / "x.db", jwt_secret=KEY))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        big = b'{"query": "' + b"x" * (1024 * 1024) + b'"}'
        response = await http.post(
            "/graphql",
            content=big,
            headers={"content-type": "application/json", "x-request-id": "big-1"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["x-request-id"] == "big-1"


# --- TLS ------------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "TLS_CERT_FILE", "TLS_KEY_FILE")
    }
    return env | {
        "SQLITE_PATH": str(tmp_path / "served.db"),
        "HANDLER_MODULES": "",
        "JWT_SECRET": JWT_SECRET,
        **extra,
    }


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = serve_env(tmp_path, TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "workflow-engine"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"https://127.0.0.1:{port}", cert
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(url: str, context: ssl.SSLContext, log: Path) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"{url}/health", verify=context, timeout=2)
        except httpx.ConnectError as error:
            if "CERTIFICATE" in str(error).upper():
                raise
        assert time.monotonic() < deadline, f"not ready in 30 s:\n{log.read_text()}"
        time.sleep(0.2)


def test_serve_over_https(https_server: tuple[str, Path], tmp_path: Path) -> None:
    url, cert = https_server
    trusted = ssl.create_default_context(cafile=str(cert))
    health = wait_until_ready(url, trusted, tmp_path / "server.log")
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok", "database": "ok"}
    assert HEX_ID.fullmatch(health.headers["x-request-id"])
    assert health.http_version == "HTTP/1.1"
    with pytest.raises(httpx.ConnectError):  # the system's CAs do not know this certificate
        httpx.get(f"{url}/health", timeout=5)
    with pytest.raises(httpx.TransportError):  # and plain HTTP is not served on the port
        httpx.get(url.replace("https://", "http://") + "/health", timeout=5)
    served_log = (tmp_path / "server.log").read_text()
    assert "https://127.0.0.1" in served_log  # uvicorn says it serves HTTPS


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("TLS_CERT_FILE",), "TLS_KEY_FILE is not set"),
        (("TLS_KEY_FILE",), "TLS_CERT_FILE is not set"),
        (("TLS_CERT_FILE", "TLS_KEY_FILE"), "is not a readable file"),
    ],
)
def test_serve_refuses_a_half_tls_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...], message: str
) -> None:
    for variable in ("DATABASE_URL", "REDIS_URL", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "x.db"))
    for name in names:
        monkeypatch.setenv(name, str(tmp_path / "missing.pem"))
    result = CliRunner().invoke(cli.app, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert "not starting" in result.output and message in result.output
