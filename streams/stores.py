"""The lead table's stores: RocksDB placed by lead id, memory restored at Kafka's speed.

Faust's RocksDB store picks the partition database from the event being
processed, and a batch has no single one. Leadflow knows each key's partition
(Kafka's partitioner on the lead id, the same one that routed the lead's events),
so it computes it. Registered as the `leadrocks://` store URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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
        # Every assigned partition, kept ones too: Kafka revokes them all at the start
        # of a rebalance and the worker rebuilds every ledger, and only the changelog
        # is sure to hold what another owner wrote in between.
        changelog = self.table.changelog_topic_name
        self._offsets.clear()
        self._clear()
        self._key_partition.clear()
        owned = {tp.partition for tp in assigned if tp.topic == changelog}
        reached = await read_changelog(_connection(self.app), changelog, owned, self._apply)
        for partition, offset in reached.items():
            self._offsets[TP(changelog, partition)] = offset

    def drain(self) -> Iterator[tuple[bytes, bytes]]:
        """Hand over every stored state, freeing each as it goes."""
        data = self.data
        while data:
            yield data.popitem()
        data.clear()  # also releases the hash table
        self._key_partition.clear()

    def _apply(self, partition: int, records: list[Any]) -> None:
        # No key -> partition index: the worker places leads by their id.
        data = self.data
        for record in records:
            if record.value is None:
                data.pop(record.key, None)
            else:
                data[record.key] = record.value


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
