"""Families as prometheus_client metrics, for `/metrics` and `replay`'s text output."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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
    """The Prometheus text exposition of the families, in a stable order.

    Byte for byte what prometheus_client's `generate_latest` writes for them (a test
    keeps the two equal), written directly: with the kept history a worker or `replay`
    renders tens of thousands of series, and the generic path costs several times more.
    """
    out: list[str] = []
    write = out.append
    for family in sorted(families, key=lambda family: family.name):
        name = family.name
        write(f"# HELP {name} {_escape_help(family.help)}\n# TYPE {name} gauge\n")
        for sample in family.samples:
            value = floatToGoString(sample.value)
            if sample.labels:
                pairs = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(sample.labels))
                write(f"{name}{{{pairs}}} {value}\n")
            else:
                write(f"{name} {value}\n")
    return "".join(out).encode()


def render_generic(families: Iterable[Family]) -> bytes:
    """The same through prometheus_client's registry: the reference `render` matches."""
    registry = CollectorRegistry(auto_describe=False)
    ordered = sorted(families, key=lambda family: family.name)
    registry.register(FamiliesCollector(lambda: ordered))
    return generate_latest(registry)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(text: str) -> str:
    if "\\" in text or "\n" in text or '"' in text:
        return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return text
