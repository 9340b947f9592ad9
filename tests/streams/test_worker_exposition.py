"""A worker's /metrics body: the same series as its families, the costly additive part
rendered again only when its leads' totals (or the day) change."""

from __future__ import annotations

from builders import decoded, event
from prometheus_client.parser import text_string_to_metric_families

from projections import Family, Funnel, Sample
from projections.exposition import render, render_generic
from streams.ledgers import PartitionLedgers


def _series(text: bytes) -> dict:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name != "leadflow_period_progress_ratio"  # moves with the clock
    }


def _mql_entries(text: bytes) -> list[bytes]:
    return [
        line
        for line in text.splitlines()
        if line.startswith(b"leadflow_stage_entries{") and b'stage="mql"' in line
    ]


def _worker() -> PartitionLedgers:
    ledgers = PartitionLedgers(Funnel(), partitions=2)
    ledgers.assign({0, 1}, [])
    ledgers.by_partition[0].apply(
        [decoded(event("lead.created", "a", "2026-03-02T10:00:00Z", source="web"))]
    )
    return ledgers


def test_the_exposition_holds_exactly_the_families_series():
    ledgers = _worker()
    assert _series(ledgers.exposition()) == _series(render(ledgers.families()))


def test_the_additive_part_is_rendered_again_after_a_lead_changes():
    ledgers = _worker()
    before = ledgers.exposition()
    assert ledgers.exposition().count(b"leadflow_stage_entries{") == before.count(
        b"leadflow_stage_entries{"
    )
    ledgers.by_partition[1].apply([decoded(event("lead.mql", "b", "2026-03-03T10:00:00Z"))])
    after = ledgers.exposition()
    assert _mql_entries(after) and not _mql_entries(before)
    assert _series(after) == _series(render(ledgers.families()))


def test_the_direct_renderer_writes_what_prometheus_client_writes():
    ledgers = _worker()
    ledgers.by_partition[1].apply(
        [
            decoded(event("opportunity.created", "b", "2026-03-03T10:00:00Z", amount=1500)),
            decoded(event("opportunity.stage_changed", "b", "2026-03-04T10:00:00Z", stage="demo")),
            decoded(event("deal.won", "b", "2026-04-09T10:00:00Z", amount=2499.99)),
        ]
    )
    odd = Family(
        "leadflow_test_odd",
        "help with \\ a backslash\nand a newline",
        (
            Sample((("z", 'a "quoted" \\ value\nover lines'), ("a", "1")), 0.1),
            Sample((), 1e22),
            Sample((("le", "+Inf"),), float("inf")),
        ),
    )
    families = [*ledgers.families(), odd]
    assert render(families) == render_generic(families)
