"""Parsing the times people type: "90d", "36h", "2021-12-01", "2022-01-21T03:30:00Z". Pure, no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime) -> datetime:
    """A UTC datetime from a relative duration before `now` or an ISO 8601 date/time (UTC if no zone).

    Raises ValueError with a message that says what is accepted.
    """
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use a duration like 90d / 36h / 30m, or a date like 2021-12-01 "
            "or 2022-01-21T03:30:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def okta_time(ts: datetime) -> str:
    """Okta's format (UTC, milliseconds, Z): fixed width, so it sorts as text."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
