"""The Faust application: topics, the lead table, the two agents and `/metrics`.

Flow: `ingest` decodes every message from the events topic. Bad ones are
dead-lettered. Good ones whose message already sits on their lead's partition are
folded at once; the others are forwarded, keyed by lead, to the by-lead topic,
whose agent folds them. Both topics and the table's changelog have the same
partition count, so Faust assigns partition p of all three to one worker: a lead's
state lives on exactly one worker whatever key the producer used.

Nothing an agent does reaches Kafka directly: it stages its output per partition
(`streams.processing`) and the committer sends each partition's output, with the
input offsets, in one Kafka transaction under a transactional id that belongs to
that partition (`streams.transactions`). A worker that has lost a partition
without knowing it (paused past its session, cut off from the group) is fenced
the moment the new owner takes the partition, and nothing it writes afterwards is
ever read.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from events import now_micros
from projections import Funnel
from projections.exposition import render
from projections.milestones import Milestones
from streams import faust_adapter, stores
from streams.lease import Lease
from streams.ledgers import PartitionLedgers, encode_state
from streams.milestone_settings import MilestoneSettings
from streams.milestones import MilestonePoster
from streams.outbox import Outbox, Unit
from streams.partitioning import lead_partition
from streams.processing import BatchProcessor, BatchStats
from streams.progress import Progress
from streams.security import faust_credentials
from streams.settings import StoreKind, WorkerSettings
from streams.telemetry import Telemetry
from streams.topics import TopicPlan, plan
from streams.transactions import Committed, Transactions

log = logging.getLogger("leadflow.worker")
_RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclass
class Worker:
    """Everything one worker process runs; built by `create_worker`."""

    app: faust.App
    settings: WorkerSettings
    funnel: Funnel
    topics: TopicPlan
    ledgers: PartitionLedgers
    telemetry: Telemetry
    events_copartitioned: bool
    outbox: Outbox = field(default_factory=Outbox)
    progress: Progress = field(default_factory=Progress)
    lease: Lease = field(default_factory=lambda: Lease(10.0))
    transactions: Transactions | None = None
    processor: BatchProcessor | None = None
    hooks: WorkerHooks | None = None
    restored: bool = False  # state restored for the current assignment
    stalled: set[TP] = field(default_factory=set)
    milestones: MilestonePoster | None = None

    @property
    def ready(self) -> bool:
        return self.restored and self.lease.valid

    def input_tps(self) -> set[TP]:
        wanted = (self.topics.events, self.topics.by_lead)
        return {tp for tp in self.app.consumer.assignment() if tp.topic in wanted}


# Faust's RocksDB defaults are sized for a server of its own: a 2 GiB block cache and
# three 64 MiB write buffers *per partition database*. The ledgers already hold every
# live lead in memory and the store is only read on restore, so small buffers do.
MIB = 1024 * 1024
ROCKSDB_OPTIONS = {
    "write_buffer_size": 16 * MIB,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * MIB,
}


def create_worker(
    settings: WorkerSettings,
    funnel: Funnel,
    events_partitions: int,
    milestone_settings: MilestoneSettings | None = None,
) -> Worker:
    """Assemble the app; `events_partitions` is the events topic's real partition count."""
    topics = plan(settings)
    stores.register()
    faust_adapter.register()
    session = settings.session_timeout.total_seconds()
    app = faust.App(
        settings.app_id,
        broker=faust_adapter.broker_urls(settings.kafka_bootstrap),
        broker_credentials=faust_credentials(settings),
        store=f"{stores.SCHEME if settings.store is StoreKind.ROCKSDB else stores.MEMORY_SCHEME}://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session,
        broker_heartbeat_interval=max(session / 5, 0.5),
        table_standby_replicas=0,
        web_enabled=True,
        web_bind=settings.metrics_host,
        web_port=settings.metrics_port,
        processing_guarantee="at_least_once",  # offsets: Leadflow's own transactions
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
        lease=Lease(session),
    )
    worker.milestones = _milestone_poster(worker, milestone_settings or MilestoneSettings())
    worker.processor = BatchProcessor(
        topics=topics,
        vocabulary=funnel.vocabulary,
        ledgers=worker.ledgers,
        outbox=worker.outbox,
        progress=worker.progress,
        events_copartitioned=worker.events_copartitioned,
        observe_latency=worker.telemetry.ingest_latency.observe,
        source_label=funnel.source_label,
        on_folded=worker.milestones.note_folded,
    )
    _wire(worker)
    return worker


def _milestone_poster(worker: Worker, milestone_settings: MilestoneSettings) -> MilestonePoster:
    def owned() -> dict[int, dict[str, Any]] | None:
        # The same rule as for the sums: only a restored owner with a valid lease.
        if not worker.ready:
            return None
        return {
            partition: ledger.leads for partition, ledger in worker.ledgers.by_partition.items()
        }

    return MilestonePoster(
        settings=milestone_settings,
        rules=Milestones(worker.funnel),
        app_id=worker.settings.app_id,
        partitions=worker.settings.partitions,
        owned=owned,
        registry=worker.telemetry.registry,
        instance=f"{socket.gethostname()}:{worker.settings.metrics_port}",
        runbook_base=milestone_settings.runbook_base_url,
    )


def units_of(worker: Worker, tps: set[TP]) -> set[Unit]:
    assert worker.processor is not None
    return {
        worker.processor.unit_for(tp.topic, tp.partition)
        for tp in tps
        if tp.topic in (worker.topics.events, worker.topics.by_lead)
    }


class WorkerHooks:
    """What the worker does when Faust or the committer calls it, as plain methods.

    A batch arrives, a transaction commits, a partition is lost, assigned, revoked or
    restored: each is a method over the `Worker`, so it can be called (and tested)
    without Kafka; `_wire` only registers them with Faust.
    """

    def __init__(self, worker: Worker, table: Any, changelog_topic: str) -> None:
        assert worker.processor is not None
        self.worker = worker
        self.processor = worker.processor
        self.telemetry = worker.telemetry
        self.table = table
        self.changelog_topic = changelog_topic

    @property
    def transactions(self) -> Transactions:
        assert self.worker.transactions is not None
        return self.worker.transactions

    def encode_states(self, unit: Unit, dirty: set[str]) -> list[tuple[bytes, bytes]]:
        ledger = self.worker.ledgers.get(unit.partition)
        if ledger is None:
            return []
        leads = ledger.leads
        return [(lead_id.encode(), encode_state(leads[lead_id])) for lead_id in dirty]

    async def stage_ingest(self, events: list[Any]) -> None:
        await self.transactions.room()
        _report(self.telemetry, self.processor.stage_ingest(events, now_micros()))

    async def stage_forwarded(self, events: list[Any]) -> None:
        await self.transactions.room()
        _report(self.telemetry, self.processor.stage_forwarded(events, now_micros()))

    def on_committed(self, done: Committed) -> None:
        telemetry, snapshot = self.telemetry, done.snapshot
        for kind, count in snapshot.processed.items():
            telemetry.processed.labels(kind).inc(count)
        for kind, count in snapshot.duplicates.items():
            telemetry.duplicates.labels(kind).inc(count)
        for reason, count in snapshot.dead_lettered.items():
            telemetry.dead_lettered.labels(reason).inc(count)
        telemetry.forwarded.inc(snapshot.forwarded)
        telemetry.transactions.inc()
        faust_adapter.note_committed(self.worker.app, snapshot.offsets)
        if (
            self.worker.settings.store is StoreKind.ROCKSDB
            and done.changelog_last_offset is not None
        ):
            store = self.table.data
            db = faust_adapter.rocksdb_for_partition(store, done.unit.partition)
            for key, value in done.states:
                db.put(key, value)
            # The commit marker follows the last record: Faust's "last offset" is it.
            store.set_persisted_offset(
                TP(self.changelog_topic, done.unit.partition), done.changelog_last_offset + 1
            )

    async def on_lost(self, unit: Unit, error: BaseException) -> None:
        worker = self.worker
        worker.ledgers.revoke({unit.partition} if unit.kind == "lead" else set())
        self.telemetry.fenced.inc()
        self.telemetry.partitions.set(len(worker.ledgers.by_partition))
        # A new generation gives the partition back if the group still wants us to
        # have it; a stale owner was about to rejoin anyway.
        faust_adapter.request_rejoin(worker.app)

    async def before_restore(self, assigned: set[TP]) -> None:
        """Called by the store on every assignment, before it reads the changelog."""
        worker, transactions = self.worker, self.transactions
        worker.lease.renew(time.monotonic())  # the group has just synced with us
        faust_adapter.watch_heartbeats(worker.app, worker.lease.renew)
        units = units_of(worker, assigned)
        stale = transactions.owned - units
        await transactions.release(stale, commit=False, timeout=0)
        await transactions.acquire(units)
        inputs = (worker.topics.events, worker.topics.by_lead)
        worker.progress.start(tp for tp in assigned if tp.topic in inputs)

    async def on_revoked(self, revoked: set[TP]) -> None:
        worker = self.worker
        worker.restored = False
        self.telemetry.ready.set(0)
        units = units_of(worker, revoked)
        # Still a member of the group here (eager rebalancing): what is staged is ours
        # to commit. A stale owner's attempt is fenced, and that is fine too.
        session = worker.settings.session_timeout.total_seconds()
        await self.transactions.release(units, commit=True, timeout=session / 2)
        worker.ledgers.revoke({unit.partition for unit in units if unit.kind == "lead"})
        worker.progress.forget(revoked)

    def restore(self, active: set[int]) -> int:
        """Rebuild the ledgers of the `active` lead partitions from the store; leads restored."""
        worker, store = self.worker, self.table.data
        # The memory store is only a restore buffer: drained, each state is freed as
        # its lead object is built, which keeps the peak near the ledgers' own size.
        stored = (
            store.drain() if isinstance(store, stores.LeadMemoryStore) else store.partition_items()
        )
        restored = worker.ledgers.assign(active, stored)
        _settle_memory()
        self.telemetry.rebalances.inc()
        self.telemetry.partitions.set(len(active))
        worker.restored = True
        return restored

    def metrics_body(self) -> bytes:
        worker = self.worker
        _refresh_gauges(worker)
        if not worker.ready:
            return generate_latest(self.telemetry.registry)
        # The additive series are rendered once per change of the totals (cached).
        series = worker.ledgers.exposition()
        if worker.milestones is not None:
            series += render([worker.milestones.family()])
        return series + generate_latest(self.telemetry.registry)


def _wire(worker: Worker) -> None:
    """Register the worker's hooks with Faust: topics, the table, agents, timers, pages."""
    app, settings, topics = worker.app, worker.settings, worker.topics
    events_topic = app.topic(topics.events, **_RAW)
    by_lead_topic = app.topic(topics.by_lead, partitions=topics.partitions, **_RAW)
    app.topic(topics.dead_letters, **_RAW)
    # use_partitioner: changelog partition = hash(lead id), the lead's partition.
    table = app.Table(
        "leads",
        default=None,
        partitions=topics.partitions,
        use_partitioner=True,
        key_type=bytes,  # bytes -> Faust's raw codec, for the changelog too
        value_type=bytes,
        options=ROCKSDB_OPTIONS if settings.store is StoreKind.ROCKSDB else None,
    )
    batch = settings.batch_size
    within = settings.batch_timeout.total_seconds()
    hooks = worker.hooks = WorkerHooks(worker, table, table.changelog_topic.get_topic_name())
    worker.transactions = Transactions(
        connection=faust_adapter.aiokafka_connection(app, "txn"),
        app_id=settings.app_id,
        group_id=faust_adapter.group_id(app),
        changelog_topic=hooks.changelog_topic,
        outbox=worker.outbox,
        encode_states=hooks.encode_states,
        on_committed=hooks.on_committed,
        on_lost=hooks.on_lost,
        on_failed=lambda unit, error: worker.telemetry.errors.inc(),
        interval=settings.commit_interval.total_seconds(),
    )
    app.leadflow_before_restore = hooks.before_restore  # type: ignore[attr-defined]

    @app.agent(events_topic, name="leadflow-ingest")
    async def ingest(stream: faust.Stream) -> None:
        async for events in stream.take_events(batch, within=within):
            await hooks.stage_ingest(events)

    @app.agent(by_lead_topic, name="leadflow-fold")
    async def fold_forwarded(stream: faust.Stream) -> None:
        async for events in stream.take_events(batch, within=within):
            await hooks.stage_forwarded(events)

    @app.task
    async def commit_loop() -> None:
        await hooks.transactions.run()

    @app.task
    async def milestone_loop() -> None:
        if worker.milestones is not None:
            await worker.milestones.run()

    @app.timer(interval=2.0)
    async def watchdog() -> None:
        _watch(worker)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        await hooks.on_revoked(revoked)

    @table.on_recover
    async def restore() -> None:
        active = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.by_lead
        }
        restored = hooks.restore(active)
        # On stderr whatever the log level: the line a newcomer waits for.
        print(
            f"leadflow worker: ready, owning lead partitions {sorted(active)}; "
            f"{restored} leads restored from the changelog",
            file=sys.stderr,
            flush=True,
        )

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(hooks.metrics_body(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/status")
    async def status(web: Any, request: Any) -> Any:
        """Cheap progress for scripts and probes: no metrics export is computed."""
        return web.json(_status(worker, request.query.get("lead")))


def _report(telemetry: Telemetry, stats: BatchStats) -> None:
    if stats.skipped:
        telemetry.skipped.inc(stats.skipped)
    if stats.unlisted_sources:
        telemetry.unlisted_sources.inc(stats.unlisted_sources)
    if stats.dead_lettered:
        log.warning(
            "dead-lettering %d message(s) (%s), e.g. %s",
            stats.dead_lettered.total(),
            ", ".join(f"{reason} {count}" for reason, count in stats.dead_lettered.most_common()),
            stats.first_rejection,
        )


def _watch(worker: Worker) -> None:
    """Find input partitions that have work waiting and make no progress."""
    settings = worker.settings
    after = settings.stall_timeout.total_seconds()
    if not worker.ready:
        worker.stalled.clear()
        worker.telemetry.stalled.set(0)
        return
    stalled = {tp for tp, lag in _lags(worker).items() if worker.progress.stalled(tp, lag, after)}
    newly = stalled - worker.stalled
    worker.stalled = stalled
    worker.telemetry.stalled.set(len(stalled))
    if newly:
        log.error(
            "no progress for %.0f s on %s with messages waiting; asking the group to "
            "assign partitions afresh",
            after,
            sorted(f"{tp.topic}:{tp.partition}" for tp in newly),
        )
        worker.telemetry.stream_restarts.inc()
        faust_adapter.request_rejoin(worker.app)
    for tp in stalled:
        if worker.progress.idle_for(tp) > 3 * after:
            log.critical(
                "%s:%d still stuck after %.0f s; exiting so a supervisor restarts the worker",
                tp.topic,
                tp.partition,
                3 * after,
            )
            logging.shutdown()
            os._exit(3)


def _settle_memory() -> None:
    """Keep the cyclic GC off the lead state, which holds no reference cycles.

    With millions of live lead objects, every full collection walks all of them (a
    pause of a second or more, a latency tail); frozen objects are skipped, and a
    higher first threshold makes collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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
        "stalled": sorted(f"{tp.topic}:{tp.partition}" for tp in worker.stalled),
        # Producer-supplied sources outside funnel.source_labels, counted as `other`.
        "unlisted_sources": dict(
            sorted(processor.unlisted_sources.items(), key=lambda item: -item[1])
        )
        if (processor := worker.processor) is not None
        else {},
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
    ready = worker.ready
    telemetry.ready.set(1 if ready else 0)
    # A worker that cannot vouch for its ownership claims none: the coverage gate
    # then withholds the sums rather than adding a stale owner's.
    telemetry.partitions.set(len(worker.ledgers.by_partition) if ready else 0)
    telemetry.leads.set(worker.ledgers.lead_count)
    latest = worker.ledgers.latest_event_ts
    if latest is not None:
        telemetry.last_event.set(latest / 1e6)
        telemetry.event_time_lag.set(max(0.0, (now_micros() - latest) / 1e6))
    # Only partitions owned now: a partition that moved on must not keep its last lag.
    telemetry.consumer_lag.clear()
    for tp, lag in _lags(worker).items():
        if lag is not None:
            telemetry.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)


def _lags(worker: Worker) -> dict[TP, int | None]:
    """Unprocessed messages per owned input partition (None: end not known yet)."""
    waiting = faust_adapter.unacked_partitions(worker.app)
    return {
        tp: worker.progress.lag(
            tp,
            faust_adapter.last_stable_offset(worker.app, tp),
            faust_adapter.fetch_position(worker.app, tp),
            tp in waiting,
        )
        for tp in worker.input_tps()
    }
