"""Reading the date and time spellings of CRM exports (leadflow.importers.timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadflow.importers.timestamps import DateOrder, TimestampError, parse_stamp, rfc3339

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def local(text: str, zone: ZoneInfo = NEW_YORK, order: DateOrder = DateOrder.MDY) -> str:
    return rfc3339(parse_stamp(text, zone, order).at)


def test_a_time_without_offset_is_local_to_the_named_zone() -> None:
    assert local("2024-03-04 10:15") == "2024-03-04T10:15:00-05:00"


def test_summer_time_applies_to_local_times() -> None:
    assert local("2024-07-04 10:15") == "2024-07-04T10:15:00-04:00"


def test_a_utc_time_is_written_in_the_named_zone() -> None:
    assert local("2024-03-04T15:15:00.000Z") == "2024-03-04T10:15:00-05:00"


def test_data_loader_offsets_without_a_colon_are_read() -> None:
    assert local("2024-03-04T16:15:00.000+0100") == "2024-03-04T10:15:00-05:00"


def test_fractions_of_a_second_are_kept() -> None:
    assert local("2024-03-04T15:15:00.250Z") == "2024-03-04T10:15:00.250000-05:00"


def test_a_us_report_spelling_with_am_pm_is_read() -> None:
    assert local("03/04/2024 10:15 PM") == "2024-03-04T22:15:00-05:00"
    assert local("3/4/2024, 12:05 AM") == "2024-03-04T00:05:00-05:00"


def test_month_names_are_read() -> None:
    assert local("Mar 4, 2024 10:15 AM") == "2024-03-04T10:15:00-05:00"
    assert local("4 March 2024 10:15") == "2024-03-04T10:15:00-05:00"


def test_day_first_spellings_need_the_day_first_order() -> None:
    assert local("04.03.2024 10:15", BERLIN, DateOrder.DMY) == "2024-03-04T10:15:00+01:00"


def test_a_day_first_date_read_month_first_says_which_option_helps() -> None:
    with pytest.raises(TimestampError, match="--date-order dmy"):
        parse_stamp("31/01/2024 10:00", NEW_YORK, DateOrder.MDY)


def test_a_bare_date_is_the_start_of_that_local_day_and_says_it_had_no_time() -> None:
    stamp = parse_stamp("2024-03-04", NEW_YORK)
    assert stamp.date_only
    assert rfc3339(stamp.at) == "2024-03-04T00:00:00-05:00"


def test_epoch_milliseconds_are_utc() -> None:
    assert local("1709565300000") == "2024-03-04T10:15:00-05:00"


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2024-02-30 10:00", "2024-03-04 25:00", "13:00 PM 2024-03-04"]
)
def test_what_is_not_a_moment_is_refused(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_stamp(text, NEW_YORK)


def test_an_hour_past_twelve_with_am_pm_is_refused() -> None:
    with pytest.raises(TimestampError, match="does not go with"):
        parse_stamp("03/04/2024 13:15 PM", NEW_YORK)


def test_a_local_time_that_occurs_twice_is_read_as_the_first() -> None:
    # 2024-11-03 01:30 happens twice in New York; the first is still daylight time.
    assert local("2024-11-03 01:30") == "2024-11-03T01:30:00-04:00"


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(moments, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_an_instant_with_any_offset_keeps_its_instant(moment: datetime, minutes: int) -> None:
    written = moment.astimezone(timezone(timedelta(minutes=minutes))).isoformat()
    assert parse_stamp(written, BERLIN).at == moment


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_a_hubspot_local_time_reads_back_as_that_wall_clock(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%d %H:%M")
    read = parse_stamp(text, NEW_YORK).at
    assert read.replace(tzinfo=None) == moment.replace(second=0, microsecond=0)
    assert read.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
