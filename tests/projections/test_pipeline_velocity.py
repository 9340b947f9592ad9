"""Pipeline stage reached and time per pipeline sub-stage, won versus lost.

Plain examples pin the definitions (README, metric catalogue); properties check that
order, duplicates and batching never change the new series.
"""

from __future__ import annotations

import orjson
from builders import decoded, event, replay, value
from hypothesis import given, settings
from hypothesis import strategies as st
from test_order_independence import (
    as_of_instants,
    bulk,
    event_sets,
    exported,
    funnels,
    incremental,
)

from projections import LeadState, catalog

PROPERTY = settings(max_examples=150, deadline=None)
DAY = 86_400
QUARTER = {"period": "quarter", "period_start": "2026-01-01"}
NEW_FAMILIES = {
    metric.name
    for metric in (
        catalog.PIPELINE_CLOSES,
        catalog.PIPELINE_STAGE_EXITS,
        catalog.PIPELINE_STAGE_DWELL,
        catalog.PIPELINE_STAGE_DWELL_BUCKET,
    )
}


def opportunity(lead: str, *stages: tuple[str, str], close: tuple[str, str]) -> list[bytes]:
    """An opportunity created on 5 January, its stage changes, and its close."""
    lines = [
        event("lead.created", lead, "2026-01-02T09:00:00Z", source="webinar"),
        event("opportunity.created", lead, "2026-01-05T09:00:00Z"),
    ]
    lines += [event("opportunity.stage_changed", lead, at, stage=stage) for stage, at in stages]
    kind, at = close
    fields = {"reason": "price"} if kind == "deal.lost" else {}
    return [*lines, event(kind, lead, at, **fields)]


WON = opportunity(
    "won-1",
    ("discovery", "2026-01-06T09:00:00Z"),
    ("demo", "2026-01-08T09:00:00Z"),
    ("proposal", "2026-01-12T09:00:00Z"),
    close=("deal.won", "2026-01-18T09:00:00Z"),
)
LOST = opportunity(
    "lost-1",
    ("discovery", "2026-01-06T09:00:00Z"),
    ("demo", "2026-01-16T09:00:00Z"),
    close=("deal.lost", "2026-02-05T09:00:00Z"),
)


def pipeline(series: dict, metric: str, **labels: str) -> float:
    return value(series, metric, window="past", source="webinar", **QUARTER, **labels)


def test_the_furthest_pipeline_stage_reached_is_counted_by_outcome_in_the_close_period():
    series = replay([*WON, *LOST], as_of="2026-09-15T00:00:00Z")
    closes = catalog.PIPELINE_CLOSES.name
    assert pipeline(series, closes, outcome="won", stage_reached="proposal") == 1
    assert pipeline(series, closes, outcome="lost", stage_reached="demo") == 1
    month = {"period": "month", "source": "webinar", "outcome": "lost", "stage_reached": "demo"}
    assert value(series, closes, period_start="2026-02-01", **month) == 1
    assert value(series, closes, period_start="2026-01-01", **month) == 0


def test_each_pipeline_stage_lasts_until_the_next_one_and_the_last_until_the_close():
    series = replay([*WON, *LOST], as_of="2026-09-15T00:00:00Z")
    dwell, exits = catalog.PIPELINE_STAGE_DWELL.name, catalog.PIPELINE_STAGE_EXITS.name
    days = {
        (outcome, stage): pipeline(series, dwell, outcome=outcome, pipeline_stage=stage) / DAY
        for outcome, stage in [
            ("won", "discovery"),
            ("won", "demo"),
            ("won", "proposal"),
            ("lost", "discovery"),
            ("lost", "demo"),
        ]
    }
    assert days == {
        ("won", "discovery"): 2,
        ("won", "demo"): 4,
        ("won", "proposal"): 6,
        ("lost", "discovery"): 10,
        ("lost", "demo"): 20,
    }
    assert pipeline(series, exits, outcome="won", pipeline_stage="proposal") == 1
    average = f"period:{catalog.DERIVED_PIPELINE_DWELL}"
    assert value(
        series, average, window="past", outcome="lost", pipeline_stage="demo", **QUARTER
    ) == (20 * DAY)


def test_dwell_buckets_are_cumulative_up_to_plus_infinity():
    series = replay(LOST, as_of="2026-09-15T00:00:00Z")
    bucket = catalog.PIPELINE_STAGE_DWELL_BUCKET.name
    counts = {
        le: pipeline(series, bucket, outcome="lost", pipeline_stage="demo", le=le)
        for le in ("604800", "1209600", "2592000", "+Inf")
    }
    assert counts == {"604800": 0, "1209600": 0, "2592000": 1, "+Inf": 1}


def test_stage_changes_after_the_close_and_closes_without_an_opportunity_are_ignored():
    after_close = [
        *LOST,
        event("opportunity.stage_changed", "lost-1", "2026-03-01T09:00:00Z", stage="negotiation"),
    ]
    no_opportunity = [
        event("lead.created", "quick", "2026-01-02T09:00:00Z", source="webinar"),
        event("deal.won", "quick", "2026-01-09T09:00:00Z"),
    ]
    series = replay([*after_close, *no_opportunity], as_of="2026-09-15T00:00:00Z")
    closes = catalog.PIPELINE_CLOSES.name
    assert pipeline(series, closes, outcome="lost", stage_reached="demo") == 1
    assert pipeline(series, closes, outcome="won", stage_reached="none") == 0
    assert not any(name == closes and ("outcome", "won") in labels for name, labels in series)


def test_a_deal_won_and_lost_at_the_same_instant_counts_as_won_once():
    both = [*WON, event("deal.lost", "won-1", "2026-01-18T09:00:00Z", reason="price")]
    series = replay(both, as_of="2026-09-15T00:00:00Z")
    closes = catalog.PIPELINE_CLOSES.name
    assert pipeline(series, closes, outcome="won", stage_reached="proposal") == 1
    assert pipeline(series, closes, outcome="lost", stage_reached="proposal") == 0


def test_a_late_earlier_stage_change_moves_the_dwell_it_starts():
    # The demo entry arrives late and earlier than first known: dwell follows the earliest.
    late = event("opportunity.stage_changed", "lost-1", "2026-01-14T09:00:00Z", stage="demo")
    series = replay([*LOST, late], as_of="2026-09-15T00:00:00Z")
    dwell = catalog.PIPELINE_STAGE_DWELL.name
    assert pipeline(series, dwell, outcome="lost", pipeline_stage="discovery") == 8 * DAY
    assert pipeline(series, dwell, outcome="lost", pipeline_stage="demo") == 22 * DAY


def test_earliest_pipeline_entries_survive_the_wire_round_trip():
    state = LeadState()
    for line in LOST:
        state.apply(decoded(line))
    wire = orjson.loads(orjson.dumps(state.to_wire()))
    assert LeadState.from_wire(wire) == state
    assert LeadState.from_wire(wire).pipeline_entries == state.pipeline_entries


def _pipeline_only(families: list) -> list:
    return [family for family in families if family.name in NEW_FAMILIES]


@PROPERTY
@given(event_sets(), funnels, as_of_instants, st.data())
def test_order_and_duplicates_never_change_the_pipeline_series(events, funnel, as_of, data):
    copies = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    arrivals = data.draw(st.permutations([*events, *copies]))
    expected = _pipeline_only(exported(bulk(events, funnel), as_of))
    assert _pipeline_only(exported(bulk(arrivals, funnel), as_of)) == expected
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    assert _pipeline_only(exported(incremental(arrivals, funnel, sizes), as_of)) == expected
