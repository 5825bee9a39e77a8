"""The examples in ``examples/``: each one validates, and each one runs its business story.

Every scenario drives a definition through the pure engine with the test driver, acting as the
world does (workers finishing jobs, people completing tasks, timers firing, messages arriving),
and checks what the engine asked for (commands), what it recorded (history) and where the
instance ended (status, variables).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.driver import T0, Driver

from engine import (
    EventRejected,
    InvalidVariables,
    StaleEvent,
    compile_definition,
    load_definition_text,
    validate_definition,
)
from engine import commands as cmd
from engine import events as ev
from engine.definition import STEP_TYPES

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_FILES = sorted(
    p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml", ".yml") and p.is_file()
)
CST = timezone(timedelta(hours=8))

C = TypeVar("C")


# --- helpers -----------------------------------------------------------------------------------


def load(name: str) -> Any:
    path = EXAMPLES / name
    return load_definition_text(path.read_text(encoding="utf-8"), filename=path.name)


def run(name: str) -> Driver:
    return Driver.of(load(name))


def of_type(commands: Iterable[object], kind: type[C]) -> list[C]:
    return [c for c in commands if isinstance(c, kind)]


def only(commands: Iterable[object], kind: type[C]) -> C:
    found = of_type(commands, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, found {found}"
    return found[0]


def task(d: Driver, step_id: str) -> cmd.CreateUserTask:
    command = d.work("task", step_id).command
    assert isinstance(command, cmd.CreateUserTask)
    return command


def job(d: Driver, step_id: str) -> cmd.RunServiceTask:
    command = d.work("job", step_id).command
    assert isinstance(command, cmd.RunServiceTask)
    return command


def timer(d: Driver, step_id: str) -> cmd.ScheduleTimer:
    command = d.work("timer", step_id).command
    assert isinstance(command, cmd.ScheduleTimer)
    return command


def history(d: Driver, kind: str, step_id: str | None = None) -> list[cmd.HistoryEvent]:
    return [h for h in d.history if h.type == kind and (step_id is None or h.step_id == step_id)]


def complete_task_of(d: Driver, step_id: str, assignee: str, **variables: Any) -> None:
    """Complete the one task at ``step_id`` assigned to ``assignee`` (multi-instance tasks)."""
    found = [
        w
        for w in d.all_work("task", step_id)
        if isinstance(w.command, cmd.CreateUserTask) and w.command.assignee == assignee
    ]
    assert len(found) == 1, f"expected one task of {assignee} at {step_id}, found {found}"
    d.send(ev.UserTaskCompleted(found[0].id, variables, assignee))
    d.open.pop(found[0].id, None)


def assert_unchanged_after_refusal(d: Driver, event: ev.Event) -> EventRejected:
    """The event is refused and nothing changes: same state, no new commands or history."""
    assert d.state is not None
    before = d.state.to_json()
    commands, events, open_work = len(d.commands), len(d.history), dict(d.open)
    with pytest.raises(EventRejected) as refused:
        d.send(event)
    assert d.state.to_json() == before
    assert (len(d.commands), len(d.history), d.open) == (commands, events, open_work)
    return refused.value


# --- (a) every example validates ---------------------------------------------------------------


def test_there_are_examples_in_json_and_in_yaml() -> None:
    suffixes = [p.suffix for p in EXAMPLE_FILES]
    assert suffixes.count(".json") >= 8
    assert suffixes.count(".yaml") + suffixes.count(".yml") >= 2


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_without_problems(path: Path) -> None:
    data = load_definition_text(path.read_text(encoding="utf-8"), filename=path.name)
    assert validate_definition(data) == []
    compile_definition(data)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_follows_the_house_style(path: Path) -> None:
    data = load(path.name)
    assert data["$schema"] == "../engine/definition.schema.json", "editors check it with this"
    assert data["key"] == path.stem, "the key is the file name, so call activities can find it"
    assert data["description"], "every example says what it shows"


def test_the_examples_use_every_step_type() -> None:
    used = {step["type"] for path in EXAMPLE_FILES for step in load(path.name)["steps"]}
    assert used == set(STEP_TYPES)


def test_called_processes_are_examples_too() -> None:
    keys = {load(p.name)["key"] for p in EXAMPLE_FILES}
    called = {
        step["config"]["process"]
        for path in EXAMPLE_FILES
        for step in load(path.name)["steps"]
        if step["type"] == "call_activity"
    }
    assert called and called <= keys


# --- order-processing.json ---------------------------------------------------------------------


def start_order(total_amount: float) -> Driver:
    d = run("order-processing.json")
    d.start(order_id="ORDER-002", customer_id="CUST-7", total_amount=total_amount)
    d.complete_job("validate_order")
    return d


def test_order_large_amount_goes_to_the_manager_who_approves() -> None:
    d = start_order(5000)
    approval = task(d, "manager_approval")
    assert approval.candidate_groups == ("managers",)
    assert approval.assignee is None
    assert approval.due_at == T0 + timedelta(days=1)
    assert approval.priority == 70
    assert approval.form is not None and [f.id for f in approval.form] == ["approved", "comments"]
    assert timer(d, "approval_timeout").due_at == T0 + timedelta(hours=2)

    d.advance(timedelta(minutes=40))
    decision = d.complete_task("manager_approval", actor="mgr.li", approved=True, comments="可以")
    assert d.all_work("timer") == []  # the escalation timer is cancelled with the task
    assert of_type(decision.commands, cmd.CancelTimer)
    assert sorted(c.step_id for c in of_type(decision.commands, cmd.RunServiceTask)) == [
        "credit_check",
        "fraud_check",
        "inventory_check",
    ]
    for step in ("inventory_check", "credit_check", "fraud_check"):
        d.complete_job(step)
    d.complete_job("ship_order")

    assert d.status == "completed"
    assert d.variables["approved"] is True and d.variables["comments"] == "可以"
    assert "auto_approve" not in d.entered()
    assert "escalate_to_manager" not in d.entered()
    assert history(d, "task_completed", "manager_approval")[0].actor == "mgr.li"
    assert only(d.ends(), cmd.InstanceCompleted).terminated_at is None


def test_order_approval_escalates_after_two_hours() -> None:
    d = start_order(5000)
    manager_task = task(d, "manager_approval")

    decision = d.fire_timer("approval_timeout")

    assert d.now == T0 + timedelta(hours=2)
    withdrawn = only(decision.commands, cmd.CancelUserTask)
    assert withdrawn.task_id == manager_task.task_id
    assert d.all_work("task", "manager_approval") == []
    senior = task(d, "escalate_to_manager")
    assert senior.candidate_groups == ("senior_managers",)
    assert senior.priority == 90
    assert [h.data for h in history(d, "step_cancelled", "manager_approval")] == [
        {"reason": "boundary approval_timeout"}
    ]

    # the manager's answer to the withdrawn task comes too late
    assert_unchanged_after_refusal(
        d, ev.UserTaskCompleted(manager_task.task_id, {"approved": True})
    )

    d.complete_task("escalate_to_manager", actor="director.wang", approved=True)
    assert sorted(d.active_steps) == ["credit_check", "fraud_check", "inventory_check"]


def test_order_rejected_by_the_manager_is_terminated() -> None:
    d = start_order(5000)
    d.complete_task("manager_approval", approved=False, comments="客户信用存疑")
    notify = job(d, "reject_order")
    assert notify.method == "notify_rejection"

    d.complete_job("reject_order")

    assert d.status == "completed"
    end = only(d.ends(), cmd.InstanceCompleted)
    assert end.terminated_at == "order_rejected"
    assert history(d, "instance_terminated")[0].data == {"step": "order_rejected"}
    assert "risk_checks" not in d.entered()
    assert d.open == {}


def test_order_credit_denied_is_caught_and_the_other_checks_are_withdrawn() -> None:
    d = start_order(500)  # auto-approved
    assert d.variables["approved"] is True
    d.complete_job("inventory_check")
    fraud_job = job(d, "fraud_check")

    decision = d.fail_job("credit_check", "score 412 below 600", error_code="CREDIT_DENIED")

    caught = history(d, "error_caught", "credit_check")
    assert [h.data for h in caught] == [
        {"error_code": "CREDIT_DENIED", "boundary": "credit_denied"}
    ]
    assert of_type(decision.commands, cmd.RunServiceTask)[0].step_id == "reject_order"
    assert not of_type(decision.commands, cmd.RaiseIncident)
    assert job(d, "fraud_check") == fraud_job  # still running until the rejection terminates

    decision = d.complete_job("reject_order")

    assert only(decision.commands, cmd.CancelJob).job_id == fraud_job.job_id
    assert d.status == "completed"
    assert only(d.ends(), cmd.InstanceCompleted).terminated_at == "order_rejected"
    cancelled = history(d, "step_cancelled", "fraud_check")
    assert [h.data for h in cancelled] == [{"reason": "terminated"}]
    assert "ship_order" not in d.entered()
    assert d.open == {}


@pytest.mark.parametrize(
    ("variables", "problems"),
    [
        ({"approved": "yes"}, [("variables.approved", "invalid_type")]),
        ({"comments": "ok"}, [("variables.approved", "missing_variable")]),
        ({"approved": True, "priority": 1}, [("variables.priority", "unknown_field")]),
        (
            {"approved": None, "comments": 42},
            [("variables.comments", "invalid_type"), ("variables.approved", "missing_variable")],
        ),
    ],
)
def test_order_approval_form_refuses_bad_variables(
    variables: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    d = start_order(5000)
    manager_task = task(d, "manager_approval")

    refused = assert_unchanged_after_refusal(
        d, ev.UserTaskCompleted(manager_task.task_id, variables)
    )

    assert isinstance(refused, InvalidVariables)
    assert [(p.path, p.code) for p in refused.problems] == problems
    assert task(d, "manager_approval") == manager_task
    assert "approved" not in d.variables


# --- leave-request.json ------------------------------------------------------------------------


def start_leave(days: int = 7) -> Driver:
    d = run("leave-request.json")
    d.start(
        employee="zhang.san",
        manager="li.si",
        leave_type="annual",
        start_date="2026-12-21",
        days=days,
        reason="年底回老家",
    )
    return d


def test_leave_review_task_is_assigned_by_expression() -> None:
    d = start_leave(days=7)
    review = task(d, "manager_review")
    assert review.assignee == "li.si"
    assert review.candidate_groups == ("hr",)
    assert review.due_at == T0 + timedelta(days=2)
    assert review.priority == 80  # more than 5 days
    assert review.form is not None
    fields = {f.id: (f.type, f.required, tuple(f.values)) for f in review.form}
    assert fields == {
        "decision": ("enum", True, ("approved", "rejected")),
        "review_comment": ("string", False, ()),
    }
    assert review.variables["days"] == 7

    assert task(start_leave(days=2), "manager_review").priority == 50


def test_leave_rejected_goes_back_to_the_employee_and_is_approved_after_revision() -> None:
    d = start_leave(days=7)
    d.complete_task("manager_review", actor="li.si", decision="rejected", review_comment="太长了")

    revise = task(d, "revise_request")
    assert revise.assignee == "zhang.san"
    assert revise.due_at == T0 + timedelta(days=3)

    d.advance(timedelta(hours=5))
    d.complete_task("revise_request", actor="zhang.san", withdraw=False, days=3)

    again = task(d, "manager_review")
    assert again.assignee == "li.si"
    assert again.priority == 50  # re-evaluated: now 3 days
    assert again.due_at == T0 + timedelta(hours=5, days=2)
    d.complete_task("manager_review", actor="li.si", decision="approved")

    record = job(d, "record_leave")
    assert (record.service_name, record.method) == ("HRService", "record_leave")
    assert record.variables == {
        "employee": "zhang.san",
        "leave_type": "annual",
        "start_date": "2026-12-21",
        "days": 3,
    }
    d.complete_job("record_leave")

    assert d.status == "completed"
    assert d.entered().count("manager_review") == 2
    assert d.entered()[-1] == "leave_granted"
    assert [h.actor for h in history(d, "task_completed")] == ["li.si", "zhang.san", "li.si"]


def test_leave_withdrawn_by_the_employee() -> None:
    d = start_leave()
    d.complete_task("manager_review", decision="rejected")
    d.complete_task("revise_request", withdraw=True)
    assert d.status == "completed"
    assert d.entered()[-1] == "request_withdrawn"
    assert "record_leave" not in d.entered()


def test_leave_review_refuses_a_decision_outside_the_enum() -> None:
    d = start_leave()
    review = task(d, "manager_review")
    refused = assert_unchanged_after_refusal(
        d, ev.UserTaskCompleted(review.task_id, {"decision": "maybe"})
    )
    assert isinstance(refused, InvalidVariables)
    assert [(p.path, p.code) for p in refused.problems] == [("variables.decision", "invalid_value")]


# --- invoice-reminders.yaml --------------------------------------------------------------------


def start_invoice() -> Driver:
    d = run("invoice-reminders.yaml")
    d.start(invoice_id="INV-2026-0042", supplier="华东纸业", amount=12800, budget_owner="wang.wu")
    return d


def test_invoice_reminder_fires_and_the_task_stays() -> None:
    d = start_invoice()
    approval = task(d, "approve_invoice")
    assert approval.assignee == "wang.wu"
    assert timer(d, "remind_owner").due_at == T0 + timedelta(days=2)
    assert timer(d, "escalate_overdue").due_at == T0 + timedelta(days=5)

    decision = d.fire_timer("remind_owner")

    assert not of_type(decision.commands, cmd.CancelUserTask)
    assert task(d, "approve_invoice") == approval  # still there, same task
    reminder = job(d, "send_reminder")
    assert reminder.variables == {
        "recipient": "wang.wu",
        "invoice_id": "INV-2026-0042",
        "template": "invoice_approval_reminder",
    }
    assert timer(d, "escalate_overdue").due_at == T0 + timedelta(days=5)  # still pending

    d.complete_job("send_reminder")
    assert d.status == "running"
    assert d.active_steps == ["approve_invoice"]

    decision = d.complete_task("approve_invoice", actor="wang.wu", approved=True)
    assert len(of_type(decision.commands, cmd.CancelTimer)) == 1  # the escalation
    assert d.all_work("timer") == []
    assert job(d, "schedule_payment").variables == {
        "invoice_id": "INV-2026-0042",
        "supplier": "华东纸业",
        "amount": 12800.0,
    }
    d.complete_job("schedule_payment")
    assert d.status == "completed"
    assert "finance_lead_approval" not in d.entered()


def test_invoice_escalation_withdraws_the_task() -> None:
    d = start_invoice()
    approval = task(d, "approve_invoice")
    d.fire_timer("remind_owner")
    d.complete_job("send_reminder")

    decision = d.fire_timer("escalate_overdue")

    assert d.now == T0 + timedelta(days=5)
    withdrawn = only(decision.commands, cmd.CancelUserTask)
    assert (withdrawn.task_id, withdrawn.reason) == (approval.task_id, "escalated")
    assert d.all_work("task", "approve_invoice") == []
    lead = task(d, "finance_lead_approval")
    assert lead.candidate_groups == ("finance_leads",)
    assert lead.priority == 90
    assert d.active_steps == ["finance_lead_approval"]

    d.complete_task("finance_lead_approval", approved=False, approval_note="金额与合同不符")
    d.complete_job("return_to_supplier")
    assert d.status == "completed"
    assert d.entered()[-1] == "invoice_rejected"


def test_invoice_escalation_while_the_reminder_is_still_being_sent() -> None:
    d = start_invoice()
    d.fire_timer("remind_owner")
    d.fire_timer("escalate_overdue")  # the reminder job has not finished yet
    assert sorted(d.active_steps) == ["finance_lead_approval", "send_reminder"]
    d.complete_task("finance_lead_approval", approved=True)
    d.complete_job("schedule_payment")
    assert d.status == "running"  # the reminder path is still open
    d.complete_job("send_reminder")
    assert d.status == "completed"


# --- subscription-renewal.json -----------------------------------------------------------------


def start_subscription() -> Driver:
    d = run("subscription-renewal.json")
    d.start(subscription_id="SUB-3301", customer_id="C-88", expires_at="2026-12-31T00:00:00+08:00")
    return d


def test_subscription_reminds_a_week_before_and_renews_at_expiry() -> None:
    d = start_subscription()
    assert timer(d, "wait_for_reminder_date").due_at == datetime(2026, 12, 24, tzinfo=CST)

    d.fire_timer("wait_for_reminder_date")
    notice = job(d, "send_renewal_notice")
    assert notice.variables == {
        "customer_id": "C-88",
        "plan": "standard",
        "expires_at": "2026-12-31T00:00:00+08:00",
    }
    d.complete_job("send_renewal_notice")
    assert timer(d, "wait_for_expiry").due_at == datetime(2026, 12, 31, tzinfo=CST)

    d.fire_timer("wait_for_expiry")
    assert d.now == datetime(2026, 12, 30, 16, tzinfo=UTC)
    d.complete_job("charge_renewal", success=True, transaction_id="TX-1")
    assert d.variables["charged"] is True
    assert "transaction_id" not in d.variables  # only the mapped output is kept
    d.complete_job("extend_subscription")

    assert d.status == "completed"
    assert d.entered()[-1] == "renewed"
    assert "grace_period" not in d.entered()


def test_subscription_failed_charge_waits_three_days_then_suspends() -> None:
    d = start_subscription()
    d.fire_timer("wait_for_reminder_date")
    d.complete_job("send_renewal_notice")
    d.fire_timer("wait_for_expiry")
    expiry = d.now
    d.complete_job("charge_renewal", success=False)

    assert timer(d, "grace_period").due_at == expiry + timedelta(days=3)
    d.fire_timer("grace_period")
    d.complete_job("retry_charge", success=False)
    d.complete_job("suspend_subscription")

    assert d.status == "completed"
    assert d.entered()[-1] == "suspended"
    assert d.variables["charged"] is False


# --- payment-or-timeout.json -------------------------------------------------------------------


def start_payment() -> Driver:
    d = run("payment-or-timeout.json")
    d.start(order_id="ORD-2026-7781", amount=199)
    d.complete_job("create_payment_link", url="https://pay.example.com/p/abc")
    return d


def test_payment_message_wins_the_race_against_the_timer() -> None:
    d = start_payment()
    assert d.variables["payment_url"] == "https://pay.example.com/p/abc"
    subscription = d.work("subscription", "payment_succeeded").command
    assert isinstance(subscription, cmd.SubscribeMessage)
    assert (subscription.message, subscription.correlation_key) == (
        "payment.succeeded",
        "ORD-2026-7781",
    )
    window = timer(d, "payment_window_closed")
    assert window.due_at == T0 + timedelta(minutes=15)

    # another order's payment is not this instance's
    refused = assert_unchanged_after_refusal(
        d, ev.MessageReceived("payment.succeeded", {"payment_id": "PAY-1"}, "ORD-2026-0001")
    )
    assert refused.code == "no_subscription"

    d.advance(timedelta(minutes=9))
    decision = d.message("payment.succeeded", "ORD-2026-7781", payment_id="PAY-55")

    assert only(decision.commands, cmd.CancelTimer).timer_id == window.timer_id
    assert d.all_work("timer") == []
    assert d.variables["payment_id"] == "PAY-55"
    gateway = history(d, "step_completed", "await_payment")
    assert [h.data for h in gateway] == [{"taken": "payment_succeeded"}]
    assert "payment_window_closed" not in d.entered()

    # the timer that lost may still be delivered: it is stale
    with pytest.raises(StaleEvent):
        d.send(ev.TimerFired(window.timer_id))

    d.complete_job("confirm_order")
    settlement = d.work("subscription", "await_settlement").command
    assert isinstance(settlement, cmd.SubscribeMessage)
    assert (settlement.message, settlement.correlation_key) == ("payment.settled", "PAY-55")
    d.message("payment.settled", "PAY-55", settled_amount=199.0)

    assert d.status == "completed"
    assert d.entered()[-1] == "order_paid"
    assert d.variables["settled_amount"] == 199.0


def test_payment_timer_wins_the_race_and_the_order_is_closed() -> None:
    d = start_payment()
    subscription = d.work("subscription", "payment_succeeded")

    decision = d.fire_timer("payment_window_closed")

    assert d.now == T0 + timedelta(minutes=15)
    assert only(decision.commands, cmd.CancelSubscription).subscription_id == subscription.id
    assert job(d, "close_order").method == "close_unpaid"
    gateway = history(d, "step_completed", "await_payment")
    assert [h.data for h in gateway] == [{"taken": "payment_window_closed"}]

    # the payment arrives after the window closed: no step waits for it any more
    refused = assert_unchanged_after_refusal(
        d, ev.MessageReceived("payment.succeeded", {"payment_id": "PAY-9"}, "ORD-2026-7781")
    )
    assert refused.code == "no_subscription"

    d.complete_job("close_order")
    assert d.status == "completed"
    assert d.entered()[-1] == "order_closed"
    assert d.variables["payment_id"] is None  # declared, never set: null


# --- loan-application.json ---------------------------------------------------------------------


def forked_branches(d: Driver, step_id: str) -> list[str]:
    forks = history(d, "gateway_forked", step_id)
    assert len(forks) == 1
    assert forks[0].data is not None
    branches: list[str] = forks[0].data["branches"]
    return branches


def test_loan_salaried_small_loan_runs_only_the_credit_check() -> None:
    d = run("loan-application.json")
    d.start(
        applicant_id="APP-501",
        amount=120000,
        term_months=36,
        monthly_income=20000,
        monthly_debts=1500.0,
    )

    assert d.variables["monthly_payment"] == pytest.approx(120000 * 1.18 / 36)
    assert d.variables["debt_to_income"] == pytest.approx((1500 + 120000 * 1.18 / 36) / 20000)
    assert d.variables["income_verified"] is True
    assert forked_branches(d, "due_diligence") == ["credit_bureau_check"]
    assert d.active_steps == ["credit_bureau_check"]
    assert job(d, "credit_bureau_check").variables == {"applicant_id": "APP-501"}

    d.complete_job("credit_bureau_check", score=720, report_id="R-1")

    assert d.variables["credit_score"] == 720
    assert len(history(d, "join_fired", "due_diligence")) == 1
    assert d.variables["offered_rate"] == pytest.approx(0.06)
    d.complete_job("send_offer")
    assert d.status == "completed"
    assert d.entered()[-1] == "loan_offered"


def test_loan_self_employed_large_loan_joins_all_three_checks() -> None:
    d = run("loan-application.json")
    d.start(
        applicant_id="APP-502",
        amount=500000,
        term_months=120,
        monthly_income=40000,
        monthly_debts=2000.0,
        self_employed=True,
    )
    assert d.variables["income_verified"] is False
    assert forked_branches(d, "due_diligence") == [
        "credit_bureau_check",
        "verify_tax_returns",
        "appraise_collateral",
    ]
    assert task(d, "verify_tax_returns").candidate_groups == ("underwriters",)

    d.complete_job("credit_bureau_check", score=781)
    d.complete_job("appraise_collateral", value=700000)
    assert history(d, "join_fired") == []  # the tax check is still open
    assert d.active_steps == ["verify_tax_returns"]

    d.complete_task("verify_tax_returns", actor="uw.zhou", income_verified=True)

    assert len(history(d, "join_fired", "due_diligence")) == 1
    assert d.variables["collateral_value"] == 700000.0
    assert d.variables["offered_rate"] == pytest.approx(0.055)  # 750+ gets 0.5 points off
    d.complete_job("send_offer")
    assert d.status == "completed"


def test_loan_unverified_income_is_declined() -> None:
    d = run("loan-application.json")
    d.start(
        applicant_id="APP-503",
        amount=80000,
        term_months=24,
        monthly_income=15000,
        monthly_debts=0.0,
        self_employed=True,
    )
    assert forked_branches(d, "due_diligence") == ["credit_bureau_check", "verify_tax_returns"]
    d.complete_task("verify_tax_returns", income_verified=False, verification_note="流水不符")
    d.complete_job("credit_bureau_check", score=700)
    d.complete_job("send_decline")
    assert d.status == "completed"
    assert d.entered()[-1] == "loan_declined"
    assert d.variables["offered_rate"] is None  # declared, never set: null


def test_loan_number_default_is_a_float_so_arithmetic_works() -> None:
    """``monthly_debts`` is a ``number`` with ``"default": 0``: numbers are stored as floats, so
    ``monthly_debts + monthly_payment`` must work when the applicant has no debts to declare."""
    d = run("loan-application.json")
    d.start(applicant_id="APP-504", amount=120000, term_months=36, monthly_income=20000)
    assert d.incidents == {}
    assert d.variables["monthly_debts"] == 0.0
    assert isinstance(d.variables["monthly_debts"], float)
    assert d.variables["debt_to_income"] == pytest.approx(120000 * 1.18 / 36 / 20000)
    assert d.active_steps == ["credit_bureau_check"]


# --- contract-approval.yaml --------------------------------------------------------------------

ENTITIES = ["星河科技有限公司", "云启数据服务有限公司"]  # the first party seals first


def start_contract(approvers: list[str]) -> Driver:
    d = run("contract-approval.yaml")
    d.start(
        contract_id="CT-2026-118",
        title="云服务采购合同",
        requester="zhao.liu",
        approvers=approvers,
        signing_entities=ENTITIES,
    )
    d.complete_task("legal_review", risk_level="high", legal_note="违约金条款需关注")
    return d


def test_contract_majority_completes_the_countersign_and_withdraws_the_rest() -> None:
    d = start_contract(["a.chen", "b.lin", "c.xu"])
    tasks = of_type((w.command for w in d.all_work("task", "countersign")), cmd.CreateUserTask)
    by_assignee = {t.assignee or "": t for t in tasks}
    assert list(by_assignee) == ["a.chen", "b.lin", "c.xu"]  # one per approver, in order
    assert {t.priority for t in by_assignee.values()} == {80}  # risk_level high
    assert by_assignee["b.lin"].variables["approver"] == "b.lin"
    started = history(d, "multi_instance_started", "countersign")
    assert len(started) == 1 and started[0].data is not None and started[0].data["count"] == 3

    complete_task_of(d, "countersign", "b.lin", vote="approve")
    assert len(d.all_work("task", "countersign")) == 2  # 1 of 3 is not a majority
    complete_task_of(d, "countersign", "a.chen", vote="approve", vote_comment="同意")

    # 2 of 3 is: the last task is withdrawn and the flow goes on
    withdrawn = of_type(d.commands, cmd.CancelUserTask)
    assert [c.task_id for c in withdrawn] == [by_assignee["c.xu"].task_id]
    assert d.all_work("task", "countersign") == []
    assert len(history(d, "join_fired", "countersign")) == 1
    assert [h.data for h in history(d, "step_cancelled", "countersign")] == [
        {"reason": "the join fired"}
    ]
    # c.xu answers after all: the task was withdrawn, the answer is stale
    late = ev.UserTaskCompleted(by_assignee["c.xu"].task_id, {"vote": "reject"}, "c.xu")
    assert isinstance(assert_unchanged_after_refusal(d, late), StaleEvent)
    votes = [{"vote": "approve", "vote_comment": "同意"}, {"vote": "approve"}, None]
    assert d.variables["votes"] == votes
    count = job(d, "count_votes")
    assert count.variables == {"contract_id": "CT-2026-118", "votes": votes}

    d.complete_job("count_votes", approved=True)

    # seals are applied one entity after the other, in the listed order
    seals = []
    for index, entity in enumerate(ENTITIES):
        assert len(d.all_work("job", "apply_seals")) == 1
        seal = job(d, "apply_seals")
        assert seal.variables == {"contract_id": "CT-2026-118", "entity": entity}
        assert seal.timeout_seconds == 120.0
        seals.append({"seal_id": f"SEAL-{index}"})
        d.complete_job("apply_seals", seal_id=f"SEAL-{index}")

    assert d.variables["seals"] == seals
    assert "seal_id" not in d.variables  # output: {} keeps the results in the collection only
    assert job(d, "archive_contract").variables == {"contract_id": "CT-2026-118", "seals": seals}
    d.complete_job("archive_contract")
    assert d.status == "completed"
    assert d.entered()[-1] == "contract_signed"


def test_contract_rejected_by_the_vote_notifies_the_requester() -> None:
    d = start_contract(["a.chen", "b.lin", "c.xu", "d.wu"])
    complete_task_of(d, "countersign", "a.chen", vote="reject")
    complete_task_of(d, "countersign", "b.lin", vote="reject")
    assert len(d.all_work("task", "countersign")) == 2  # 2 of 4 is not more than half
    complete_task_of(d, "countersign", "d.wu", vote="approve")
    assert len(of_type(d.commands, cmd.CancelUserTask)) == 1

    d.complete_job("count_votes", approved=False)

    assert job(d, "notify_rejection").variables == {
        "recipient": "zhao.liu",
        "template": "contract_rejected",
        "contract_id": "CT-2026-118",
    }
    d.complete_job("notify_rejection")
    assert d.status == "completed"
    assert d.entered()[-1] == "contract_rejected"
    assert "apply_seals" not in d.entered()


# --- customer-onboarding.json + kyc-check.json -------------------------------------------------

APPLICANT = {
    "customer_id": "CUST-1001",
    "full_name": "陈小明",
    "id_document": "310101199001011234",
    "country": "CN",
    "email": "chen.xm@example.com",
}


def start_onboarding() -> tuple[Driver, Driver]:
    """The parent at its call activity, and the child it asked for, started."""
    parent = run("customer-onboarding.json")
    decision = parent.start(**APPLICANT)
    call = only(decision.commands, cmd.StartChildInstance)
    assert (call.process, call.version, call.business_key) == ("kyc-check", None, "CUST-1001")
    assert call.variables == {
        "full_name": "陈小明",
        "id_document": "310101199001011234",
        "country": "CN",
    }
    child = run("kyc-check.json")
    child.start(**call.variables)
    return parent, child


def test_onboarding_waits_for_the_kyc_child_and_maps_its_result() -> None:
    parent, child = start_onboarding()
    assert parent.active_steps == ["run_kyc"]

    child.complete_job("verify_identity", match=True, check_id="KYC-555")
    child.complete_job("screen_sanctions", hit=False, risk_level="low")
    assert child.status == "completed"
    result = only(child.ends(), cmd.InstanceCompleted).variables

    parent.complete_child("run_kyc", **result)

    assert parent.variables["kyc_risk_level"] == "low"
    assert parent.variables["kyc_reference"] == "KYC-555"
    assert "sanctions_hit" not in parent.variables  # only the mapped outputs come back
    assert job(parent, "open_account").variables == {
        "customer_id": "CUST-1001",
        "risk_level": "low",
    }
    parent.complete_job("open_account", account_number="6222-0001")
    assert job(parent, "send_welcome").variables["account_number"] == "6222-0001"
    parent.complete_job("send_welcome")
    assert parent.status == "completed"
    assert parent.entered()[-1] == "customer_onboarded"


def test_onboarding_catches_the_childs_sanctions_error_end() -> None:
    parent, child = start_onboarding()
    child.complete_job("verify_identity", match=False, check_id="KYC-556")
    review = task(child, "manual_identity_review")
    assert review.candidate_groups == ("compliance",)
    child.complete_task("manual_identity_review", identity_confirmed=True)
    child.complete_job("screen_sanctions", hit=True, risk_level="high")

    assert child.status == "failed"
    failure = only(child.ends(), cmd.InstanceFailed)
    assert failure.error_code == "KYC_SANCTIONS_HIT"

    decision = parent.fail_child("run_kyc", failure.message, failure.error_code)

    caught = history(parent, "error_caught", "run_kyc")
    assert [h.data for h in caught] == [
        {"error_code": "KYC_SANCTIONS_HIT", "boundary": "kyc_sanctions_hit"}
    ]
    assert not of_type(decision.commands, cmd.RaiseIncident)
    assert not of_type(decision.commands, cmd.CancelChildInstance)  # it has already ended
    parent.complete_job("file_compliance_report")
    assert parent.status == "completed"
    assert parent.entered()[-1] == "onboarding_declined"
    assert "open_account" not in parent.entered()
    assert parent.variables["kyc_risk_level"] is None  # declared, never set: null


def test_onboarding_routes_an_identity_failure_to_its_own_boundary() -> None:
    parent, child = start_onboarding()
    child.complete_job("verify_identity", match=False, check_id="KYC-557")
    child.complete_task("manual_identity_review", identity_confirmed=False)
    failure = only(child.ends(), cmd.InstanceFailed)
    assert failure.error_code == "KYC_IDENTITY_FAILED"
    assert "screen_sanctions" not in child.entered()

    parent.fail_child("run_kyc", failure.message, failure.error_code)

    assert job(parent, "request_new_documents").variables == {
        "to": "chen.xm@example.com",
        "template": "kyc_documents_rejected",
    }
    parent.complete_job("request_new_documents")
    assert parent.entered()[-1] == "onboarding_declined"


# --- shipment-with-retries.json ----------------------------------------------------------------


def start_shipment() -> Driver:
    d = run("shipment-with-retries.json")
    d.start(shipment_id="SHP-77", order_id="ORD-77", address="上海市浦东新区世纪大道 100 号")
    return d


def test_shipment_retries_follow_the_backoff_then_an_incident_is_retried_by_an_operator() -> None:
    d = start_shipment()
    first = job(d, "book_carrier")
    assert (first.attempt, first.max_attempts, first.timeout_seconds, first.run_at) == (
        1,
        4,
        20.0,
        None,
    )
    assert first.variables == {
        "shipment_id": "SHP-77",
        "address": "上海市浦东新区世纪大道 100 号",
        "parcels": 1,
    }
    d.complete_job("prepare_customs_documents")

    # 30s, then 60s, then capped at max_backoff 1m (not 120s)
    for attempt, wait in ((2, 30), (3, 60), (4, 60)):
        decision = d.fail_job("book_carrier", "carrier API 503")
        retried = only(decision.commands, cmd.RunServiceTask)
        assert (retried.step_id, retried.attempt) == ("book_carrier", attempt)
        assert retried.run_at == d.now + timedelta(seconds=wait)
        assert not of_type(decision.commands, cmd.RaiseIncident)
        assert retried.run_at is not None
        d.now = retried.run_at  # the worker picks it up when it is due

    decision = d.fail_job("book_carrier", "carrier API 503")

    # an answer to the first attempt, delivered late, is stale
    late = ev.ServiceTaskCompleted(first.job_id, {"tracking_number": "SF-LATE"})
    assert isinstance(assert_unchanged_after_refusal(d, late), StaleEvent)
    assert not of_type(decision.commands, cmd.RunServiceTask)
    incident = only(decision.commands, cmd.RaiseIncident)
    assert (incident.step_id, incident.error) == ("book_carrier", "job_failed")
    assert "after 4 attempt(s)" in incident.message
    assert [h.data["attempt"] for h in history(d, "job_failed") if h.data] == [1, 2, 3, 4]
    assert d.status == "running"

    decision = d.retry("book_carrier")

    assert only(decision.commands, cmd.ResolveIncident).resolution == "retried"
    again = only(decision.commands, cmd.RunServiceTask)
    assert (again.attempt, again.run_at) == (1, None)  # a fresh round of attempts
    assert d.incidents == {}

    d.complete_job("book_carrier", tracking_number="SF1234567890")
    assert d.variables["tracking_number"] == "SF1234567890"
    d.complete_job("dispatch")
    assert d.status == "completed"
    assert d.entered()[-1] == "shipped"


def test_shipment_invalid_address_is_fixed_and_booked_again() -> None:
    d = start_shipment()
    decision = d.fail_job("book_carrier", "no such street", error_code="ADDRESS_INVALID")

    assert not of_type(decision.commands, cmd.RunServiceTask)  # a business error: no retry
    assert not of_type(decision.commands, cmd.RaiseIncident)
    assert [h.data for h in history(d, "error_caught")] == [
        {"error_code": "ADDRESS_INVALID", "boundary": "address_invalid"}
    ]
    fix = task(d, "fix_address")
    assert (fix.candidate_groups, fix.due_at, fix.priority) == (
        ("customer_service",),
        T0 + timedelta(hours=4),
        70,
    )

    d.complete_task("fix_address", address="上海市浦东新区世纪大道 1000 号", cancel_shipment=False)

    rebooked = job(d, "book_carrier")
    assert rebooked.attempt == 1
    assert rebooked.variables["address"] == "上海市浦东新区世纪大道 1000 号"
    d.complete_job("book_carrier", tracking_number="SF0000000001")
    assert history(d, "join_fired") == []  # customs documents are still being prepared
    d.complete_job("prepare_customs_documents")
    d.complete_job("dispatch")
    assert d.status == "completed"


def test_shipment_cancelled_by_the_customer_terminates_and_withdraws_the_customs_work() -> None:
    d = start_shipment()
    customs = job(d, "prepare_customs_documents")
    d.fail_job("book_carrier", "no such street", error_code="ADDRESS_INVALID")
    d.complete_task("fix_address", cancel_shipment=True)

    decision = d.complete_job("notify_cancellation")

    assert only(decision.commands, cmd.CancelJob).job_id == customs.job_id
    assert d.status == "completed"
    assert only(d.ends(), cmd.InstanceCompleted).terminated_at == "shipment_cancelled"
    assert [h.data for h in history(d, "step_cancelled", "prepare_customs_documents")] == [
        {"reason": "terminated"}
    ]
    assert "dispatch" not in d.entered()
    assert d.open == {}
