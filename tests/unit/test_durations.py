"""Durations as designers write them: Go style and ISO-8601, what is refused, and how they are
spelt back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.durations import MAX_DURATION, DurationError, format_duration, parse_duration

GO_HINT = "write e.g. '30s', '2h', '1h30m', '500ms', '3d' or ISO-8601 such as 'PT2H'"
ISO_HINT = "write e.g. 'PT30S', 'PT2H', 'P1DT12H'"
CALENDAR = "months and years have no fixed length; use days (e.g. 'P30D') or an 'until' date"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("1m", timedelta(minutes=1)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0.5s", timedelta(milliseconds=500)),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
        ("30m1h", timedelta(hours=1, minutes=30)),  # any order, as Go's ParseDuration
        (" 30s ", timedelta(seconds=30)),  # surrounding blanks are ignored
    ],
)
def test_go_style(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("PT30S", timedelta(seconds=30)),
        ("PT1M", timedelta(minutes=1)),  # after T, M is minutes
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P1D", timedelta(days=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P2W", timedelta(weeks=2)),
        ("P1W2D", timedelta(days=9)),
        ("P1DT1M", timedelta(days=1, minutes=1)),
        ("pt30m", timedelta(minutes=30)),  # case-insensitive
    ],
)
def test_iso_8601(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("30", f"invalid duration '30': {GO_HINT}"),  # no unit
        ("30 s", f"invalid duration '30 s': {GO_HINT}"),
        ("1h 30m", f"invalid duration '1h 30m': {GO_HINT}"),
        ("2x", f"invalid duration '2x': {GO_HINT}"),
        ("30S", f"invalid duration '30S': {GO_HINT}"),  # Go units are lower case
        ("-5s", f"invalid duration '-5s': {GO_HINT}"),
        ("1e3s", f"invalid duration '1e3s': {GO_HINT}"),
        ("tomorrow", f"invalid duration 'tomorrow': {GO_HINT}"),
        ("0s", "invalid duration '0s': it must be longer than zero"),
        ("0h0m", "invalid duration '0h0m': it must be longer than zero"),
        ("P", f"invalid ISO-8601 duration 'P': {ISO_HINT}"),
        ("PT", f"invalid ISO-8601 duration 'PT': {ISO_HINT}"),
        ("P1DT", f"invalid ISO-8601 duration 'P1DT': {ISO_HINT}"),
        ("P1.5D", f"invalid ISO-8601 duration 'P1.5D': {ISO_HINT}"),
        ("PT1H2H", f"invalid ISO-8601 duration 'PT1H2H': {ISO_HINT}"),
        ("PT2", f"invalid ISO-8601 duration 'PT2': {ISO_HINT}"),
        ("PT0S", "invalid duration 'PT0S': it must be longer than zero"),
        ("P0D", "invalid duration 'P0D': it must be longer than zero"),
        ("P1M", f"invalid duration 'P1M': {CALENDAR}"),
        ("P1Y", f"invalid duration 'P1Y': {CALENDAR}"),
        ("P1Y2M", f"invalid duration 'P1Y2M': {CALENDAR}"),
        ("P1MT2H", f"invalid duration 'P1MT2H': {CALENDAR}"),
        ("p3m", f"invalid duration 'p3m': {CALENDAR}"),
    ],
)
def test_refused_with_a_message_that_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert str(raised.value) == message


def test_a_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3650d", timedelta(days=3650)),
        ("87600h", timedelta(days=3650)),
        ("P3650D", timedelta(days=3650)),
        ("P521W", timedelta(weeks=521)),
    ],
)
def test_up_to_the_cap(text: str, expected: timedelta) -> None:
    assert MAX_DURATION == timedelta(days=3650)
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3651d",
        "87601h",
        "522w",
        "P3651D",
        # too long even for a timedelta: refused the same way, not an OverflowError
        "99999999999d",
        "1000000000w",
        "P99999999999D",
        "PT99999999999999999999S",
    ],
)
def test_beyond_the_cap(text: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert str(raised.value) == (
        f"invalid duration {text!r}: at most 3650 days; for a date further away use 'until'"
    )


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(days=3), "3d"),
        (timedelta(weeks=2), "14d"),
        (timedelta(days=1, seconds=1, milliseconds=1), "1d1s1ms"),
        (timedelta(hours=25), "1d1h"),
        (timedelta(microseconds=400), "0s"),  # below a millisecond rounds away
        (timedelta(microseconds=600), "1ms"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(seconds=30),
        timedelta(hours=1, minutes=30),
        timedelta(milliseconds=500),
        timedelta(days=3, hours=4, minutes=5, seconds=6, milliseconds=7),
    ],
)
def test_format_duration_parses_back(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta
