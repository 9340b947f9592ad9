"""Decoding raw message bytes: a normalised event, or a precise dead-letter reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from builders import decoded, document, event, raw, rejected

from events import EventType, RejectReason, Vocabulary

NEW_YEAR_UTC_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def mql(**overrides: object) -> bytes:
    """A valid lead.mql with some fields replaced (None removes a field)."""
    fields = document("lead.mql", "lead-1", "2026-01-01T00:00:00Z", event_id="evt-1")
    fields.update(overrides)
    return raw(**{k: v for k, v in fields.items() if v is not None})


def scored(score: object) -> bytes:
    return raw(**document("lead.scored", "lead-1", "2026-01-01T00:00:00Z", score=score))


# --- the input is not a JSON object -------------------------------------------------


def test_bytes_that_are_not_utf8_are_rejected_as_not_utf8():
    assert rejected(b'{"event_id": "\xff\xfe"}').reason is RejectReason.NOT_UTF8


def test_text_that_is_not_json_is_rejected_as_not_json():
    assert rejected(b'{"event_id": "e1", "type": ').reason is RejectReason.NOT_JSON


def test_an_empty_message_is_rejected_as_not_json():
    assert rejected(b"").reason is RejectReason.NOT_JSON


@pytest.mark.parametrize("line", [b"[1, 2]", b'"lead.created"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected_as_not_object(line):
    assert rejected(line).reason is RejectReason.NOT_OBJECT


# --- required fields and their types ------------------------------------------------


@pytest.mark.parametrize("field", ["event_id", "type", "lead_id", "occurred_at"])
def test_an_event_without_a_required_field_is_rejected_as_missing_field(field):
    rejection = rejected(mql(**{field: None}))
    assert rejection.reason is RejectReason.MISSING_FIELD
    assert field in rejection.detail


def test_a_lead_created_without_a_source_is_rejected_as_missing_field():
    rejection = rejected(raw(**document("lead.created", "lead-1", "2026-01-01T00:00:00Z")))
    assert rejection.reason is RejectReason.MISSING_FIELD
    assert "source" in rejection.detail


def test_a_lead_rejected_without_a_reason_is_rejected_as_missing_field():
    line = raw(**document("lead.rejected", "lead-1", "2026-01-01T00:00:00Z"))
    assert rejected(line).reason is RejectReason.MISSING_FIELD


def test_a_stage_change_without_a_stage_is_rejected_as_missing_field():
    line = raw(**document("opportunity.stage_changed", "lead-1", "2026-01-01T00:00:00Z"))
    assert rejected(line).reason is RejectReason.MISSING_FIELD


def test_a_score_of_50_point_0_is_not_an_integer_and_is_rejected_as_bad_type():
    rejection = rejected(scored(50.0))
    assert rejection.reason is RejectReason.BAD_TYPE
    assert "score" in rejection.detail


def test_a_score_of_true_is_not_an_integer_and_is_rejected_as_bad_type():
    assert rejected(scored(True)).reason is RejectReason.BAD_TYPE


def test_a_score_sent_as_a_string_is_rejected_as_bad_type():
    assert rejected(scored("50")).reason is RejectReason.BAD_TYPE


def test_a_numeric_event_id_is_rejected_as_bad_type():
    rejection = rejected(mql(event_id=12345))
    assert rejection.reason is RejectReason.BAD_TYPE
    assert "event_id" in rejection.detail


def test_a_numeric_occurred_at_is_rejected_as_bad_type():
    assert rejected(mql(occurred_at=1_767_225_600)).reason is RejectReason.BAD_TYPE


def test_an_amount_sent_as_a_string_is_rejected_as_bad_type():
    line = raw(**document("deal.won", "lead-1", "2026-01-01T00:00:00Z", amount="1200"))
    assert rejected(line).reason is RejectReason.BAD_TYPE


def test_a_string_schema_version_is_rejected_as_bad_type():
    assert rejected(mql(schema_version="1")).reason is RejectReason.BAD_TYPE


# --- types and ranges ---------------------------------------------------------------


def test_an_unknown_event_type_is_rejected_as_unknown_type():
    rejection = rejected(mql(type="lead.nurtured"))
    assert rejection.reason is RejectReason.UNKNOWN_TYPE
    assert "lead.nurtured" in rejection.detail


def test_a_score_of_101_is_rejected_as_out_of_range():
    assert rejected(scored(101)).reason is RejectReason.OUT_OF_RANGE


def test_a_negative_score_is_rejected_as_out_of_range():
    assert rejected(scored(-1)).reason is RejectReason.OUT_OF_RANGE


@pytest.mark.parametrize("score", [0, 100])
def test_scores_0_and_100_are_the_inclusive_bounds(score):
    assert decoded(scored(score)).score == score


def test_an_empty_lead_id_is_rejected_as_out_of_range():
    rejection = rejected(mql(lead_id=""))
    assert rejection.reason is RejectReason.OUT_OF_RANGE
    assert "lead_id" in rejection.detail


def test_an_event_id_of_129_characters_is_rejected_as_out_of_range():
    assert rejected(mql(event_id="e" * 129)).reason is RejectReason.OUT_OF_RANGE
    assert decoded(mql(event_id="e" * 128)).event_id == "e" * 128


def test_a_source_of_65_characters_is_rejected_as_out_of_range():
    line = event("lead.created", "lead-1", "2026-01-01T00:00:00Z", source="s" * 65)
    rejection = rejected(line)
    assert rejection.reason is RejectReason.OUT_OF_RANGE
    assert "source" in rejection.detail


def test_a_source_of_64_characters_is_accepted():
    line = event("lead.created", "lead-1", "2026-01-01T00:00:00Z", source="s" * 64)
    assert decoded(line).source == "s" * 64


def test_a_negative_amount_is_rejected_as_out_of_range():
    line = event("opportunity.created", "lead-1", "2026-01-01T00:00:00Z", amount=-0.01)
    assert rejected(line).reason is RejectReason.OUT_OF_RANGE


def test_an_amount_is_kept_in_whole_cents():
    line = event("deal.won", "lead-1", "2026-01-01T00:00:00Z", amount=12500.5)
    assert decoded(line).amount_cents == 1_250_050


# --- timestamps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "occurred_at", ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01", "2026-02-30T10:00:00Z"]
)
def test_an_unparseable_occurred_at_is_rejected_as_bad_timestamp(occurred_at):
    assert rejected(mql(occurred_at=occurred_at)).reason is RejectReason.BAD_TIMESTAMP


def test_a_unix_timestamp_in_a_string_is_not_rfc3339_and_is_rejected_as_bad_timestamp():
    # Read as seconds since the epoch it would silently be taken as UTC.
    assert rejected(mql(occurred_at="1767225600")).reason is RejectReason.BAD_TIMESTAMP


def test_an_occurred_at_without_an_offset_is_rejected_as_naive_timestamp():
    rejection = rejected(mql(occurred_at="2026-01-01T09:00:00"))
    assert rejection.reason is RejectReason.NAIVE_TIMESTAMP
    assert "occurred_at" in rejection.detail


def test_an_occurred_at_beyond_the_5_minute_skew_is_rejected_as_future_timestamp():
    clock = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    line = mql(occurred_at="2026-01-01T12:05:00.000001Z")
    assert rejected(line, now=clock).reason is RejectReason.FUTURE_TIMESTAMP


def test_an_occurred_at_within_the_5_minute_skew_is_accepted():
    clock = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert decoded(mql(occurred_at="2026-01-01T12:04:59Z"), now=clock).type is EventType.LEAD_MQL
    assert decoded(mql(occurred_at="2026-01-01T12:05:00Z"), now=clock).type is EventType.LEAD_MQL


def test_the_future_skew_is_measured_on_the_instant_not_the_local_wall_time():
    # 13:04 in +01:00 is 12:04 UTC: within the skew of a 12:00 UTC clock.
    clock = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert decoded(mql(occurred_at="2026-01-01T13:04:00+01:00"), now=clock)


def test_the_future_skew_is_configurable():
    clock = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    strict = Vocabulary(max_future_skew="1m")
    line = mql(occurred_at="2026-01-01T12:02:00Z")
    assert rejected(line, strict, now=clock).reason is RejectReason.FUTURE_TIMESTAMP
    assert strict.max_future_skew == timedelta(minutes=1)


def test_z_is_utc():
    assert decoded(mql(occurred_at="2026-01-01T00:00:00Z")).ts == NEW_YEAR_UTC_US


def test_a_positive_offset_is_converted_to_utc_microseconds_exactly():
    line = mql(occurred_at="2026-01-01T05:30:00.000001+05:30")
    assert decoded(line).ts == NEW_YEAR_UTC_US + 1


def test_a_negative_offset_is_converted_to_utc_microseconds_exactly():
    line = mql(occurred_at="2025-12-31T19:00:00.999999-05:00")
    assert decoded(line).ts == NEW_YEAR_UTC_US + 999_999


def test_the_same_instant_in_two_offsets_decodes_to_the_same_microsecond():
    berlin = decoded(mql(occurred_at="2026-03-29T03:30:00+02:00")).ts
    utc = decoded(mql(occurred_at="2026-03-29T01:30:00Z")).ts
    assert berlin == utc == NEW_YEAR_UTC_US + (87 * 24 + 1) * 3_600_000_000 + 30 * 60_000_000


# --- pipeline stages and versions ---------------------------------------------------


def test_a_stage_change_to_an_unconfigured_stage_is_rejected_as_unknown_stage():
    line = event("opportunity.stage_changed", "lead-1", "2026-01-01T00:00:00Z", stage="closing")
    rejection = rejected(line)
    assert rejection.reason is RejectReason.UNKNOWN_STAGE
    assert "closing" in rejection.detail


def test_a_stage_change_matches_configured_stages_case_insensitively_after_trimming():
    line = event("opportunity.stage_changed", "lead-1", "2026-01-01T00:00:00Z", stage=" Demo ")
    assert decoded(line).stage == "demo"


def test_a_configured_stage_list_replaces_the_default_one():
    vocabulary = Vocabulary(pipeline_stages=("qualify", "closing"))
    closing = event("opportunity.stage_changed", "lead-1", "2026-01-01T00:00:00Z", stage="closing")
    demo = event("opportunity.stage_changed", "lead-1", "2026-01-01T00:00:00Z", stage="demo")
    assert decoded(closing, vocabulary).stage == "closing"
    assert rejected(demo, vocabulary).reason is RejectReason.UNKNOWN_STAGE


def test_schema_version_2_is_rejected_as_unsupported_version():
    assert rejected(mql(schema_version=2)).reason is RejectReason.UNSUPPORTED_VERSION


def test_an_unsupported_version_is_named_even_when_the_rest_does_not_fit_version_1():
    # A future version may change fields; the version is the reason, not the fields.
    line = event("lead.scored", "lead-1", "2026-01-01T00:00:00Z", score=50.0, schema_version=3)
    assert rejected(line).reason is RejectReason.UNSUPPORTED_VERSION


def test_an_explicit_schema_version_1_is_accepted():
    assert decoded(mql(schema_version=1)).type is EventType.LEAD_MQL


# --- normalisation ------------------------------------------------------------------


def test_a_rejection_reason_is_trimmed_and_lowercased_to_the_configured_reason():
    line = event("lead.rejected", "lead-1", "2026-01-01T00:00:00Z", reason=" No_Budget ")
    assert decoded(line).reason == "no_budget"


def test_an_unknown_rejection_reason_becomes_other():
    line = event("lead.rejected", "lead-1", "2026-01-01T00:00:00Z", reason="abducted by aliens")
    assert decoded(line).reason == "other"


def test_a_loss_reason_is_normalised_against_the_loss_reasons():
    price = event("deal.lost", "lead-1", "2026-01-01T00:00:00Z", reason="PRICE")
    budget = event("deal.lost", "lead-1", "2026-01-01T00:00:00Z", reason="no_budget")
    assert decoded(price).reason == "price"
    assert decoded(budget).reason == "other"  # a rejection reason, not a loss reason


def test_a_configured_reason_list_replaces_the_default_one():
    vocabulary = Vocabulary(rejection_reasons=("Student",))
    student = event("lead.rejected", "lead-1", "2026-01-01T00:00:00Z", reason="student ")
    budget = event("lead.rejected", "lead-1", "2026-01-01T00:00:00Z", reason="no_budget")
    assert decoded(student, vocabulary).reason == "student"
    assert decoded(budget, vocabulary).reason == "other"


def test_unknown_extra_fields_are_ignored():
    line = event(
        "lead.created",
        "lead-1",
        "2026-01-01T00:00:00Z",
        source="webinar",
        utm={"medium": "email"},
        owner_id=7,
    )
    decoded_event = decoded(line)
    assert decoded_event.source == "webinar"
    assert decoded_event.type is EventType.LEAD_CREATED


def test_a_lead_created_keeps_its_attributes_and_optional_score():
    line = event(
        "lead.created",
        "lead-1",
        "2026-01-01T00:00:00Z",
        event_id="c-1",
        source="webinar",
        campaign="q1-launch",
        segment="mid-market",
        score=72,
    )
    created = decoded(line)
    assert (created.event_id, created.lead_id, created.ts) == ("c-1", "lead-1", NEW_YEAR_UTC_US)
    assert (created.source, created.campaign, created.segment, created.score) == (
        "webinar",
        "q1-launch",
        "mid-market",
        72,
    )
