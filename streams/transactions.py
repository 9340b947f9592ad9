"""Kafka transactions that make a stale owner harmless.

Each unit a worker owns (`streams.outbox`) has its own transactional producer,
with a transactional id fixed by the unit: `<app>-lead-<p>`. Starting that producer
registers the id with Kafka's transaction coordinator, which bumps its epoch and
aborts whatever an earlier producer with the same id left open. From then on the
earlier owner, typically a worker paused past its session that has just woken up,
is *fenced*: every write or commit it attempts fails with `ProducerFenced`, and
what it had written since its last commit is aborted, so `read_committed`
readers (the restore, the by-lead consumer, the dead-letter reader) never see it.

Everything a unit produced since its last commit (lead states for the changelog,
forwards to the by-lead topic, dead letters, and the input offsets consumed) goes
into one transaction, so state and offsets move together: whoever restores a
partition restores exactly the state that its committed offsets account for.
(This is Kafka's exactly-once design with one producer per input partition,
KIP-98; aiokafka does not speak the group-generation fencing of KIP-447.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
    UnknownProducerId,
)

from streams.faust_adapter import transaction_failed_fatally
from streams.outbox import Outbox, OutRecord, Pending, Unit

log = logging.getLogger("leadflow.transactions")

_FENCED = (
    ProducerFenced,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    UnknownProducerId,
    TransactionalIdAuthorizationFailed,
)
_MAX_BATCH_BYTES = 1024 * 1024


class RecordTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Committed:
    """What one successful transaction delivered, for telemetry and local state."""

    unit: Unit
    snapshot: Pending
    states: list[tuple[bytes, bytes]]
    changelog_last_offset: int | None  # offset of the last state record, if any


# Callbacks the worker supplies.
EncodeStates = Callable[[Unit, set[str]], list[tuple[bytes, bytes]]]
OnCommitted = Callable[[Committed], None]
OnLost = Callable[[Unit, BaseException], Awaitable[None]]
OnFailed = Callable[[Unit, BaseException], None]


class Transactions:
    def __init__(
        self,
        *,
        connection: Mapping[str, Any],
        app_id: str,
        group_id: str,
        changelog_topic: str,
        outbox: Outbox,
        encode_states: EncodeStates,
        on_committed: OnCommitted,
        on_lost: OnLost,
        on_failed: OnFailed = lambda unit, error: None,
        interval: float = 0.1,
        max_pending: int = 50_000,
    ) -> None:
        self._connection = dict(connection)
        self._app_id = app_id
        self._group_id = group_id
        self._changelog = changelog_topic
        self.outbox = outbox
        self._encode_states = encode_states
        self._on_committed = on_committed
        self._on_lost = on_lost
        self._on_failed = on_failed
        self._interval = interval
        self._max_pending = max_pending
        self._producers: dict[Unit, AIOKafkaProducer] = {}
        self._locks: dict[Unit, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._room = asyncio.Event()
        self._room.set()
        self.failures = 0  # transactions that failed without fencing (retried)
        self.last_failure: str | None = None

    # -- ownership ---------------------------------------------------------------------

    def transactional_id(self, unit: Unit) -> str:
        return f"{self._app_id}-{unit.transactional_suffix}"

    async def acquire(self, units: Iterable[Unit]) -> None:
        """Register a producer for each unit, fencing any earlier owner, then own it."""
        wanted = [unit for unit in sorted(set(units)) if unit not in self._producers]
        await asyncio.gather(*(self._start(unit) for unit in wanted))

    async def _start(self, unit: Unit) -> None:
        producer = AIOKafkaProducer(
            **{**self._connection, "client_id": f"{self._app_id}-{unit.transactional_suffix}"},
            transactional_id=self.transactional_id(unit),
            max_batch_size=_MAX_BATCH_BYTES,
            linger_ms=0,
        )
        async with self._locks[unit]:
            # start() waits for the producer id: the coordinator has fenced the
            # previous holder of this transactional id and settled its transaction.
            await producer.start()
            self._producers[unit] = producer
            self.outbox.open(unit)

    async def release(self, units: Iterable[Unit], *, commit: bool, timeout: float) -> None:
        """Give units up (a rebalance took them): commit what is staged if asked, then stop."""
        chosen = [unit for unit in set(units) if unit in self._producers]
        if commit:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self.commit(unit) for unit in chosen)), timeout
                )
            except TimeoutError:
                log.warning("releasing %s: commit did not finish in %.0f s", chosen, timeout)
        await asyncio.gather(*(self._stop(unit) for unit in chosen))

    async def _stop(self, unit: Unit) -> None:
        self.outbox.close(unit)
        producer = self._producers.pop(unit, None)
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except Exception:  # a fenced or broken producer may not stop cleanly
                log.debug("stopping producer of %s", unit, exc_info=True)

    @property
    def owned(self) -> set[Unit]:
        return set(self._producers)

    # -- committing --------------------------------------------------------------------

    async def run(self) -> None:
        """Commit every unit's staged output every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            await self.commit_all()

    async def commit_all(self) -> None:
        units = [unit for unit, pending in self.outbox.units.items() if not pending.empty]
        if units:
            await asyncio.gather(*(self.commit(unit) for unit in units))
        self._update_room()

    async def room(self) -> None:
        """Wait while some unit has more staged than one transaction should carry."""
        self._update_room()
        await self._room.wait()

    def _update_room(self) -> None:
        if self.outbox.largest >= self._max_pending:
            self._room.clear()
        else:
            self._room.set()

    async def commit(self, unit: Unit) -> bool:
        async with self._locks[unit]:
            producer = self._producers.get(unit)
            pending = self.outbox.get(unit)
            if producer is None or pending is None or pending.empty:
                return False
            snapshot = self.outbox.take(unit)
            # Encoded now, synchronously: exactly the state the snapshot's offsets reach.
            states = self._encode_states(unit, snapshot.dirty) if snapshot.dirty else []
            try:
                last = await self._transact(producer, unit, snapshot, states)
            except Exception as error:
                if isinstance(error, _FENCED) or transaction_failed_fatally(producer):
                    log.warning(
                        "%s: fenced (%s): another worker owns it now; dropping its state",
                        unit,
                        type(error).__name__,
                    )
                    await self._stop(unit)
                    await self._on_lost(unit, error)
                    return False
                self.failures += 1
                self._on_failed(unit, error)
                self.last_failure = f"{type(error).__name__}: {error}"
                log.warning("%s: transaction failed, retrying: %s", unit, self.last_failure)
                try:
                    await producer.abort_transaction()
                except Exception as abort_error:
                    log.warning("%s: abort failed (%s); giving the unit up", unit, abort_error)
                    await self._stop(unit)
                    await self._on_lost(unit, abort_error)
                    return False
                self.outbox.give_back(unit, snapshot)
                await asyncio.sleep(min(1.0, 0.1 * self.failures))
                return False
        self.failures = 0
        self._on_committed(Committed(unit, snapshot, states, last))
        return True

    async def _transact(
        self,
        producer: AIOKafkaProducer,
        unit: Unit,
        snapshot: Pending,
        states: list[tuple[bytes, bytes]],
    ) -> int | None:
        await producer.begin_transaction()
        records = [OutRecord(self._changelog, unit.partition, k, v) for k, v in states]
        records.extend(snapshot.records)
        delivered = await _send(producer, records)
        offsets = {TopicPartition(tp.topic, tp.partition): o for tp, o in snapshot.offsets.items()}
        if offsets:
            await producer.send_offsets_to_transaction(offsets, self._group_id)
        await producer.commit_transaction()
        last = None
        for (topic, _partition), future, count in delivered:
            if topic == self._changelog:
                end = future.result().offset + count - 1
                last = end if last is None else max(last, end)
        return last


async def _send(
    producer: AIOKafkaProducer, records: list[OutRecord]
) -> list[tuple[tuple[str, int], asyncio.Future[Any], int]]:
    """Append records to as few record batches as fit; (tp, delivery future, count) each."""
    grouped: dict[tuple[str, int], list[OutRecord]] = defaultdict(list)
    for record in records:
        grouped[(record.topic, record.partition)].append(record)
    sent: list[tuple[tuple[str, int], asyncio.Future[Any], int]] = []
    for (topic, partition), items in grouped.items():
        batch, count = producer.create_batch(), 0
        for record in items:
            headers = list(record.headers)
            if batch.append(key=record.key, value=record.value, timestamp=None, headers=headers):
                count += 1
                continue
            if count == 0:
                raise RecordTooLarge(f"a record of {len(record.value)} bytes for {topic}")
            sent.append(
                (
                    (topic, partition),
                    await producer.send_batch(batch, topic, partition=partition),
                    count,
                )
            )
            batch, count = producer.create_batch(), 0
            if (
                batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
                is None
            ):
                raise RecordTooLarge(f"a record of {len(record.value)} bytes for {topic}")
            count = 1
        if count:
            sent.append(
                (
                    (topic, partition),
                    await producer.send_batch(batch, topic, partition=partition),
                    count,
                )
            )
    await asyncio.gather(*(future for _, future, _ in sent))
    return sent
