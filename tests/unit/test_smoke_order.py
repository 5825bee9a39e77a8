"""The seed's order process, end to end through the pure engine."""

import json
from pathlib import Path

from support.driver import Driver

EXAMPLE = Path(__file__).parents[2] / "examples" / "order-processing.json"


def test_small_order_is_approved_automatically_and_shipped() -> None:
    d = Driver.of(json.loads(EXAMPLE.read_text()))
    d.start(order_id="ORDER-001", customer_id="CUST-456", total_amount=999.99)
    d.complete_job("validate_order")
    assert d.active_steps == ["credit_check", "fraud_check", "inventory_check"]
    for step in ("inventory_check", "credit_check", "fraud_check"):
        d.complete_job(step)
    d.complete_job("ship_order")
    assert d.status == "completed"
    assert d.variables["approved"] is True
