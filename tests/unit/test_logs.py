"""server.logs: one JSON object per line, with the request id and the trace ids of the span
current when the line was written; tracebacks inside the line; the text format for people."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from server.logs import configure_logging, make_handler
from server.request_id import bound_request_id

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
FIELDS = ["time", "level", "logger", "message", "request_id", "trace_id", "span_id"]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own with a JSON handler writing to a string."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    logger.handlers = [make_handler("json", stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream
    finally:
        logger.handlers = []
        logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_fields_in_order(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("deployed %s (%d steps)", "订单处理流程", 9, extra={"instance_id": 7})
    [line] = lines(stream)
    assert list(line)[: len(FIELDS)] == FIELDS
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.logs"
    assert line["message"] == "deployed 订单处理流程 (9 steps)"
    assert line["time"].endswith("+00:00")  # ISO 8601, UTC
    assert line["instance_id"] == 7  # extra= fields are kept
    # outside any request and span: null, not a placeholder
    assert (line["request_id"], line["trace_id"], line["span_id"]) == (None, None, None)
    assert "订单处理流程" in stream.getvalue()  # not \\u-escaped


def test_a_line_carries_the_request_id_and_the_current_span(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    # spans dropped by the sampler (as when nothing is exported) still have ids
    tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    parent = propagate.extract({"traceparent": TRACEPARENT})
    with (
        bound_request_id("req-42"),
        tracer.start_as_current_span("job", context=parent) as span,
    ):
        logger.warning("inside")
    logger.info("after")
    inside, after = lines(stream)
    assert inside["request_id"] == "req-42"
    assert inside["trace_id"] == TRACE_ID  # the incoming traceparent's trace
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert inside["span_id"] != PARENT_ID
    assert (after["request_id"], after["trace_id"]) == (None, None)


def test_a_carried_context_alone_gives_the_trace_id(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    token = otel_context.attach(propagate.extract({"traceparent": TRACEPARENT}))
    try:
        logger.info("continued")
    finally:
        otel_context.detach(token)
    [line] = lines(stream)
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, PARENT_ID)


def test_an_exception_is_one_line_with_its_traceback(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ZeroDivisionError("division by zero\nsecond line")
    except ZeroDivisionError:
        with bound_request_id("req-7"):
            logger.exception("handler failed")
    text = stream.getvalue()
    assert text.count("\n") == 1  # the traceback's newlines are escaped inside the line
    [line] = lines(stream)
    assert line["message"] == "handler failed"
    assert line["level"] == "ERROR"
    assert line["request_id"] == "req-7"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError: division by zero\nsecond line" in line["exception"]


def test_a_forged_request_id_is_not_bound() -> None:
    """A job's carrier comes from Redis: an id with a newline would forge text lines."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs.forged")
    logger.handlers = [make_handler("text", stream)]
    logger.propagate = False
    try:
        with bound_request_id("x\nFAKE ERROR line"):
            logger.warning("job ran")
    finally:
        logger.handlers = []
        logger.propagate = True
    assert stream.getvalue().count("\n") == 1
    assert "[-]: job ran" in stream.getvalue()


def test_the_text_format_is_one_readable_line_with_the_request_id() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs.text")
    logger.handlers = [make_handler("text", stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        with bound_request_id("req-9"):
            logger.info("started instance %s", 3)
    finally:
        logger.handlers = []
        logger.propagate = True
    line = stream.getvalue()
    assert line.endswith(" INFO tests.logs.text [req-9]: started instance 3\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    others = {name: logging.getLogger(name) for name in ("uvicorn.access", "arq")}
    saved = {name: (list(lg.handlers), lg.propagate) for name, lg in others.items()}
    try:
        yield
    finally:
        root.handlers = handlers
        root.setLevel(level)
        for name, (old, propagate_) in saved.items():
            others[name].handlers = old
            others[name].propagate = propagate_


@pytest.mark.usefixtures("root_restored")
def test_configure_logging_sends_uvicorn_and_arq_through_one_handler() -> None:
    stream = io.StringIO()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's own config does
    access.propagate = False
    configure_logging("warning", "json", stream)
    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert root.level == logging.WARNING
    with bound_request_id("req-1"):
        access.warning(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "POST",
            "/graphql",
            "1.1",
            200,
            extra={"color_message": "\x1b[1m...\x1b[0m"},
        )
        logging.getLogger("arq.worker").warning("job wf:job:1 expired")
        logging.getLogger("workers.jobs").info("below the level: dropped")
    access_line, arq_line = lines(stream)
    assert access_line["logger"] == "uvicorn.access"
    assert access_line["message"] == '127.0.0.1:5000 - "POST /graphql HTTP/1.1" 200'
    assert access_line["request_id"] == "req-1"
    assert "color_message" not in access_line  # uvicorn's ANSI copy of the message
    assert arq_line["logger"] == "arq.worker"
    assert arq_line["request_id"] == "req-1"
