"""Logging of the ``serve`` and ``worker`` processes: one handler on the root logger, through
which every logger of the process goes (ours, uvicorn's access and error logs, arq's).

``LOG_FORMAT=json`` (the default) writes each record as one JSON object on one line::

    {"time": "2026-11-28T10:40:00.123456+00:00", "level": "INFO", "logger": "workers.jobs",
     "message": "...", "request_id": "4f1c...", "trace_id": "0af7...", "span_id": "b7ad..."}

``request_id`` is the id of the HTTP request (or websocket, or the request that started a job),
``trace_id`` and ``span_id`` those of the OpenTelemetry span current when the line was written
(``server.telemetry``); each is null outside any. A traceback is the ``exception`` field of the
same line, never lines of its own. Fields given with ``extra=`` are added as they are.

``LOG_FORMAT=text`` is for people at a terminal (``make run``): one line with the request id.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final, Literal, TextIO

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from server.request_id import NO_REQUEST, RequestIdFilter

LogFormat = Literal["json", "text"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
#: The record attributes of a JSON line, in order, and their names there.
_FIELDS: Final = ("levelname", "name", "message", "request_id", "trace_id", "span_id")
_RENAMED: Final = {
    "levelname": "level",
    "name": "logger",
    "exc_info": "exception",
    "stack_info": "stack",
}
#: Loggers that bring handlers of their own elsewhere: here they go through the root's.
_THIRD_PARTY: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "arq")


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` (hex, as W3C ``traceparent`` writes them) of the
    current span to every record of the handler it is attached to; None outside any."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = None
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record: time, level, logger, message, request_id, trace_id,
    span_id, then ``exception`` (the traceback's text) and any ``extra=`` fields."""

    def __init__(self) -> None:
        super().__init__(
            list(_FIELDS),
            rename_fields=_RENAMED,
            timestamp="time",
            json_ensure_ascii=False,  # the seed's names are Chinese: keep them readable
            # uvicorn adds an ANSI-coloured copy of its message to every record
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # "time" first: a person reading raw lines scans it first, as in the text format
        log_data["time"] = None
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") == NO_REQUEST:
            log_data["request_id"] = None  # "-" is the text format's placeholder


def make_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) in ``log_format`` with the request and trace ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(TraceContextFilter())
    formatter = JsonLineFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


def configure_logging(
    level: str, log_format: LogFormat = "json", stream: TextIO | None = None
) -> logging.Handler:
    """Make the root logger's only handler one in ``log_format`` at ``level`` (LOG_LEVEL) and
    send uvicorn's and arq's loggers through it; returns the handler."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = make_handler(log_format, stream)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _THIRD_PARTY:
        logger = logging.getLogger(name)
        logger.handlers.clear()  # their own (uvicorn's dictConfig, arq's CLI) would double lines
        logger.propagate = True
    return handler
