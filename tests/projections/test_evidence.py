"""The Wilson score interval behind every business alert's evidence check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.evidence import Evidence, wilson


def test_default_level_is_80_percent_with_its_z_score() -> None:
    assert Evidence().level == 0.8
    assert Evidence().z == pytest.approx(1.2816, abs=1e-4)


def test_interval_of_40_won_of_250_qualified_at_80_percent() -> None:
    low, high = wilson(40, 250, Evidence().z)
    assert (round(low, 4), round(high, 4)) == (0.1325, 0.1919)


def test_interval_of_one_won_of_five_qualified_is_wide() -> None:
    low, high = wilson(1, 5, Evidence().z)
    assert (round(low, 4), round(high, 4)) == (0.0619, 0.4865)


def test_no_successes_gives_a_lower_bound_of_zero() -> None:
    low, high = wilson(0, 12, Evidence().z)
    assert low == 0.0
    assert high == pytest.approx(0.1204, abs=1e-4)


def test_more_successes_than_trials_counts_as_all() -> None:
    assert wilson(7, 5, 1.5) == wilson(5, 5, 1.5)


@given(
    trials=st.integers(min_value=1, max_value=100_000),
    share=st.floats(min_value=0, max_value=1),
    level=st.floats(min_value=0.5, max_value=0.99),
)
def test_interval_lies_in_unit_range_and_contains_the_observed_share(
    trials: int, share: float, level: float
) -> None:
    successes = round(share * trials)
    low, high = wilson(successes, trials, Evidence(level=level).z)
    assert 0 <= low <= successes / trials + 1e-12
    assert successes / trials - 1e-12 <= high <= 1


@given(successes=st.integers(min_value=0, max_value=50), extra=st.integers(1, 50))
def test_ten_times_the_data_gives_a_narrower_interval(successes: int, extra: int) -> None:
    trials = successes + extra
    z = Evidence().z
    low, high = wilson(successes, trials, z)
    low10, high10 = wilson(successes * 10, trials * 10, z)
    assert high10 - low10 < high - low
