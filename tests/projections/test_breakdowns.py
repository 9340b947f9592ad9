"""Breakdowns by campaign and segment: stage entries keyed by the campaign and segment
of the lead's earliest lead.created, bounded by funnel.breakdowns."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest
from builders import decoded, event, ledger_series, replay, select, value
from hypothesis import given
from hypothesis import strategies as st
from test_order_independence import PROPERTY, as_of_instants, bulk, event_sets, exported, funnels

from leadflow.config import LeadflowConfig
from projections import Funnel, LeadState, Ledger
from projections.funnel import BreakdownLabels, Breakdowns

ENTRIES = "leadflow_stage_entries"
CAMPAIGN = "leadflow_campaign_stage_entries"
SEGMENT = "leadflow_segment_stage_entries"
BY_CAMPAIGN = "period_source:leadflow_qualified_to_won_by_campaign:ratio"
BY_SEGMENT = "period:leadflow_qualified_to_won_by_segment:ratio"
JANUARY = {"period": "month", "period_start": "2026-01-01"}


def created(lead: str, at: str, **fields: object) -> bytes:
    return event("lead.created", lead, at, **{"source": "web", **fields})


def breakdown_series(families: list) -> list:
    return [family for family in families if family.name in (CAMPAIGN, SEGMENT)]


# --- which event decides ------------------------------------------------------------


def test_each_stage_entry_counts_under_the_leads_campaign_and_segment():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z", campaign="webinar-101", segment="smb"),
            event("lead.mql", "lead-1", "2026-01-06T09:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-07T09:00:00Z"),
        ]
    )
    for stage in ("lead", "mql", "sql"):
        where = {**JANUARY, "source": "web", "stage": stage}
        assert value(series, CAMPAIGN, **where, campaign="webinar-101") == 1
        assert value(series, SEGMENT, **where, segment="smb") == 1


def test_a_late_earlier_lead_created_moves_the_lead_to_its_campaign_and_segment():
    ledger = Ledger(Funnel())
    ledger.apply(
        [
            decoded(created("lead-1", "2026-01-10T09:00:00Z", campaign="gads-brand")),
            decoded(event("lead.mql", "lead-1", "2026-01-12T09:00:00Z")),
        ]
    )
    before = ledger_series(ledger, "2026-01-31T00:00:00Z")
    assert value(before, CAMPAIGN, **JANUARY, stage="mql", campaign="gads-brand") == 1
    assert value(before, SEGMENT, **JANUARY, stage="mql", segment="unknown") == 1

    ledger.apply(
        [decoded(created("lead-1", "2026-01-05T09:00:00Z", campaign="webinar-101", segment="smb"))]
    )
    after = ledger_series(ledger, "2026-01-31T00:00:00Z")
    january = select(after, CAMPAIGN, **JANUARY)
    assert {(dict(key)["campaign"], dict(key)["stage"]): v for key, v in january.items()} == {
        ("webinar-101", "lead"): 1,
        ("webinar-101", "mql"): 1,
    }  # nothing left under gads-brand
    assert value(after, SEGMENT, **JANUARY, stage="lead", segment="smb") == 1
    assert value(after, SEGMENT, **JANUARY, stage="mql", segment="smb") == 1
    # The lead entered `lead` on the 5th now, not the 10th.
    assert value(after, CAMPAIGN, period="day", period_start="2026-01-05", stage="lead") == 1
    assert value(after, CAMPAIGN, period="day", period_start="2026-01-10", stage="lead") == 0


@pytest.mark.parametrize("reverse", [False, True])
def test_lead_created_at_the_same_instant_take_the_campaign_of_the_smallest_event_id(reverse):
    lines = [
        created("lead-1", "2026-01-05T09:00:00Z", event_id="c-2", campaign="b", segment="smb"),
        created("lead-1", "2026-01-05T09:00:00Z", event_id="c-1", campaign="a"),
    ]
    series = replay(lines[::-1] if reverse else lines)
    assert value(series, CAMPAIGN, **JANUARY, stage="lead", campaign="a") == 1
    # The segment comes from the same event as the campaign: c-1 has none.
    assert value(series, SEGMENT, **JANUARY, stage="lead", segment="unknown") == 1


def test_a_lead_without_a_campaign_or_without_its_lead_created_counts_as_unknown():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z"),
            event("lead.mql", "lead-2", "2026-01-06T09:00:00Z"),
        ]
    )
    assert value(series, CAMPAIGN, **JANUARY, stage="lead", campaign="unknown") == 1
    assert value(series, CAMPAIGN, **JANUARY, stage="mql", campaign="unknown") == 1
    assert value(series, SEGMENT, **JANUARY, stage="mql", segment="unknown") == 1


def test_a_lead_state_written_before_segments_were_kept_reads_without_one():
    state = LeadState()
    state.apply(decoded(created("lead-1", "2026-01-05T09:00:00Z", campaign="a", segment="smb")))
    wire = orjson.loads(orjson.dumps(state.to_wire()))
    assert wire[13] == "smb" and LeadState.from_wire(wire) == state
    old = LeadState.from_wire(wire[:13])
    assert (old.campaign, old.segment) == ("a", None)


# --- bounds ---------------------------------------------------------------------------


def test_values_beyond_the_tracked_list_and_the_pattern_count_as_other():
    labels = BreakdownLabels()
    assert labels.label("webinar-2026-03") == "webinar-2026-03"
    assert labels.label("Spring Promo!") == "other"
    assert labels.label("https://example.com/?utm_campaign=x") == "other"
    assert labels.label("x" * 49) == "other"
    assert labels.label(None) == "unknown"
    only = BreakdownLabels(tracked=("Spring Promo!",), pattern="")
    assert only.label("Spring Promo!") == "Spring Promo!"
    assert only.label("webinar-101") == "other"


def test_a_breakdown_turned_off_exports_no_series():
    funnel = Funnel(breakdowns=Breakdowns(segment=None))
    series = replay([created("lead-1", "2026-01-05T09:00:00Z", segment="smb")], funnel=funnel)
    assert not select(series, SEGMENT)
    assert value(series, CAMPAIGN, **JANUARY, stage="lead", campaign="unknown") == 1


def test_breakdowns_are_configured_under_funnel_in_the_config_file():
    config = LeadflowConfig.model_validate(
        {"funnel": {"breakdowns": {"campaign": {"tracked": ["Q1 Promo"], "pattern": ""}}}}
    )
    campaign = config.to_funnel().breakdowns.campaign
    assert campaign is not None and campaign.label("Q1 Promo") == "Q1 Promo"
    assert campaign.label("webinar-101") == "other"


# --- the ratio ----------------------------------------------------------------------


def won_lead(lead: str, day: int, campaign: str, segment: str) -> list[bytes]:
    at = f"2026-01-{day:02d}T09:00:00Z"
    return [
        created(lead, at, campaign=campaign, segment=segment),
        event("lead.mql", lead, at),
        event("lead.sql", lead, at),
        *([event("deal.won", lead, at)] if day % 2 else []),
    ]


def test_qualified_to_won_per_campaign_and_segment_is_their_sql_entries_per_won_deal():
    # Campaign a: 4 SQLs, 2 won; campaign b: 2 SQLs, none won (no ratio).
    lines = [
        *won_lead("l1", 5, "a", "smb"),
        *won_lead("l2", 6, "a", "smb"),
        *won_lead("l3", 7, "a", "enterprise"),
        *won_lead("l4", 8, "a", "enterprise"),
        *won_lead("l5", 10, "b", "smb"),
        *won_lead("l6", 12, "b", "smb"),
    ]
    series = replay(lines)
    assert value(series, BY_CAMPAIGN, **JANUARY, source="web", campaign="a") == 2.0
    assert not select(series, BY_CAMPAIGN, **JANUARY, campaign="b")
    assert value(series, BY_SEGMENT, **JANUARY, segment="smb") == 4.0  # 4 SQLs, 1 won
    assert value(series, BY_SEGMENT, **JANUARY, segment="enterprise") == 2.0


def test_the_ratio_follows_the_configured_qualified_stage():
    lines = [*won_lead("l1", 5, "a", "smb"), event("lead.mql", "l2", "2026-01-05T10:00:00Z")]
    lines.append(created("l2", "2026-01-05T08:00:00Z", campaign="a"))
    series = replay(lines, funnel=Funnel(qualified_stage="mql"))
    assert value(series, BY_CAMPAIGN, **JANUARY, source="web", campaign="a") == 2.0


# --- properties -----------------------------------------------------------------------


@PROPERTY
@given(event_sets(), funnels, as_of_instants, st.data())
def test_order_and_duplicates_never_change_the_breakdown_series(events, funnel, as_of, data):
    copies = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    arrivals = data.draw(st.permutations([*events, *copies]))
    expected = breakdown_series(exported(bulk(events, funnel), as_of))
    assert breakdown_series(exported(bulk(arrivals, funnel), as_of)) == expected


@PROPERTY
@given(event_sets(), funnels, as_of_instants)
def test_each_breakdown_sums_to_the_stage_entries(events, funnel, as_of):
    totals: dict[str, dict] = {name: defaultdict(float) for name in (ENTRIES, CAMPAIGN, SEGMENT)}
    for family in exported(bulk(events, funnel), as_of):
        if family.name in totals:
            for sample in family.samples:
                key = frozenset(
                    (k, v) for k, v in sample.labels if k not in ("campaign", "segment")
                )
                totals[family.name][key] += sample.value
    assert totals[CAMPAIGN] == totals[ENTRIES]
    assert totals[SEGMENT] == totals[ENTRIES]
