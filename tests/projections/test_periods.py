"""Periods in the business time zone: day, ISO week, month, quarter, and their windows."""

from __future__ import annotations

from datetime import date

import pytest
from builders import event, has, micros, replay, value

from projections import AsOf, Calendar, Funnel, History, PeriodKind, Window
from projections.funnel import HistoryDepth

DAY, WEEK, MONTH, QUARTER = PeriodKind.DAY, PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER
HOUR_US = 3_600_000_000
UTC_CALENDAR = Calendar()


def local_date(calendar: Calendar, instant: str) -> date:
    return date.fromordinal(calendar.day_of(micros(instant)))


def start_of(kind: PeriodKind, instant: str, calendar: Calendar = UTC_CALENDAR) -> date:
    return date.fromordinal(calendar.period_start(kind, calendar.day_of(micros(instant))))


def ordinal(text: str) -> int:
    return date.fromisoformat(text).toordinal()


# --- calendar boundaries (UTC) ------------------------------------------------------


def test_the_last_microsecond_of_a_day_and_the_next_midnight_are_different_days():
    assert local_date(UTC_CALENDAR, "2026-02-10T23:59:59.999999Z") == date(2026, 2, 10)
    assert local_date(UTC_CALENDAR, "2026-02-11T00:00:00Z") == date(2026, 2, 11)


def test_new_years_day_2026_a_thursday_is_in_the_iso_week_starting_monday_2025_12_29():
    assert date(2026, 1, 1).isoweekday() == 4
    assert start_of(WEEK, "2026-01-01T12:00:00Z") == date(2025, 12, 29)


def test_sunday_23_59_belongs_to_the_week_that_began_the_previous_monday():
    assert start_of(WEEK, "2026-01-04T23:59:59Z") == date(2025, 12, 29)


def test_monday_00_00_starts_a_new_week():
    assert start_of(WEEK, "2026-01-05T00:00:00Z") == date(2026, 1, 5)


def test_a_monday_is_the_start_of_its_own_week():
    assert start_of(WEEK, "2026-03-30T08:00:00Z") == date(2026, 3, 30)


def test_31_march_is_in_the_first_quarter_and_1_april_in_the_second():
    assert start_of(QUARTER, "2026-03-31T23:59:59Z") == date(2026, 1, 1)
    assert start_of(QUARTER, "2026-04-01T00:00:00Z") == date(2026, 4, 1)


def test_month_boundaries():
    assert start_of(MONTH, "2026-04-30T23:59:59Z") == date(2026, 4, 1)
    assert start_of(MONTH, "2026-05-01T00:00:00Z") == date(2026, 5, 1)


def test_the_year_edge_changes_day_month_and_quarter_but_not_the_iso_week():
    before, after = "2025-12-31T23:59:59.999999Z", "2026-01-01T00:00:00Z"
    assert [start_of(kind, before) for kind in (DAY, MONTH, QUARTER)] == [
        date(2025, 12, 31),
        date(2025, 12, 1),
        date(2025, 10, 1),
    ]
    assert [start_of(kind, after) for kind in (DAY, MONTH, QUARTER)] == [
        date(2026, 1, 1),
        date(2026, 1, 1),
        date(2026, 1, 1),
    ]
    assert start_of(WEEK, before) == start_of(WEEK, after) == date(2025, 12, 29)


def test_leap_day_2028_02_29_is_a_day_of_february():
    assert local_date(UTC_CALENDAR, "2028-02-29T12:00:00Z") == date(2028, 2, 29)
    assert start_of(MONTH, "2028-02-29T12:00:00Z") == date(2028, 2, 1)
    assert start_of(QUARTER, "2028-02-29T12:00:00Z") == date(2028, 1, 1)
    assert start_of(WEEK, "2028-02-29T12:00:00Z") == date(2028, 2, 28)


def test_february_2028_has_29_days_so_noon_on_the_15th_is_half_way_through_it():
    february = ordinal("2028-02-01")
    assert UTC_CALENDAR.next_start(MONTH, february) == ordinal("2028-03-01")
    assert UTC_CALENDAR.progress(MONTH, february, micros("2028-02-15T12:00:00Z")) == 0.5


def test_the_period_after_december_is_january_of_the_next_year():
    assert UTC_CALENDAR.next_start(MONTH, ordinal("2025-12-01")) == ordinal("2026-01-01")
    assert UTC_CALENDAR.next_start(QUARTER, ordinal("2025-10-01")) == ordinal("2026-01-01")
    assert UTC_CALENDAR.next_start(WEEK, ordinal("2025-12-29")) == ordinal("2026-01-05")


def test_progress_is_0_before_a_period_and_1_after_it():
    january = ordinal("2026-01-01")
    assert UTC_CALENDAR.progress(MONTH, january, micros("2025-12-31T00:00:00Z")) == 0.0
    assert UTC_CALENDAR.progress(MONTH, january, micros("2026-01-01T00:00:00Z")) == 0.0
    assert UTC_CALENDAR.progress(MONTH, january, micros("2026-02-01T00:00:00Z")) == 1.0
    assert UTC_CALENDAR.progress(MONTH, january, micros("2026-03-15T00:00:00Z")) == 1.0


# --- a business time zone other than UTC --------------------------------------------


def test_an_evening_in_los_angeles_belongs_to_the_local_date_not_the_utc_one():
    los_angeles = Calendar("America/Los_Angeles")
    # 2026-03-01T02:00Z is 18:00 on 28 February, Pacific Standard Time.
    assert local_date(los_angeles, "2026-03-01T02:00:00Z") == date(2026, 2, 28)
    assert start_of(MONTH, "2026-03-01T02:00:00Z", los_angeles) == date(2026, 2, 1)
    assert start_of(MONTH, "2026-03-01T02:00:00Z") == date(2026, 3, 1)


def test_los_angeles_midnight_is_08_00_utc_in_winter():
    los_angeles = Calendar("America/Los_Angeles")
    assert local_date(los_angeles, "2026-03-01T07:59:59Z") == date(2026, 2, 28)
    assert local_date(los_angeles, "2026-03-01T08:00:00Z") == date(2026, 3, 1)
    assert los_angeles.midnight(ordinal("2026-03-01")) == micros("2026-03-01T08:00:00Z")


def test_an_event_counts_in_the_local_month_of_the_business_time_zone():
    lines = [event("lead.created", "lead-1", "2026-03-01T02:00:00Z", source="web")]
    pacific = replay(lines, funnel=Funnel(timezone="America/Los_Angeles"))
    entries = "leadflow_stage_entries"
    assert value(pacific, entries, period="month", period_start="2026-02-01", stage="lead") == 1
    assert not has(pacific, entries, period="month", period_start="2026-03-01")
    assert value(pacific, entries, period="day", period_start="2026-02-28", stage="lead") == 1


# --- daylight saving time -----------------------------------------------------------


def test_berlin_local_midnight_is_23_00_utc_before_the_spring_forward_and_22_00_after():
    berlin = Calendar("Europe/Berlin")
    assert berlin.midnight(ordinal("2026-03-29")) == micros("2026-03-28T23:00:00Z")
    assert berlin.midnight(ordinal("2026-03-30")) == micros("2026-03-29T22:00:00Z")


def test_the_berlin_spring_forward_day_has_23_hours():
    berlin = Calendar("Europe/Berlin")
    spring = ordinal("2026-03-29")
    length = berlin.midnight(spring + 1) - berlin.midnight(spring)
    assert length == 23 * HOUR_US


def test_half_of_the_23_hour_day_has_passed_at_11_30_elapsed_hours():
    berlin = Calendar("Europe/Berlin")
    # Local midnight is 23:00Z; 11.5 hours later is 10:30Z (12:30 local summer time).
    assert berlin.progress(DAY, ordinal("2026-03-29"), micros("2026-03-29T10:30:00Z")) == 0.5


def test_instants_around_the_spring_forward_fall_on_the_right_berlin_dates():
    berlin = Calendar("Europe/Berlin")
    assert local_date(berlin, "2026-03-28T22:59:59Z") == date(2026, 3, 28)  # 23:59:59 CET
    assert local_date(berlin, "2026-03-29T00:59:59Z") == date(2026, 3, 29)  # 01:59:59 CET
    assert local_date(berlin, "2026-03-29T01:00:00Z") == date(2026, 3, 29)  # 03:00 CEST
    assert local_date(berlin, "2026-03-29T21:59:59Z") == date(2026, 3, 29)  # 23:59:59 CEST
    assert local_date(berlin, "2026-03-29T22:00:00Z") == date(2026, 3, 30)  # 00:00 CEST


def test_the_berlin_fall_back_day_has_25_hours():
    berlin = Calendar("Europe/Berlin")
    autumn = ordinal("2026-10-25")
    assert berlin.midnight(autumn + 1) - berlin.midnight(autumn) == 25 * HOUR_US
    assert local_date(berlin, "2026-10-25T22:59:59Z") == date(2026, 10, 25)  # 23:59:59 CET


def test_the_berlin_week_of_the_spring_forward_is_one_hour_short():
    berlin = Calendar("Europe/Berlin")
    week = ordinal("2026-03-23")
    assert berlin.period_start(WEEK, ordinal("2026-03-29")) == week
    assert berlin.midnight(week + 7) - berlin.midnight(week) == (7 * 24 - 1) * HOUR_US


# --- windows ------------------------------------------------------------------------


AS_OF = AsOf.at(UTC_CALENDAR, micros("2026-02-11T12:00:00Z"))  # a Wednesday


@pytest.mark.parametrize(
    ("kind", "start", "window"),
    [
        (DAY, "2026-02-11", Window.CURRENT),
        (DAY, "2026-02-10", Window.PREVIOUS),
        (DAY, "2026-02-09", Window.PAST),
        (DAY, "2026-02-12", Window.FUTURE),
        (WEEK, "2026-02-09", Window.CURRENT),
        (WEEK, "2026-02-02", Window.PREVIOUS),
        (WEEK, "2026-01-26", Window.PAST),
        (WEEK, "2026-02-16", Window.FUTURE),
        (MONTH, "2026-02-01", Window.CURRENT),
        (MONTH, "2026-01-01", Window.PREVIOUS),
        (MONTH, "2025-12-01", Window.PAST),
        (MONTH, "2026-03-01", Window.FUTURE),
        (QUARTER, "2026-01-01", Window.CURRENT),
        (QUARTER, "2025-10-01", Window.PREVIOUS),
        (QUARTER, "2025-07-01", Window.PAST),
        (QUARTER, "2026-04-01", Window.FUTURE),
    ],
)
def test_the_window_of_a_period_relative_to_an_as_of_on_wednesday_11_february_2026(
    kind, start, window
):
    assert AS_OF.window(kind, ordinal(start)) is window


def test_the_previous_quarter_of_the_first_quarter_is_the_last_of_the_year_before():
    as_of = AsOf.at(UTC_CALENDAR, micros("2026-01-01T00:00:00Z"))
    assert as_of.current[QUARTER] == ordinal("2026-01-01")
    assert as_of.previous[QUARTER] == ordinal("2025-10-01")
    assert as_of.previous[WEEK] == ordinal("2025-12-22")


def test_the_as_of_date_is_taken_in_the_business_time_zone():
    # 02:00Z on 1 March is still 28 February in Los Angeles: February is current.
    as_of = AsOf.at(Calendar("America/Los_Angeles"), micros("2026-03-01T02:00:00Z"))
    assert as_of.current[MONTH] == ordinal("2026-02-01")
    assert as_of.current[DAY] == ordinal("2026-02-28")


def test_exported_series_carry_the_window_of_their_period():
    lines = [
        event("lead.created", "old", "2025-12-15T10:00:00Z", source="web"),
        event("lead.created", "last-month", "2026-01-20T10:00:00Z", source="web"),
        event("lead.created", "this-month", "2026-02-03T10:00:00Z", source="web"),
        event("lead.created", "later", "2026-03-02T10:00:00Z", source="web"),
    ]
    series = replay(lines, as_of="2026-02-11T12:00:00Z")
    entries = {"stage": "lead", "period": "month"}
    by_start = {
        start: value(series, "leadflow_stage_entries", **entries, period_start=start, window=w)
        for start, w in [
            ("2025-12-01", "past"),
            ("2026-01-01", "previous"),
            ("2026-02-01", "current"),
            ("2026-03-01", "future"),
        ]
    }
    assert by_start == {"2025-12-01": 1, "2026-01-01": 1, "2026-02-01": 1, "2026-03-01": 1}


def _live_months(lines: list[bytes], funnel: Funnel | None = None) -> dict[str, str]:
    series = replay(lines, funnel=funnel, as_of="2026-02-11T12:00:00Z", history=History.LIVE)
    return {
        dict(labels)["period_start"]: dict(labels)["window"]
        for (name, labels) in series
        if name == "leadflow_stage_entries" and ("period", "month") in labels
    }


MONTHLY_LEADS = [
    event("lead.created", "older", "2024-12-15T10:00:00Z", source="web"),
    event("lead.created", "a-year-before", "2025-01-15T10:00:00Z", source="web"),
    event("lead.created", "old", "2025-12-15T10:00:00Z", source="web"),
    event("lead.created", "last-month", "2026-01-20T10:00:00Z", source="web"),
    event("lead.created", "this-month", "2026-02-03T10:00:00Z", source="web"),
    event("lead.created", "later", "2026-03-02T10:00:00Z", source="web"),
]


def test_a_live_export_keeps_thirteen_completed_months_by_default_and_no_future():
    assert _live_months(MONTHLY_LEADS) == {
        "2025-01-01": "past",  # 13 months before February 2026: the oldest kept
        "2025-12-01": "past",
        "2026-01-01": "previous",
        "2026-02-01": "current",
    }


def test_a_history_depth_of_one_keeps_only_the_current_and_previous_periods():
    shallow = Funnel(history=HistoryDepth(day=1, week=1, month=1, quarter=1))
    series = replay(
        MONTHLY_LEADS, funnel=shallow, as_of="2026-02-11T12:00:00Z", history=History.LIVE
    )
    assert _live_months(MONTHLY_LEADS, shallow) == {
        "2026-01-01": "previous",
        "2026-02-01": "current",
    }
    assert not any(("window", "past") in labels for (_, labels) in series)


@pytest.mark.parametrize(
    ("kind", "depth", "oldest"),
    [
        (DAY, 35, "2026-01-07"),
        (WEEK, 13, "2025-11-10"),
        (MONTH, 13, "2025-01-01"),
        (QUARTER, 5, "2024-10-01"),
    ],
)
def test_the_oldest_kept_period_is_depth_periods_before_the_current_one(kind, depth, oldest):
    as_of = AsOf.at(UTC_CALENDAR, micros("2026-02-11T12:00:00Z"), HistoryDepth().of())
    assert len(as_of.starts[kind]) == depth + 1
    assert as_of.oldest(kind) == ordinal(oldest)
    assert as_of.periods_ago(kind, ordinal(oldest)) == depth
    assert as_of.window(kind, ordinal(oldest)) is Window.PAST


def test_the_year_before_series_marks_the_same_month_and_quarter_a_year_back():
    series = replay(MONTHLY_LEADS, as_of="2026-02-11T12:00:00Z", history=History.LIVE)
    marked = {
        (dict(labels)["period"], dict(labels)["period_start"], dict(labels)["window"])
        for (name, labels) in series
        if name == "leadflow_period_year_before_info"
    }
    # Days and weeks keep less than a year by default: nothing to mark.
    assert marked == {("month", "2025-02-01", "past"), ("quarter", "2025-01-01", "past")}


def test_progress_is_exported_for_every_kept_period_completed_ones_at_one():
    series = replay(MONTHLY_LEADS, as_of="2026-02-11T12:00:00Z", history=History.LIVE)
    months = {
        dict(labels)["period_start"]: v
        for (name, labels), v in series.items()
        if name == "leadflow_period_progress_ratio" and ("period", "month") in labels
    }
    assert len(months) == 14
    assert months["2025-01-01"] == months["2026-01-01"] == 1.0
    assert 0 < months["2026-02-01"] < 1


def test_a_late_event_in_a_past_period_updates_that_period():
    late = event("lead.created", "late", "2025-06-10T10:00:00Z", source="web")
    before = replay(MONTHLY_LEADS, as_of="2026-02-11T12:00:00Z", history=History.LIVE)
    after = replay([*MONTHLY_LEADS, late], as_of="2026-02-11T12:00:00Z", history=History.LIVE)
    june = {"stage": "lead", "period": "month", "period_start": "2025-06-01", "window": "past"}
    assert value(before, "leadflow_stage_entries", **june) == 0
    assert value(after, "leadflow_stage_entries", **june) == 1


def test_replay_takes_the_latest_occurred_at_as_the_default_as_of():
    lines = [
        event("lead.created", "a", "2026-01-20T10:00:00Z", source="web"),
        event("lead.created", "b", "2026-02-03T10:00:00Z", source="web"),
    ]
    series = replay(lines)
    entries = "leadflow_stage_entries"
    assert value(series, entries, period="month", period_start="2026-02-01", window="current") == 1
    assert value(series, entries, period="month", period_start="2026-01-01", window="previous") == 1


def test_replay_defaults_the_as_of_to_the_latest_occurred_at_even_of_an_unchanging_event():
    # The February mql repeats the January one, so no metric changes: the as-of still moves.
    lines = [
        event("lead.created", "a", "2026-01-20T10:00:00Z", source="web"),
        event("lead.mql", "a", "2026-01-25T10:00:00Z"),
        event("lead.mql", "a", "2026-02-03T10:00:00Z"),
    ]
    series = replay(lines)
    entries = "leadflow_stage_entries"
    january = {"period": "month", "period_start": "2026-01-01", "stage": "mql"}
    assert value(series, entries, **january, window="previous") == 1
    progress = "leadflow_period_progress_ratio"
    assert value(series, progress, period="day", window="current") == 10 / 24
    assert value(series, progress, period="day", period_start="2026-02-03") == 10 / 24
