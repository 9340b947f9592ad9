"""Command-line instants: RFC 3339 with an offset, and a valid example when not."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime


def aware_instant(text: str) -> datetime:
    """An argparse type: an ISO 8601 timestamp with offset; the error shows one that works."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 timestamp: {text!r}; e.g. {_example(text)}"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"needs a time zone offset: {text!r}; e.g. {_example(text)}"
        )
    return moment


def _example(text: str) -> str:
    """`text` made valid where that is obvious (a date, a naive time), else a fixed one."""
    stripped = text.strip().removesuffix("Z").removesuffix("z")
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        moment = datetime.combine(date(2026, 3, 31), datetime.min.time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")
