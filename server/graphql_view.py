"""GraphQL over HTTP and websockets: strawberry's ASGI view with this service's rules.

Over HTTP it follows the GraphQL-over-HTTP specification (a client that accepts
``application/graphql-response+json`` gets that media type, with 400 for a document that does
not parse or validate), takes the principal from the bearer token (401 for a bad one), and
accepts only what the hardening allows (mutations over POST with a JSON body, batches when
configured). Over websockets it checks the Origin before the handshake, authenticates the
``connection_init`` token, and closes a socket whose token expires or is revoked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from cross_web import HTTPException as RequestRefused  # what strawberry's views raise
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from schema.fanout import EncodedResults
from server import request_metrics
from server.auth.errors import AuthError
from server.auth.http import bearer, challenge
from server.auth.origins import origin_allowed
from server.auth.roles import Principal
from server.auth.sessions import AuthService
from server.auth.tokens import AccessClaims
from server.auth.websocket import CLOSE_CODE as WS_FORBIDDEN
from server.auth.websocket import ConnectionGuard, bearer_token
from server.settings import Settings
from server.shutdown import GOING_AWAY, GOING_AWAY_REASON

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
ContextFactory = Callable[..., Any]  # (workflow, db, user, groups, *, hub=, counters=)


def accepts_graphql_response(accept: str) -> bool:
    """Whether the client prefers ``application/graphql-response+json`` to plain JSON."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    ours = quality.get(GRAPHQL_RESPONSE, 0.0)
    return ours > 0 and ours >= quality.get("application/json", 0.0)


def is_request_error(result: ExecutionResult) -> bool:
    """No data, and only errors without a path: the document did not parse or validate, or
    the variables could not be coerced (the request never executed)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or [])
    )


UNSUPPORTED_MEDIA_TYPE = "a GraphQL request is a POST with Content-Type: application/json"
# strawberry's reasons that clients may switch on: (status, code) instead of its 400
REFUSALS = {
    "mutations are not allowed when using GET": (405, "mutation_over_get"),
    "Batching is not enabled": (400, "batching_not_enabled"),
    "Too many operations": (400, "too_many_operations"),
}
REFUSAL_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


def refused(status: int, reason: str) -> JSONResponse:
    """A request the GraphQL endpoint refuses before executing it, as a GraphQL error."""
    status, code = REFUSALS.get(reason, (status, REFUSAL_CODES.get(status, "bad_request")))
    message = {
        "mutation_over_get": "mutations are only accepted over POST",
        "batching_not_enabled": "batched requests (a JSON array) are not accepted: send one "
        "operation per request (GRAPHQL_MAX_BATCH enables batches)",
        "too_many_operations": "the batch has more operations than GRAPHQL_MAX_BATCH",
    }.get(code, reason)
    headers = {"Allow": "POST"} if code == "mutation_over_get" else None
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)


class TokenRefused(Exception):
    """An HTTP request's bearer token is invalid, expired or revoked."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.message)
        self.error = error


async def http_principal(auth: AuthService | None, request: Request) -> Principal | None:
    """The principal of the request's ``Authorization: Bearer`` token; None without one
    (anonymous: the permission rules refuse what needs a user). A bad token is refused
    outright (``TokenRefused``): a client with an expired token must learn it, not be served
    as anonymous."""
    try:
        token = bearer(request.headers.get("authorization"))
        if token is None:
            return None
        if auth is None:  # a view without the app's resources: nothing can verify it
            raise AuthError("invalid_token", "authentication is not available")
        return (await auth.authenticate(token)).principal
    except AuthError as error:
        raise TokenRefused(error) from None


def unauthorized(error: AuthError) -> JSONResponse:
    """401 (or 503 when an external issuer is unreachable) with a GraphQL error body."""
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}
    status = 503 if error.status == 503 else 401
    return JSONResponse(status_code=status, content=body, headers=challenge(error))


class GraphQLView(GraphQL[Any, None]):
    """strawberry's ASGI view, per GraphQL-over-HTTP, with the context of the app's services.

    An HTTP request's principal comes from its ``Authorization: Bearer`` token (none:
    anonymous; a bad one: 401 before anything executes); a websocket's from the token of its
    ``connection_init`` (``on_ws_connect``).
    """

    def __init__(
        self, schema: BaseSchema, *, make_context: ContextFactory, graphiql: bool = False
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.make_context = make_context
        self.encoded = EncodedResults()  # an event's result, shared by its subscribers
        self.connections: set[_Connection] = set()  # open websockets, closed on shutdown

    def encode_json(self, data: object) -> str | bytes:
        """A subscription event's ``data`` is encoded once for all who receive it."""
        encoded = self.encoded.encode(data)
        return super().encode_json(data) if encoded is None else encoded

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Any:
        state = request.app.state
        auth: AuthService | None = getattr(state, "auth", None)
        principal = None
        if isinstance(request, Request):  # a websocket authenticates at connection_init
            principal = await http_principal(auth, request)
        bus = getattr(state, "bus", None)
        live = {} if bus is None else {"hub": bus.hub, "counters": state.counters}
        client = request.client
        return self.make_context(
            getattr(state, "workflow", None),
            getattr(state, "db", None),
            principal,
            **live,  # the process's event hub and counter feed, for subscriptions
            auth=auth,
            address=None if client is None else client.host,
        )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """A request whose token is refused never executes: 401, as a GraphQL error."""
        try:
            return await super().run(request, context, root_value)
        except TokenRefused as refused:
            return unauthorized(refused.error)

    # --- websockets: Origin, connection_init token, and a guard per connection ---------------

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """strawberry asks this before accepting a handshake whose ``Origin`` is neither absent
        (not a browser) nor the server's own host; refused, it answers 403 unaccepted."""
        settings: Settings = request.app.state.settings
        return origin_allowed(origin, settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP: see ``serve_http``. A websocket's whole life runs inside this call, so its
        connection (and the guard of its token) ends when the call returns."""
        if scope["type"] == "http":
            await self.serve_http(scope, receive, send)  # refusals as JSON (below)
            return
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        socket = WebSocket(scope, receive=receive, send=send)  # as strawberry's own __call__
        connection = _Connection(socket)
        token = _connection.set(connection)
        self.connections.add(connection)
        try:
            with request_metrics.websocket_open():
                await self.run(socket)
        finally:
            self.connections.discard(connection)
            _connection.reset(token)
            await connection.stop()

    async def close_websockets(self) -> None:
        """Close every open websocket with 1001 "going away" (the server is shutting down):
        clients reconnect, to another process, and resume from their cursor (uvicorn's own
        shutdown would close them with 1012, "service restart")."""
        connections = list(self.connections)
        if connections:
            log.info("shutting down: closing %d websockets (1001)", len(connections))
        await asyncio.gather(*(c.going_away() for c in connections), return_exceptions=True)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        """Authenticate ``connection_init``'s token (see ``bearer_token``); refused, strawberry
        closes with 4403 (graphql-transport-ws) or sends ``connection_error`` (graphql-ws)."""
        connection = _connection.get()
        auth: AuthService | None = getattr(context, "auth", None)
        if connection is None or auth is None:
            raise ConnectionRejectionError({"code": "unauthenticated", "message": NO_AUTH})
        if connection.authenticated:  # legacy graphql-ws lets a client init twice: not here
            message = "connection_init was sent already: reconnect to use another token"
            raise ConnectionRejectionError({"code": "already_initialised", "message": message})
        token = bearer_token(getattr(context, "connection_params", None))
        if token is None:
            message = "connection_init carries no token: send {Authorization: 'Bearer <token>'}"
            raise ConnectionRejectionError({"code": "unauthenticated", "message": message})
        try:
            claims = await auth.authenticate(token)
        except AuthError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        context.principal = claims.principal
        connection.guard(auth, claims)
        return UnsetType()  # a plain connection_ack (UNSET is typed Any)

    # --- requests refused before execution: JSON errors with a code ----------------------------

    async def serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """strawberry's ``__call__`` for HTTP, but its refusals (plain text there) are
        GraphQL-shaped JSON with a code here."""
        request = Request(scope, receive=receive)
        try:
            response = await self.run(request)
        except RequestRefused as refusal:
            response = refused(refusal.status_code, refusal.reason)
        await response(scope, receive, send)

    async def parse_http_body(self, request: Any) -> Any:
        """A POST must be ``application/json``: strawberry accepts any media type *containing*
        it, and a form or ``text/plain`` POST (which browsers send cross-site without a CORS
        preflight) must never reach a mutation."""
        if request.method == "POST":
            media = (request.content_type or "").split(";")[0].strip().lower()
            if media != "application/json":
                raise RequestRefused(415, UNSUPPORTED_MEDIA_TYPE)
        return await super().parse_http_body(request)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        if accepts_graphql_response(request.headers.get("accept", "")):
            sub_response.media_type = GRAPHQL_RESPONSE
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        if is_request_error(result) and accepts_graphql_response(request.headers.get("accept", "")):
            data.pop("data", None)  # a request error has no "data" entry (the spec's 400)
        return data

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        data = kwargs.get("request_data")  # strawberry passes its arguments by keyword
        query, name = (data.query, data.operation_name) if data is not None else (None, None)
        try:
            result = await super().execute_single(*args, **kwargs)
        except Exception:  # refused before executing (no operation type, ...): an error
            request_metrics.graphql_operation(query, name, ok=False)
            raise
        request_metrics.graphql_operation(query, name, ok=not result.errors)
        sub_response: Response = kwargs["sub_response"]
        if sub_response.media_type == GRAPHQL_RESPONSE and is_request_error(result):
            sub_response.status_code = 400
        return result

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
        return response


NO_AUTH = "authentication is not available"


class _Connection:
    """One websocket: its socket, and once authenticated the guard that closes it (4403) when
    the token expires or is revoked. Reached from ``on_ws_connect`` through ``_connection``:
    strawberry handles a socket's messages in the task that runs the view."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self._guard: ConnectionGuard | None = None

    @property
    def authenticated(self) -> bool:
        return self._guard is not None

    def guard(self, auth: AuthService, claims: AccessClaims) -> None:
        self._guard = ConnectionGuard(auth, claims, self._close)
        self._guard.start()

    async def _close(self, error: AuthError) -> None:
        user = "?" if self._guard is None else self._guard.claims.principal.username
        log.info("websocket closed: %s (%s)", error.code, user)
        if self.socket.application_state != WebSocketState.DISCONNECTED:
            await self.socket.close(code=WS_FORBIDDEN, reason=error.message[:120])

    async def going_away(self) -> None:
        if self.socket.application_state == WebSocketState.CONNECTED:
            await self.socket.close(code=GOING_AWAY, reason=GOING_AWAY_REASON)

    async def stop(self) -> None:
        if self._guard is not None:
            await self._guard.stop()


_connection: ContextVar[_Connection | None] = ContextVar("websocket_connection", default=None)
