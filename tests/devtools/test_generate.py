"""Behaviour of `leadflow generate`: the seeded synthetic event generator."""

from __future__ import annotations

import argparse
import io
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.generate import (
    BAD_LINE_KINDS,
    LOSS_REASONS,
    PROFILES,
    REJECTION_REASONS,
    Event,
    GeneratorSpec,
    LiveSpec,
    SourceProfile,
    generate_events,
    iter_lines,
    live_events,
    register,
    write_events,
)
from events import EventType
from leadflow.cli import main

END = datetime(2026, 3, 1, tzinfo=UTC)
TYPES = {str(kind) for kind in EventType}
STAGES = {"discovery", "demo", "proposal", "negotiation"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


# --------------------------------------------------------------------------- helpers


def contract_problem(event: Any, now: datetime) -> str | None:
    """Why `event` breaks contract section 1, or None. Written from the contract, not the code."""
    if not isinstance(event, dict):
        return "not an object"
    for name in ("event_id", "lead_id"):
        value = event.get(name)
        if not isinstance(value, str) or not 1 <= len(value) <= 128:
            return f"bad {name}"
    if event.get("type") not in TYPES:
        return "unknown type"
    occurred = event.get("occurred_at")
    if not isinstance(occurred, str) or not RFC3339.match(occurred):
        return "bad occurred_at"
    if datetime.fromisoformat(occurred) > now + timedelta(minutes=5):
        return "future"
    kind = event["type"]
    if "score" in event or kind == "lead.scored":
        score = event.get("score")
        if type(score) is not int or not 0 <= score <= 100:
            return "bad score"
    if kind == "lead.created":
        source = event.get("source")
        if not isinstance(source, str) or not 1 <= len(source) <= 64:
            return "bad source"
    if kind in ("lead.rejected", "deal.lost") and not isinstance(event.get("reason"), str):
        return "missing reason"
    if kind == "opportunity.stage_changed" and event.get("stage") not in STAGES:
        return "bad stage"
    if "amount" in event:
        amount = event["amount"]
        if type(amount) not in (int, float) or amount < 0:
            return "bad amount"
    if event.get("schema_version", 1) != 1:
        return "unsupported schema_version"
    return None


def line_problem(line: bytes, now: datetime) -> str | None:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not json or not utf-8"
    return contract_problem(event, now)


def canonical(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def first_times(events: list[dict[str, Any]]) -> dict[str, dict[str, datetime]]:
    """lead_id -> type -> earliest occurred_at (the contract's stage entry time)."""
    leads: dict[str, dict[str, datetime]] = defaultdict(dict)
    for event in events:
        at = datetime.fromisoformat(event["occurred_at"])
        types = leads[event["lead_id"]]
        if event["type"] not in types or at < types[event["type"]]:
            types[event["type"]] = at
    return leads


def sources(events: list[dict[str, Any]]) -> dict[str, str]:
    return {e["lead_id"]: e["source"] for e in events if e["type"] == "lead.created"}


@cache
def clean(seed: int = 3, events: int = 4_000) -> tuple[dict[str, Any], ...]:
    return tuple(generate_events(GeneratorSpec(seed=seed, events=events, end=END)))


@cache
def chaotic(seed: int = 3, events: int = 4_000) -> tuple[dict[str, Any], ...]:
    return tuple(generate_events(GeneratorSpec(seed=seed, events=events, end=END, chaos=True)))


@cache
def big_default() -> tuple[dict[str, Any], ...]:
    return tuple(generate_events(GeneratorSpec(seed=11, events=80_000, end=END)))


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_events() -> None:
    spec = GeneratorSpec(seed=5, events=2_000, end=END)
    assert list(generate_events(spec)) == list(generate_events(spec))


def test_same_seed_gives_identical_chaos_order() -> None:
    spec = GeneratorSpec(seed=5, events=2_000, end=END, chaos=True)
    assert list(generate_events(spec)) == list(generate_events(spec))


def test_different_seeds_give_different_events() -> None:
    ids_a = {e["event_id"] for e in clean(seed=1, events=1_000)}
    ids_b = {e["event_id"] for e in clean(seed=2, events=1_000)}
    assert not ids_a & ids_b


# --------------------------------------------------------------------------- contract


def test_every_event_satisfies_the_contract() -> None:
    problems = Counter(contract_problem(e, datetime.now(UTC)) for e in clean())
    assert problems == Counter({None: len(clean())})


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    leads=st.integers(0, 150),
    days=st.floats(0.01, 400),
    end=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1)),
)
def test_no_event_is_after_end_and_all_are_valid(
    seed: int, leads: int, days: float, end: datetime
) -> None:
    end = end.replace(tzinfo=UTC)
    events = list(generate_events(GeneratorSpec(seed=seed, leads=leads, days=days, end=end)))
    assert all(datetime.fromisoformat(e["occurred_at"]) <= end for e in events)
    assert all(contract_problem(e, datetime.now(UTC)) is None for e in events)


def test_default_end_is_not_after_the_wall_clock() -> None:
    before = datetime.now(UTC)
    spec = GeneratorSpec(events=10)
    assert spec.end <= datetime.now(UTC)
    assert before - spec.end < timedelta(minutes=1)
    assert (spec.end.second, spec.end.microsecond) == (0, 0)


def test_clean_output_is_sorted_by_occurred_at() -> None:
    times = [datetime.fromisoformat(e["occurred_at"]) for e in clean()]
    assert times == sorted(times)


def test_event_ids_are_unique() -> None:
    ids = [e["event_id"] for e in big_default()]
    assert len(set(ids)) == len(ids)


def test_lead_ids_are_L_and_ten_hex_chars() -> None:
    assert all(re.fullmatch(r"L[0-9a-f]{10}", e["lead_id"]) for e in clean())


def test_every_lead_starts_with_lead_created() -> None:
    for lead_id, types in first_times(list(clean())).items():
        assert min(types.values()) == types["lead.created"], lead_id


def test_timestamps_use_z_and_several_offsets() -> None:
    suffixes = Counter(e["occurred_at"][23:] for e in clean())
    assert {"Z", "+00:00", "+01:00", "-05:00", "+05:30"} <= set(suffixes)
    assert suffixes["Z"] > len(clean()) / 3


def test_stage_changes_follow_pipeline_order_within_a_lead() -> None:
    order = ["discovery", "demo", "proposal", "negotiation"]
    stages: dict[str, list[str]] = defaultdict(list)
    for event in clean():
        if event["type"] == "opportunity.stage_changed":
            stages[event["lead_id"]].append(event["stage"])
    assert stages
    for seen in stages.values():
        assert seen == sorted(seen, key=order.index)
        assert 1 <= len(seen) <= 3


def test_reasons_include_odd_spellings_and_unknown_values() -> None:
    reasons = [e["reason"] for e in big_default() if "reason" in e]
    known = set(REJECTION_REASONS) | set(LOSS_REASONS)
    odd = [r for r in reasons if r not in known and r.strip().lower() in known]
    unknown = [r for r in reasons if r.strip().lower() not in known]
    assert 0.02 < len(odd) / len(reasons) < 0.08
    assert 0.002 < len(unknown) / len(reasons) < 0.03


# --------------------------------------------------------------------------- sizes


def test_leads_gives_exactly_that_many_leads() -> None:
    events = list(generate_events(GeneratorSpec(seed=4, leads=777, end=END)))
    assert sum(e["type"] == "lead.created" for e in events) == 777


def test_events_target_is_met_within_five_percent() -> None:
    assert abs(len(clean(seed=9, events=20_000)) - 20_000) < 1_000


def test_spec_rejects_naive_end_and_both_sizes() -> None:
    with pytest.raises(ValueError, match="timezone"):
        GeneratorSpec(end=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="either"):
        GeneratorSpec(leads=10, events=10, end=END)


# --------------------------------------------------------------------------- realism


def test_default_profile_rates_are_in_domain_ranges() -> None:
    events = list(big_default())
    leads = first_times(events)
    # Cohorts old enough to have finished their funnel (lead to won takes ~30 days).
    mature = [t for t in leads.values() if t["lead.created"] < END - timedelta(days=60)]

    def conversion(frm: str, to: str) -> float:
        entered = [t for t in mature if frm in t]
        return sum(to in t for t in entered) / len(entered)

    assert 0.25 <= conversion("lead.created", "lead.mql") <= 0.40
    assert 0.25 <= conversion("lead.mql", "lead.sql") <= 0.40
    assert 0.45 <= conversion("lead.sql", "opportunity.created") <= 0.65
    assert 0.17 <= conversion("lead.sql", "deal.won") <= 0.23  # qualified-to-won ratio ~5
    # Steady state (last 60 days): sql entries per won entry in the same period.
    recent = END - timedelta(days=60)
    sql = sum(t.get("lead.sql", END) >= recent for t in leads.values() if "lead.sql" in t)
    won = sum(t.get("deal.won", END) >= recent for t in leads.values() if "deal.won" in t)
    assert 4.0 <= sql / won <= 6.0


def test_some_leads_reach_sql_without_mql() -> None:
    leads = first_times(list(big_default()))
    skipped = sum("lead.sql" in t and "lead.mql" not in t for t in leads.values())
    assert 0.015 <= skipped / len(leads) <= 0.045


def test_some_opportunities_stay_open_at_end() -> None:
    leads = first_times(list(big_default()))
    opportunities = [t for t in leads.values() if "opportunity.created" in t]
    open_ = [t for t in opportunities if "deal.won" not in t and "deal.lost" not in t]
    assert 0.1 < len(open_) / len(opportunities) < 0.6


def test_ratio_skew_puts_paid_search_sql_to_won_above_ten() -> None:
    spec = GeneratorSpec(seed=2, events=20_000, end=END, profiles=PROFILES["ratio-skew"])
    events = list(generate_events(spec))
    source_of = sources(events)
    per_source: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        if event["type"] in ("lead.sql", "deal.won"):
            per_source[source_of[event["lead_id"]]][event["type"]] += 1
    paid = per_source["paid_search"]
    assert paid["lead.sql"] > 10 * max(paid["deal.won"], 1)


# --------------------------------------------------------------------------- chaos


def test_chaos_has_the_same_distinct_events_as_clean() -> None:
    assert {canonical(e) for e in chaotic()} == {canonical(e) for e in clean()}


def test_chaos_adds_about_five_percent_duplicates() -> None:
    extra = len(chaotic()) - len(clean())
    assert 0.03 * len(clean()) < extra < 0.07 * len(clean())


def test_duplicates_repeat_event_id_with_identical_content() -> None:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in chaotic():
        by_id[event["event_id"]].append(event)
    repeated = [copies for copies in by_id.values() if len(copies) > 1]
    assert repeated
    assert all(copy == copies[0] for copies in repeated for copy in copies)


def test_chaos_changes_arrival_order() -> None:
    times = [datetime.fromisoformat(e["occurred_at"]) for e in chaotic()]
    inversions = sum(a > b for a, b in itertools.pairwise(times))
    assert inversions > len(times) / 4


def test_chaos_delivers_some_lead_created_after_a_later_event_of_its_lead() -> None:
    seen: set[str] = set()
    late = 0
    for event in chaotic():
        if event["type"] == "lead.created" and event["lead_id"] in seen:
            late += 1
        seen.add(event["lead_id"])
    assert late > 0.1 * sum(e["type"] == "lead.created" for e in clean())


def test_chaos_keeps_a_bounded_shuffle_window() -> None:
    """Past the window, arrival order still follows time roughly: memory stays bounded."""
    events = chaotic(seed=3, events=60_000)
    first = datetime.fromisoformat(events[0]["occurred_at"])
    last = datetime.fromisoformat(events[-1]["occurred_at"])
    assert first < last - timedelta(days=30)


# --------------------------------------------------------------------------- lines


def test_lines_without_bad_lines_are_the_events_as_json() -> None:
    lines = list(iter_lines(clean()))
    assert [orjson.loads(line) for line in lines] == list(clean())
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)


def test_bad_lines_make_up_the_requested_fraction() -> None:
    now = datetime.now(UTC)
    lines = list(iter_lines(clean(), bad_lines=0.1, seed=8))
    bad = sum(line_problem(line, now) is not None for line in lines)
    assert 0.09 <= bad / len(lines) <= 0.11


def test_bad_lines_leave_every_valid_event_in_place() -> None:
    now = datetime.now(UTC)
    lines = list(iter_lines(clean(), bad_lines=0.3, seed=8))
    valid = [orjson.loads(line) for line in lines if line_problem(line, now) is None]
    assert valid == list(clean())


def test_bad_lines_cover_every_kind_of_invalid_input() -> None:
    now = datetime.now(UTC)
    lines = list(iter_lines(clean(), bad_lines=0.3, seed=8))
    problems = {line_problem(line, now) for line in lines} - {None}
    assert len(BAD_LINE_KINDS) == 15
    assert problems >= {
        "not json or not utf-8",
        "not an object",
        "unknown type",
        "bad occurred_at",
        "future",
        "bad score",
        "bad stage",
        "bad amount",
        "unsupported schema_version",
        "bad lead_id",
        "bad event_id",
    }


def test_write_events_reports_events_and_lines() -> None:
    out = io.BytesIO()
    stats = write_events(clean(), out, bad_lines=0.2, seed=1)
    assert stats.events == len(clean())
    assert stats.lines == out.getvalue().count(b"\n")
    assert 0.15 < stats.bad_lines / stats.lines < 0.25


# --------------------------------------------------------------------------- live


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_live_events_are_never_ahead_of_the_clock() -> None:
    clock = FakeClock(1_780_000_000.0)
    spec = LiveSpec(seed=1, rate=200, speedup=86_400, limit=3_000)
    for event in live_events(spec, clock=clock.time, sleep=clock.sleep):
        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
        assert occurred <= clock.now
        assert contract_problem(event, datetime.fromtimestamp(clock.now, UTC)) is None


def test_live_events_reach_deals_and_pace_to_the_rate() -> None:
    clock = FakeClock(1_780_000_000.0)
    spec = LiveSpec(seed=1, rate=200, speedup=86_400, limit=6_000)
    events = list(live_events(spec, clock=clock.time, sleep=clock.sleep))
    assert len(events) == 6_000
    assert {"deal.won", "deal.lost"} <= {e["type"] for e in events}
    elapsed = clock.now - 1_780_000_000.0
    assert 100 < len(events) / elapsed < 400  # warm-up keeps it a little under the rate


# --------------------------------------------------------------------------- CLI


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="leadflow")
    register(parser.add_subparsers())
    return parser.parse_args(["generate", *argv])


def test_cli_writes_json_lines_to_a_file(tmp_path: Any) -> None:
    out = tmp_path / "events.jsonl"
    args = parse(
        "--events", "500", "--seed", "3", "--end", "2026-03-01T00:00:00Z", "--out", str(out)
    )
    assert args.func(args) == 0
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    spec = GeneratorSpec(seed=3, events=500, end=END)
    assert events == list(generate_events(spec))


def test_cli_refuses_an_end_in_the_future(tmp_path: Any, capsys: Any) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert main(["generate", "--end", future, "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "is in the future" in capsys.readouterr().err


def test_cli_rejects_an_end_without_offset() -> None:
    with pytest.raises(SystemExit):
        parse("--end", "2026-03-01T00:00:00")


# --------------------------------------------------------------------------- live after a history

HISTORY = GeneratorSpec(seed=7, events=30_000, days=120, end=datetime(2026, 11, 20, 12, tzinfo=UTC))
FEED_START = HISTORY.end.timestamp() + 40  # the demo starts its feed a little after the history


@cache
def history_events() -> tuple[Event, ...]:
    return tuple(generate_events(HISTORY))


def feed_minutes(spec: LiveSpec, minutes: int) -> list[tuple[float, Event]]:
    """(seconds since the feed started, event) for the first `minutes` of a feed."""
    clock = FakeClock(FEED_START)
    timed = []
    for event in live_events(spec, clock=clock.time, sleep=clock.sleep):
        if clock.now - FEED_START > minutes * 60:
            break
        timed.append((clock.now - FEED_START, event))
    return timed


def month_ratio(events: Iterable[Event], month: str = "2026-11") -> float:
    """Qualified (sql) entries per won deal among `events` that occurred in `month` (UTC)."""
    counts = Counter(
        event["type"]
        for event in events
        if datetime.fromisoformat(event["occurred_at"]).astimezone(UTC).strftime("%Y-%m") == month
    )
    return counts["lead.sql"] / counts["deal.won"]


def test_a_feed_after_a_history_closes_deals_won_and_lost_in_its_first_minute() -> None:
    first_minute = Counter(e["type"] for _, e in feed_minutes(LiveSpec.after(HISTORY, 20.0), 1))
    assert first_minute["deal.won"] >= 5
    assert first_minute["deal.lost"] >= 10


def test_a_feed_after_a_history_keeps_the_months_qualified_to_won_ratio() -> None:
    history = history_events()
    before = month_ratio(history)
    timed = feed_minutes(LiveSpec.after(HISTORY, 20.0), 5)
    for minute in range(1, 6):
        so_far = [event for seconds, event in timed if seconds <= minute * 60]
        assert month_ratio([*history, *so_far]) == pytest.approx(before, rel=0.1), minute


def test_a_fresh_feed_piles_up_qualified_leads_without_wins() -> None:
    # Why the demo continues its history: a feed that starts empty closes its first
    # deals only when they reach the end of the funnel, weeks of funnel time later.
    history = history_events()
    timed = feed_minutes(LiveSpec(rate=20.0, speedup=3600.0), 4)
    assert not any(event["type"] == "deal.won" for _, event in timed)
    assert month_ratio([*history, *(e for _, e in timed)]) > 1.3 * month_ratio(history)


def expected_win_rate(profiles: tuple[SourceProfile, ...]) -> float:
    """won / (won + lost) that the profiles' probabilities imply."""
    won = lost = 0.0
    for p in profiles:
        opportunities = p.weight * (p.p_direct_sql + p.p_mql * p.p_sql) * p.p_opportunity
        won += opportunities * p.p_won
        lost += opportunities * p.p_lost
    return won / (won + lost)


@pytest.mark.parametrize("profile", ["default", "ratio-skew"])
def test_a_feed_after_a_history_closes_won_and_lost_in_the_profiles_proportion(
    profile: str,
) -> None:
    history = replace(HISTORY, profiles=PROFILES[profile])
    closed = Counter(
        e["type"]
        for _, e in feed_minutes(LiveSpec.after(history, 20.0), 10)
        if e["type"] in ("deal.won", "deal.lost")
    )
    assert closed.total() > 150
    win_rate = closed["deal.won"] / closed.total()
    assert win_rate == pytest.approx(expected_win_rate(PROFILES[profile]), abs=0.05)


def test_every_lead_of_a_feed_after_a_history_was_created_before_its_other_events() -> None:
    # A lead whose lead.created was never sent would count under source `unknown`.
    created = {e["lead_id"] for e in history_events() if e["type"] == "lead.created"}
    for _, event in feed_minutes(LiveSpec.after(HISTORY, 20.0), 5):
        if event["type"] == "lead.created":
            created.add(event["lead_id"])
        assert event["lead_id"] in created, event


def test_a_feed_after_a_history_sends_none_of_the_historys_events_again() -> None:
    sent = {e["event_id"] for e in history_events()}
    feed = [e["event_id"] for _, e in feed_minutes(LiveSpec.after(HISTORY, 20.0), 5)]
    assert sent.isdisjoint(feed)
    assert len(set(feed)) == len(feed)


def test_a_feed_after_a_history_is_never_ahead_of_the_clock() -> None:
    clock = FakeClock(FEED_START)
    spec = replace(LiveSpec.after(HISTORY, 20.0), limit=5_000)
    for event in live_events(spec, clock=clock.time, sleep=clock.sleep):
        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
        assert occurred <= clock.now
        assert contract_problem(event, datetime.fromtimestamp(clock.now, UTC)) is None


def test_a_feed_after_a_history_creates_leads_as_densely_per_funnel_day() -> None:
    spec = LiveSpec.after(HISTORY, 20.0)
    timed = feed_minutes(spec, 10)
    new_leads = sum(1 for _, e in timed if e["type"] == "lead.created")
    funnel_days = 10 * 60 * spec.speedup / 86_400
    history_leads = sum(1 for e in history_events() if e["type"] == "lead.created")
    assert new_leads / funnel_days == pytest.approx(history_leads / HISTORY.days, rel=0.1)
