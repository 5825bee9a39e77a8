"""Timer slots (``server.arq_queue``): a slot's job fires exactly the due times grouped into it.

``ArqQueue.schedule`` puts a timer in ``slot_of(due_at)``; the slot's job fires the pending
timers of ``slot_window(slot)`` and no others, so a due time must land in the window of its
own slot, boundaries included (a float rounding one up put it outside, to wait for a sweep).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from server.arq_queue import SLOT_MS, slot_of, slot_window

DUE = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(DUE)
def test_every_due_time_lies_in_the_window_of_its_slot(due: datetime) -> None:
    after, until = slot_window(slot_of(due))
    assert after < due <= until
    assert until - after == timedelta(milliseconds=SLOT_MS)


@given(st.integers(min_value=9_000_000_000, max_value=40_000_000_000))
def test_a_due_time_on_a_slot_boundary_belongs_to_the_slot_it_ends(tenths: int) -> None:
    boundary = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=tenths * SLOT_MS)
    assert slot_of(boundary) == tenths * SLOT_MS
    assert slot_of(boundary + timedelta(microseconds=1)) == (tenths + 1) * SLOT_MS


def test_slots_are_in_epoch_milliseconds() -> None:
    due = datetime(2026, 12, 24, 18, 0, 0, 250_000, tzinfo=UTC)  # epoch second 1798135200
    assert slot_of(due) == 1_798_135_200_300
    assert slot_window(1_798_135_200_300) == (
        due - timedelta(milliseconds=50),
        due + timedelta(milliseconds=50),
    )
