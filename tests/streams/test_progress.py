"""Lag against the last stable offset, and when a partition counts as stalled."""

from __future__ import annotations

from streams.lease import Lease
from streams.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trailing_transaction_markers_are_no_lag_once_everything_fetched_is_processed() -> None:
    progress = Progress()
    progress.advance("t", 10)  # last record at offset 9; markers at 10 and 11
    assert progress.lag("t", stable_end=12, fetched_to=12, waiting=False) == 0


def test_messages_fetched_but_not_yet_processed_count_as_lag() -> None:
    progress = Progress()
    progress.advance("t", 10)
    assert progress.lag("t", stable_end=50, fetched_to=50, waiting=True) == 40


def test_unknown_end_is_no_lag_figure_at_all() -> None:
    assert Progress().lag("t", stable_end=None, fetched_to=3, waiting=False) is None


def test_a_partition_with_lag_and_no_progress_past_the_timeout_is_stalled() -> None:
    clock = Clock()
    progress = Progress(clock)
    progress.start(["t"])
    progress.advance("t", 5)
    clock.now += 61
    assert progress.stalled("t", lag=3, after=60)
    assert not progress.stalled("t", lag=0, after=60)


def test_progress_resets_the_stall_clock() -> None:
    clock = Clock()
    progress = Progress(clock)
    progress.start(["t"])
    clock.now += 50
    progress.advance("t", 6)
    clock.now += 20
    assert not progress.stalled("t", lag=3, after=60)


def test_the_lease_holds_for_nine_tenths_of_the_session_after_the_heartbeat_was_sent() -> None:
    clock = Clock()
    lease = Lease(session_timeout=10.0, clock=clock)
    assert not lease.valid
    lease.renew(sent_at=clock.now)
    clock.now += 8.9
    assert lease.valid
    clock.now += 0.2
    assert not lease.valid


def test_an_older_heartbeat_never_shortens_the_lease() -> None:
    clock = Clock()
    lease = Lease(session_timeout=10.0, clock=clock)
    lease.renew(sent_at=clock.now)
    lease.renew(sent_at=clock.now - 5)
    clock.now += 8
    assert lease.valid
