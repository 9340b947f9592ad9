"""Writing lead state to the table's changelog topic in record batches.

Faust's table API produces one record at a time through its own buffer, at tens
of microseconds each; a batch of events touches hundreds of leads. Appending to
aiokafka record batches through Faust's *own* producer costs a few microseconds a
record and keeps the guarantee that matters: Faust flushes that producer before
it commits offsets, so state is durable before the events that made it are
acknowledged. Faust still owns the topic and its recovery; the memory store reads
the topic back faster itself (`streams.stores`).

With RocksDB the same states also go to the table's own store, as Faust's table
writes would have put them (Faust trusts its store for partitions a worker keeps
across a rebalance), and the store's persisted changelog offset advances when Kafka
has the batch, so a restart reads only the changelog's tail. Local state newer than
the changelog is harmless: replayed events are recognised by id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

from faust.types import TP


class LocalState(Protocol):
    def put(self, partition: int, records: list[tuple[bytes, bytes]]) -> None: ...

    def persisted(self, partition: int, offset: int) -> None: ...


class MemoryState:
    """The memory store's part: persisted offsets only.

    Its values live in the ledgers; the store is refilled from the changelog on
    every assignment (`streams.stores.LeadMemoryStore`), so only the offsets Kafka
    has acknowledged are passed on, to tell Faust's recovery where the log ends.
    """

    def __init__(self, table: Any, changelog: str) -> None:
        self._table = table  # its store is created by Faust when the table starts
        self._changelog = changelog

    def put(self, partition: int, records: list[tuple[bytes, bytes]]) -> None:
        pass

    def persisted(self, partition: int, offset: int) -> None:
        self._table.data.set_persisted_offset(TP(self._changelog, partition), offset)


class RocksDBState:
    """The RocksDB store of Faust's lead table, written alongside the changelog."""

    def __init__(self, table: Any, changelog: str) -> None:
        self._table = table  # its store is created by Faust when the table starts
        self._changelog = changelog
        self._offsets: dict[int, int] = {}

    def put(self, partition: int, records: list[tuple[bytes, bytes]]) -> None:
        db = self._table.data._db_for_partition(partition)
        for key, value in records:
            db.put(key, value)

    def persisted(self, partition: int, offset: int) -> None:
        if offset > self._offsets.get(partition, -1):
            self._offsets[partition] = offset
            self._table.data.set_persisted_offset(TP(self._changelog, partition), offset)


class ChangelogWriter:
    def __init__(self, app: Any, topic: str, local: LocalState | None = None) -> None:
        self._app = app
        self.topic = topic
        self._local = local
        self.records = 0

    async def write(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        pending = list(records)
        if not pending:
            return
        if self._local is not None:
            self._local.put(partition, pending)
        producer = self._app.producer._ensure_producer()  # the aiokafka producer Faust flushes
        batch, count = producer.create_batch(), 0
        for key, value in pending:
            if batch.append(key=key, value=value, timestamp=None) is None:
                await self._send(producer, batch, partition, count)
                batch, count = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)
            count += 1
        await self._send(producer, batch, partition, count)
        self.records += len(pending)

    async def _send(self, producer: Any, batch: Any, partition: int, count: int) -> None:
        delivered: asyncio.Future[Any] = await producer.send_batch(
            batch, self.topic, partition=partition
        )
        local = self._local
        if local is not None:
            # The batch's last record is at base offset + count - 1 once Kafka has it.
            delivered.add_done_callback(
                lambda done: (
                    None
                    if done.cancelled() or done.exception()
                    else local.persisted(partition, done.result().offset + count - 1)
                )
            )
