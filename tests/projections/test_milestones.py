"""Per-lead milestone breaches are a pure function of the lead's events and an instant:
examples of each rule, then properties (order and duplicates never matter, out-of-order
events never raise a false breach)."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from builders import decoded, event, micros
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadflow.cli import main as leadflow_main
from leadflow.config import ConfigError, load_funnel
from projections import Funnel, LeadState, TargetOverrides, Targets
from projections.milestones import (
    Breach,
    Milestones,
    Rule,
    alert_annotations,
    alert_labels,
    breach_counts,
    breach_family,
    readable,
)

PROPERTY = settings(max_examples=200, deadline=None)
FUNNEL = Funnel()
RULES = Milestones(FUNNEL)
HOT = {"score": 85}


def state_of(*lines: bytes) -> LeadState:
    state = LeadState()
    for line in lines:
        state.apply(decoded(line))
    return state


def breaches_at(at: str, *lines: bytes, rules: Milestones = RULES) -> list[Breach]:
    return rules.breaches("L1", state_of(*lines), micros(at))


CREATED_HOT = event(
    "lead.created", "L1", "2026-03-02T08:00:00Z", source="webinar", campaign="q1", **HOT
)
MQL = event("lead.mql", "L1", "2026-03-02T09:00:00Z")


def test_a_hot_mql_not_contacted_within_an_hour_is_in_breach() -> None:
    (breach,) = breaches_at("2026-03-02T10:00:00Z", CREATED_HOT, MQL)
    assert breach == Breach(
        rule=Rule.RESPONSE,
        lead_id="L1",
        source="webinar",
        tier="hot",
        stage="mql",
        since=micros("2026-03-02T09:00:00Z"),
        sla=3_600_000_000,
        campaign="q1",
        deadline=micros("2026-03-02T10:00:00Z"),
    )


def test_a_hot_mql_is_not_in_breach_before_its_sla_has_passed() -> None:
    assert breaches_at("2026-03-02T09:59:59Z", CREATED_HOT, MQL) == []


def test_a_warm_mql_has_a_day() -> None:
    warm = event("lead.created", "L1", "2026-03-02T08:00:00Z", source="webinar", score=50)
    assert breaches_at("2026-03-03T08:59:59Z", warm, MQL) == []
    (breach,) = breaches_at("2026-03-03T09:00:00Z", warm, MQL)
    assert (breach.tier, breach.sla) == ("warm", 86_400_000_000)


def test_a_cold_mql_has_no_response_sla_by_default() -> None:
    cold = event("lead.created", "L1", "2026-03-02T08:00:00Z", source="webinar", score=10)
    assert breaches_at("2026-04-01T00:00:00Z", cold, MQL) == []


def test_the_tier_is_the_score_in_force_at_the_mql_entry() -> None:
    later_hot = event("lead.scored", "L1", "2026-03-02T12:00:00Z", score=90)
    warm = event("lead.created", "L1", "2026-03-02T08:00:00Z", source="webinar", score=50)
    (breach,) = breaches_at("2026-03-04T00:00:00Z", warm, MQL, later_hot)
    assert breach.tier == "warm"


def test_a_contact_ends_the_breach_from_its_instant_on() -> None:
    contacted = event("lead.contacted", "L1", "2026-03-02T11:00:00Z")
    assert len(breaches_at("2026-03-02T10:59:59Z", CREATED_HOT, MQL, contacted)) == 1
    assert breaches_at("2026-03-02T11:00:00Z", CREATED_HOT, MQL, contacted) == []


def test_a_contact_stamped_before_the_mql_means_no_breach() -> None:
    early = event("lead.contacted", "L1", "2026-03-02T08:30:00Z")
    assert breaches_at("2026-03-05T00:00:00Z", CREATED_HOT, MQL, early) == []


def test_moving_on_to_sql_or_an_exit_ends_the_response_breach() -> None:
    for moved in (
        event("lead.sql", "L1", "2026-03-02T12:00:00Z"),
        event("lead.rejected", "L1", "2026-03-02T12:00:00Z", reason="wrong_fit"),
        event("opportunity.created", "L1", "2026-03-02T12:00:00Z"),
    ):
        assert breaches_at("2026-03-02T12:00:00Z", CREATED_HOT, MQL, moved) == []


def test_a_late_lead_created_moves_the_breach_to_its_source_and_tier() -> None:
    unscored = breaches_at("2026-03-02T10:00:00Z", MQL)
    assert unscored == []  # unscored leads have no response SLA by default
    (breach,) = breaches_at("2026-03-02T10:00:00Z", MQL, CREATED_HOT)
    assert (breach.source, breach.tier) == ("webinar", "hot")


def test_a_source_override_changes_the_sla() -> None:
    funnel = Funnel(
        sources={"webinar": TargetOverrides(response_max_by_tier={"hot": timedelta(hours=4)})}
    )
    rules = Milestones(funnel)
    assert breaches_at("2026-03-02T12:59:59Z", CREATED_HOT, MQL, rules=rules) == []
    assert len(breaches_at("2026-03-02T13:00:00Z", CREATED_HOT, MQL, rules=rules)) == 1


OPPORTUNITY = event("opportunity.created", "L1", "2026-03-01T09:00:00Z")
PROPOSAL = event("opportunity.stage_changed", "L1", "2026-03-02T09:00:00Z", stage="proposal")


def test_a_deal_in_proposal_for_longer_than_21_days_is_stuck() -> None:
    assert breaches_at("2026-03-23T08:59:59Z", CREATED_HOT, OPPORTUNITY, PROPOSAL) == []
    (breach,) = breaches_at("2026-03-23T09:00:00Z", CREATED_HOT, OPPORTUNITY, PROPOSAL)
    assert (breach.rule, breach.stage, breach.since) == (
        Rule.PIPELINE_STAGE,
        "proposal",
        micros("2026-03-02T09:00:00Z"),
    )


def test_a_closed_deal_is_never_stuck() -> None:
    won = event("deal.won", "L1", "2026-03-20T09:00:00Z")
    assert breaches_at("2026-05-01T00:00:00Z", CREATED_HOT, OPPORTUNITY, PROPOSAL, won) == []


def test_an_instant_before_the_latest_stage_change_names_no_stage() -> None:
    negotiation = event(
        "opportunity.stage_changed", "L1", "2026-04-01T09:00:00Z", stage="negotiation"
    )
    lines = (CREATED_HOT, OPPORTUNITY, PROPOSAL, negotiation)
    assert breaches_at("2026-03-25T00:00:00Z", *lines) == []


def test_labels_name_the_lead_and_annotations_the_wait() -> None:
    (breach,) = breaches_at("2026-03-02T10:05:00Z", CREATED_HOT, MQL)
    assert alert_labels(breach, "leadflow") == {
        "alertname": "LeadflowLeadResponseOverdue",
        "app": "leadflow",
        "rule": "response",
        "lead_id": "L1",
        "source": "webinar",
        "tier": "hot",
        "stage": "mql",
        "team": "sales",
        "severity": "warning",
    }
    notes = alert_annotations(breach, micros("2026-03-02T10:05:00Z"))
    assert notes["summary"] == (
        "Lead L1 (hot, webinar) has waited 1h 05m for a first contact since its MQL at "
        "2026-03-02T09:00:00Z; the SLA is 1h 00m (campaign q1)"
    )
    assert (notes["waited_seconds"], notes["sla_seconds"], notes["campaign"]) == (
        "3900",
        "3600",
        "q1",
    )


def test_readable_durations() -> None:
    second = 1_000_000
    assert [readable(n * second) for n in (42, 125, 3900, 90_000 + 14_400)] == [
        "42s",
        "2m 05s",
        "1h 05m",
        "1d 5h",
    ]


def test_the_gauge_counts_breaches_without_lead_labels() -> None:
    other = event("lead.created", "L2", "2026-03-02T08:00:00Z", source="webinar", **HOT)
    leads = [
        ("L1", state_of(CREATED_HOT, MQL)),
        ("L2", state_of(other, event("lead.mql", "L2", "2026-03-02T08:30:00Z"))),
    ]
    found = RULES.all_breaches(leads, micros("2026-03-02T12:00:00Z"))
    family = breach_family(breach_counts(found))
    assert family.name == "leadflow_milestone_breaches"
    ((labels, value),) = [(dict(s.labels), s.value) for s in family.samples]
    assert labels == {"source": "webinar", "tier": "hot", "stage": "mql", "rule": "response"}
    assert value == 2.0


def test_config_refuses_a_limit_for_an_unknown_tier() -> None:
    with pytest.raises(ValidationError, match="response_max_by_tier: lukewarm is not a score tier"):
        Funnel(targets=Targets(response_max_by_tier={"lukewarm": timedelta(hours=1)}))
    with pytest.raises(ValidationError, match="pipeline_stage_max: signing is not a pipeline"):
        Funnel(sources={"ads": TargetOverrides(pipeline_stage_max={"signing": timedelta(days=1)})})


# ------------------------------------------------------------------ properties

LEAD_TIMES = [
    f"2026-03-02T{hour:02d}:{minute:02d}:00Z" for hour in (8, 9, 10) for minute in (0, 30)
]
ONE_LEAD = st.sampled_from(
    [
        *(
            event("lead.created", "L1", at, source=source, score=score)
            for at in LEAD_TIMES[:3]
            for source in ("webinar", "ads")
            for score in (20, 50, 90)
        ),
        *(event("lead.mql", "L1", at) for at in LEAD_TIMES),
        *(event("lead.scored", "L1", at, score=score) for at in LEAD_TIMES for score in (10, 95)),
        *(event("lead.contacted", "L1", at) for at in LEAD_TIMES),
        *(event("lead.sql", "L1", at) for at in LEAD_TIMES[3:]),
        event("opportunity.created", "L1", "2026-03-02T09:30:00Z"),
        *(
            event("opportunity.stage_changed", "L1", at, stage=stage)
            for at in LEAD_TIMES
            for stage in ("discovery", "proposal")
        ),
    ]
)
INSTANTS = st.sampled_from(
    ["2026-03-02T09:15:00Z", "2026-03-02T11:00:00Z", "2026-03-20T00:00:00Z", "2026-06-01T00:00:00Z"]
)
SHORT = Milestones(
    Funnel(
        targets=Targets(
            response_max_by_tier={"hot": timedelta(minutes=30), "warm": timedelta(hours=1)},
            pipeline_stage_max={"discovery": timedelta(days=1), "proposal": timedelta(days=2)},
        )
    )
)


@PROPERTY
@given(st.lists(ONE_LEAD, min_size=1, max_size=12), st.randoms(), INSTANTS)
def test_order_and_duplicates_never_change_the_breaches(lines, random, at) -> None:
    shuffled = [*lines, *lines[: len(lines) // 2]]
    random.shuffle(shuffled)
    assert breaches_at(at, *lines, rules=SHORT) == breaches_at(at, *shuffled, rules=SHORT)


@PROPERTY
@given(st.lists(ONE_LEAD, min_size=1, max_size=12), INSTANTS)
def test_a_lead_contacted_by_the_instant_is_never_overdue_for_a_response(lines, at) -> None:
    contacted = event("lead.contacted", "L1", "2026-03-02T09:00:00Z")
    found = breaches_at(at, *lines, contacted, rules=SHORT)
    assert not [b for b in found if b.rule is Rule.RESPONSE]


@PROPERTY
@given(st.lists(ONE_LEAD, min_size=1, max_size=12), INSTANTS)
def test_every_breach_is_past_its_deadline_and_open_at_the_instant(lines, at) -> None:
    state = state_of(*lines)
    instant = micros(at)
    for breach in SHORT.breaches("L1", state, instant):
        assert breach.deadline <= instant
        assert breach.since <= instant
        if breach.rule is Rule.RESPONSE:
            assert state.times[3] > instant  # CONTACTED: not contacted by then


@PROPERTY
@given(st.lists(ONE_LEAD, min_size=1, max_size=12), INSTANTS, INSTANTS)
def test_a_lead_no_longer_watched_has_no_breach_later(lines, first, second) -> None:
    # The worker stops looking at such a lead until new events change it.
    earlier, later = sorted((micros(first), micros(second)))
    state = state_of(*lines)
    if not SHORT.watching(state, earlier):
        assert SHORT.breaches("L1", state, later) == []


def test_a_config_file_naming_an_unknown_tier_is_one_line_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("targets:\n  response_max_by_tier: {lukewarm: 1h}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_funnel(path)
    assert str(raised.value) == (
        f"config file {path}: targets.response_max_by_tier: lukewarm is not a score tier "
        "(tiers: cold, hot, unscored, warm)"
    )


def test_a_breach_older_than_the_maximum_age_is_history_not_an_alert() -> None:
    # Deadline 2026-03-02T10:00; the default maximum age is 30 days.
    assert len(breaches_at("2026-04-01T10:00:00Z", CREATED_HOT, MQL)) == 1
    assert breaches_at("2026-04-01T10:00:01Z", CREATED_HOT, MQL) == []
    assert not RULES.watching(state_of(CREATED_HOT, MQL), micros("2026-04-01T10:00:01Z"))
    forever = Milestones(Funnel(targets=Targets(milestone_max_age=None)))
    assert len(breaches_at("2027-01-01T00:00:00Z", CREATED_HOT, MQL, rules=forever)) == 1


def test_a_contacted_or_closed_lead_is_no_longer_watched() -> None:
    contacted = event("lead.contacted", "L1", "2026-03-02T11:00:00Z")
    at = micros("2026-03-02T12:00:00Z")
    assert RULES.watching(state_of(CREATED_HOT, MQL), at)
    assert not RULES.watching(state_of(CREATED_HOT, MQL, contacted), at)
    won = event("deal.won", "L1", "2026-03-02T11:00:00Z")
    assert not RULES.watching(state_of(CREATED_HOT, OPPORTUNITY, PROPOSAL, won), at)


def test_replay_writes_the_breach_report_as_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LEADFLOW_CONFIG", raising=False)
    monkeypatch.setenv("LEADFLOW_APP_ID", "acme")
    contacted = event("lead.contacted", "L1", "2026-03-02T10:30:00Z")
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join((CREATED_HOT, MQL, contacted)) + b"\n")
    report = tmp_path / "breaches.csv"
    argv = ["replay", str(events), "--as-of", "2026-03-02T10:15:00Z", "--breaches", str(report)]
    assert leadflow_main(argv) == 0
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(row["lead_id"], row["app"], row["startsAt"], row["waited"]) for row in rows] == [
        ("L1", "acme", "2026-03-02T10:00:00Z", "1h 15m")
    ]
    # At 10:30 it was contacted: in breach no longer.
    argv[argv.index("2026-03-02T10:15:00Z")] = "2026-03-02T10:30:00Z"
    assert leadflow_main(argv) == 0
    assert list(csv.DictReader(report.open(encoding="utf-8"))) == []
    assert "0 milestone breaches written" in capsys.readouterr().err
