"""Where processing stands per input partition, and whether it has stopped moving.

Lag is measured against the last stable offset: input topics written in
transactions (the by-lead topic) carry commit markers, which take an offset but
are never delivered. When the consumer's fetch position has passed everything
and no fetched message is still waiting for an agent, the partition is caught
up whatever markers trail its last record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

TP = Any  # faust.types.TP; kept abstract so this module stays free of Faust


class Progress:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[TP, int] = {}
        self._moved_at: dict[TP, float] = {}

    def start(self, tps: Iterable[TP]) -> None:
        """Partitions just assigned: their clock starts now, positions unknown."""
        now = self._clock()
        for tp in tps:
            self._next.pop(tp, None)
            self._moved_at[tp] = now

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._next.pop(tp, None)
            self._moved_at.pop(tp, None)

    def advance(self, tp: TP, next_offset: int) -> None:
        if self._next.get(tp) != next_offset:
            self._next[tp] = next_offset
            self._moved_at[tp] = self._clock()

    def position(self, tp: TP) -> int | None:
        return self._next.get(tp)

    def lag(
        self, tp: TP, stable_end: int | None, fetched_to: int | None, waiting: bool
    ) -> int | None:
        """Messages not yet processed; None while the end is not known."""
        if stable_end is None or stable_end < 0:
            return None
        done = self._next.get(tp)
        if fetched_to is not None and not waiting:
            done = fetched_to if done is None else max(done, fetched_to)
        if done is None:
            return None
        return max(0, stable_end - done)

    def idle_for(self, tp: TP) -> float:
        moved = self._moved_at.get(tp)
        return 0.0 if moved is None else self._clock() - moved

    def stalled(self, tp: TP, lag: int | None, after: float) -> bool:
        return bool(lag) and self.idle_for(tp) > after
