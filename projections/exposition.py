"""Families as prometheus_client metrics, for `/metrics` and `replay`'s text output."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from projections.snapshot import Family


def to_metrics(families: Iterable[Family]) -> Iterator[Metric]:
    for family in families:
        metric = Metric(family.name, family.help, "gauge")
        for sample in family.samples:
            metric.add_sample(family.name, dict(sample.labels), sample.value)
        yield metric


class FamiliesCollector(Collector):
    """Collects whatever `produce` returns at scrape time."""

    def __init__(self, produce: Callable[[], Iterable[Family]]) -> None:
        self._produce = produce

    def collect(self) -> Iterator[Metric]:
        return to_metrics(self._produce())


def render(families: Iterable[Family]) -> bytes:
    """The Prometheus text exposition of the families, in a stable order."""
    registry = CollectorRegistry(auto_describe=False)
    ordered = sorted(families, key=lambda family: family.name)
    registry.register(FamiliesCollector(lambda: ordered))
    return generate_latest(registry)
