"""A bounded GraphQL fuzz run against the real server: no 5xx, and no error that leaks internals.

schemathesis (over hypothesis-graphql) generates queries and mutations for every root field of
the checked-in SDL (``frontend-contract/schema.graphql``, which a test keeps equal to the code),
valid ones and, in negative mode, ones that break the schema on purpose. Each is sent over HTTP
to ``workflow-engine serve --demo`` (embedded SQLite in a temporary folder, the demo handlers, the
examples deployed, a few instances started so that ids point at data) with a valid user.

Every response must be JSON with a status under 500, and every GraphQL error in it must be a
request error (syntax, validation, coercion), an argument error with ``extensions.code``, or
exactly the masked form ("internal error"), with no traceback, exception class, SQL or file path
in any message. The server's log must hold no traceback that a masked error does not account
for. Generation is derandomized and bounded, so CI sees the same cases every run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from support.processes import BIN, Process, free_port

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).parents[2]
SDL = ROOT / "frontend-contract" / "schema.graphql"
EXAMPLES = ROOT / "examples"
MAX_EXAMPLES = 20  # per root field (28 of them): under 600 requests, 30-60 s on 2 cores
READY_TIMEOUT_SECONDS = 30.0
DEMO_LOGIN = {"username": "admin", "password": "password123"}  # what `serve --demo` creates
MASKED = "internal error"

# What must never reach a client: Python tracebacks and frames, exception class names, SQL and
# driver names, source paths. (Type names of our schema, such as ConflictError, are fine: a
# validation error may name them.)
LEAKS = re.compile(
    r"Traceback \(most recent call last\)"
    r'|File "[^"]*", line \d+'
    r"|[\w/\\.-]+\.py\b"
    r"|\b(?:Key|Value|Type|Attribute|Index|Assertion|Runtime|ZeroDivision|Overflow|Recursion"
    r"|Lookup|Name|NotImplemented|OS|Unicode\w*|Integrity|Operational|Programming|Data"
    r"|Interface|Database|Validation|Timeout|Cancelled)Error\b"
    r"|\bNoneType\b|object has no attribute"
    r"|\b(?:sqlalchemy|sqlmodel|sqlite3|aiosqlite|asyncpg|psycopg|pydantic)\b"
    r"|\[SQL:|\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.+\bSET\b|\bDELETE FROM\b"
)


# --- JSON literals -------------------------------------------------------------------------

NAME = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,11}", fullmatch=True)


def literal(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (the ``JSON`` scalar parses literals back to values)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(literal(v) for v in value))
    return graphql.ObjectValueNode(
        fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=literal(v))
            for k, v in value.items()
        )
    )


def _is_literal_safe(value: Any) -> bool:
    """Object keys must be GraphQL names to be written as a literal."""
    if isinstance(value, dict):
        return all(
            re.fullmatch(r"[_A-Za-z]\w*", k) and _is_literal_safe(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_is_literal_safe(v) for v in value)
    return True


def example_definitions() -> list[dict[str, Any]]:
    """The JSON examples, without ``$schema`` (not a GraphQL name; the server ignores it)."""
    found = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    stripped = [{k: v for k, v in d.items() if k != "$schema"} for d in found]
    usable = [d for d in stripped if _is_literal_safe(d)]
    assert usable, "no example definition can be written as a GraphQL literal"
    return usable


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAME, inner, max_size=4),
    max_leaves=12,
)


def _broken(definition: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """An example definition with one top-level entry replaced by arbitrary JSON."""
    key = data.draw(st.sampled_from(sorted(definition)))
    return {**definition, key: data.draw(JSON_VALUES)}


EXAMPLE_DEFINITIONS = example_definitions()
DEFINITIONS = st.sampled_from(EXAMPLE_DEFINITIONS) | st.builds(
    _broken, st.sampled_from(EXAMPLE_DEFINITIONS), st.data()
)
# Arbitrary JSON, and now and then a real definition (whole or with one part broken), so that
# deployDefinition gets past the first check.
schemathesis.graphql.scalar("JSON", (JSON_VALUES | DEFINITIONS).map(literal))


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    process: Process
    masked: list[str] = field(default_factory=list)  # the queries answered "internal error"

    @property
    def graphql_url(self) -> str:
        return f"{self.process.url}/graphql"


def _start(log_dir: Path) -> Process:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "JWT_SECRET", "ENCRYPTION_KEYS"}
    }
    # text lines: logged_exceptions reads tracebacks as lines of their own (JSON keeps them
    # inside one line, docs/logging-and-tracing.md)
    env |= {"SQLITE_PATH": str(log_dir / "fuzz.db"), "LOG_LEVEL": "warning", "LOG_FORMAT": "text"}
    log = log_dir / "server.log"
    command = [str(BIN / "workflow-engine"), "serve", "--demo", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=log_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process("fuzz-api", popen, log, port)
    try:
        _wait_ready(process)
    except BaseException:
        process.stop()
        raise
    return process


def _wait_ready(process: Process) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"the server exited:\n{process.output()}")
        try:
            if httpx.get(f"{process.url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server was not ready in {READY_TIMEOUT_SECONDS}s:\n{process.output()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process = _start(tmp_path_factory.mktemp("fuzz"))
    try:
        running = Server(process)
        yield running
        _check_log(running)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def auth_headers(server: Server) -> dict[str, str]:
    """The request headers of a user who may do everything: the only place the run
    authenticates. It logs in as a client would, as the admin that ``serve --demo`` creates
    (tests/support/auth.py's ``create_user`` + ``http_login_sync`` would need the test to write
    to the server's database; the demo's own user needs nothing)."""
    response = httpx.post(f"{server.process.url}/api/v1/auth/login", json=DEMO_LOGIN, timeout=10)
    if response.status_code == 501:  # the seed's placeholder route: "login is not available yet"
        # TODO(lead, issue 5 part A): drop this branch once login is merged; until then the
        # server takes the user from X-User. (The seeding below fails if the headers
        # do not authenticate, so the run never fuzzes as nobody.)
        return {"X-User": "admin", "X-User-Groups": "managers"}
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def seeded(server: Server, auth_headers: dict[str, str]) -> Server:
    """Instances, tasks and history besides the deployed examples, so that small ids (which
    ``_PointAtData`` writes into half the cases) find rows."""
    start = (
        "mutation Start($key: String!, $variables: JSON) { startInstance(key: $key, "
        "variables: $variables) { __typename } }"
    )
    order = {"order_id": "ORDER-1", "customer_id": "CUST-1", "total_amount": 5000}
    for key, values in [("order-processing", order), ("leave-request", {})] * 2:
        response = httpx.post(
            server.graphql_url,
            json={"query": start, "variables": {"key": key, "variables": values}},
            headers=auth_headers,
            timeout=10.0,
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
    return server


# Exceptions the schema raises on purpose (shown to the client, never masked): strawberry logs
# them with a traceback all the same.
EXPECTED_EXCEPTIONS = {"schema.errors.ArgumentError", "graphql.error.graphql_error.GraphQLError"}
CHAINED = ("The above exception was the direct cause", "During handling of the above exception")
LOG_RECORD = re.compile(r"^(?:\d{4}-\d\d-\d\d |[A-Z]+:\s)")


def logged_exceptions(log: str) -> list[str]:
    """The class of each exception the server logged with a traceback (the last of a chain)."""
    lines = log.splitlines()
    found = []
    for start, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        at = next((i for i in range(start + 1, len(lines)) if not lines[i][:1].isspace()), None)
        if at is None:
            continue
        end = next(
            (
                i
                for i in range(at + 1, len(lines))
                if lines[i].startswith("Traceback (most recent") or LOG_RECORD.match(lines[i])
            ),
            len(lines),
        )
        if not any(text.startswith(CHAINED) for text in lines[at + 1 : end]):
            found.append(lines[at].partition(":")[0])
    return found


def _check_log(server: Server) -> None:
    """Every unexpected exception the server logged answered a request with the masked error."""
    logged = logged_exceptions(server.process.log.read_text(errors="replace"))
    unexpected = [name for name in logged if name not in EXPECTED_EXCEPTIONS]
    assert len(unexpected) <= len(server.masked), (
        f"the server logged {unexpected} for {len(server.masked)} masked errors:\n"
        f"{server.process.output(200)}"
    )


# --- the run ---------------------------------------------------------------------------------

schema = schemathesis.graphql.from_file(SDL.read_text())

# Arguments that name a row: random integers are almost never an id that exists (the run would
# only test "not found"), so half of the cases point them at the seeded rows instead.
ID_ARGUMENTS = {"id", "definitionId", "instanceId"}
SEEDED_IDS = 12
PAGE_SIZES = {"first": 200, "maxTasks": 100}  # argument: largest valid value


class _PointAtData(graphql.Visitor):
    def __init__(self, random: Random) -> None:
        super().__init__()
        self.random = random

    def _value(self, name: str, value: graphql.ValueNode) -> graphql.IntValueNode | None:
        if not isinstance(value, graphql.IntValueNode):
            return None
        if name in ID_ARGUMENTS:
            return graphql.IntValueNode(value=str(self.random.randint(1, SEEDED_IDS)))
        if name in PAGE_SIZES:
            return graphql.IntValueNode(value=str(self.random.randint(1, PAGE_SIZES[name])))
        return None

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
        value = self._value(node.name.value, node.value)
        return None if value is None else graphql.ArgumentNode(name=node.name, value=value)

    def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> Any:
        value = self._value(node.name.value, node.value)
        return None if value is None else graphql.ObjectFieldNode(name=node.name, value=value)


@schema.hook
def flatmap_body(context: Any, body: graphql.DocumentNode) -> st.SearchStrategy[Any]:
    pointed = st.randoms(use_true_random=False).map(lambda r: graphql.visit(body, _PointAtData(r)))
    return st.just(body) | pointed


def check_response(server: Server, query: str, response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code} for:\n{query}\n{response.text}"
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"not JSON ({response.status_code}) for:\n{query}\n{response.text[:500]}")
    assert isinstance(body, dict), body
    for error in body.get("errors") or []:
        message = error.get("message", "")
        leak = LEAKS.search(json.dumps(error))
        assert leak is None, f"{leak.group(0)!r} leaks in {error} for:\n{query}"
        if message == MASKED:
            # exactly the masked form: a code and the request id to find it in the log
            assert set(error.get("extensions") or {}) <= {"code", "requestId"}, error
            server.masked.append(query)
            continue
        # Not masked: it must be a request error (no path: the operation never ran) or an
        # argument error the schema raised on purpose (with a code).
        assert error.get("path") is None or "code" in (error.get("extensions") or {}), (
            f"an unmasked execution error {error} for:\n{query}"
        )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # a loaded CI machine is slow now and then: not a failure of the server
    derandomize=True,  # the same cases on every run: reproducible in CI, never flaky
    database=None,  # nothing saved between runs either
    # Big documents and many rejected draws are what a GraphQL fuzz run is made of; the health
    # checks would fail the run for a reason that is not the server's.
    suppress_health_check=list(HealthCheck),
)
def test_fuzzed_operations_never_fail_the_server(
    case: Any, seeded: Server, auth_headers: dict[str, str]
) -> None:
    body = case.as_transport_kwargs(base_url=seeded.graphql_url)["json"]
    response = httpx.post(seeded.graphql_url, json=body, headers=auth_headers, timeout=30.0)
    check_response(seeded, body.get("query", ""), response)
