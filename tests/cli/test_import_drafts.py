"""Finishing drafts into events: ids, bare dates, order (leadflow.importers.drafts)."""

from __future__ import annotations

import json
import random
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from events import EventType
from leadflow.importers.drafts import Draft, finish
from leadflow.importers.timestamps import Stamp

BERLIN = ZoneInfo("Europe/Berlin")
TYPES = [
    EventType.LEAD_CREATED,
    EventType.LEAD_MQL,
    EventType.LEAD_SQL,
    EventType.OPPORTUNITY_CREATED,
    EventType.DEAL_WON,
]


def at(text: str, date_only: bool = False) -> Stamp:
    return Stamp(datetime.fromisoformat(text).replace(tzinfo=BERLIN), date_only)


def test_an_event_id_is_the_record_the_type_and_the_utc_instant() -> None:
    draft = Draft("lead-1", EventType.DEAL_WON, at("2024-05-28 17:00"), "crm-opportunity-9")
    [line] = finish([draft])
    assert json.loads(line)["event_id"] == "crm-opportunity-9:deal.won:2024-05-28T15:00:00Z"


def test_a_stage_change_id_names_its_stage() -> None:
    fields = {"stage": "demo"}
    draft = Draft("l", EventType.OPPORTUNITY_STAGE_CHANGED, at("2024-05-28 17:00"), "r", fields)
    [line] = finish([draft])
    assert json.loads(line)["event_id"] == "r:opportunity.stage_changed:demo:2024-05-28T15:00:00Z"


def test_a_bare_date_follows_the_same_days_earlier_stage_of_its_lead() -> None:
    drafts = [
        Draft("l", EventType.LEAD_CREATED, at("2024-05-10 11:15"), "r"),
        Draft("l", EventType.LEAD_SQL, at("2024-05-10", date_only=True), "r"),
        Draft("l", EventType.DEAL_WON, at("2024-05-12", date_only=True), "r"),
    ]
    times = [json.loads(line)["occurred_at"] for line in finish(drafts)]
    assert times == [
        "2024-05-10T11:15:00+02:00",
        "2024-05-10T11:15:00+02:00",
        "2024-05-12T00:00:00+02:00",
    ]


drafts_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(TYPES),
        st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31)),
        st.booleans(),
    ),
    max_size=30,
)


def _drafts(specs: list[tuple[str, EventType, datetime, bool]]) -> list[Draft]:
    out = []
    for lead, kind, moment, bare in specs:
        if bare:
            moment = datetime.combine(moment.date(), datetime.min.time())
        record = f"rec-{lead}-{moment:%Y%m%d%H%M%S}-{bare}"
        out.append(Draft(lead, kind, Stamp(moment.replace(tzinfo=BERLIN), bare), record))
    return out


@given(drafts_strategy, st.randoms())
def test_the_output_depends_on_the_drafts_not_their_order_nor_repeats(
    specs: list[tuple[str, EventType, datetime, bool]], rng: random.Random
) -> None:
    shuffled = specs + rng.sample(specs, k=len(specs) // 2)
    rng.shuffle(shuffled)
    assert finish(_drafts(shuffled)) == finish(_drafts(specs))


@given(drafts_strategy)
def test_a_bare_date_stays_on_its_day(specs: list[tuple[str, EventType, datetime, bool]]) -> None:
    drafts = _drafts(specs)
    days = {d.record: d.at.day for d in drafts if d.at.date_only}
    for line in finish(drafts):
        event = json.loads(line)
        record = event["event_id"].split(":")[0]
        if record in days:
            assert datetime.fromisoformat(event["occurred_at"]).date() == days[record]
