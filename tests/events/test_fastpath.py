"""The msgspec fast path accepts exactly what the pydantic contract accepts, and agrees."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from events import EventType, Vocabulary, decode
from events.decode import decode_reference
from events.fastpath import DECODER
from events.models import WIRE_EVENT

VOCABULARY = Vocabulary()
NOW = 1_800_000_000_000_000  # 2027-01-15, after every generated timestamp

TYPES = [*(str(kind) for kind in EventType), "lead.other"]
TIMESTAMPS = st.one_of(
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2026, 12, 31),
        timezones=st.sampled_from(
            [UTC, *(timezone(timedelta(minutes=m)) for m in (-300, 60, 330, 345))]
        ),
    ).map(lambda moment: moment.isoformat()),
    st.sampled_from(
        [
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:00",
            "2026-01-05",
            "1767225600",
            "",
            "2026-01-05T10:00:00.123456789Z",
            "2026-02-30T10:00:00Z",
            "2026-01-05T10:00Z",
            "2026-01-05 10:00:00+01:00",
            "2026-01-05T25:00:00Z",
        ]
    ),
    st.integers(),
    st.none(),
)
TEXT = st.one_of(st.text(max_size=3), st.text(min_size=60, max_size=140), st.integers(), st.none())
NUMBER = st.one_of(
    st.integers(min_value=-5, max_value=150),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {}
    fields = {
        "event_id": TEXT | st.uuids().map(str),
        "type": st.sampled_from(TYPES) | st.integers(),
        "lead_id": TEXT | st.just("L1"),
        "occurred_at": TIMESTAMPS,
        "source": TEXT | st.just("webinar"),
        "campaign": TEXT,
        "score": NUMBER,
        "reason": TEXT | st.sampled_from([" No_Budget ", "price", "spam"]),
        "stage": TEXT | st.sampled_from(["demo", "Proposal", "teleport"]),
        "amount": NUMBER,
        "schema_version": st.sampled_from([1, 2, 1.0, "1", None]),
        "extra": st.integers(),
    }
    for name, strategy in fields.items():
        if draw(st.booleans()):
            document[name] = draw(strategy)
    return document


@settings(max_examples=1500, deadline=None)
@given(documents())
def test_the_fast_path_and_the_contract_agree_on_every_document(document: dict[str, Any]) -> None:
    raw = json.dumps(document).encode()
    assert decode(raw, VOCABULARY, NOW) == decode_reference(raw, VOCABULARY, NOW)


@settings(max_examples=1500, deadline=None)
@given(documents())
def test_the_fast_path_accepts_exactly_what_the_contract_accepts(document: dict[str, Any]) -> None:
    raw = json.dumps(document).encode()
    assert _accepts(DECODER.decode, raw, msgspec.DecodeError) == _accepts(
        WIRE_EVENT.validate_json, raw, ValueError
    )


def _accepts(validate: Any, raw: bytes, error: type[Exception]) -> bool:
    try:
        validate(raw)
    except error:
        return False
    return True
