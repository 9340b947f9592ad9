"""The gateway's Prometheus series, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from events import RejectReason


class GatewayMetrics:
    def __init__(self, token_names: tuple[str, ...]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leadflow_gateway_requests",
            "POST /v1/events requests by HTTP status code",
            ["code"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "leadflow_gateway_events_accepted",
            "Events acknowledged by Kafka, by the sending token's name",
            ["token"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "leadflow_gateway_events_rejected",
            "Events refused by the contract, by dead-letter reason",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadflow_gateway_request_duration_seconds",
            "POST /v1/events: request received to response ready",
            buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        # Series that exist at 0 make rate() and alerts work before the first event.
        for name in token_names:
            self.accepted.labels(name)
        for reason in RejectReason:
            self.rejected.labels(str(reason))
