"""Pipeline health: throughput, lag, dead letters, errors, workers up."""

from __future__ import annotations

from dashboards.builder import (
    JSON,
    Query,
    dashboard,
    datasource_variable,
    row,
    stat,
    threshold_line,
    timeseries,
)

_UP = 'up{job="leadflow"}'
_RATE = "[$__rate_interval]"


def _rate(metric: str, by: str = "") -> str:
    inner = f"rate({metric}{_RATE})"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def build() -> JSON:
    processed = "leadflow_events_processed_total"
    dead = "leadflow_events_dead_lettered_total"
    panels = [
        stat(
            "Workers up",
            Query(f"sum({_UP})"),
            thresholds=((None, "red"), (1, "orange"), (2, "green")),
        ),
        stat("Events folded per second", Query(_rate(processed)), unit="ops"),
        stat(
            "Consumer lag",
            Query("sum(max by (topic, partition) (leadflow_consumer_lag))"),
            thresholds=((None, "green"), (1000, "orange"), (10000, "red")),
        ),
        stat(
            "Time since the latest event",
            Query("time() - max(leadflow_last_event_timestamp_seconds)"),
            unit="s",
            description="Wall clock minus the newest occurred_at any worker has folded.",
        ),
        row("Throughput"),
        timeseries("Events folded by type", Query(_rate(processed, "type"), "{{type}}")),
        timeseries(
            "Duplicates ignored by type",
            Query(_rate("leadflow_events_duplicate_total", "type"), "{{type}}"),
        ),
        timeseries("Dead-lettered by reason", Query(_rate(dead, "reason"), "{{reason}}")),
        threshold_line(
            timeseries(
                "Dead-lettered share of incoming events",
                Query(f"{_rate(dead)}\n/\n({_rate(processed)} + {_rate(dead)})", "share"),
                unit="percentunit",
                thresholds=((None, "green"), (0.01, "red")),
                description="The alert fires above 1 % for 10 minutes.",
            )
        ),
        row("Lag"),
        timeseries(
            "Consumer lag by partition",
            Query("max by (topic, partition) (leadflow_consumer_lag)", "{{topic}}/{{partition}}"),
        ),
        timeseries(
            "Event-time lag by worker",
            Query("max by (instance) (leadflow_event_time_lag_seconds)", "{{instance}}"),
            unit="s",
            description="Wall clock minus the newest occurred_at the worker has folded.",
        ),
        row("Workers"),
        timeseries("Workers up", Query(_UP, "{{instance}}"), max=1, min=0),
        timeseries(
            "Processing errors",
            Query(
                f"sum by (instance) (increase(leadflow_processing_errors_total{_RATE}))",
                "{{instance}}",
            ),
        ),
        timeseries(
            "Rebalances",
            Query(
                f"sum by (instance) (increase(leadflow_rebalances_total{_RATE}))", "{{instance}}"
            ),
        ),
        timeseries(
            "Lead partitions covered by ready workers",
            Query("cluster:leadflow_lead_partitions_ready:ratio", "covered"),
            unit="percentunit",
            min=0,
            description=(
                "Funnel sums are recorded only at 100 %: below, a worker is down, "
                "restoring or not yet scraped, and the business boards show a gap."
            ),
        ),
        timeseries(
            "Ready lead partitions per worker",
            Query("leadflow_partitions_owned * leadflow_ready", "{{instance}}"),
            stack=True,
        ),
        timeseries(
            "Leads held per worker",
            Query("sum by (instance) (leadflow_leads_tracked)", "{{instance}}"),
        ),
    ]
    return dashboard(
        "leadflow-pipeline",
        "Leadflow / Pipeline health",
        "Is the data trustworthy? Throughput, lag, dead letters, errors and workers.",
        panels,
        [datasource_variable()],
        time_from="now-6h",
    )
