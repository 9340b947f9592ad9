"""Reading a table's changelog partitions straight into memory.

Faust restores a table by streaming its changelog through the worker's consumer:
a Message object, a table event and several event-loop iterations per record, about
12,000 records/s on two cores, so over a minute for a million leads. A plain
aiokafka consumer fetching raw record batches reads the same partitions at
several hundred thousand records/s.

It reads `read_committed`: the changelog is written in transactions, and what a
fenced worker wrote before it was fenced is aborted and must never be restored.
The stores that use it then report the partition's end as persisted, so Faust's
own recovery (which assumes the last offset holds a record, not a transaction
marker) has nothing left to read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

# Big fetches: the changelog is read once, start to end, by a consumer of its own.
_FETCH_BYTES = 64 * 1024 * 1024
_PARTITION_FETCH_BYTES = 16 * 1024 * 1024


# Called with a partition and a fetched batch of its records, in offset order.
Apply = Callable[[int, list[Any]], None]


class RestoreStalled(RuntimeError):
    """The broker stopped answering mid-read; the caller starts the read again."""


async def read_changelog(
    connection: Mapping[str, Any],
    topic: str,
    partitions: Iterable[int],
    apply: Apply,
    *,
    start: Mapping[int, int] | None = None,
    stall_timeout: float = 30.0,
) -> dict[int, int]:
    """Feed `partitions` of `topic` to `apply`, from `start` (default: the beginning)
    to their current last stable offset.

    `connection` holds aiokafka's connection arguments (servers, security). Returns
    the end offset reached per partition (the offset after the last record or
    transaction marker). Raises RestoreStalled if the broker stops answering for
    `stall_timeout` seconds.
    """
    tps = [TopicPartition(topic, partition) for partition in sorted(set(partitions))]
    reached: dict[int, int] = {}
    if not tps:
        return reached
    consumer = AIOKafkaConsumer(
        **connection,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        fetch_max_bytes=_FETCH_BYTES,
        max_partition_fetch_bytes=_PARTITION_FETCH_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)  # last stable offsets, read_committed
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            if start and start.get(tp.partition, 0) > 0:
                consumer.seek(tp, min(start[tp.partition], ends[tp]))
        pending = {tp for tp in tps if ends[tp] > 0 and await consumer.position(tp) < ends[tp]}
        records = 0
        started = last_progress = time.monotonic()
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=500)
            for tp, batch in fetched.items():
                if not batch:
                    continue
                apply(tp.partition, batch)
                records += len(batch)
                last_progress = time.monotonic()
            for tp in list(pending):
                # The position, not the last record: compaction leaves offset gaps.
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if pending and time.monotonic() - last_progress > stall_timeout:
                raise RestoreStalled(f"changelog {topic}: no progress for {stall_timeout:.0f} s")
        elapsed = time.monotonic() - started
        log.info(
            "read %d changelog records of %s partitions %s in %.1f s (%.0f records/s)",
            records,
            topic,
            [tp.partition for tp in tps],
            elapsed,
            records / elapsed if elapsed > 0 else 0.0,
        )
    finally:
        await consumer.stop()
    return {tp.partition: ends[tp] for tp in tps}
