"""The worker's operational series: throughput, duplicates, dead letters, lag."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Telemetry:
    """One registry per worker, so tests can run several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        self.errors = Counter(
            "leadflow_processing_errors",
            "Batches that failed unexpectedly (the worker restarts its stream).",
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
        self.ready = Gauge(
            "leadflow_ready",
            "1 once partitions are assigned and state is restored.",
            registry=self.registry,
        )
