"""Hostile bytes at the decoder: every one is an exact rejection or an exact event, never a crash.

Sizes, nesting, non-finite numbers, extreme dates, lone surrogates and oversized bulk
arrays, each through `events.decode` (and `split_batch` for bulk messages), with the
reason or the normalised value it must give.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from builders import decoded, document, event, micros, replay, value
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event, Rejection, RejectReason, Vocabulary, decode
from events.batch import MAX_BATCH_ELEMENTS, split_batch
from events.decode import MAX_DEPTH, decode_reference
from events.vocabulary import DEFAULT_MAX_EVENT_BYTES
from projections import Funnel, LeadState
from projections.exposition import render

NOW = 1_893_456_000_000_000  # 2030-01-01T00:00:00Z, the builders' clock
KAFKA_DEFAULT_MAX_MESSAGE = 1_048_588  # message.max.bytes of a stock broker


def mql(**overrides: Any) -> dict[str, Any]:
    return {**document("lead.mql", "lead-1", "2026-01-01T00:00:00Z", event_id="e-1"), **overrides}


def created(**overrides: Any) -> dict[str, Any]:
    fields = document("lead.created", "lead-1", "2026-01-01T00:00:00Z", event_id="c-1")
    return {**fields, "source": "webinar", **overrides}


def line(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()


def nested(depth: int) -> str:
    """A JSON value `depth` arrays deep."""
    return "[" * depth + "]" * depth


def both(raw: bytes, vocabulary: Vocabulary | None = None) -> Event | Rejection:
    """The decoder's answer, after checking the pydantic reference gives the same one."""
    vocabulary = vocabulary or Vocabulary()
    fast = decode(raw, vocabulary, NOW)
    assert fast == decode_reference(raw, vocabulary, NOW)
    return fast


# --- size --------------------------------------------------------------------------


def test_the_default_event_size_limit_is_64_kib_well_below_kafkas_message_limit():
    assert DEFAULT_MAX_EVENT_BYTES == 65_536 < KAFKA_DEFAULT_MAX_MESSAGE


def test_an_event_with_a_1_mb_string_is_rejected_as_too_large_before_it_is_parsed():
    raw = line(mql(note="x" * 1_000_000))
    rejection = both(raw)
    assert rejection == Rejection(
        RejectReason.TOO_LARGE,
        f"{len(raw):,} bytes; an event may have at most 65,536 (max_event_bytes)",
    )


def test_garbage_just_under_kafkas_message_limit_is_rejected_as_too_large():
    raw = b"\xff" * (KAFKA_DEFAULT_MAX_MESSAGE - 200)
    assert both(raw).reason is RejectReason.TOO_LARGE


def test_an_event_of_exactly_max_event_bytes_is_accepted_and_one_byte_more_is_too_large():
    limit = Vocabulary(max_event_bytes=200)
    padding = 200 - len(line(mql(pad="")))
    assert both(line(mql(pad="p" * padding)), limit) == decoded(line(mql()))
    assert both(line(mql(pad="p" * (padding + 1))), limit).reason is RejectReason.TOO_LARGE


def test_a_60_kb_event_id_fits_the_size_limit_and_is_rejected_as_out_of_range():
    rejection = both(line(mql(event_id="e" * 60_000)))
    assert rejection.reason is RejectReason.OUT_OF_RANGE
    assert "event_id" in rejection.detail


@pytest.mark.parametrize(
    ("field", "longest"), [("source", 64), ("campaign", 128), ("segment", 128)]
)
def test_lead_attributes_are_bounded_in_characters(field, longest):
    accepted = both(line(created(**{field: "é" * longest})))
    assert getattr(accepted, field) == "é" * longest
    rejection = both(line(created(**{field: "é" * (longest + 1)})))
    assert rejection.reason is RejectReason.OUT_OF_RANGE
    assert field in rejection.detail


# --- nesting -----------------------------------------------------------------------


def test_an_unknown_field_nested_to_the_depth_limit_is_ignored():
    # The event object is level 1, so the field may hold MAX_DEPTH - 1 levels.
    assert both(line(mql(extra=json.loads(nested(MAX_DEPTH - 1))))) == decoded(line(mql()))


def test_an_unknown_field_nested_one_level_deeper_is_rejected_as_not_json():
    rejection = both(line(mql(extra=json.loads(nested(MAX_DEPTH)))))
    assert rejection == Rejection(
        RejectReason.NOT_JSON, "arrays and objects nested 65 levels deep; at most 64 are allowed"
    )


@pytest.mark.parametrize("depth", [500, 2_000, 100_000])
def test_deep_nesting_is_not_json_at_any_depth_the_size_limit_lets_through(depth):
    # Without a depth rule msgspec raised RecursionError beyond ~1,000 levels and
    # pydantic called 300 levels a bad type.
    roomy = Vocabulary(max_event_bytes=1_000_000)
    raw = b'{"event_id":"e","x":' + nested(depth).encode() + b"}"
    rejection = both(raw, roomy)
    assert rejection.reason is RejectReason.NOT_JSON
    assert f"nested {depth + 1} levels deep" in rejection.detail


def test_a_document_of_100_000_open_brackets_is_too_large_by_default():
    assert both(b"[" * 100_000).reason is RejectReason.TOO_LARGE


def test_brackets_inside_strings_do_not_count_as_nesting():
    accepted = both(line(mql(event_id="[" * 100, note='{"[' * 200)))
    assert accepted.event_id == "[" * 100


# --- numbers -----------------------------------------------------------------------


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_non_finite_numbers_are_not_json(literal):
    raw = line(mql(type="deal.won"))[:-1] + b', "amount": ' + literal + b"}"
    assert both(raw).reason is RejectReason.NOT_JSON


def test_an_amount_whose_cents_would_overflow_a_float_is_out_of_range():
    # 1e307 * 100 is infinity: it used to escape as an OverflowError.
    rejection = both(line(mql(type="deal.won", amount=1e307)))
    assert rejection == Rejection(
        RejectReason.OUT_OF_RANGE,
        "field 'amount': Input should be less than or equal to 1000000000000000",
    )


def test_the_largest_amount_is_a_quadrillion_kept_in_whole_cents():
    assert both(line(mql(type="deal.won", amount=1e15))).amount_cents == 100_000_000_000_000_000


# --- dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "occurred_at",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "1969-12-31T23:59:59.999999Z"],
)
def test_an_occurred_at_before_1970_is_rejected_as_out_of_range(occurred_at):
    rejection = both(line(mql(occurred_at=occurred_at)))
    assert rejection.reason is RejectReason.OUT_OF_RANGE
    assert "outside the supported range 1970-01-01T00:00:00Z (inclusive)" in rejection.detail


def test_the_first_microsecond_of_1970_is_accepted_as_timestamp_zero():
    assert both(line(mql(occurred_at="1970-01-01T00:00:00Z"))).ts == 0


def test_year_9999_is_rejected_as_future_timestamp_with_the_default_skew():
    rejection = both(line(mql(occurred_at="9999-12-31T23:59:59-23:59")))
    assert rejection.reason is RejectReason.FUTURE_TIMESTAMP


def test_year_9999_is_out_of_range_even_when_the_skew_would_allow_it():
    anything_goes = Vocabulary(max_future_skew="500000w")
    rejection = both(line(mql(occurred_at="9999-12-31T23:59:59Z")), anything_goes)
    assert rejection.reason is RejectReason.OUT_OF_RANGE
    assert "to 2200-01-01T00:00:00Z (exclusive)" in rejection.detail
    last = both(line(mql(occurred_at="2199-12-31T23:59:59.999999Z")), anything_goes)
    assert last.ts == micros("2200-01-01T00:00:00Z") - 1


def test_year_0_is_not_a_date_and_is_rejected_as_bad_timestamp():
    assert both(line(mql(occurred_at="0000-01-01T00:00:00Z"))).reason is RejectReason.BAD_TIMESTAMP


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_events_at_both_ends_of_the_supported_range_bucket_into_periods_without_overflow(zone):
    # +14:00 and -11:00 push the first and last instants into the neighbouring local day.
    funnel = Funnel(timezone=zone, vocabulary=Vocabulary(max_future_skew="500000w"))
    lines = [
        event("lead.created", "first", "1970-01-01T00:00:00Z", source="web"),
        event("lead.created", "last", "2199-12-31T23:59:59.999999Z", source="web"),
    ]
    series = replay(lines, funnel=funnel, as_of="2199-12-31T23:59:59.999999Z")
    assert (
        sum(
            v
            for (name, labels), v in series.items()
            if name == "leadflow_stage_entries" and ("period", "quarter") in labels
        )
        == 2
    )


# --- text that UTF-8 cannot carry --------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"event_id":"\ud800","type":"lead.mql","lead_id":"L1","occurred_at":"2026-01-01T00:00:00Z"}',
        rb'{"event_id":"e","type":"lead.created","lead_id":"L1","occurred_at":"2026-01-01T00:00:00Z","source":"web\udfff"}',
        rb'{"event_id":"e","type":"lead.mql","lead_id":"L1","occurred_at":"2026-01-01T00:00:00Z","x":"\ud83d"}',
        rb'{"event_id":"e","type":"lead.mql","lead_id":"L1","occurred_at":"2026-01-01T00:00:00Z","\udc00":1}',
    ],
    ids=["event-id", "source", "unknown-field", "key"],
)
def test_a_lone_surrogate_escape_anywhere_is_rejected_as_not_json(raw):
    # A lone surrogate cannot be encoded as UTF-8: accepted, it would crash the state's
    # changelog encoding and the /metrics label values later.
    rejection = both(raw)
    assert rejection.reason is RejectReason.NOT_JSON
    assert "surrogate" in rejection.detail


def test_a_surrogate_pair_escape_is_one_character_and_survives_state_and_exposition():
    raw = (
        rb'{"event_id":"\ud83d\ude00","type":"lead.created","lead_id":"L\u0000",'
        rb'"occurred_at":"2026-01-01T00:00:00Z","source":"\ud83d\ude80 launch"}'
    )
    accepted = both(raw)
    assert (accepted.event_id, accepted.lead_id, accepted.source) == ("😀", "L\x00", "🚀 launch")
    state = LeadState()
    state.apply(accepted)
    assert LeadState.from_wire(orjson.loads(orjson.dumps(state.to_wire()))) == state
    exported = replay([raw])
    # Not a channel name: by default counted under "other" (bounded labels).
    assert value(exported, "leadflow_stage_entries", source="other", period="day") == 1
    from projections import Ledger, export
    from projections.funnel import SourceLabels

    ledger = Ledger(Funnel(source_labels=SourceLabels(tracked=("🚀 launch",))))
    ledger.apply([accepted])
    text = render(export(ledger.totals, ledger.funnel, ledger.calendar, accepted.ts))
    assert 'source="🚀 launch"' in text.decode()


# --- bulk messages -----------------------------------------------------------------


def test_a_bulk_message_of_the_maximum_element_count_is_split_into_every_element():
    elements = [line(mql(event_id=f"e-{i}")) for i in range(MAX_BATCH_ELEMENTS)]
    parts = split_batch(b"[" + b",".join(elements) + b"]")
    assert parts == elements


def test_a_bulk_array_of_more_elements_is_one_message_rejected_as_not_object():
    raw = b"[" + b",".join([b"1"] * (MAX_BATCH_ELEMENTS + 1)) + b"]"
    assert split_batch(raw) is None
    assert both(raw) == Rejection(
        RejectReason.NOT_OBJECT,
        "a JSON array of 10,001 elements, not an object "
        "(a bulk message is split into its events only up to 10,000)",
    )


def test_a_megabyte_of_tiny_bulk_elements_is_one_too_large_message_not_half_a_million_letters():
    raw = b"[" + b",".join([b"1"] * 500_000) + b"]"
    assert split_batch(raw) is None
    rejection = both(raw)
    assert rejection.reason is RejectReason.TOO_LARGE
    assert "a bulk message is split into its events only up to 10,000" in rejection.detail


def test_nested_arrays_in_a_bulk_message_are_each_rejected_as_not_object():
    good = line(mql())
    parts = split_batch(b"[[" + good + b"],[],[[1]]," + good + b"]")
    assert parts == [b"[" + good + b"]", b"[]", b"[[1]]", good]
    outcomes = [both(part) for part in parts]
    assert [outcome.reason for outcome in outcomes[:3]] == [RejectReason.NOT_OBJECT] * 3
    assert outcomes[3] == decoded(good)


def test_a_bulk_message_nested_100_000_deep_is_not_split_and_is_not_json():
    raw = b"[" + nested(100_000).encode() + b"]"
    assert split_batch(raw) is None  # msgspec's RecursionError stays inside
    rejection = both(raw, Vocabulary(max_event_bytes=1_000_000))
    assert rejection.reason is RejectReason.NOT_JSON


def test_a_bulk_element_nested_too_deep_is_rejected_alone():
    deep = ("[" * 100 + "]" * 100).encode()
    good = line(mql())
    parts = split_batch(b"[" + deep + b"," + good + b"]")
    assert parts == [deep, good]
    assert both(deep).reason is RejectReason.NOT_JSON
    assert both(good) == decoded(good)


# --- properties --------------------------------------------------------------------

# Text includes lone surrogates (category Cs), which json.dumps writes as \\u escapes.
TEXT = st.text(st.characters(exclude_categories=()), max_size=20)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=30,
)
FIELD_NAMES = st.sampled_from(
    ["event_id", "type", "lead_id", "occurred_at", "source", "score", "amount", "reason",
     "stage", "campaign", "schema_version", "x"]
)  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_to_an_event_or_a_rejection_and_never_raise(raw):
    assert isinstance(decode(raw, Vocabulary(), NOW), Event | Rejection)
    parts = split_batch(raw)
    assert parts is None or all(isinstance(part, bytes) for part in parts)


@settings(max_examples=800, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_decodes_like_the_reference_and_never_raises(value):
    raw = json.dumps(value).encode()
    assert isinstance(both(raw), Event | Rejection)


@settings(max_examples=800, deadline=None)
@given(st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=6), st.sampled_from(["mql", "created"]))
def test_any_json_in_any_field_of_an_event_decodes_like_the_reference_and_never_raises(
    fields, base
):
    raw = json.dumps({**(mql() if base == "mql" else created()), **fields}).encode()
    assert isinstance(both(raw), Event | Rejection)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_any_representable_occurred_at_is_an_event_or_a_rejection(moment):
    raw = line(mql(occurred_at=moment.replace(tzinfo=UTC).isoformat()))
    result = both(raw, Vocabulary(max_future_skew="500000w"))
    if isinstance(result, Event):
        assert 0 <= result.ts < micros("2200-01-01T00:00:00Z")
    else:
        assert result.reason is RejectReason.OUT_OF_RANGE
