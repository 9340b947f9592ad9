"""Reading a table's changelog partitions straight into memory.

Faust restores a table by streaming its changelog through the worker's consumer:
a Message object, a table event and several event-loop iterations per record, about
12,000 records/s on two cores, so over a minute for a million leads. A plain
aiokafka consumer fetching raw record batches reads the same partitions at
several hundred thousand records/s. The store that uses this then reports the
offsets it reached, and Faust's own recovery reads only what came after them:
whatever this reader did not get to is still restored, just the slow way.
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


async def read_changelog(
    connection: Mapping[str, Any],
    topic: str,
    partitions: Iterable[int],
    apply: Apply,
    *,
    stall_timeout: float = 30.0,
) -> dict[int, int]:
    """Feed `partitions` of `topic` to `apply`, from the beginning to their current end.

    `connection` holds aiokafka's connection arguments (servers, security). Returns
    the last offset applied per partition (partitions with nothing read are left
    out). Should the broker stop answering for `stall_timeout` seconds, it returns
    what was read so far: the caller's fallback reads the rest.
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
        fetch_max_bytes=_FETCH_BYTES,
        max_partition_fetch_bytes=_PARTITION_FETCH_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        records = 0
        started = last_progress = time.monotonic()
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=500)
            for tp, batch in fetched.items():
                if not batch:
                    continue
                apply(tp.partition, batch)
                reached[tp.partition] = batch[-1].offset
                records += len(batch)
                last_progress = time.monotonic()
            for tp in list(pending):
                # The position, not the last record: compaction leaves offset gaps.
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if pending and time.monotonic() - last_progress > stall_timeout:
                log.warning(
                    "changelog %s: no progress for %.0f s; Faust recovery reads the rest",
                    topic,
                    stall_timeout,
                )
                break
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
    return reached
