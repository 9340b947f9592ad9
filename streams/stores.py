"""The lead table's stores: RocksDB placed by lead id, memory restored at Kafka's speed.

Faust's RocksDB store picks the partition database from the event being
processed, and a batch has no single one. Leadflow knows each key's partition
(Kafka's partitioner on the lead id, the same one that routed the lead's events),
so it computes it. Registered as the `leadrocks://` store URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiokafka.errors import KafkaError
from faust.stores import STORES
from faust.types import TP, EventT

from streams.faust_adapter import PartitionedMemoryStore, PlacedRocksDBStore, aiokafka_connection
from streams.partitioning import lead_partition
from streams.restore import RestoreStalled, read_changelog

SCHEME = "leadrocks"
MEMORY_SCHEME = "leadmemory"

log = logging.getLogger(__name__)


class LeadRocksDBStore(PlacedRocksDBStore):
    def partition_of(self, key: bytes) -> int:
        return lead_partition(key.decode(), self.table.partitions)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        await _before_restore(self.app, assigned)
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        # The local databases may lag the changelog (another worker owned a partition
        # meanwhile, or this one crashed after a commit): read the committed tail.
        changelog = self.table.changelog_topic_name
        owned = {tp.partition for tp in assigned if tp.topic == changelog}
        start = {}
        for partition in owned:
            offset = self.persisted_offset(TP(changelog, partition))
            start[partition] = 0 if offset is None else offset + 1

        def apply(partition: int, records: list[Any]) -> None:
            db = self.partition_db(partition)
            for record in records:
                if record.value is None:
                    db.delete(record.key)
                else:
                    db.put(record.key, record.value)

        ends = await _read_until_done(self.app, changelog, owned, apply, start)
        for partition, end in ends.items():
            self.set_persisted_offset(TP(changelog, partition), end - 1)

    def partition_items(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(partition, lead id, state) of the active partitions, read per database."""
        topic = self.table.changelog_topic_name
        actives = self.app.assignor.assigned_actives()
        for partition, db in self.open_partition_dbs():
            if TP(topic, partition) in actives:
                for key, value in self.visible_items(db):
                    yield partition, key, value


class LeadMemoryStore(PartitionedMemoryStore):
    """A restore buffer in front of the ledgers, filled straight from the changelog.

    The ledgers hold each lead's state as objects; keeping the same states again as
    bytes here would double the memory per lead. So between rebalances this store is
    empty: on every assignment it reads the assigned changelog partitions with a
    consumer of its own (`streams.restore`, an order of magnitude faster than
    Faust's recovery), the worker drains it into fresh ledgers, and it is empty
    again. It reports the offsets it reached, and those of the batches the worker
    writes, as persisted: Faust's recovery reads only what came after them (nothing,
    unless the fast read stalled). Registered as `leadmemory://`.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._offsets: dict[TP, int] = {}
        # What the fast read got, per partition; Faust's recovery of anything after
        # it lands in `data` (with `key_partitions`), as in its own memory store.
        self._read: dict[int, dict[bytes, bytes]] = {}

    def persisted_offset(self, tp: TP) -> int | None:
        return self._offsets.get(tp)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        if offset > self._offsets.get(tp, -1):
            self._offsets[tp] = offset

    def apply_changelog_batch(
        self, batch: Iterable[EventT], to_key: Callable[[Any], Any], to_value: Callable[[Any], Any]
    ) -> None:
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        for event in events:
            message = event.message
            if message.value is None:  # a tombstone also removes what the fast read got
                self._read.get(message.partition, {}).pop(message.key, None)
            self.set_persisted_offset(message.tp, message.offset)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        # Every assigned partition, kept ones too: Kafka revokes them all at the start
        # of a rebalance and the worker rebuilds every ledger, and only the changelog
        # is sure to hold what another owner wrote in between.
        await _before_restore(self.app, assigned)
        changelog = self.table.changelog_topic_name
        self._offsets.clear()
        self._read.clear()
        self.clear_all()
        owned = {tp.partition for tp in assigned if tp.topic == changelog}

        def apply(partition: int, records: list[Any]) -> None:
            self._apply(partition, records)

        ends = await _read_until_done(self.app, changelog, owned, apply, None, self._read.clear)
        for partition, end in ends.items():
            self._offsets[TP(changelog, partition)] = end - 1

    def drain(self) -> Iterator[tuple[int, bytes, bytes]]:
        """Hand over (partition, lead id, state), oldest source first, freeing as it goes."""
        for partition, values in self._read.items():
            while values:
                key, value = values.popitem()
                yield partition, key, value
        self._read.clear()
        tail, placed = self.data, self.key_partitions
        while tail:
            key, value = tail.popitem()
            yield placed[key], key, value
        tail.clear()  # also releases the hash tables
        placed.clear()

    def _apply(self, partition: int, records: list[Any]) -> None:
        values = self._read.setdefault(partition, {})
        for record in records:
            if record.value is None:
                values.pop(record.key, None)
            else:
                values[record.key] = record.value


async def _before_restore(app: Any, assigned: set[TP]) -> None:
    """The worker's hook: take ownership (fence earlier owners) before reading state."""
    hook = getattr(app, "leadflow_before_restore", None)
    if hook is not None:
        await hook(assigned)


async def _read_until_done(
    app: Any,
    changelog: str,
    owned: set[int],
    apply: Callable[[int, list[Any]], None],
    start: dict[int, int] | None,
    reset: Callable[[], None] | None = None,
) -> dict[int, int]:
    """Read the committed changelog of `owned` to its end, retrying if the broker stalls.

    There is no partial fallback: Faust's own recovery cannot finish on a changelog
    that ends in a transaction marker, and a worker must not start from half a state.
    """
    delay = 1.0
    while True:
        try:
            return await read_changelog(
                aiokafka_connection(app, "restore"), changelog, owned, apply, start=start
            )
        except (RestoreStalled, OSError, KafkaError) as error:
            log.warning("reading changelog %s failed (%s); reading again", changelog, error)
            if reset is not None:
                reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def register() -> None:
    STORES.aliases.setdefault(SCHEME, f"{__name__}:LeadRocksDBStore")
    STORES.aliases.setdefault(MEMORY_SCHEME, f"{__name__}:LeadMemoryStore")
