"""The worker's operational series: throughput, duplicates, dead letters, lag."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from events import EventType, RejectReason

# Produce-to-fold latency buckets: fine below a second, where the target is.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class Telemetry:
    """One registry per worker, so tests can run several apps in one process."""

    def __init__(self, lead_partitions: int = 1) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # With `leadflow_partitions_owned` and `leadflow_ready` summed over workers,
        # this tells the recording rules whether the additive sums are whole: a
        # worker not yet scraped, down or restoring would otherwise make them silently
        # partial, and every ratio wrong.
        self.lead_partitions = Gauge(
            "leadflow_lead_partitions",
            "Partitions of the lead state; ready workers must own all of them.",
            registry=self.registry,
        )
        self.lead_partitions.set(lead_partitions)
        self.processed = Counter(
            "leadflow_events_processed",
            "Valid events folded into state, by type (duplicates excluded).",
            ["type"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "leadflow_events_duplicate",
            "Events ignored because their event_id was already applied to the lead.",
            ["type"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "leadflow_events_dead_lettered",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.forwarded = Counter(
            "leadflow_events_forwarded",
            "Valid events re-keyed to their lead's partition before folding.",
            registry=self.registry,
        )
        self.skipped = Counter(
            "leadflow_events_skipped_revoked",
            "Buffered events of partitions revoked by a rebalance, left to their new owner.",
            registry=self.registry,
        )
        self.errors = Counter(
            "leadflow_processing_errors",
            "Transactions that failed without fencing; their output is retried in the next one.",
            registry=self.registry,
        )
        self.transactions = Counter(
            "leadflow_transactions_committed",
            "Kafka transactions committed (state, forwards, dead letters and offsets).",
            registry=self.registry,
        )
        self.fenced = Counter(
            "leadflow_partitions_fenced",
            "Partitions this worker found another owner had taken (its writes refused).",
            registry=self.registry,
        )
        self.stalled = Gauge(
            "leadflow_stalled_partitions",
            "Input partitions with messages waiting and no progress for LEADFLOW_STALL_TIMEOUT.",
            registry=self.registry,
        )
        self.stream_restarts = Counter(
            "leadflow_stream_restarts",
            "Times the worker asked the group for a fresh assignment because it was stuck.",
            registry=self.registry,
        )
        self.unlisted_sources = Counter(
            "leadflow_unlisted_source_events",
            "lead.created events whose source is counted as `other` (not tracked, not "
            "matching funnel.source_labels); examples in /status.",
            registry=self.registry,
        )
        self.rebalances = Counter(
            "leadflow_rebalances",
            "Partition assignments completed (start-up counts as one).",
            registry=self.registry,
        )
        self.last_event = Gauge(
            "leadflow_last_event_timestamp_seconds",
            "Latest occurred_at folded by this worker.",
            registry=self.registry,
        )
        self.event_time_lag = Gauge(
            "leadflow_event_time_lag_seconds",
            "Wall clock minus the latest occurred_at folded by this worker.",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "leadflow_consumer_lag",
            "Messages behind the partition's high watermark.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.leads = Gauge(
            "leadflow_leads_tracked", "Leads whose state this worker holds.", registry=self.registry
        )
        self.partitions = Gauge(
            "leadflow_partitions_owned", "Lead partitions this worker owns.", registry=self.registry
        )
        self.ingest_latency = Histogram(
            "leadflow_ingest_latency_seconds",
            "Time from the Kafka message timestamp (produce time) to the event being folded.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._initialise_labels()
        self.ready = Gauge(
            "leadflow_ready",
            "1 once partitions are assigned and state is restored.",
            registry=self.registry,
        )

    def _initialise_labels(self) -> None:
        # Every known label value exported from the start, at 0: a healthy pipeline
        # then shows "0 dead letters" rather than "no data", and rate() works at once.
        for kind in EventType:
            self.processed.labels(str(kind))
            self.duplicates.labels(str(kind))
        for reason in RejectReason:
            self.dead_lettered.labels(str(reason))
