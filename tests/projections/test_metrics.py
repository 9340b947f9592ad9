"""The additive metrics on small hand-worked examples, the derived values and the config."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import CLOCK, as_series, decoded, event, has, ledger_series, replay, select, value

from events import to_micros
from leadflow.config import ConfigError, load_funnel
from leadflow.replay import replay_lines
from projections import Funnel, History, Ledger

ENTRIES = "leadflow_stage_entries"
COHORT = "leadflow_cohort_conversions"
EXITS = "leadflow_stage_exits"
DWELL = "leadflow_stage_dwell_seconds"
REJECTIONS = "leadflow_rejections"
LOSSES = "leadflow_losses"
BY_STAGE_REACHED = "leadflow_exits_by_stage_reached"
OPEN = "leadflow_open_leads"
STALLED = "leadflow_stalled_leads"
RESPONSES = "leadflow_responses"
RESPONSE_SECONDS = "leadflow_response_seconds"

QUALIFIED_TO_WON = "period:leadflow_qualified_to_won:ratio"
BAND_POSITION = "period:leadflow_qualified_to_won:band_position"
CONVERSION = "period:leadflow_conversion:ratio"
LEAD_TO_CLOSE = "period:leadflow_lead_to_close:ratio"
WIN_RATE = "period:leadflow_win:ratio"
AVERAGE_DWELL = "period:leadflow_stage_dwell_seconds:avg"
AVERAGE_RESPONSE = "period:leadflow_response_seconds:avg"
SOURCE_WIN_RATE = "period_source:leadflow_win:ratio"

DAY_S = 86_400
JANUARY = {"period": "month", "period_start": "2026-01-01"}
FEBRUARY = {"period": "month", "period_start": "2026-02-01"}


def created(lead: str, at: str, source: str = "web", **fields: object) -> bytes:
    return event("lead.created", lead, at, source=source, **fields)


def labels_of(series: dict, name: str, label: str, **where: str) -> dict[str, float]:
    """{label value: series value} of `name` restricted to `where`."""
    return {dict(key)[label]: v for key, v in select(series, name, **where).items()}


# --- stage entries ------------------------------------------------------------------


def test_each_stage_entering_event_counts_one_entry_into_its_stage():
    series = replay(
        [
            created("won-lead", "2026-01-05T09:00:00Z"),
            event("lead.mql", "won-lead", "2026-01-06T09:00:00Z"),
            event("lead.sql", "won-lead", "2026-01-07T09:00:00Z"),
            event("opportunity.created", "won-lead", "2026-01-08T09:00:00Z"),
            event("deal.won", "won-lead", "2026-01-09T09:00:00Z"),
            created("rejected-lead", "2026-01-05T09:00:00Z"),
            event("lead.rejected", "rejected-lead", "2026-01-06T09:00:00Z", reason="wrong_fit"),
            created("lost-lead", "2026-01-05T09:00:00Z"),
            event("deal.lost", "lost-lead", "2026-01-06T09:00:00Z", reason="price"),
        ]
    )
    assert labels_of(series, ENTRIES, "stage", **JANUARY, source="web") == {
        "lead": 3,
        "mql": 1,
        "sql": 1,
        "opportunity": 1,
        "won": 1,
        "rejected": 1,
        "lost": 1,
    }


def test_a_lead_counts_once_per_stage_in_the_period_of_its_earliest_entry():
    series = replay(
        [
            created("lead-1", "2026-01-02T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-02-10T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-20T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-03-01T09:00:00Z"),
        ]
    )
    assert value(series, ENTRIES, **JANUARY, stage="mql") == 1
    assert value(series, ENTRIES, period="day", period_start="2026-01-20", stage="mql") == 1
    assert not has(series, ENTRIES, **FEBRUARY)
    assert value(series, ENTRIES, period="quarter", period_start="2026-01-01", stage="mql") == 1


def test_an_entry_counts_in_the_day_week_month_and_quarter_that_contain_it():
    series = replay([created("lead-1", "2026-02-11T09:00:00Z")])
    starts = {
        dict(key)["period"]: dict(key)["period_start"]
        for key in select(series, ENTRIES, stage="lead")
    }
    assert starts == {
        "day": "2026-02-11",
        "week": "2026-02-09",
        "month": "2026-02-01",
        "quarter": "2026-01-01",
    }


def test_scored_contacted_and_stage_changed_events_enter_no_stage():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z"),
            event("lead.scored", "lead-1", "2026-01-06T09:00:00Z", score=80),
            event("lead.contacted", "lead-1", "2026-01-07T09:00:00Z"),
            event("opportunity.stage_changed", "lead-1", "2026-01-08T09:00:00Z", stage="demo"),
        ]
    )
    assert labels_of(series, ENTRIES, "stage", **JANUARY) == {"lead": 1}


def test_stages_are_never_implied_an_sql_without_an_mql_has_not_entered_mql():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-07T09:00:00Z"),
        ]
    )
    assert labels_of(series, ENTRIES, "stage", **JANUARY) == {"lead": 1, "sql": 1}
    assert value(series, COHORT, **JANUARY, from_stage="lead", to_stage="mql") == 0
    assert value(series, COHORT, **JANUARY, from_stage="mql", to_stage="sql") == 0
    assert labels_of(series, EXITS, "stage", **JANUARY) == {"lead": 1}


# --- cohort conversions -------------------------------------------------------------


def test_a_january_mql_accepted_in_february_counts_in_januarys_cohort_and_februarys_period():
    series = replay(
        [
            created("lead-1", "2026-01-10T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-20T09:00:00Z"),
            event("lead.sql", "lead-1", "2026-02-03T09:00:00Z"),
        ]
    )
    assert value(series, COHORT, **JANUARY, from_stage="mql", to_stage="sql") == 1
    assert value(series, COHORT, **FEBRUARY, from_stage="mql", to_stage="sql") == 0
    assert value(series, ENTRIES, **JANUARY, stage="sql") == 0
    assert value(series, ENTRIES, **FEBRUARY, stage="sql") == 1
    mql_to_sql = {"from_stage": "mql", "to_stage": "sql"}
    assert value(series, CONVERSION, **JANUARY, **mql_to_sql, basis="cohort") == 1.0
    assert value(series, CONVERSION, **JANUARY, **mql_to_sql, basis="period") == 0.0
    assert not has(series, CONVERSION, **FEBRUARY, **mql_to_sql)  # no mql entered in February


def test_a_cohort_conversion_counts_a_conversion_made_in_a_later_quarter():
    series = replay(
        [
            created("lead-1", "2026-01-10T09:00:00Z"),
            event("deal.won", "lead-1", "2026-06-03T09:00:00Z"),
        ]
    )
    q1 = {"period": "quarter", "period_start": "2026-01-01"}
    assert value(series, COHORT, **q1, from_stage="lead", to_stage="won") == 1
    assert value(series, COHORT, **JANUARY, from_stage="lead", to_stage="won") == 1
    assert not has(series, COHORT, period="quarter", period_start="2026-04-01")


def test_a_lead_through_the_whole_funnel_converts_in_every_contract_pair():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-06T09:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-07T09:00:00Z"),
            event("opportunity.created", "lead-1", "2026-01-08T09:00:00Z"),
            event("deal.won", "lead-1", "2026-01-09T09:00:00Z"),
        ]
    )
    pairs = {
        (dict(key)["from_stage"], dict(key)["to_stage"]): v
        for key, v in select(series, COHORT, **JANUARY).items()
    }
    assert pairs == {
        ("lead", "mql"): 1,
        ("mql", "sql"): 1,
        ("sql", "opportunity"): 1,
        ("opportunity", "won"): 1,
        ("lead", "won"): 1,
        ("sql", "won"): 1,  # the default qualified stage
    }


def test_the_qualified_stage_to_won_pair_follows_the_configured_qualified_stage():
    lines = [
        event("lead.mql", "lead-1", "2026-01-06T09:00:00Z"),
        event("lead.sql", "lead-1", "2026-01-07T09:00:00Z"),
        event("deal.won", "lead-1", "2026-01-09T09:00:00Z"),
    ]
    series = replay(lines, funnel=Funnel(qualified_stage="mql"))
    assert value(series, COHORT, **JANUARY, from_stage="mql", to_stage="won") == 1
    assert not has(series, COHORT, from_stage="sql", to_stage="won")


# --- stage exits and dwell ----------------------------------------------------------


def test_a_lead_leaves_each_stage_when_it_enters_the_next_and_dwells_the_time_between():
    series = replay(
        [
            created("lead-1", "2026-01-10T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-12T09:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-15T21:00:00Z"),
            event("opportunity.created", "lead-1", "2026-02-02T09:00:00Z"),
        ]
    )
    assert labels_of(series, EXITS, "stage", **JANUARY) == {"lead": 1, "mql": 1}
    assert labels_of(series, DWELL, "stage", **JANUARY) == {
        "lead": 2 * DAY_S,
        "mql": 3.5 * DAY_S,
    }
    assert labels_of(series, EXITS, "stage", **FEBRUARY) == {"sql": 1}
    assert labels_of(series, DWELL, "stage", **FEBRUARY) == {"sql": 17.5 * DAY_S}


def test_an_exit_counts_in_the_period_of_the_next_entry_not_of_the_entry_it_leaves():
    series = replay(
        [
            event("lead.sql", "lead-1", "2026-01-30T09:00:00Z"),
            event("opportunity.created", "lead-1", "2026-02-02T09:00:00Z"),
        ]
    )
    assert value(series, EXITS, **JANUARY, stage="sql") == 0
    assert value(series, EXITS, **FEBRUARY, stage="sql") == 1
    assert value(series, EXITS, period="day", period_start="2026-02-02", stage="sql") == 1


def test_stages_entered_out_of_funnel_order_are_left_in_time_order():
    series = replay(
        [
            created("lead-1", "2026-01-05T00:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-10T00:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-12T00:00:00Z"),
        ]
    )
    assert labels_of(series, DWELL, "stage", **JANUARY) == {"lead": 5 * DAY_S, "sql": 2 * DAY_S}
    assert labels_of(series, OPEN, "stage") == {"mql": 1}


def test_at_the_same_instant_mql_is_entered_before_sql_whatever_the_arrival_order():
    series = replay(
        [
            event("lead.sql", "lead-1", "2026-01-07T12:00:00Z", event_id="a"),
            event("lead.mql", "lead-1", "2026-01-07T12:00:00Z", event_id="b"),
            created("lead-1", "2026-01-07T09:00:00Z"),
        ]
    )
    assert labels_of(series, EXITS, "stage", **JANUARY) == {"lead": 1, "mql": 1}
    assert value(series, DWELL, **JANUARY, stage="lead") == 3 * 3600
    assert value(series, DWELL, **JANUARY, stage="mql") == 0
    assert labels_of(series, OPEN, "stage") == {"sql": 1}


def test_a_lead_created_at_the_instant_it_became_an_mql_left_lead_with_zero_dwell():
    series = replay(
        [
            event("lead.mql", "lead-1", "2026-01-07T12:00:00Z"),
            created("lead-1", "2026-01-07T12:00:00Z"),
        ]
    )
    assert value(series, EXITS, **JANUARY, stage="lead") == 1
    assert value(series, DWELL, **JANUARY, stage="lead") == 0
    assert labels_of(series, OPEN, "stage") == {"mql": 1}


def test_at_the_same_instant_sql_then_opportunity_are_entered_before_a_loss():
    series = replay(
        [
            event("deal.lost", "lead-1", "2026-01-20T12:00:00Z", reason="price"),
            event("opportunity.created", "lead-1", "2026-01-20T12:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-20T12:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-19T12:00:00Z"),
        ]
    )
    assert labels_of(series, EXITS, "stage", **JANUARY) == {"mql": 1, "sql": 1, "opportunity": 1}
    assert value(series, DWELL, **JANUARY, stage="mql") == DAY_S
    assert value(series, DWELL, **JANUARY, stage="sql") == 0
    assert value(series, DWELL, **JANUARY, stage="opportunity") == 0


def test_a_lead_rejected_at_the_instant_it_became_an_mql_left_mql_for_rejected():
    series = replay(
        [
            event("lead.rejected", "lead-1", "2026-01-07T12:00:00Z", reason="no_budget"),
            event("lead.mql", "lead-1", "2026-01-07T12:00:00Z"),
            created("lead-1", "2026-01-06T12:00:00Z"),
        ]
    )
    assert labels_of(series, EXITS, "stage", **JANUARY) == {"lead": 1, "mql": 1}
    assert value(series, DWELL, **JANUARY, stage="mql") == 0
    assert value(series, BY_STAGE_REACHED, **JANUARY, outcome="rejected", stage_reached="mql") == 1
    assert not has(series, OPEN)


def test_exit_stages_are_never_left():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z"),
            event("deal.won", "lead-1", "2026-01-06T09:00:00Z"),
            event("deal.lost", "lead-1", "2026-01-07T09:00:00Z", reason="price"),
            event("lead.rejected", "lead-1", "2026-01-08T09:00:00Z", reason="other"),
        ]
    )
    assert labels_of(series, EXITS, "stage", **JANUARY) == {"lead": 1}
    assert value(series, DWELL, **JANUARY, stage="lead") == DAY_S


# --- rejections and losses ----------------------------------------------------------


def test_a_rejection_counts_under_the_reason_of_the_earliest_rejected_event():
    series = replay(
        [
            created("lead-1", "2026-01-05T09:00:00Z"),
            event("lead.rejected", "lead-1", "2026-02-05T09:00:00Z", reason="no_budget"),
            event("lead.rejected", "lead-1", "2026-01-25T09:00:00Z", reason=" Wrong_Fit "),
        ]
    )
    assert labels_of(series, REJECTIONS, "reason", **JANUARY) == {"wrong_fit": 1}
    assert not has(series, REJECTIONS, **FEBRUARY)
    assert value(series, ENTRIES, **JANUARY, stage="rejected") == 1


@pytest.mark.parametrize("first", ["r-1", "r-2"])
def test_rejections_at_the_same_instant_count_the_reason_of_the_smallest_event_id(first):
    rejections = {
        "r-1": event(
            "lead.rejected", "lead-1", "2026-01-25T09:00:00Z", event_id="r-1", reason="bad_timing"
        ),
        "r-2": event(
            "lead.rejected", "lead-1", "2026-01-25T09:00:00Z", event_id="r-2", reason="no_budget"
        ),
    }
    second = "r-2" if first == "r-1" else "r-1"
    series = replay(
        [created("lead-1", "2026-01-05T09:00:00Z"), rejections[first], rejections[second]]
    )
    assert labels_of(series, REJECTIONS, "reason", **JANUARY) == {"bad_timing": 1}


def test_a_loss_counts_under_the_reason_of_the_earliest_lost_event():
    series = replay(
        [
            event("opportunity.created", "deal-1", "2026-01-05T09:00:00Z"),
            event("deal.lost", "deal-1", "2026-02-20T09:00:00Z", reason="price"),
            event("deal.lost", "deal-1", "2026-02-10T09:00:00Z", reason="Competitor"),
        ]
    )
    assert labels_of(series, LOSSES, "reason", **FEBRUARY) == {"competitor": 1}
    assert value(series, LOSSES, period="day", period_start="2026-02-10", reason="competitor") == 1


@pytest.mark.parametrize("reverse", [False, True])
def test_losses_at_the_same_instant_count_the_reason_of_the_smallest_event_id(reverse):
    losses = [
        event("deal.lost", "deal-1", "2026-02-10T09:00:00Z", event_id="x-10", reason="price"),
        event("deal.lost", "deal-1", "2026-02-10T09:00:00Z", event_id="x-09", reason="timing"),
    ]
    series = replay(losses[::-1] if reverse else losses)
    assert labels_of(series, LOSSES, "reason", **FEBRUARY) == {"timing": 1}


def test_an_unknown_loss_reason_counts_as_other():
    series = replay([event("deal.lost", "deal-1", "2026-02-10T09:00:00Z", reason="went quiet")])
    assert labels_of(series, LOSSES, "reason", **FEBRUARY) == {"other": 1}


# --- exits by stage reached ---------------------------------------------------------


def test_a_lost_deal_counts_under_the_furthest_stage_it_reached():
    series = replay(
        [
            created("deal-1", "2026-01-05T09:00:00Z"),
            event("lead.mql", "deal-1", "2026-01-06T09:00:00Z"),
            event("opportunity.created", "deal-1", "2026-01-08T09:00:00Z"),
            event("deal.lost", "deal-1", "2026-01-20T09:00:00Z", reason="price"),
        ]
    )
    reached = {
        (dict(key)["outcome"], dict(key)["stage_reached"]): v
        for key, v in select(series, BY_STAGE_REACHED, **JANUARY).items()
    }
    assert reached == {("lost", "opportunity"): 1}


def test_the_furthest_stage_reached_is_by_funnel_order_not_time_order():
    series = replay(
        [
            created("lead-1", "2026-01-01T09:00:00Z"),
            event("lead.sql", "lead-1", "2026-01-02T09:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-03T09:00:00Z"),
            event("lead.rejected", "lead-1", "2026-01-04T09:00:00Z", reason="wrong_fit"),
        ]
    )
    assert labels_of(series, BY_STAGE_REACHED, "stage_reached", **JANUARY) == {"sql": 1}


def test_the_furthest_stage_reached_includes_stages_entered_after_the_exit():
    series = replay(
        [
            created("lead-1", "2026-01-01T09:00:00Z"),
            event("lead.rejected", "lead-1", "2026-01-04T09:00:00Z", reason="wrong_fit"),
            event("lead.mql", "lead-1", "2026-01-10T09:00:00Z"),
        ]
    )
    assert labels_of(series, BY_STAGE_REACHED, "stage_reached", **JANUARY) == {"mql": 1}


def test_a_rejected_lead_that_entered_no_main_stage_is_not_counted_by_stage_reached():
    series = replay(
        [event("lead.rejected", "lead-1", "2026-01-04T09:00:00Z", reason="existing_customer")]
    )
    assert value(series, REJECTIONS, **JANUARY, reason="existing_customer") == 1
    assert not has(series, BY_STAGE_REACHED)


# --- source attribution -------------------------------------------------------------


def test_a_lead_without_its_lead_created_counts_under_source_unknown():
    series = replay([event("lead.mql", "lead-1", "2026-01-06T09:00:00Z")])
    assert value(series, ENTRIES, **JANUARY, stage="mql", source="unknown") == 1


def test_when_lead_created_arrives_everything_already_counted_moves_to_its_source():
    ledger = Ledger(Funnel())
    ledger.apply(
        [
            decoded(event("lead.mql", "lead-1", "2026-01-06T09:00:00Z")),
            decoded(event("lead.sql", "lead-1", "2026-01-08T09:00:00Z")),
            decoded(event("lead.rejected", "lead-1", "2026-01-09T09:00:00Z", reason="no_budget")),
        ]
    )
    before = ledger_series(ledger, "2026-01-31T00:00:00Z")
    assert value(before, ENTRIES, **JANUARY, stage="sql", source="unknown") == 1
    assert value(before, REJECTIONS, **JANUARY, reason="no_budget", source="unknown") == 1

    ledger.apply([decoded(created("lead-1", "2026-01-05T09:00:00Z", source="ads"))])
    after = ledger_series(ledger, "2026-01-31T00:00:00Z")
    sources = {dict(key).get("source") for (name, key) in after if name.startswith("leadflow_")}
    assert "unknown" not in sources
    assert labels_of(after, ENTRIES, "stage", **JANUARY, source="ads") == {
        "lead": 1,
        "mql": 1,
        "sql": 1,
        "rejected": 1,
    }
    assert value(after, REJECTIONS, **JANUARY, reason="no_budget", source="ads") == 1
    assert value(after, BY_STAGE_REACHED, **JANUARY, source="ads", stage_reached="sql") == 1
    assert labels_of(after, EXITS, "stage", **JANUARY, source="ads") == {
        "lead": 1,
        "mql": 1,
        "sql": 1,
    }


def test_the_earliest_lead_created_decides_the_source():
    series = replay(
        [
            created("lead-1", "2026-01-10T09:00:00Z", source="ads"),
            created("lead-1", "2026-01-05T09:00:00Z", source="web"),
        ]
    )
    assert labels_of(series, ENTRIES, "source", **JANUARY, stage="lead") == {"web": 1}
    assert value(series, ENTRIES, period="day", period_start="2026-01-05", stage="lead") == 1


@pytest.mark.parametrize("reverse", [False, True])
def test_lead_created_events_at_the_same_instant_take_the_source_of_the_smallest_event_id(reverse):
    lines = [
        created("lead-1", "2026-01-05T09:00:00Z", event_id="c-2", source="ads"),
        created("lead-1", "2026-01-05T09:00:00Z", event_id="c-1", source="web"),
    ]
    series = replay(lines[::-1] if reverse else lines)
    assert labels_of(series, ENTRIES, "source", **JANUARY, stage="lead") == {"web": 1}


# --- duplicates ---------------------------------------------------------------------


def test_a_later_event_with_an_id_already_seen_changes_nothing():
    series = replay(
        [
            event("lead.mql", "lead-1", "2026-01-06T09:00:00Z", event_id="evt-7"),
            event("lead.sql", "lead-1", "2026-01-07T09:00:00Z", event_id="evt-7"),
        ]
    )
    assert labels_of(series, ENTRIES, "stage", **JANUARY) == {"mql": 1}


def test_an_invalid_event_claims_no_id_so_a_later_valid_one_with_that_id_counts():
    unknown_stage = event(
        "opportunity.stage_changed", "lead-1", "2026-01-05T09:00:00Z", event_id="evt-7", stage="x"
    )
    mql = event("lead.mql", "lead-1", "2026-01-06T09:00:00Z", event_id="evt-7")
    rejected_lines: list[int] = []
    result = replay_lines(
        [unknown_stage, mql],
        Funnel(),
        now_us=to_micros(CLOCK),
        history=History.ALL,
        on_bad=lambda line, rejection: rejected_lines.append(line),
    )
    assert rejected_lines == [1]
    assert (result.events, result.duplicates, result.bad_lines) == (1, 0, 1)
    assert value(as_series(result.families), ENTRIES, **JANUARY, stage="mql") == 1


# --- open and stalled leads ---------------------------------------------------------


def test_open_leads_are_counted_by_the_stage_they_are_in_now():
    series = replay(
        [
            created("in-mql", "2026-01-05T09:00:00Z"),
            event("lead.mql", "in-mql", "2026-01-06T09:00:00Z"),
            created("in-sql", "2026-01-05T09:00:00Z"),
            event("lead.sql", "in-sql", "2026-01-07T09:00:00Z"),
            created("rejected", "2026-01-05T09:00:00Z"),
            event("lead.rejected", "rejected", "2026-01-07T09:00:00Z", reason="wrong_fit"),
            created("won", "2026-01-05T09:00:00Z"),
            event("deal.won", "won", "2026-01-08T09:00:00Z"),
        ]
    )
    assert labels_of(series, OPEN, "stage", source="web") == {"mql": 1, "sql": 1}


def test_an_open_lead_is_stalled_once_it_has_been_in_its_stage_longer_than_its_maximum_dwell():
    series = replay(
        [
            event("lead.mql", "stuck", "2026-01-01T10:00:00Z"),  # 9 days; mql allows 5
            event("lead.mql", "fresh", "2026-01-08T10:00:00Z"),  # 2 days
            event("lead.sql", "accepted", "2026-01-01T10:00:00Z"),  # 9 days; sql allows 21
        ],
        as_of="2026-01-10T10:00:00Z",
    )
    assert labels_of(series, OPEN, "stage") == {"mql": 2, "sql": 1}
    assert labels_of(series, STALLED, "stage") == {"mql": 1}


def test_an_open_opportunity_counts_under_its_latest_pipeline_stage_with_its_amount():
    series = replay(
        [
            event("opportunity.stage_changed", "deal-1", "2026-01-08T09:00:00Z", stage="proposal"),
            event("opportunity.stage_changed", "deal-1", "2026-01-06T09:00:00Z", stage="demo"),
            event("opportunity.created", "deal-1", "2026-01-05T09:00:00Z", amount=12000.5),
        ]
    )
    assert value(series, "leadflow_open_opportunities", pipeline_stage="proposal") == 1
    assert value(series, "leadflow_open_pipeline_amount", pipeline_stage="proposal") == 12000.5


# --- response time ------------------------------------------------------------------


def test_response_time_is_the_first_contact_minus_the_mql_entry():
    series = replay(
        [
            event("lead.mql", "lead-1", "2026-01-05T10:00:00Z"),
            event("lead.contacted", "lead-1", "2026-01-06T09:00:00Z"),
            event("lead.contacted", "lead-1", "2026-01-05T12:30:00Z"),
        ]
    )
    day = {"period": "day", "period_start": "2026-01-05"}
    assert value(series, RESPONSES, **day) == 1
    assert value(series, RESPONSE_SECONDS, **day) == 9000
    assert value(series, AVERAGE_RESPONSE, **day) == 9000


def test_the_average_response_time_is_total_response_time_over_responses():
    series = replay(
        [
            event("lead.mql", "fast", "2026-01-05T10:00:00Z"),
            event("lead.contacted", "fast", "2026-01-05T11:00:00Z"),
            event("lead.mql", "slow", "2026-01-05T10:00:00Z"),
            event("lead.contacted", "slow", "2026-01-06T13:00:00Z"),
        ]
    )
    assert value(series, RESPONSES, **JANUARY) == 2
    assert value(series, AVERAGE_RESPONSE, **JANUARY) == (3600 + 27 * 3600) / 2


def test_a_contact_before_the_mql_is_not_a_response():
    series = replay(
        [
            event("lead.contacted", "lead-1", "2026-01-04T10:00:00Z"),
            event("lead.mql", "lead-1", "2026-01-05T10:00:00Z"),
        ]
    )
    assert not has(series, RESPONSES)


# --- derived values -----------------------------------------------------------------


def qualified_and_won(qualified: int, won: int, source: str = "web") -> list[bytes]:
    """`qualified` leads accepted by sales in January, the first `won` of them won."""
    lines = []
    for i in range(qualified):
        lead = f"{source}-{i}"
        lines.append(created(lead, "2026-01-05T09:00:00Z", source=source))
        lines.append(event("lead.sql", lead, "2026-01-12T09:00:00Z"))
        if i < won:
            lines.append(event("deal.won", lead, "2026-01-26T09:00:00Z"))
    return lines


def test_250_qualified_leads_and_50_won_deals_is_a_ratio_of_5_inside_the_band():
    series = replay(qualified_and_won(250, 50))
    assert value(series, QUALIFIED_TO_WON, **JANUARY) == 5.0
    assert value(series, BAND_POSITION, **JANUARY) == 0


def test_250_qualified_leads_and_40_won_deals_is_6_25_above_the_4_to_6_band():
    series = replay(qualified_and_won(250, 40))
    assert value(series, QUALIFIED_TO_WON, **JANUARY) == 6.25
    assert value(series, BAND_POSITION, **JANUARY) == 1


def test_150_qualified_leads_and_50_won_deals_is_3_below_the_band():
    series = replay(qualified_and_won(150, 50))
    assert value(series, QUALIFIED_TO_WON, **JANUARY) == 3.0
    assert value(series, BAND_POSITION, **JANUARY) == -1


def test_the_ratio_bounds_themselves_are_inside_the_band():
    assert value(replay(qualified_and_won(200, 50)), BAND_POSITION, **JANUARY) == 0  # 4.0
    assert value(replay(qualified_and_won(300, 50)), BAND_POSITION, **JANUARY) == 0  # 6.0


def test_no_qualified_to_won_ratio_is_derived_without_won_deals():
    series = replay(qualified_and_won(10, 0))
    assert not has(series, QUALIFIED_TO_WON)
    assert not has(series, BAND_POSITION)


def test_200_mqls_with_60_accepted_by_sales_is_an_mql_to_sql_rate_of_0_30():
    lines = [event("lead.mql", f"lead-{i}", "2026-01-05T09:00:00Z") for i in range(200)]
    lines += [event("lead.sql", f"lead-{i}", "2026-01-15T09:00:00Z") for i in range(60)]
    series = replay(lines)
    mql_to_sql = {"from_stage": "mql", "to_stage": "sql"}
    assert value(series, CONVERSION, **JANUARY, **mql_to_sql, basis="period") == 0.30
    assert value(series, CONVERSION, **JANUARY, **mql_to_sql, basis="cohort") == 0.30


def test_100_leads_with_25_won_is_a_lead_to_close_rate_of_0_25():
    lines = [created(f"lead-{i}", "2026-01-05T09:00:00Z") for i in range(100)]
    lines += [event("deal.won", f"lead-{i}", "2026-01-25T09:00:00Z") for i in range(25)]
    series = replay(lines)
    assert value(series, LEAD_TO_CLOSE, **JANUARY, basis="period") == 0.25
    assert value(series, LEAD_TO_CLOSE, **JANUARY, basis="cohort") == 0.25
    assert (
        value(series, CONVERSION, **JANUARY, from_stage="lead", to_stage="won", basis="cohort")
        == 0.25
    )


def test_the_win_rate_is_won_over_won_plus_lost():
    lines = [event("deal.won", f"won-{i}", "2026-01-20T09:00:00Z") for i in range(3)]
    lines += [event("deal.lost", "lost-1", "2026-01-21T09:00:00Z", reason="price")]
    series = replay(lines)
    assert value(series, WIN_RATE, **JANUARY) == 0.75


def test_the_mql_rejection_rate_is_rejected_entries_over_mql_entries():
    lines = [event("lead.mql", f"mql-{i}", "2026-01-20T09:00:00Z") for i in range(4)]
    lines += [event("lead.rejected", "mql-0", "2026-01-21T09:00:00Z", reason="no_budget")]
    series = replay(lines)
    assert value(series, "period:leadflow_mql_rejection:ratio", **JANUARY) == 0.25


def test_the_average_dwell_is_total_dwell_over_exits():
    series = replay(
        [
            event("lead.mql", "quick", "2026-01-05T09:00:00Z"),
            event("lead.sql", "quick", "2026-01-06T09:00:00Z"),
            event("lead.mql", "slow", "2026-01-05T09:00:00Z"),
            event("lead.sql", "slow", "2026-01-08T09:00:00Z"),
        ]
    )
    assert value(series, DWELL, **JANUARY, stage="mql") == 4 * DAY_S
    assert value(series, AVERAGE_DWELL, **JANUARY, stage="mql") == 2 * DAY_S


def test_derived_values_are_given_per_source_and_over_all_sources():
    lines = [
        created("web-1", "2026-01-02T09:00:00Z", source="web"),
        created("web-2", "2026-01-02T09:00:00Z", source="web"),
        created("web-3", "2026-01-02T09:00:00Z", source="web"),
        event("deal.won", "web-1", "2026-01-20T09:00:00Z"),
        event("deal.won", "web-2", "2026-01-20T09:00:00Z"),
        event("deal.lost", "web-3", "2026-01-20T09:00:00Z", reason="price"),
    ]
    lines += [created(f"ads-{i}", "2026-01-02T09:00:00Z", source="ads") for i in range(4)]
    lines += [event("deal.won", "ads-0", "2026-01-20T09:00:00Z")]
    lines += [
        event("deal.lost", f"ads-{i}", "2026-01-20T09:00:00Z", reason="timing") for i in (1, 2, 3)
    ]
    series = replay(lines)
    assert value(series, SOURCE_WIN_RATE, **JANUARY, source="web") == 2 / 3
    assert value(series, SOURCE_WIN_RATE, **JANUARY, source="ads") == 0.25
    assert value(series, WIN_RATE, **JANUARY) == 3 / 7
    overall = select(series, WIN_RATE, **JANUARY)
    assert all("source" not in dict(key) for key in overall)


# --- the config file ----------------------------------------------------------------


OVERRIDE_YAML = """\
targets:
  qualified_to_won_ratio: {target: 5, lower: 4, upper: 6}
  mql_to_sql_min_ratio: 0.2
sources:
  events:
    qualified_to_won_ratio: {target: 8, lower: 7, upper: 9}
    mql_to_sql_min_ratio: 0.4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leadflow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_per_source_override_changes_that_sources_targets_only(tmp_path):
    funnel = load_funnel(write(tmp_path, OVERRIDE_YAML))
    events, web, overall = (funnel.targets_for(s) for s in ("events", "web", None))
    assert (events.qualified_to_won_ratio.target, events.mql_to_sql_min_ratio) == (8, 0.4)
    assert (web.qualified_to_won_ratio.target, web.mql_to_sql_min_ratio) == (5, 0.2)
    assert web == overall


def test_targets_left_out_of_a_source_override_fall_back_to_the_global_ones(tmp_path):
    funnel = load_funnel(write(tmp_path, OVERRIDE_YAML))
    events, overall = funnel.targets_for("events"), funnel.targets_for(None)
    assert events.stage_dwell_max == overall.stage_dwell_max
    assert events.closed_deals == overall.closed_deals
    assert events.response_max == overall.response_max


def test_the_band_position_of_a_source_uses_its_own_band(tmp_path):
    funnel = load_funnel(write(tmp_path, OVERRIDE_YAML))
    series = replay(qualified_and_won(250, 50, source="events"), funnel=funnel)
    assert value(series, "period_source:leadflow_qualified_to_won:band_position", **JANUARY) == -1
    assert value(series, BAND_POSITION, **JANUARY) == 0  # 5.0 in the overall 4..6 band
    target = {"source": "events", "bound": "target"}
    assert value(series, "leadflow_target_qualified_to_won_ratio", **target) == 8


def test_no_config_file_gives_the_default_funnel():
    funnel = load_funnel(None)
    band = funnel.targets.qualified_to_won_ratio
    assert (funnel.qualified_stage, funnel.timezone) == ("sql", "UTC")
    assert (band.lower, band.target, band.upper) == (4, 5, 6)
    assert funnel.vocabulary.pipeline_stages == ("discovery", "demo", "proposal", "negotiation")


def test_an_out_of_range_target_is_reported_with_the_path_of_its_field(tmp_path):
    path = write(tmp_path, "targets:\n  mql_to_sql_min_ratio: 1.5\n")
    with pytest.raises(ConfigError, match=r"targets\.mql_to_sql_min_ratio"):
        load_funnel(path)


def test_an_unknown_key_in_a_source_override_is_reported_with_its_path(tmp_path):
    path = write(tmp_path, "sources:\n  web:\n    win_rate: 0.5\n")
    with pytest.raises(ConfigError, match=r"sources\.web\.win_rate"):
        load_funnel(path)


def test_a_band_with_its_target_outside_its_bounds_is_reported(tmp_path):
    path = write(tmp_path, "targets:\n  qualified_to_won_ratio: {target: 9, lower: 4, upper: 6}\n")
    with pytest.raises(ConfigError, match=r"targets\.qualified_to_won_ratio"):
        load_funnel(path)


def test_an_unknown_time_zone_is_reported_with_its_field(tmp_path):
    path = write(tmp_path, "funnel:\n  timezone: Mars/Olympus_Mons\n")
    with pytest.raises(ConfigError, match=r"timezone") as error:
        load_funnel(path)
    assert "Mars/Olympus_Mons" in str(error.value)


def test_a_config_file_that_is_not_yaml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_funnel(write(tmp_path, "targets: [unclosed\n"))
