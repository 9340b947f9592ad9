"""The date and time spellings CRM exports use, read into aware datetimes.

Exports mix ISO 8601 with and without an offset (Salesforce Data Loader writes
UTC, HubSpot writes the portal's local time), locale spellings from report
exports (`3/4/2024 10:15 AM`, `Mar 4, 2024`), bare dates and epoch
milliseconds. A value without an offset is local time in the zone the user
names; nothing is assumed about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum


class DateOrder(StrEnum):
    """How to read an all-numeric date such as 03/04/2024."""

    MDY = "mdy"  # the vendors' default (en_US) locale
    DMY = "dmy"


class TimestampError(ValueError):
    """A value that is not a date or time in any spelling this module reads."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """A moment from an export; `date_only` when the export gave a day without a time."""

    at: datetime  # aware, in the import's zone
    date_only: bool = False

    @property
    def day(self) -> date:
        return self.at.date()


_TIME = r"(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*([AaPp]\.?[Mm]\.?)?)?"
_ZONE = r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + _ZONE)
_NUMERIC = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2}),?" + _TIME + _ZONE)
_MONTH_FIRST = re.compile(r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4}),?" + _TIME + _ZONE)
_DAY_FIRST = re.compile(r"(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4}),?" + _TIME + _ZONE)
_EPOCH_MS = re.compile(r"\d{12,13}")

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


def parse_stamp(text: str, zone: tzinfo, order: DateOrder = DateOrder.MDY) -> Stamp:
    """Read one cell; raise TimestampError naming what was wrong with it."""
    value = text.strip()
    if len(value) > 10 and value[4] == "-" and value[10] in "T ":
        # The spellings of nearly every cell (ISO 8601, HubSpot's "2024-03-04 10:15"),
        # read in C; anything it refuses gets the precise reading below.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                return Stamp(moment.replace(tzinfo=zone))
            return Stamp(moment.astimezone(zone))
    if _EPOCH_MS.fullmatch(value):
        moment = datetime.fromtimestamp(int(value) / 1000, UTC)
        return Stamp(moment.astimezone(zone))
    if match := _ISO.fullmatch(value):
        year, month, day = int(match[1]), int(match[2]), int(match[3])
        return _build(value, (year, month, day), match.groups()[3:], zone)
    if match := _NUMERIC.fullmatch(value):
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        year += 2000 if len(match[3]) == 2 else 0
        month, day = (first, second) if order is DateOrder.MDY else (second, first)
        if month > 12 and day <= 12:
            other = "dmy" if order is DateOrder.MDY else "mdy"
            raise TimestampError(
                f"{value!r} has no month {month}; if the export writes days first, "
                f"pass --date-order {other}"
            )
        return _build(value, (year, month, day), match.groups()[3:], zone)
    if match := _MONTH_FIRST.fullmatch(value):
        month = _month(value, match[1])
        return _build(value, (int(match[3]), month, int(match[2])), match.groups()[3:], zone)
    if match := _DAY_FIRST.fullmatch(value):
        month = _month(value, match[2])
        return _build(value, (int(match[3]), month, int(match[1])), match.groups()[3:], zone)
    raise TimestampError(f"cannot read {value!r} as a date or time")


def _month(value: str, name: str) -> int:
    number = _MONTHS.get(name.lower())
    if number is None:
        raise TimestampError(f"cannot read {value!r}: {name!r} is not a month")
    return number


def _build(
    value: str,
    ymd: tuple[int, int, int],
    clock: tuple[str | None, ...],
    zone: tzinfo,
) -> Stamp:
    hour, minute, second, fraction, meridiem, offset = clock
    try:
        day = date(*ymd)
    except ValueError as error:
        raise TimestampError(f"{value!r} is not a calendar date ({error})") from None
    if hour is None:
        # A bare date is a day in the export's own calendar: the start of it, locally.
        if offset is not None:
            raise TimestampError(f"{value!r} has an offset but no time")
        return Stamp(datetime.combine(day, time(), zone), date_only=True)
    h, m, s = int(hour), int(minute or 0), int(second or 0)
    if meridiem is not None:
        if not 1 <= h <= 12:
            raise TimestampError(f"{value!r}: hour {h} does not go with {meridiem}")
        h = h % 12 + (12 if meridiem[0] in "Pp" else 0)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        clock_time = time(h, m, s, micros)
    except ValueError as error:
        raise TimestampError(f"{value!r} is not a time of day ({error})") from None
    if offset is None:
        # Python reads a local time that occurs twice (the autumn change) as the first.
        return Stamp(datetime.combine(day, clock_time, zone))
    moment = datetime.combine(day, clock_time, _offset(offset))
    return Stamp(moment.astimezone(zone))


def _offset(text: str) -> tzinfo:
    if text in ("Z", "z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def rfc3339(moment: datetime) -> str:
    """RFC 3339 with the moment's own offset; fractions only when there are some."""
    return moment.isoformat()


def utc_key(moment: datetime) -> str:
    """A zone-independent spelling of the instant, for event ids."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
