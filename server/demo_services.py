"""The demo handlers that ``make run`` loads: one for every service task in ``examples/``.

Deterministic stand-ins, with no I/O, clock or randomness: the same input gives the same
result, so the examples run the same way every time. Ids (tracking numbers, account numbers,
...) are derived from the business ids with a checksum. Real deployments load their own
modules instead.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from server.handlers import BusinessError, TaskContext, service

#: Above this order total, the demo's credit check refuses (``CREDIT_DENIED``).
CREDIT_LIMIT = 50_000


def _digits(text: object, width: int = 10) -> str:
    """A stable number derived from ``text``, zero-padded to ``width`` digits."""
    return f"{zlib.crc32(str(text).encode()) % 10**width:0{width}d}"


@service("OrderValidationService")
class OrderValidation:
    def validate(self, ctx: TaskContext) -> dict[str, Any]:
        """An order needs an ``order_id`` and a positive ``total_amount``: else ORDER_INVALID."""
        order_id, amount = ctx.variables.get("order_id"), ctx.variables.get("total_amount")
        if not isinstance(order_id, str) or not order_id.strip():
            raise BusinessError("ORDER_INVALID", "the order has no order_id")
        if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
            raise BusinessError("ORDER_INVALID", f"total_amount must be positive, got {amount!r}")
        return {"valid": True}


@service("InventoryService", "check")
def check_inventory(ctx: TaskContext) -> dict[str, Any]:
    """Everything is in stock; the reservation id is derived from the order."""
    return {"in_stock": True, "reservation_id": f"RSV-{ctx.variables['order_id']}"}


@service("CreditService", "check")
def check_credit(ctx: TaskContext) -> dict[str, Any]:
    """Refuses orders over :data:`CREDIT_LIMIT` with ``CREDIT_DENIED`` (a business error)."""
    amount = ctx.variables["total_amount"]
    if amount > CREDIT_LIMIT:
        raise BusinessError("CREDIT_DENIED", f"total_amount {amount} exceeds the {CREDIT_LIMIT}")
    return {"credit_approved": True}


@service("FraudDetectionService", "check")
def check_fraud(ctx: TaskContext) -> dict[str, Any]:
    """A score in [0, 1) derived from the order id; nothing is flagged in the demo."""
    return {"fraud_score": int(_digits(ctx.variables["order_id"], 3)) / 1000}


@service("ShippingService", "ship")
def ship(ctx: TaskContext) -> dict[str, Any]:
    return {"tracking_number": f"SF{_digits(ctx.variables['order_id'])}"}


@service("NotificationService")
def notify(ctx: TaskContext) -> None:
    """Every method (``notify``, ``send_email``, ``remind``, ...): the demo sends nothing."""


@service("ContractService")
class Contracts:
    def count_votes(self, ctx: TaskContext) -> dict[str, Any]:
        """Approved when more votes approve than reject (withdrawn reviews are ``None``)."""
        votes = [v.get("vote") for v in ctx.variables.get("votes") or [] if isinstance(v, dict)]
        return {"approved": votes.count("approve") > votes.count("reject")}

    def archive(self, ctx: TaskContext) -> dict[str, Any]:
        return {"archive_id": f"ARC-{_digits(ctx.variables['contract_id'])}"}


@service("ESignService", "apply_company_seal")
def apply_company_seal(ctx: TaskContext) -> dict[str, Any]:
    seal = _digits(f"{ctx.variables['contract_id']}/{ctx.variables['entity']}")
    return {"entity": ctx.variables["entity"], "seal_id": f"SEAL-{seal}"}


@service("IdentityService", "verify_document")
def verify_document(ctx: TaskContext) -> dict[str, Any]:
    """A document matches when it is 6-20 letters or digits."""
    document = str(ctx.variables.get("id_document", ""))
    return {
        "match": re.fullmatch(r"[A-Za-z0-9]{6,20}", document) is not None,
        "check_id": f"KYC-{_digits(document)}",
    }


#: The demo's sanctions list: fictional names.
SANCTIONED_NAMES = frozenset({"Ivan Blocklisted", "黑名单测试"})


@service("ComplianceService")
class Compliance:
    def screen(self, ctx: TaskContext) -> dict[str, Any]:
        """A hit when the name is on :data:`SANCTIONED_NAMES`."""
        hit = ctx.variables.get("full_name") in SANCTIONED_NAMES
        return {"hit": hit, "risk_level": "high" if hit else "low"}

    def file_report(self, ctx: TaskContext) -> dict[str, Any]:
        return {"compliance_report_id": f"CR-{_digits(ctx.variables.get('customer_id'))}"}


@service("AccountService", "open")
def open_account(ctx: TaskContext) -> dict[str, Any]:
    return {"account_number": f"6222{_digits(ctx.variables['customer_id'], 12)}"}


@service("CreditBureau", "score")
def credit_score(ctx: TaskContext) -> dict[str, Any]:
    """A score in 300..850 derived from the applicant id."""
    return {"score": 300 + int(_digits(ctx.variables["applicant_id"])) % 551}


@service("AppraisalService", "appraise")
def appraise(ctx: TaskContext) -> dict[str, Any]:
    """The collateral is valued at 1.5 times the amount asked for."""
    return {"value": round(float(ctx.variables["amount"]) * 1.5, 2)}


@service("LoanService")
class Loans:
    def send_offer(self, ctx: TaskContext) -> None:
        """The demo sends nothing."""

    def send_decline(self, ctx: TaskContext) -> None:
        """The demo sends nothing."""


@service("HRService", "record_leave")
def record_leave(ctx: TaskContext) -> dict[str, Any]:
    key = f"{ctx.variables['employee']}/{ctx.variables['start_date']}"
    return {"leave_record_id": f"LV-{_digits(key)}"}


@service("PaymentService", "schedule")
def schedule_payment(ctx: TaskContext) -> dict[str, Any]:
    return {"payment_reference": f"PAY-{_digits(ctx.variables['invoice_id'])}"}


@service("PaymentGateway", "create_payment_link")
def create_payment_link(ctx: TaskContext) -> dict[str, Any]:
    return {"url": f"https://pay.example.com/checkout/{ctx.variables['order_id']}"}


@service("OrderService")
class Orders:
    def confirm(self, ctx: TaskContext) -> dict[str, Any]:
        return {"order_status": "confirmed"}

    def close_unpaid(self, ctx: TaskContext) -> dict[str, Any]:
        return {"order_status": "closed_unpaid"}


@service("CarrierService", "book_pickup")
def book_pickup(ctx: TaskContext) -> dict[str, Any]:
    """An address without a house number (no digit) is refused with ``ADDRESS_INVALID``."""
    address = str(ctx.variables.get("address") or "")
    if not any(ch.isdigit() for ch in address):
        raise BusinessError("ADDRESS_INVALID", f"no house number in address {address!r}")
    return {"tracking_number": f"SF{_digits(ctx.variables['shipment_id'])}"}


@service("CustomsService", "prepare_documents")
def prepare_documents(ctx: TaskContext) -> dict[str, Any]:
    """International shipments get a commercial invoice and a customs declaration."""
    if not ctx.variables.get("international"):
        return {"customs_documents": []}
    order = ctx.variables["order_id"]
    return {"customs_documents": [f"CI-{order}", f"CD-{order}"]}


@service("WarehouseService", "dispatch")
def dispatch(ctx: TaskContext) -> dict[str, Any]:
    return {"dispatched": True}


@service("BillingService", "charge_renewal")
def charge_renewal(ctx: TaskContext) -> dict[str, Any]:
    """Always succeeds; the charge id is derived from the subscription and the step."""
    key = f"{ctx.variables['subscription_id']}/{ctx.step_id}"
    return {"success": True, "charge_id": f"CH-{_digits(key)}"}


@service("SubscriptionService")
class Subscriptions:
    def extend(self, ctx: TaskContext) -> dict[str, Any]:
        return {"subscription_status": "active"}

    def suspend(self, ctx: TaskContext) -> dict[str, Any]:
        return {"subscription_status": "suspended"}
