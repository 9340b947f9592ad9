"""Calendar periods in the business time zone: day, ISO week, month, quarter.

Everything is keyed by the local date's proleptic ordinal (`date.toordinal()`), so
rolling days up into weeks, months and quarters is integer arithmetic plus a cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

DAY_US = 86_400_000_000
_QUARTER_HOUR_US = 900_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CACHE_LIMIT = 500_000
_FIXED_ZONES = frozenset(
    ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "GMT", "Etc/GMT")
)


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


class Window(StrEnum):
    CURRENT = "current"
    PREVIOUS = "previous"
    PAST = "past"
    FUTURE = "future"


PERIOD_KINDS: tuple[PeriodKind, ...] = tuple(PeriodKind)


@dataclass
class Calendar:
    """Maps instants to local days and days to the periods that contain them."""

    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False)
    _offsets: dict[int, int] = field(init=False, repr=False, default_factory=dict)
    _starts: dict[tuple[PeriodKind, int], int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.timezone)
        fixed = self._fixed_offset()
        if fixed is not None:
            shift = fixed + _EPOCH_ORDINAL * DAY_US  # folds the epoch ordinal into one add
            self.day_of = lambda ts: (ts + shift) // DAY_US  # type: ignore[method-assign]

    def _fixed_offset(self) -> int | None:
        # Zones defined without transitions need no per-instant offset lookup.
        key = self._zone.key
        if key not in _FIXED_ZONES and not key.startswith("Etc/GMT"):
            return None
        offset = datetime(2000, 1, 1, tzinfo=self._zone).utcoffset() or timedelta(0)
        return offset // timedelta(microseconds=1)

    def day_of(self, ts: int) -> int:
        """The local date (as an ordinal) of an instant in UTC microseconds."""
        return (ts + self._offset(ts)) // DAY_US + _EPOCH_ORDINAL

    def _offset(self, ts: int) -> int:
        # Offsets change only at transitions, which fall on quarter hours in every
        # zone in use since 1970, so one lookup per quarter hour is exact.
        bucket = ts // _QUARTER_HOUR_US
        offset = self._offsets.get(bucket)
        if offset is None:
            if len(self._offsets) > _CACHE_LIMIT:
                self._offsets.clear()
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts)
            utcoffset = moment.astimezone(self._zone).utcoffset() or timedelta(0)
            offset = utcoffset // timedelta(microseconds=1)
            self._offsets[bucket] = offset
        return offset

    def period_start(self, kind: PeriodKind, day: int) -> int:
        if kind is PeriodKind.DAY:
            return day
        if kind is PeriodKind.WEEK:
            return day - (day - 1) % 7  # ordinal 1 (0001-01-01) is a Monday
        key = (kind, day)
        start = self._starts.get(key)
        if start is None:
            if len(self._starts) > _CACHE_LIMIT:
                self._starts.clear()
            local = date.fromordinal(day)
            month = local.month if kind is PeriodKind.MONTH else 3 * ((local.month - 1) // 3) + 1
            start = date(local.year, month, 1).toordinal()
            self._starts[key] = start
        return start

    def next_start(self, kind: PeriodKind, start: int) -> int:
        """The first day of the period after the one starting on `start`."""
        if kind is PeriodKind.DAY:
            return start + 1
        if kind is PeriodKind.WEEK:
            return start + 7
        local = date.fromordinal(start)
        months = 1 if kind is PeriodKind.MONTH else 3
        year, month = divmod(local.month - 1 + months, 12)
        return date(local.year + year, month + 1, 1).toordinal()

    def previous_start(self, kind: PeriodKind, start: int) -> int:
        return self.period_start(kind, start - 1)

    def midnight(self, day: int) -> int:
        """The instant (UTC microseconds) local day `day` begins, DST included."""
        local = datetime.combine(date.fromordinal(day), time(0), tzinfo=self._zone)
        return (local.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
            microseconds=1
        )

    def progress(self, kind: PeriodKind, start: int, as_of: int) -> float:
        """Share of the period elapsed at `as_of`: 0 before it, 1 after it."""
        begin = self.midnight(start)
        end = self.midnight(self.next_start(kind, start))
        return min(1.0, max(0.0, (as_of - begin) / (end - begin)))


@dataclass(frozen=True)
class AsOf:
    """The instant that decides which period of each kind is current.

    `starts` lists, newest first, the start of the current period of each kind and
    of the completed periods before it that a live export keeps: `depth[kind]` of
    them (1 = the previous period only).
    """

    instant: int
    current: dict[PeriodKind, int]
    previous: dict[PeriodKind, int]
    starts: dict[PeriodKind, tuple[int, ...]]

    @classmethod
    def at(
        cls, calendar: Calendar, instant: int, depth: Mapping[PeriodKind, int] | None = None
    ) -> AsOf:
        today = calendar.day_of(instant)
        starts: dict[PeriodKind, tuple[int, ...]] = {}
        for kind in PERIOD_KINDS:
            start = calendar.period_start(kind, today)
            chain = [start]
            for _ in range(max(1, depth.get(kind, 1) if depth else 1)):
                start = calendar.previous_start(kind, start)
                chain.append(start)
            starts[kind] = tuple(chain)
        current = {kind: chain[0] for kind, chain in starts.items()}
        previous = {kind: chain[1] for kind, chain in starts.items()}
        return cls(instant, current, previous, starts)

    def oldest(self, kind: PeriodKind) -> int:
        """The start of the oldest period of `kind` a live export keeps."""
        return self.starts[kind][-1]

    def periods_ago(self, kind: PeriodKind, start: int) -> int | None:
        """0 for the current period, 1 for the previous one...; None beyond the depth."""
        try:
            return self.starts[kind].index(start)
        except ValueError:
            return None

    def window(self, kind: PeriodKind, start: int) -> Window:
        if start == self.current[kind]:
            return Window.CURRENT
        if start == self.previous[kind]:
            return Window.PREVIOUS
        return Window.PAST if start < self.previous[kind] else Window.FUTURE


def iso_date(day: int) -> str:
    return date.fromordinal(day).isoformat()
