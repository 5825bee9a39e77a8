"""Durations as designers write them: Go style ("30s", "2h", "1h30m", "500ms") or ISO-8601
("PT2H", "P1DT12H", "P2W").

Months and years are refused: their length depends on the calendar, so a timer of "P1M" would
mean different things on different days. Use days, or an ``until`` date.
"""

from __future__ import annotations

import re
from datetime import timedelta

_GO_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_GO_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_ISO = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_ISO_CALENDAR = re.compile(r"P(?:\d+Y)?(?:\d+M)")  # P1M, P1Y2M: month-based, refused


#: Longer than any process should wait on one timer, and far inside what datetimes can add.
MAX_DURATION = timedelta(days=3650)


class DurationError(ValueError):
    """Raised with a message a process designer understands."""


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise :class:`DurationError` saying what is accepted."""
    value = text.strip()
    if not value:
        raise DurationError("empty duration")
    if value.upper().startswith("P"):
        return _parse_iso(value.upper(), text)
    if _GO_WHOLE.fullmatch(value):
        try:
            total = sum(
                (_GO_UNITS[unit] * float(amount) for amount, unit in _GO_PART.findall(value)),
                timedelta(),
            )
        except OverflowError:
            total = timedelta.max
        return _positive(total, text)
    raise DurationError(
        f"invalid duration {text!r}: write e.g. '30s', '2h', '1h30m', '500ms', '3d' "
        "or ISO-8601 such as 'PT2H'"
    )


def _parse_iso(value: str, original: str) -> timedelta:
    if re.match(r"P\d+Y", value) or _ISO_CALENDAR.match(value):
        raise DurationError(
            f"invalid duration {original!r}: months and years have no fixed length; "
            "use days (e.g. 'P30D') or an 'until' date"
        )
    match = _ISO.fullmatch(value)
    if match is None or value in ("P", "PT") or value.endswith("T"):
        raise DurationError(
            f"invalid ISO-8601 duration {original!r}: write e.g. 'PT30S', 'PT2H', 'P1DT12H'"
        )
    parts = {name: float(amount) for name, amount in match.groupdict().items() if amount}
    try:
        delta = timedelta(**parts)
    except OverflowError:
        delta = timedelta.max
    return _positive(delta, original)


def _positive(delta: timedelta, original: str) -> timedelta:
    if delta <= timedelta():
        raise DurationError(f"invalid duration {original!r}: it must be longer than zero")
    if delta > MAX_DURATION:
        raise DurationError(
            f"invalid duration {original!r}: at most 3650 days; for a date further away use 'until'"
        )
    return delta


def format_duration(delta: timedelta) -> str:
    """The shortest Go-style spelling, for messages and history."""
    millis = round(delta.total_seconds() * 1000)
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts) or "0s"
