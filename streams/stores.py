"""The lead table's stores: RocksDB placed by lead id, memory restored at Kafka's speed.

Faust's RocksDB store picks the partition database from the event being
processed, and a batch has no single one. Leadflow knows each key's partition
(Kafka's partitioner on the lead id, the same one that routed the lead's events),
so it computes it. Registered as the `leadrocks://` store URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from faust.stores import STORES
from faust.stores.memory import Store as MemoryStore
from faust.stores.rocksdb import Store as RocksDBStore
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list
from faust.types import TP, EventT

from streams.partitioning import lead_partition
from streams.restore import read_changelog

SCHEME = "leadrocks"
MEMORY_SCHEME = "leadmemory"


class LeadRocksDBStore(RocksDBStore):
    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = lead_partition(key.decode(), self.table.partitions)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)


class LeadMemoryStore(MemoryStore):
    """Faust's in-memory store, restored by reading the changelog directly.

    On assignment, the newly owned changelog partitions are read by a consumer of
    their own (`streams.restore`), an order of magnitude faster than Faust's
    recovery. The store then reports the offsets it reached, and the offsets of the
    batches the worker writes, as persisted: Faust's recovery reads only what came
    after them, as it does for a RocksDB store. Registered as `leadmemory://`.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._offsets: dict[TP, int] = {}

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
            self.set_persisted_offset(event.message.tp, event.message.offset)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        changelog = self.table.changelog_topic_name
        for tp in revoked:
            self._offsets.pop(tp, None)
        fresh = {tp.partition for tp in newly_assigned if tp.topic == changelog}
        if not fresh:
            return
        self._forget(fresh)  # what an earlier ownership of these partitions left
        reached = await read_changelog(_connection(self.app), changelog, fresh, self._apply)
        for partition, offset in reached.items():
            self._offsets[TP(changelog, partition)] = offset

    def _apply(self, partition: int, records: list[Any]) -> None:
        data, placed = self.data, self._key_partition
        for record in records:
            if record.value is None:
                data.pop(record.key, None)
                placed.pop(record.key, None)
            else:
                data[record.key] = record.value
                placed[record.key] = partition

    def _forget(self, partitions: set[int]) -> None:
        stale = [key for key, partition in self._key_partition.items() if partition in partitions]
        for key in stale:
            self.data.pop(key, None)
            del self._key_partition[key]


def _connection(app: Any) -> dict[str, Any]:
    """The connection Faust's own consumer uses (servers, TLS, SASL)."""
    conf = app.conf
    return {
        "bootstrap_servers": server_list(conf.broker, 9092),
        "client_id": f"{conf.broker_client_id}-restore",
        "request_timeout_ms": int(conf.broker_request_timeout * 1000),
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    }


def register() -> None:
    STORES.aliases.setdefault(SCHEME, f"{__name__}:LeadRocksDBStore")
    STORES.aliases.setdefault(MEMORY_SCHEME, f"{__name__}:LeadMemoryStore")
