"""One Ledger per owned partition, so a rebalance moves leads without recounting."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from events import now_micros
from projections import Calendar, Family, Funnel, History, LeadState, Ledger, export, merge_totals
from streams.partitioning import lead_partition


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

    def ledger(self, partition: int) -> Ledger:
        ledger = self.by_partition.get(partition)
        if ledger is None:
            ledger = self.by_partition[partition] = Ledger(self.funnel, self.calendar)
        return ledger

    def assign(self, active: set[int], stored: Iterable[tuple[bytes, bytes]]) -> int:
        """Keep ledgers of partitions still owned, rebuild newly owned ones from storage.

        Returns how many leads were restored.
        """
        for partition in set(self.by_partition) - active:
            del self.by_partition[partition]
        fresh = active - set(self.by_partition)
        restored = 0
        if fresh:
            for partition in fresh:
                self.by_partition[partition] = Ledger(self.funnel, self.calendar)
            for key, value in stored:
                lead_id = key.decode()
                partition = lead_partition(lead_id, self.partitions)
                if partition in fresh and value:
                    self.by_partition[partition].leads[lead_id] = decode_state(value)
                    restored += 1
            for partition in fresh:
                self.by_partition[partition].rebuild()
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
        return export(totals, self.funnel, self.calendar, as_of, History.LIVE)
