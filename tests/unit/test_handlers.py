"""Service-task handlers: marking and registering them, resolving a step's handler, invoking it
(every outcome), and the demo handlers that ``make run`` loads for ``examples/``."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from support.driver import Driver

from engine import compile_definition, load_definition_text
from engine.commands import RunServiceTask
from engine.compiled import ServiceTaskStep
from engine.events import ServiceTaskCompleted, ServiceTaskFailed
from server import demo_services
from server.handlers import (
    BusinessError,
    Completed,
    DuplicateHandler,
    Failed,
    HandlerRegistry,
    TaskContext,
    UnknownHandler,
    invoke,
    service,
)

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def context(service_name: str, method: str | None = None, **variables: Any) -> TaskContext:
    return TaskContext(
        variables=variables,
        instance_id=7,
        job_id="job-3",
        step_id="step",
        service_name=service_name,
        method=method,
    )


def registry_of(*objects: object) -> HandlerRegistry:
    registry = HandlerRegistry()
    for obj in objects:
        registry.add(obj)
    return registry


@pytest.fixture(scope="module")
def demo() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.load_module("server.demo_services")
    return registry


# --- the context ------------------------------------------------------------------------------


def test_context_from_a_command_has_an_idempotency_key_per_attempt() -> None:
    command = RunServiceTask(
        job_id="job-4",
        token_id="t-1",
        step_id="credit_check",
        service_name="CreditService",
        method="check",
        variables={"total_amount": 10.0},
        attempt=2,
        max_attempts=5,
        timeout_seconds=10.0,
    )
    ctx = TaskContext.from_command(42, command)
    assert ctx.idempotency_key == "42:job-4"
    assert TaskContext.from_command(42, command).idempotency_key == ctx.idempotency_key
    assert (ctx.step_id, ctx.service_name, ctx.method) == ("credit_check", "CreditService", "check")
    assert (ctx.attempt, ctx.max_attempts, ctx.variables) == (2, 5, {"total_amount": 10.0})


# --- marking and registering ------------------------------------------------------------------


def test_a_marked_function_is_registered_for_its_service_and_method() -> None:
    @service("Pricing", "quote")
    def quote(ctx: TaskContext) -> dict[str, Any]:
        return {}

    assert registry_of(quote).resolve("Pricing", "quote") is quote


def test_marking_registers_nothing_by_itself() -> None:
    @service("Pricing", "quote")
    def quote(ctx: TaskContext) -> None:
        return None

    with pytest.raises(UnknownHandler):
        HandlerRegistry().resolve("Pricing", "quote")


def test_a_marked_class_registers_each_public_method_of_one_instance() -> None:
    @service("Orders")
    class Orders:
        def __init__(self) -> None:
            self.calls = 0

        def confirm(self, ctx: TaskContext) -> dict[str, Any]:
            self.calls += 1
            return {"calls": self.calls}

        @staticmethod
        def cancel(ctx: TaskContext) -> None:
            return None

        def _helper(self) -> None:
            return None

    registry = registry_of(Orders)
    assert registry.registered() == [("Orders", "cancel"), ("Orders", "confirm")]
    assert registry.resolve("Orders", "confirm")(context("Orders")) == {"calls": 1}
    assert registry.resolve("Orders", "confirm")(context("Orders")) == {"calls": 2}


def test_an_instance_of_a_marked_class_brings_its_collaborators() -> None:
    @service("Mailer")
    class Mailer:
        def __init__(self, sender: str) -> None:
            self.sender = sender

        def send(self, ctx: TaskContext) -> dict[str, Any]:
            return {"sender": self.sender}

    with pytest.raises(TypeError) as error:
        registry_of(Mailer)
    assert "add an instance instead" in "".join(error.value.__notes__)
    handler = registry_of(Mailer("noreply@example.com")).resolve("Mailer", "send")
    assert handler(context("Mailer")) == {"sender": "noreply@example.com"}


def test_marks_stack_and_are_not_inherited() -> None:
    @service("A", "run")
    @service("B")
    def both(ctx: TaskContext) -> None:
        return None

    registry = registry_of(both)
    assert registry.registered() == [("A", "run"), ("B", None)]

    @service("Base")
    class Base:
        def run(self, ctx: TaskContext) -> None:
            return None

    class Child(Base):
        pass

    with pytest.raises(TypeError, match="not marked with @service"):
        registry_of(Child)


@pytest.mark.parametrize(
    ("name", "method"), [("", None), ("Svc", ""), (None, None)], ids=["name", "method", "type"]
)
def test_service_refuses_empty_names(name: Any, method: Any) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        service(name, method)


def test_service_on_a_class_takes_no_method() -> None:
    with pytest.raises(TypeError, match="a class takes no method"):

        @service("Orders", "confirm")
        class Orders:
            def confirm(self, ctx: TaskContext) -> None:
                return None


def test_a_marked_class_needs_public_methods() -> None:
    @service("Empty")
    class Empty:
        def _private(self, ctx: TaskContext) -> None:
            return None

    with pytest.raises(TypeError, match="has no public methods"):
        registry_of(Empty)


def test_adding_an_unmarked_object_is_refused() -> None:
    def plain(ctx: TaskContext) -> None:
        return None

    with pytest.raises(TypeError, match="not marked with @service"):
        registry_of(plain)


def test_registering_the_same_service_and_method_twice_is_refused() -> None:
    @service("Orders", "confirm")
    def first(ctx: TaskContext) -> None:
        return None

    @service("Orders")
    class Orders:
        def confirm(self, ctx: TaskContext) -> None:
            return None

    with pytest.raises(DuplicateHandler, match=r"two handlers for Orders\.confirm: .*first"):
        registry_of(first, Orders)


def test_two_catch_alls_for_one_service_are_refused() -> None:
    @service("Orders")
    def one(ctx: TaskContext) -> None:
        return None

    @service("Orders")
    def two(ctx: TaskContext) -> None:
        return None

    with pytest.raises(DuplicateHandler, match="two handlers for Orders:"):
        registry_of(one, two)


# --- resolving --------------------------------------------------------------------------------


@service("Notify")
def notify_any(ctx: TaskContext) -> None:
    return None


@service("Notify", "sms")
def notify_sms(ctx: TaskContext) -> None:
    return None


@pytest.mark.parametrize(
    ("method", "expected"),
    [("sms", notify_sms), ("email", notify_any), (None, notify_any)],
    ids=["exact", "catch-all", "no-method"],
)
def test_an_exact_handler_wins_over_the_catch_all(method: str | None, expected: object) -> None:
    assert registry_of(notify_any, notify_sms).resolve("Notify", method) is expected


def test_unknown_method_lists_what_the_service_has() -> None:
    with pytest.raises(UnknownHandler) as error:
        registry_of(notify_sms).resolve("Notify", "email")
    assert str(error.value) == "no handler for Notify.email; Notify has: sms"
    assert (error.value.service_name, error.value.method) == ("Notify", "email")


def test_a_step_without_method_needs_a_catch_all() -> None:
    with pytest.raises(UnknownHandler, match=r"^no handler for Notify; Notify has: sms$"):
        registry_of(notify_sms).resolve("Notify", None)


def test_unknown_service_says_nothing_is_registered_for_it() -> None:
    with pytest.raises(UnknownHandler) as error:
        registry_of(notify_sms).resolve("Billing", "charge")
    assert (
        str(error.value)
        == "no handler for Billing.charge; no handler is registered for service Billing"
    )


def test_unknown_service_suggests_a_similar_name() -> None:
    with pytest.raises(UnknownHandler, match=r"service Notfy \(did you mean Notify\?\)$"):
        registry_of(notify_sms).resolve("Notfy", "sms")


# --- loading modules ----------------------------------------------------------------------------


def test_load_module_adds_every_handler_of_the_demo(demo: HandlerRegistry) -> None:
    assert ("CreditService", "check") in demo.registered()
    assert ("NotificationService", None) in demo.registered()
    assert demo.resolve("CreditService", "check") is demo_services.check_credit


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    module = ModuleType("fake_handlers")

    @service("Own", "run")
    def own(ctx: TaskContext) -> None:
        return None

    own.__module__ = module.__name__
    module.own = own  # type: ignore[attr-defined]  # a module built at run time
    module.reexported = demo_services.check_credit  # type: ignore[attr-defined]  # same
    monkeypatch.setitem(sys.modules, module.__name__, module)
    yield module


def test_load_module_skips_handlers_imported_from_elsewhere(handler_module: ModuleType) -> None:
    registry = HandlerRegistry()
    registry.load_modules([handler_module.__name__, "server.demo_services"])
    assert ("Own", "run") in registry.registered()
    assert registry.resolve("CreditService", "check") is demo_services.check_credit


def test_load_module_refuses_a_module_without_handlers() -> None:
    with pytest.raises(ValueError, match="module json defines no @service handlers"):
        HandlerRegistry().load_module("json")


def test_loading_a_module_twice_is_a_duplicate() -> None:
    registry = HandlerRegistry()
    registry.load_module("server.demo_services")
    with pytest.raises(DuplicateHandler):
        registry.load_module("server.demo_services")


# --- invoking -------------------------------------------------------------------------------------


@service("Svc")
class Behaviours:
    def sync_ok(self, ctx: TaskContext) -> dict[str, Any]:
        return {"doubled": ctx.variables["n"] * 2, "pair": (1, 2), "nested": {"a": [None]}}

    async def async_ok(self, ctx: TaskContext) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        return {"key": ctx.idempotency_key}

    def nothing(self, ctx: TaskContext) -> None:
        return None

    def denied(self, ctx: TaskContext) -> None:
        raise BusinessError("CREDIT_DENIED", "score 420 < 600")

    async def denied_async(self, ctx: TaskContext) -> None:
        raise BusinessError("CREDIT_DENIED")

    def broken(self, ctx: TaskContext) -> None:
        raise ValueError("boom")

    async def broken_async(self, ctx: TaskContext) -> None:
        raise KeyError("order_id")

    def silent_error(self, ctx: TaskContext) -> None:
        raise RuntimeError

    def returns(self, ctx: TaskContext) -> Any:
        return ctx.variables["value"]


BEHAVIOURS = registry_of(Behaviours)


async def run(method: str, timeout: float = 5.0, **variables: Any) -> Any:
    return await invoke(BEHAVIOURS, context("Svc", method, **variables), timeout)


@pytest.mark.anyio
async def test_a_sync_handler_completes_with_a_json_copy_of_its_variables() -> None:
    assert await run("sync_ok", n=21) == Completed(
        {"doubled": 42, "pair": [1, 2], "nested": {"a": [None]}}
    )


@pytest.mark.anyio
async def test_an_async_handler_completes() -> None:
    assert await run("async_ok") == Completed({"key": "7:job-3"})


@pytest.mark.anyio
async def test_none_means_no_variables() -> None:
    assert await run("nothing") == Completed({})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "message"),
    [("denied", "score 420 < 600"), ("denied_async", "CREDIT_DENIED")],
    ids=["sync", "async"],
)
async def test_a_business_error_is_failed_with_its_code_and_not_retried(
    method: str, message: str
) -> None:
    assert await run(method) == Failed(message, error_code="CREDIT_DENIED", retryable=False)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("broken", "ValueError: boom"),
        ("broken_async", "KeyError: 'order_id'"),
        ("silent_error", "RuntimeError"),
    ],
)
async def test_an_exception_is_a_retryable_failure_logged_with_its_trace(
    method: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="server.handlers"):
        assert await run(method) == Failed(message, error_code=None, retryable=True)
    [record] = caplog.records
    assert record.exc_info is not None
    assert f"handler Svc.{method} failed (instance 7, job job-3, attempt 1/1)" in record.message


@pytest.mark.anyio
async def test_an_async_handler_is_cancelled_at_its_timeout() -> None:
    cancelled = anyio.Event()

    @service("Slow", "wait")
    async def wait(ctx: TaskContext) -> None:
        try:
            await anyio.Event().wait()
        finally:
            cancelled.set()

    outcome = await invoke(registry_of(wait), context("Slow", "wait"), 0.05)
    assert outcome == Failed("timed out after 0.05s", retryable=True)
    assert cancelled.is_set()


@pytest.mark.anyio
async def test_a_sync_handler_is_abandoned_at_its_timeout_and_its_late_result_discarded() -> None:
    release, finished = threading.Event(), threading.Event()

    @service("Slow", "block")
    def block(ctx: TaskContext) -> dict[str, Any]:
        release.wait(5)
        finished.set()
        return {"late": True}

    try:
        outcome = await invoke(registry_of(block), context("Slow", "block"), 0.05)
        assert outcome == Failed("timed out after 0.05s", retryable=True)
        assert not finished.is_set()  # the thread still runs: it cannot be killed
    finally:
        release.set()
    assert await anyio.to_thread.run_sync(finished.wait, 5)


@pytest.mark.anyio
async def test_an_unknown_handler_is_not_retried() -> None:
    assert await run("missing") == Failed(
        "no handler for Svc.missing; Svc has: async_ok, broken, broken_async, denied, "
        "denied_async, nothing, returns, silent_error, sync_ok",
        retryable=False,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "list [1, 2]: expected a dict of variables or None"),
        ("ok", "str 'ok': expected a dict of variables or None"),
        ({1: "a"}, "a dict with a int key 1 in result: keys are strings"),
        ({"a": {"b": {2: 0}}}, "a dict with a int key 2 in result['a']['b']: keys are strings"),
        (
            {"when": date(2026, 1, 2)},
            "not JSON: result['when'] is a date datetime.date(2026, 1, 2)",
        ),
        ({"x": [1, float("nan")]}, "not JSON: result['x'][1] is nan"),
        ({"s": {1, 2}}, "not JSON: result['s'] is a set {1, 2}"),
    ],
    ids=["list", "str", "int-key", "nested-key", "date", "nan", "set"],
)
async def test_a_result_that_is_not_variables_is_not_retried(value: object, message: str) -> None:
    outcome = await run("returns", value=value)
    assert isinstance(outcome, Failed)
    assert outcome.message.startswith("handler Svc.returns returned ")
    assert message in outcome.message
    assert (outcome.error_code, outcome.retryable) == (None, False)


@pytest.mark.anyio
async def test_a_cycle_in_the_result_is_refused() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    outcome = await run("returns", value=cycle)
    assert isinstance(outcome, Failed)
    assert "nested deeper than 64 levels" in outcome.message


@pytest.mark.anyio
async def test_an_object_with_an_async_call_is_awaited() -> None:
    class Runner:
        async def __call__(self, ctx: TaskContext) -> dict[str, Any]:
            return {"main_thread": threading.current_thread() is threading.main_thread()}

    runner = service("Callable", "run")(Runner())  # a marked instance, not a function
    outcome = await invoke(registry_of(runner), context("Callable", "run"), 1)
    assert outcome == Completed({"main_thread": True})


def test_outcomes_become_engine_events() -> None:
    assert Completed({"a": 1}).as_event("job-1", actor="worker") == ServiceTaskCompleted(
        job_id="job-1", variables={"a": 1}, actor="worker"
    )
    assert Failed("no", error_code="X", retryable=False).as_event("job-1") == ServiceTaskFailed(
        job_id="job-1", message="no", error_code="X", retryable=False
    )


def test_a_business_error_needs_a_code() -> None:
    with pytest.raises(ValueError, match="non-empty code"):
        BusinessError("")
    error = BusinessError("CREDIT_DENIED", "score 420 < 600")
    assert (error.code, error.message, str(error)) == (
        "CREDIT_DENIED",
        "score 420 < 600",
        "CREDIT_DENIED: score 420 < 600",
    )


# --- the demo handlers ----------------------------------------------------------------------------


async def call(demo: HandlerRegistry, name: str, method: str, **variables: Any) -> Any:
    return await invoke(demo, context(name, method, **variables), 1)


@pytest.mark.anyio
async def test_demo_order_validation(demo: HandlerRegistry) -> None:
    ok = await call(demo, "OrderValidationService", "validate", order_id="O-1", total_amount=9.5)
    assert ok == Completed({"valid": True})
    bad = await call(demo, "OrderValidationService", "validate", order_id="O-1", total_amount=0)
    assert isinstance(bad, Failed)
    assert (bad.error_code, bad.retryable) == ("ORDER_INVALID", False)
    missing = await call(demo, "OrderValidationService", "validate", total_amount=10.0)
    assert isinstance(missing, Failed)
    assert missing.error_code == "ORDER_INVALID"


@pytest.mark.anyio
async def test_demo_credit_is_denied_above_the_limit(demo: HandlerRegistry) -> None:
    ok = await call(demo, "CreditService", "check", total_amount=50_000.0)
    assert ok == Completed({"credit_approved": True})
    denied = await call(demo, "CreditService", "check", total_amount=50_000.01)
    assert isinstance(denied, Failed)
    assert (denied.error_code, denied.retryable) == ("CREDIT_DENIED", False)


@pytest.mark.anyio
async def test_demo_shipping_derives_a_stable_tracking_number(demo: HandlerRegistry) -> None:
    first = await call(demo, "ShippingService", "ship", order_id="ORDER-001")
    again = await call(demo, "ShippingService", "ship", order_id="ORDER-001")
    other = await call(demo, "ShippingService", "ship", order_id="ORDER-002")
    assert isinstance(first, Completed)
    assert first == again != other
    assert first.variables["tracking_number"].startswith("SF")


@pytest.mark.anyio
async def test_demo_carrier_refuses_an_address_without_a_house_number(
    demo: HandlerRegistry,
) -> None:
    ok = await call(demo, "CarrierService", "book_pickup", shipment_id="S-1", address="大道 100 号")
    assert isinstance(ok, Completed)
    bad = await call(demo, "CarrierService", "book_pickup", shipment_id="S-1", address="大道")
    assert isinstance(bad, Failed)
    assert bad.error_code == "ADDRESS_INVALID"


@pytest.mark.anyio
async def test_demo_votes_need_a_majority_of_those_cast(demo: HandlerRegistry) -> None:
    approve, reject = {"vote": "approve"}, {"vote": "reject"}
    passed = await call(demo, "ContractService", "count_votes", votes=[approve, approve, None])
    assert passed == Completed({"approved": True})
    tied = await call(demo, "ContractService", "count_votes", votes=[approve, reject])
    assert tied == Completed({"approved": False})


@pytest.mark.anyio
async def test_demo_kyc(demo: HandlerRegistry) -> None:
    identity = await call(
        demo, "IdentityService", "verify_document", id_document="310101199001011234"
    )
    assert isinstance(identity, Completed)
    assert identity.variables["match"] is True
    forged = await call(demo, "IdentityService", "verify_document", id_document="??")
    assert isinstance(forged, Completed)
    assert forged.variables["match"] is False
    hit = await call(demo, "ComplianceService", "screen", full_name="Ivan Blocklisted")
    assert hit == Completed({"hit": True, "risk_level": "high"})
    clear = await call(demo, "ComplianceService", "screen", full_name="陈小明", country="CN")
    assert clear == Completed({"hit": False, "risk_level": "low"})


@pytest.mark.anyio
async def test_demo_credit_bureau_scores_between_300_and_850(demo: HandlerRegistry) -> None:
    for applicant in ("APP-501", "APP-502", "APP-503"):
        outcome = await call(demo, "CreditBureau", "score", applicant_id=applicant)
        assert isinstance(outcome, Completed)
        assert 300 <= outcome.variables["score"] <= 850


@pytest.mark.anyio
async def test_demo_notifications_accept_any_method(demo: HandlerRegistry) -> None:
    assert await call(demo, "NotificationService", "send_email", to="a@b.c") == Completed({})


def example_service_tasks() -> list[tuple[str, str, str | None]]:
    found = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix not in (".json", ".yaml", ".yml"):
            continue
        definition = compile_definition(
            load_definition_text(path.read_text(encoding="utf-8"), filename=path.name)
        )
        for step in definition.steps.values():
            # an external task's handler lives outside the engine: a client fetches it
            if isinstance(step, ServiceTaskStep) and not step.external:
                found.append((f"{path.name}:{step.id}", step.service_name, step.method))
    return found


def test_every_service_task_of_the_examples_has_a_demo_handler(demo: HandlerRegistry) -> None:
    tasks = example_service_tasks()
    assert len(tasks) > 20
    missing = []
    for where, service_name, method in tasks:
        try:
            demo.resolve(service_name, method)
        except UnknownHandler as error:
            missing.append(f"{where}: {error}")
    assert missing == []


async def run_jobs(driver: Driver, registry: HandlerRegistry) -> None:
    """Act as the worker: run every open job through :func:`invoke` until none is left."""
    while jobs := driver.all_work("job"):
        for job in jobs:
            assert isinstance(job.command, RunServiceTask)
            del driver.open[job.id]
            ctx = TaskContext.from_command(1, job.command)
            outcome = await invoke(registry, ctx, job.command.timeout_seconds)
            driver.send(outcome.as_event(job.id, actor="worker"))


def order_processing() -> Driver:
    path = EXAMPLES / "order-processing.json"
    return Driver.of(compile_definition(load_definition_text(path.read_text(), filename=path.name)))


@pytest.mark.anyio
async def test_the_order_example_runs_on_the_demo_handlers(demo: HandlerRegistry) -> None:
    d = order_processing()
    d.start(order_id="ORDER-001", customer_id="CUST-456", total_amount=999.99)
    await run_jobs(d, demo)
    assert d.status == "completed"
    assert d.variables["tracking_number"].startswith("SF")
    assert d.variables["valid"] is True


@pytest.mark.anyio
async def test_the_order_example_is_rejected_when_credit_is_denied(demo: HandlerRegistry) -> None:
    d = order_processing()
    d.start(order_id="ORDER-002", total_amount=80_000)
    await run_jobs(d, demo)
    d.complete_task("manager_approval", approved=True)
    await run_jobs(d, demo)
    assert "reject_order" in d.completed()
    assert "ship_order" not in d.entered()
    assert d.status == "completed"
