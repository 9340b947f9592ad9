"""Business hours: when a response clock runs, and when it runs out.

A limit such as "contacted within 4 business hours" counts only time inside the
working week (given days, from `start` to `end` local time in the business time
zone). Pure: instants are µs since the epoch, the zone a `ZoneInfo`. Local times
that do not exist or exist twice at a DST change are resolved as `datetime` does
(fold 0), so a working day on those dates is an hour shorter or longer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_WEEKDAY_INDEX = {day: index for index, day in enumerate(Weekday)}


class BusinessHours(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[Weekday, ...] = Field(
        default=(Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI), min_length=1
    )
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 09:00 as the number 540 (base 60); as a time
        # that would silently be 00:09.
        if isinstance(value, int | float):
            raise ValueError('write times as quoted strings, e.g. start: "09:00"')
        return value

    @model_validator(mode="after")
    def _a_real_day(self) -> Self:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self

    def weekdays(self) -> frozenset[int]:
        return frozenset(_WEEKDAY_INDEX[day] for day in self.days)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


@lru_cache(maxsize=65_536)
def _window(hours: BusinessHours, zone: ZoneInfo, day: date) -> tuple[int, int] | None:
    """The working window of a local date, as µs instants; None on a day off."""
    if day.weekday() not in hours.weekdays():
        return None
    opens = _micros(datetime.combine(day, hours.start, tzinfo=zone))
    closes = _micros(datetime.combine(day, hours.end, tzinfo=zone))
    return (opens, closes) if closes > opens else None


def _local_date(ts: int, zone: ZoneInfo) -> date:
    return (_EPOCH + timedelta(microseconds=ts)).astimezone(zone).date()


@lru_cache(maxsize=65_536)
def deadline(since: int, limit: int, hours: BusinessHours, zone: ZoneInfo) -> int:
    """The instant at which `limit` µs of business time have passed since `since`."""
    remaining = limit
    day = _local_date(since, zone) - timedelta(days=1)  # a window may start the day before
    cursor = since
    while True:
        window = _window(hours, zone, day)
        if window is not None and window[1] > cursor:
            opens = max(window[0], cursor)
            available = window[1] - opens
            if remaining <= available:
                return opens + remaining
            remaining -= available
            cursor = window[1]
        day += timedelta(days=1)


def business_time(since: int, until: int, hours: BusinessHours, zone: ZoneInfo) -> int:
    """Business time (µs) between two instants; 0 if `until` is not after `since`."""
    if until <= since:
        return 0
    total = 0
    day = _local_date(since, zone) - timedelta(days=1)
    last = _local_date(until, zone)
    while day <= last:
        window = _window(hours, zone, day)
        if window is not None:
            total += max(0, min(window[1], until) - max(window[0], since))
        day += timedelta(days=1)
    return total
