"""The Faust application: topics, the lead table, the two agents and `/metrics`.

Flow: `ingest` decodes every message from the events topic. Bad ones go to the
dead-letter topic. Good ones whose message already sits on their lead's partition
are folded at once; the others are forwarded, keyed by lead, to the by-lead topic,
whose agent folds them. Both topics and the table's changelog have the same
partition count, so Faust assigns partition p of all three to one worker: a lead's
state lives on exactly one worker whatever key the producer used.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP, EventT
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from events import Event, Rejection, decode, now_micros
from events.batch import split_batch
from leadflow.settings import Settings, StoreKind
from projections import BatchResult, Funnel
from projections.exposition import render
from streams import stores
from streams.changelog import ChangelogWriter, LocalState, MemoryState, RocksDBState
from streams.deadletter import Origin, dead_letter_headers
from streams.ledgers import PartitionLedgers, encode_state
from streams.partitioning import lead_partition
from streams.security import faust_credentials
from streams.telemetry import Telemetry
from streams.topics import TopicPlan, plan

log = logging.getLogger("leadflow.worker")
_RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclass
class Worker:
    """Everything one worker process runs; built by `create_worker`."""

    app: faust.App
    settings: Settings
    funnel: Funnel
    topics: TopicPlan
    ledgers: PartitionLedgers
    telemetry: Telemetry
    events_copartitioned: bool
    next_offsets: dict[TP, int] = field(default_factory=dict)
    ready: bool = False  # partitions assigned and state restored at least once


# Faust's RocksDB defaults are sized for a server of its own: a 2 GiB block cache and
# three 64 MiB write buffers *per partition database*. The ledgers already hold every
# live lead in memory and the store is only read on restore, so small buffers do.
MIB = 1024 * 1024
ROCKSDB_OPTIONS = {
    "write_buffer_size": 16 * MIB,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * MIB,
}


def create_worker(settings: Settings, funnel: Funnel, events_partitions: int) -> Worker:
    """Assemble the app; `events_partitions` is the events topic's real partition count."""
    topics = plan(settings)
    stores.register()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        store=f"{stores.SCHEME if settings.store is StoreKind.ROCKSDB else stores.MEMORY_SCHEME}://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout.total_seconds(),
        broker_heartbeat_interval=max(settings.session_timeout.total_seconds() / 5, 0.5),
        table_standby_replicas=0,
        web_enabled=True,
        web_bind=settings.metrics_host,
        web_port=settings.metrics_port,
        processing_guarantee="at_least_once",
        stream_buffer_maxsize=settings.stream_buffer,
    )
    worker = Worker(
        app=app,
        settings=settings,
        funnel=funnel,
        topics=topics,
        ledgers=PartitionLedgers(funnel, settings.partitions),
        telemetry=Telemetry(settings.partitions),
        events_copartitioned=events_partitions == settings.partitions,
    )
    _wire(worker)
    return worker


def _wire(worker: Worker) -> None:
    app, settings, topics = worker.app, worker.settings, worker.topics
    events_topic = app.topic(topics.events, **_RAW)
    by_lead_topic = app.topic(topics.by_lead, partitions=topics.partitions, **_RAW)
    dead_letter_topic = app.topic(topics.dead_letters, **_RAW)
    # use_partitioner: changelog partition = hash(lead id), the lead's partition, and
    # table writes are allowed from a batch (no single "current event" there).
    table = app.Table(
        "leads",
        default=None,
        partitions=topics.partitions,
        use_partitioner=True,
        key_type=bytes,  # bytes -> Faust's raw codec, for the changelog too
        value_type=bytes,
        options=ROCKSDB_OPTIONS if settings.store is StoreKind.ROCKSDB else None,
    )
    vocabulary = worker.funnel.vocabulary
    telemetry = worker.telemetry
    batch = settings.batch_size
    within = settings.batch_timeout.total_seconds()

    changelog_topic = table.changelog_topic.get_topic_name()
    local: LocalState = (
        RocksDBState(table, changelog_topic)
        if settings.store is StoreKind.ROCKSDB
        else MemoryState(table, changelog_topic)
    )
    changelog = ChangelogWriter(app, changelog_topic, local)

    async def fold(by_partition: dict[int, list[Event]]) -> None:
        for partition, events in by_partition.items():
            ledger = worker.ledgers.get(partition)
            if ledger is None:
                # Fetched before a rebalance took the partition away: its new owner
                # processes these events again from the last committed offset.
                telemetry.skipped.inc(len(events))
                continue
            result = ledger.apply(events)
            _count(telemetry, result)
            leads = ledger.leads
            await changelog.write(
                partition,
                ((lead_id.encode(), encode_state(leads[lead_id])) for lead_id in result.touched),
            )

    def mark(events: Sequence[EventT]) -> None:
        folded_at = time.time()
        observe = telemetry.ingest_latency.observe
        offsets = worker.next_offsets
        for event in events:
            message = event.message
            offsets[message.tp] = message.offset + 1
            if message.timestamp:
                observe(max(0.0, folded_at - message.timestamp))

    async def dead_letter(
        event: EventT, raw: bytes, rejection: Rejection, index: int | None = None
    ) -> None:
        message = event.message
        origin = Origin(message.topic, message.partition, message.offset, index)
        await dead_letter_topic.send(
            key=message.key, value=raw, headers=dead_letter_headers(rejection, origin)
        )
        telemetry.dead_lettered.labels(str(rejection.reason)).inc()
        log.warning("dead-lettered %s: %s", origin, rejection)

    @app.agent(events_topic, name="leadflow-ingest")
    async def ingest(stream: faust.Stream) -> None:
        async for events in stream.take_events(batch, within=within):
            now = now_micros()
            local: dict[int, list[Event]] = defaultdict(list)
            for event in events:
                message = event.message
                value = message.value or b""
                elements = split_batch(value)
                parts = [value] if elements is None else elements
                # A lead already in this partition's ledger lives here by construction;
                # only a lead's first event pays for hashing its id (pure-Python murmur2).
                here = (
                    worker.ledgers.get(message.partition) if worker.events_copartitioned else None
                )
                known = here.leads if here is not None else {}
                for index, part in enumerate(parts):
                    decoded = decode(part, vocabulary, now)
                    if isinstance(decoded, Rejection):
                        await dead_letter(event, part, decoded, None if elements is None else index)
                        continue
                    if decoded.lead_id in known:
                        local[message.partition].append(decoded)
                        continue
                    partition = lead_partition(decoded.lead_id, topics.partitions)
                    if worker.events_copartitioned and message.partition == partition:
                        local[partition].append(decoded)
                    else:
                        await by_lead_topic.send(
                            key=decoded.lead_id.encode(), value=part, partition=partition
                        )
                        telemetry.forwarded.inc()
            await fold(local)
            mark(events)

    @app.agent(by_lead_topic, name="leadflow-fold")
    async def fold_forwarded(stream: faust.Stream) -> None:
        async for events in stream.take_events(batch, within=within):
            now = now_micros()
            local: dict[int, list[Event]] = defaultdict(list)
            for event in events:
                raw = event.message.value or b""
                decoded = decode(raw, vocabulary, now)
                if isinstance(decoded, Rejection):  # only if the config changed in between
                    await dead_letter(event, raw, decoded)
                    continue
                local[event.message.partition].append(decoded)
            await fold(local)
            mark(events)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        worker.ledgers.revoke(
            {tp.partition for tp in revoked if tp.topic in (topics.events, topics.by_lead)}
        )
        worker.ready = False
        telemetry.ready.set(0)

    @table.on_recover
    async def restore() -> None:
        active = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.by_lead
        }
        store = table.data
        # The memory store is only a restore buffer: drained, each state is freed as
        # its lead object is built, which keeps the peak near the ledgers' own size.
        stored = (
            store.drain() if isinstance(store, stores.LeadMemoryStore) else store.partition_items()
        )
        restored = worker.ledgers.assign(active, stored)
        _settle_memory()
        telemetry.rebalances.inc()
        telemetry.partitions.set(len(active))
        telemetry.ready.set(1)
        worker.ready = True
        log.info(
            "owning lead partitions %s; %d leads restored from the changelog",
            sorted(active),
            restored,
        )

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        _refresh_gauges(worker)
        body = render(worker.ledgers.families()) + generate_latest(telemetry.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/status")
    async def status(web: Any, request: Any) -> Any:
        """Cheap progress for scripts and probes: no metrics export is computed."""
        return web.json(_status(worker, request.query.get("lead")))


def _settle_memory() -> None:
    """Keep the cyclic GC off the lead state, which holds no reference cycles.

    With millions of live lead objects, every full collection walks all of them (a
    pause of a second or more, a latency tail); frozen objects are skipped, and a
    higher first threshold makes collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _count(telemetry: Telemetry, result: BatchResult) -> None:
    for kind, count in result.processed.items():
        telemetry.processed.labels(str(kind)).inc(count)
    for kind, count in result.duplicates.items():
        telemetry.duplicates.labels(str(kind)).inc(count)


def _status(worker: Worker, lead: str | None) -> dict[str, Any]:
    telemetry = worker.telemetry
    report: dict[str, Any] = {
        "ready": worker.ready,
        "partitions": sorted(worker.ledgers.by_partition),
        "leads": worker.ledgers.lead_count,
        "latest_event_ts": worker.ledgers.latest_event_ts,
        "processed": _total(telemetry.processed),
        "duplicates": _total(telemetry.duplicates),
        "dead_lettered": _total(telemetry.dead_lettered),
        "forwarded": _total(telemetry.forwarded),
    }
    if lead is not None:
        ledger = worker.ledgers.by_partition.get(lead_partition(lead, worker.ledgers.partitions))
        report["lead_known"] = ledger is not None and lead in ledger.leads
    return report


def _total(counter: Any) -> float:
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def _refresh_gauges(worker: Worker) -> None:
    telemetry = worker.telemetry
    telemetry.leads.set(worker.ledgers.lead_count)
    latest = worker.ledgers.latest_event_ts
    if latest is not None:
        telemetry.last_event.set(latest / 1e6)
        telemetry.event_time_lag.set(max(0.0, (now_micros() - latest) / 1e6))
    consumer = worker.app.consumer
    for tp in consumer.assignment():
        if tp.topic not in (worker.topics.events, worker.topics.by_lead):
            continue
        highwater = consumer.highwater(tp)
        position = worker.next_offsets.get(tp)
        if highwater is None:
            continue
        if position is None:
            committed = consumer._committed_offset.get(tp)  # last durable position
            position = committed if committed is not None else highwater
        telemetry.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
