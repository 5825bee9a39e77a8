"""Service-task handlers: plain Python functions, and the one place that invokes them.

A handler takes one :class:`TaskContext` and returns the variables it produced (a dict, or
``None`` for none). It may be sync or async::

    @service("CreditService", "check")
    def check_credit(ctx: TaskContext) -> dict[str, Any]:
        if ctx.variables["total_amount"] > 50_000:
            raise BusinessError("CREDIT_DENIED", "over the 50000 limit")
        return {"credit_approved": True}

    @service("OrderValidationService")  # a class: each public method handles its own name
    class OrderValidation:
        def validate(self, ctx: TaskContext) -> dict[str, Any]: ...

:func:`service` only marks an object; nothing is registered at import time. A
:class:`HandlerRegistry`, built by the composition root, collects marked objects
(``registry.load_modules(settings.handler_modules)``) and resolves ``(service_name, method)``.

:func:`invoke` runs one handler for one job and turns whatever happens into an
:data:`Outcome`: the variables, a business error (with a code: never retried), or a technical
failure (retried by the step's policy unless ``retryable`` is false). It never raises for
anything a handler does; only cancellation of the caller propagates.

A job may run twice (a worker dies after the handler ran, a queue redelivers):
``ctx.idempotency_key`` is the same for every delivery of one attempt, and a handler with side
effects passes it on (an ``Idempotency-Key`` header, a unique column) so the second run does no
harm.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import FunctionType
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, cast

import anyio
import anyio.to_thread

from engine.commands import RunServiceTask
from engine.events import ServiceTaskCompleted, ServiceTaskFailed

if TYPE_CHECKING:
    from server.crypto import Vault
    from server.models import Job

logger = logging.getLogger(__name__)

__all__ = [
    "BusinessError",
    "Completed",
    "DuplicateHandler",
    "Failed",
    "Handler",
    "HandlerRegistry",
    "Outcome",
    "TaskContext",
    "UnknownHandler",
    "invoke",
    "service",
]


# --- what a handler sees and returns ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext:
    """One attempt of one service task, as its handler sees it.

    ``variables`` are the step's input (all the instance's variables unless the step maps an
    ``input``); treat them as read-only.
    """

    variables: Mapping[str, Any]
    instance_id: int
    job_id: str  # the engine's id of this attempt, unique within the instance
    step_id: str
    service_name: str
    method: str | None
    attempt: int = 1
    max_attempts: int = 1

    @property
    def idempotency_key(self) -> str:
        """Stable across re-deliveries of this attempt; a retry (a new attempt) gets a new one."""
        return f"{self.instance_id}:{self.job_id}"

    @classmethod
    def from_job(cls, job: Job, vault: Vault) -> TaskContext:
        """The context of a job row: its variables copied (the row belongs to its session),
        sensitive ones decrypted (the handler needs the real value; the row keeps them sealed)."""
        return cls(
            variables=vault.open(job.instance_id, job.variables),
            instance_id=job.instance_id,
            job_id=job.key,
            step_id=job.step_id,
            service_name=job.service_name,
            method=job.method,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
        )

    @classmethod
    def from_command(cls, instance_id: int, command: RunServiceTask) -> TaskContext:
        return cls(
            variables=command.variables,
            instance_id=instance_id,
            job_id=command.job_id,
            step_id=command.step_id,
            service_name=command.service_name,
            method=command.method,
            attempt=command.attempt,
            max_attempts=command.max_attempts,
        )


HandlerResult: TypeAlias = Mapping[str, Any] | None
Handler: TypeAlias = Callable[[TaskContext], HandlerResult | Awaitable[HandlerResult]]


class BusinessError(Exception):
    """Raised by a handler to report a business outcome with a stable ``code``
    (``raise BusinessError("CREDIT_DENIED", "score 420 < 600")``).

    Never retried: an ``error_event`` attached to the step with that code routes the flow;
    without one, the step gets an incident.
    """

    def __init__(self, code: str, message: str = "") -> None:
        if not isinstance(code, str) or not code:
            raise ValueError("a business error needs a non-empty code, such as 'CREDIT_DENIED'")
        self.code = code
        self.message = message or code
        super().__init__(f"{code}: {message}" if message else code)


# --- outcomes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completed:
    variables: dict[str, Any]

    def as_event(self, job_id: str, *, actor: str | None = None) -> ServiceTaskCompleted:
        return ServiceTaskCompleted(job_id=job_id, variables=self.variables, actor=actor)


@dataclass(frozen=True, slots=True)
class Failed:
    """With ``error_code``: a business error. Without: a technical failure, retried by the
    step's policy when ``retryable``, else an incident at once."""

    message: str
    error_code: str | None = None
    retryable: bool = True

    def as_event(self, job_id: str, *, actor: str | None = None) -> ServiceTaskFailed:
        return ServiceTaskFailed(
            job_id=job_id,
            message=self.message,
            error_code=self.error_code,
            retryable=self.retryable,
            actor=actor,
        )


Outcome: TypeAlias = Completed | Failed


# --- marking --------------------------------------------------------------------------------------

_MARK: Final = "__service_handler_marks__"


@dataclass(frozen=True, slots=True)
class _Mark:
    service_name: str
    method: str | None  # None: every method of the service (functions only)


T = TypeVar("T", bound=Callable[..., Any])


def service(name: str, method: str | None = None) -> Callable[[T], T]:
    """Mark a function (or a class) as the handler of ``name`` / ``method``.

    On a function, ``method=None`` makes it the handler of every method of the service that has
    no more specific handler. On a class, each public method of an instance handles the method
    of its own name, and ``method`` must be omitted. Marks stack: one function may serve several
    services. Nothing is registered here; see :class:`HandlerRegistry`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a service name must be a non-empty string, got {name!r}")
    if method is not None and (not isinstance(method, str) or not method):
        raise ValueError(f"a method must be a non-empty string or None, got {method!r}")

    def mark(target: T) -> T:
        if isinstance(target, type) and method is not None:
            raise TypeError(
                f"@service({name!r}, {method!r}) on class {target.__qualname__}: a class takes "
                "no method; each of its public methods handles the method of its own name"
            )
        try:
            setattr(target, _MARK, (*_own_marks(target), _Mark(name, method)))
        except (AttributeError, TypeError) as error:
            raise TypeError(
                f"@service cannot mark {target!r}: use it on a function or a class"
            ) from error
        return target

    return mark


def _own_marks(obj: object) -> tuple[_Mark, ...]:
    """The marks set on ``obj`` itself: a subclass of a marked class is not marked."""
    own = getattr(obj, "__dict__", None)
    marks = own.get(_MARK, ()) if isinstance(own, Mapping) else ()
    return cast(tuple[_Mark, ...], marks)


# --- the registry ---------------------------------------------------------------------------------


class UnknownHandler(LookupError):
    """No handler for a service task's ``(service_name, method)``."""

    def __init__(
        self,
        service_name: str,
        method: str | None,
        registered: list[str],
        similar: str | None = None,
    ) -> None:
        self.service_name = service_name
        self.method = method
        self.registered = registered  # the methods the service does have
        if registered:
            known = f"{service_name} has: {', '.join(registered)}"
        else:
            known = f"no handler is registered for service {service_name}"
            known += f" (did you mean {similar}?)" if similar else ""
        super().__init__(f"no handler for {_key_text(service_name, method)}; {known}")


class DuplicateHandler(ValueError):
    """Two handlers claim the same ``(service_name, method)``."""


class HandlerRegistry:
    """The handlers one worker can run, keyed by ``(service_name, method)``.

    Built once at start-up (``load_modules``) and then only read.
    """

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], Handler] = {}

    def add(self, obj: object) -> None:
        """Register a marked function, a marked class (instantiated with no arguments), or an
        instance of a marked class (for handlers that need collaborators: pass them to it)."""
        marks = _own_marks(obj)
        if marks and isinstance(obj, type):
            try:
                instance = obj()
            except TypeError as error:
                error.add_note(
                    f"registering @service class {obj.__qualname__}: it is instantiated with no "
                    "arguments; add an instance instead"
                )
                raise
            self._add_instance(instance, marks)
        elif marks:
            for mark in marks:
                self._put(mark.service_name, mark.method, cast(Handler, obj))
        elif not isinstance(obj, type) and _own_marks(type(obj)):
            self._add_instance(obj, _own_marks(type(obj)))
        else:
            raise TypeError(f"{obj!r} is not marked with @service")

    def load_module(self, name: str) -> None:
        """Import the module ``name`` and add every marked object defined in it.

        Objects a module imports from elsewhere are skipped (load their own module), so that a
        re-export does not register a handler twice.
        """
        module = importlib.import_module(name)
        found = [
            obj
            for obj in vars(module).values()
            if _own_marks(obj) and getattr(obj, "__module__", None) == module.__name__
        ]
        if not found:
            raise ValueError(
                f"module {name} defines no @service handlers (handlers it imports from other "
                "modules are not added: load those modules)"
            )
        for obj in found:
            self.add(obj)

    def load_modules(self, names: Iterable[str]) -> None:
        for name in names:
            self.load_module(name)

    def resolve(self, service_name: str, method: str | None) -> Handler:
        """The handler of ``service_name`` / ``method``: the exact one, else the service's
        catch-all (registered with ``method=None``); else :class:`UnknownHandler`."""
        handler = self._handlers.get((service_name, method))
        if handler is None:
            handler = self._handlers.get((service_name, None))
        if handler is None:
            registered = sorted(m for s, m in self._handlers if s == service_name and m is not None)
            similar = difflib.get_close_matches(service_name, {s for s, _ in self._handlers}, 1)
            raise UnknownHandler(service_name, method, registered, similar[0] if similar else None)
        return handler

    def registered(self) -> list[tuple[str, str | None]]:
        """Every ``(service_name, method)`` with a handler (``None``: any method), sorted."""
        return sorted(self._handlers, key=lambda key: (key[0], key[1] or ""))

    def _add_instance(self, instance: object, marks: tuple[_Mark, ...]) -> None:
        methods = [
            name
            for name in dir(type(instance))
            if not name.startswith("_")
            and isinstance(
                inspect.getattr_static(instance, name), FunctionType | staticmethod | classmethod
            )
        ]
        if not methods:
            raise TypeError(f"@service class {type(instance).__qualname__} has no public methods")
        for mark in marks:
            for method in methods:
                self._put(mark.service_name, method, getattr(instance, method))

    def _put(self, service_name: str, method: str | None, handler: Handler) -> None:
        key = (service_name, method)
        existing = self._handlers.get(key)
        if existing is not None:
            raise DuplicateHandler(
                f"two handlers for {_key_text(service_name, method)}: {_describe(existing)} "
                f"and {_describe(handler)}"
            )
        self._handlers[key] = handler


def _key_text(service_name: str, method: str | None) -> str:
    return service_name if method is None else f"{service_name}.{method}"


def _describe(handler: object) -> str:
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__qualname__", None) or repr(handler)
    return f"{module}.{name}" if module else name


# --- invoking -------------------------------------------------------------------------------------


async def invoke(registry: HandlerRegistry, ctx: TaskContext, timeout_seconds: float) -> Outcome:
    """Run the handler of ``ctx`` once, within ``timeout_seconds``, and say how it went.

    An async handler is cancelled at the deadline (it must not block the event loop: a
    ``time.sleep`` inside ``async def`` cannot be interrupted). A sync handler runs in a worker
    thread; a thread cannot be killed, so at the deadline it is abandoned: the attempt fails at
    once, the thread runs on until the function returns, and its late result (or error) is
    discarded. Give sync handlers their own I/O timeouts, shorter than the step's.
    """
    try:
        handler = registry.resolve(ctx.service_name, ctx.method)
    except UnknownHandler as error:
        logger.error("%s (instance %s, job %s)", error, ctx.instance_id, ctx.job_id)
        return Failed(str(error), retryable=False)
    where = _key_text(ctx.service_name, ctx.method)
    try:
        with anyio.move_on_after(timeout_seconds) as scope:
            result = await _call(handler, ctx)
    except BusinessError as error:
        return Failed(error.message, error_code=error.code, retryable=False)
    except Exception as error:
        logger.exception(
            "handler %s failed (instance %s, job %s, attempt %s/%s)",
            where,
            ctx.instance_id,
            ctx.job_id,
            ctx.attempt,
            ctx.max_attempts,
        )
        text = str(error)
        return Failed(f"{type(error).__name__}: {text}" if text else type(error).__name__)
    if scope.cancelled_caught:
        logger.warning(
            "handler %s timed out after %gs (instance %s, job %s, attempt %s/%s)",
            where,
            timeout_seconds,
            ctx.instance_id,
            ctx.job_id,
            ctx.attempt,
            ctx.max_attempts,
        )
        return Failed(f"timed out after {timeout_seconds:g}s")
    try:
        return Completed(_variables(result))
    except _NotVariables as error:
        message = f"handler {where} returned {error}"
        logger.error("%s (instance %s, job %s)", message, ctx.instance_id, ctx.job_id)
        return Failed(message, retryable=False)


async def _call(handler: Handler, ctx: TaskContext) -> object:
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004  # not a callable() test: async __call__
    ):
        return await cast(Callable[[TaskContext], Awaitable[object]], handler)(ctx)
    result: object = await anyio.to_thread.run_sync(handler, ctx, abandon_on_cancel=True)
    if inspect.isawaitable(result):  # a sync callable that returned a coroutine (a partial, ...)
        result = await result
    return result


class _NotVariables(Exception):
    """What a handler returned cannot be stored as variables; the message says why."""


_MAX_DEPTH: Final = 64


def _variables(result: object) -> dict[str, Any]:
    """A detached copy of a handler's result as variables, or :class:`_NotVariables`."""
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise _NotVariables(
            f"{type(result).__name__} {_preview(result)}: expected a dict of variables or None"
        )
    return cast(dict[str, Any], _json_copy(result, "result", 0))


def _json_copy(value: object, path: str, depth: int) -> object:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotVariables(f"a value that is not JSON: {path} is {value}")
        return value
    if depth >= _MAX_DEPTH:
        raise _NotVariables(f"a value nested deeper than {_MAX_DEPTH} levels at {path}")
    if isinstance(value, Mapping):
        copy: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                kind = type(key).__name__
                raise _NotVariables(f"a dict with a {kind} key {key!r} in {path}: keys are strings")
            copy[key] = _json_copy(item, f"{path}[{key!r}]", depth + 1)
        return copy
    if isinstance(value, list | tuple):
        return [_json_copy(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise _NotVariables(
        f"a value that is not JSON: {path} is a {type(value).__name__} {_preview(value)}"
    )


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
