"""A RocksDB table store that places each lead by its id, not by a "current event".

Faust's RocksDB store picks the partition database from the event being
processed, and a batch has no single one. Leadflow knows each key's partition
(Kafka's partitioner on the lead id, the same one that routed the lead's events),
so it computes it. Registered as the `leadrocks://` store URL.
"""

from __future__ import annotations

from faust.stores import STORES
from faust.stores.rocksdb import Store as RocksDBStore

from streams.partitioning import lead_partition

SCHEME = "leadrocks"


class LeadRocksDBStore(RocksDBStore):
    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = lead_partition(key.decode(), self.table.partitions)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)


def register() -> None:
    STORES.aliases.setdefault(SCHEME, f"{__name__}:LeadRocksDBStore")
