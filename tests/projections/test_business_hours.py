"""Response limits in business hours: the clock runs only inside the working week,
in the business time zone, across weekends and daylight-saving changes."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from builders import decoded, event, micros
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadflow.config import ConfigError, load_funnel
from projections import Funnel, LeadState, Targets
from projections.business_hours import BusinessHours, business_time, deadline
from projections.milestones import Milestones, alert_annotations

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = BusinessHours()  # Monday to Friday, 09:00 to 17:00
HOUR = 3_600_000_000


def test_a_friday_afternoon_mql_is_due_on_monday_morning() -> None:
    # Friday 2026-03-06 16:30 Berlin: half an hour left that day, half an hour Monday.
    due = deadline(micros("2026-03-06T16:30:00+01:00"), HOUR, WEEK, BERLIN)
    assert due == micros("2026-03-09T09:30:00+01:00")


def test_an_mql_before_opening_is_due_an_sla_after_opening() -> None:
    due = deadline(micros("2026-03-04T07:10:00+01:00"), 2 * HOUR, WEEK, BERLIN)
    assert due == micros("2026-03-04T11:00:00+01:00")


def test_a_weekend_mql_waits_for_monday() -> None:
    due = deadline(micros("2026-03-07T12:00:00+01:00"), HOUR, WEEK, BERLIN)
    assert due == micros("2026-03-09T10:00:00+01:00")


def test_the_working_day_follows_the_clocks_across_daylight_saving() -> None:
    # Berlin moves to summer time on Sunday 2026-03-29: Monday opens at 09:00 CEST.
    due = deadline(micros("2026-03-27T16:00:00+01:00"), 2 * HOUR, WEEK, BERLIN)
    assert due == micros("2026-03-30T10:00:00+02:00")


def test_business_time_counts_only_open_hours() -> None:
    since = micros("2026-03-06T16:00:00+01:00")  # Friday
    until = micros("2026-03-09T10:00:00+01:00")  # Monday
    assert business_time(since, until, WEEK, BERLIN) == 2 * HOUR


def test_hours_must_make_a_day() -> None:
    with pytest.raises(ValidationError, match="must be before end"):
        BusinessHours(start=time(17), end=time(9))
    with pytest.raises(ValidationError):
        BusinessHours(days=())


def test_a_hot_mql_on_friday_evening_is_not_overdue_before_monday() -> None:
    funnel = Funnel(
        timezone="Europe/Berlin",
        targets=Targets(response_business_hours=WEEK),
    )
    state = LeadState()
    for line in (
        event("lead.created", "L1", "2026-03-06T16:00:00+01:00", source="ads", score=90),
        event("lead.mql", "L1", "2026-03-06T16:30:00+01:00"),
    ):
        state.apply(decoded(line))
    rules = Milestones(funnel)
    assert rules.breaches("L1", state, micros("2026-03-08T20:00:00+01:00")) == []
    (breach,) = rules.breaches("L1", state, micros("2026-03-09T09:30:00+01:00"))
    assert breach.deadline == micros("2026-03-09T09:30:00+01:00")
    notes = alert_annotations(breach, micros("2026-03-09T09:30:00+01:00"))
    assert notes["sla"] == "1h 00m of business hours"
    assert notes["waited"] == "2d 17h"  # on the wall clock, as people count a wait


INSTANTS = st.integers(micros("2026-01-01T00:00:00Z"), micros("2026-12-31T00:00:00Z"))
LIMITS = st.integers(1, 60 * HOUR)
HOURS = st.builds(
    BusinessHours,
    days=st.lists(
        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1
    ).map(lambda days: tuple(dict.fromkeys(days))),
    start=st.sampled_from([time(0), time(2, 30), time(8), time(9)]),
    end=st.sampled_from([time(12), time(17), time(23, 59)]),
)
ZONES = st.sampled_from([ZoneInfo("UTC"), BERLIN, ZoneInfo("America/Los_Angeles")])


@settings(max_examples=200, deadline=None)
@given(INSTANTS, LIMITS, HOURS, ZONES)
def test_the_deadline_is_exactly_the_limit_of_business_time_later(since, limit, hours, zone):
    due = deadline(since, limit, hours, zone)
    assert due >= since + limit
    assert business_time(since, due, hours, zone) == limit


@settings(max_examples=100, deadline=None)
@given(INSTANTS, LIMITS, LIMITS, HOURS, ZONES)
def test_a_longer_limit_is_never_due_sooner(since, first, second, hours, zone):
    shorter, longer = sorted((first, second))
    assert deadline(since, shorter, hours, zone) <= deadline(since, longer, hours, zone)


def test_business_hours_in_the_example_config_are_off_by_default() -> None:
    assert Funnel().targets.response_business_hours is None
    assert timedelta(0) < Funnel().targets.response_max_by_tier["hot"]


def test_hours_in_the_config_file_are_read_and_an_unquoted_time_refused(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(
        "targets:\n  response_business_hours: {days: [mon, fri], start: '08:30', end: '16:00'}\n",
        encoding="utf-8",
    )
    hours = load_funnel(path).targets.response_business_hours
    assert hours == BusinessHours(days=("mon", "fri"), start=time(8, 30), end=time(16))
    path.write_text("targets:\n  response_business_hours: {start: 9:00}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="write times as quoted strings"):
        load_funnel(path)
