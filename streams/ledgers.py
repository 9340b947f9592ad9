"""One Ledger per owned partition, so a rebalance moves leads without recounting."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from events import now_micros
from projections import (
    Calendar,
    Family,
    Funnel,
    History,
    LeadState,
    Ledger,
    additive_export,
    export,
    instant_families,
    merge_totals,
)
from projections.exposition import render


def encode_state(state: LeadState) -> bytes:
    return orjson.dumps(state.to_wire())


def decode_state(raw: bytes) -> LeadState:
    return LeadState.from_wire(orjson.loads(raw))


class PartitionLedgers:
    def __init__(self, funnel: Funnel, partitions: int) -> None:
        self.funnel = funnel
        self.partitions = partitions
        self.calendar = Calendar(funnel.timezone)
        self.by_partition: dict[int, Ledger] = {}
        # The rendered additive series and what they were rendered from: with the kept
        # history they are most of a scrape's cost, and they change only with the
        # leads' totals or the as-of day.
        self._additive: tuple[object, bytes] | None = None

    def get(self, partition: int) -> Ledger | None:
        """The ledger of a partition this worker owns now, else None."""
        return self.by_partition.get(partition)

    def revoke(self, partitions: set[int]) -> None:
        """Forget partitions the moment Kafka takes them away.

        A batch fetched before a rebalance can still be in the stream's buffer; its
        events for revoked partitions must not be folded here (the new owner
        reprocesses them: commits for revoked partitions are discarded).
        """
        for partition in partitions:
            self.by_partition.pop(partition, None)

    def assign(self, active: set[int], stored: Iterable[tuple[int, bytes, bytes]]) -> int:
        """Own exactly `active`; rebuild newly owned partitions from durable state.

        `stored` yields (partition, lead id, state) as the store holds them. Returns
        how many leads were restored. A partition revoked and assigned again is
        rebuilt too: another worker may have owned it in between.
        """
        self.revoke(set(self.by_partition) - active)
        fresh = active - set(self.by_partition)
        restored = 0
        if fresh:
            ledgers = {partition: Ledger(self.funnel, self.calendar) for partition in fresh}
            for partition, key, value in stored:
                ledger = ledgers.get(partition)
                if ledger is not None and value:
                    ledger.leads[key.decode()] = decode_state(value)
                    restored += 1
            for ledger in ledgers.values():
                ledger.rebuild()
            self.by_partition.update(ledgers)
        return restored

    @property
    def latest_event_ts(self) -> int | None:
        stamps = [
            ledger.latest_event_ts
            for ledger in self.by_partition.values()
            if ledger.latest_event_ts is not None
        ]
        return max(stamps) if stamps else None

    @property
    def lead_count(self) -> int:
        return sum(len(ledger.leads) for ledger in self.by_partition.values())

    def families(self) -> list[Family]:
        """What this worker exports now: the live window of its leads' metrics."""
        now = now_micros()
        latest = self.latest_event_ts
        as_of = max(now, latest) if latest is not None else now
        totals = merge_totals(ledger.totals for ledger in self.by_partition.values())
        return export(totals, self.funnel, self.calendar, as_of, History.LIVE, derived=False)

    def exposition(self) -> bytes:
        """`families()` in the text format; the additive part is re-rendered only when
        a ledger changed or the as-of day moved on."""
        now = now_micros()
        latest = self.latest_event_ts
        as_of = max(now, latest) if latest is not None else now
        ledgers = sorted(self.by_partition.items())
        key = (
            tuple((partition, ledger.version) for partition, ledger in ledgers),
            self.calendar.day_of(as_of),
        )
        totals = merge_totals(ledger.totals for _, ledger in ledgers)
        if self._additive is None or self._additive[0] != key:
            families = additive_export(totals, self.funnel, self.calendar, as_of)
            self._additive = (key, render(families))
        instant = instant_families(totals, self.funnel, self.calendar, as_of)
        return self._additive[1] + render(instant)
