"""The import mapping: defaults, how a mapping file extends them, and its checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events import EventType, Vocabulary
from leadflow.importers.mapping import (
    ImportMapping,
    MappingError,
    StageTarget,
    Target,
    compile_rules,
)


def rules(document: dict | None = None, crm: str = "hubspot", **vocabulary: object):
    mapping = ImportMapping.model_validate(document or {})
    return compile_rules(getattr(mapping, crm), Vocabulary(**vocabulary))


def test_the_defaults_follow_hubspots_out_of_the_box_stages() -> None:
    hubspot = rules()
    assert hubspot.funnel_types["marketing qualified lead"] == Target(EventType.LEAD_MQL)
    assert hubspot.stages["decision maker bought-in"] == StageTarget("pipeline", "proposal")
    assert hubspot.stages["closedwon"] == StageTarget("won")
    assert hubspot.statuses["bad timing"] == Target(EventType.LEAD_REJECTED, "bad_timing")


def test_the_defaults_follow_salesforces_out_of_the_box_stages() -> None:
    salesforce = rules(crm="salesforce")
    assert salesforce.stages["negotiation/review"] == StageTarget("pipeline", "negotiation")
    assert salesforce.funnel_types["converted date"] == Target(EventType.LEAD_SQL)
    assert salesforce.sources["partner referral"] == "partner"


def test_a_mapping_file_adds_to_the_defaults_and_overrides_them() -> None:
    document = {"hubspot": {"deal_stages": {"Demo Given": "demo", "Contract Sent": "proposal"}}}
    hubspot = rules(document)
    assert hubspot.stages["demo given"] == StageTarget("pipeline", "demo")
    assert hubspot.stages["contract sent"] == StageTarget("pipeline", "proposal")
    assert hubspot.stages["appointment scheduled"] == StageTarget("pipeline", "discovery")


def test_a_default_is_dropped_by_mapping_it_to_ignore() -> None:
    hubspot = rules({"hubspot": {"lifecycle_stages": {"Customer": "ignore"}}})
    assert hubspot.funnel_types["customer"] == Target(None)


def test_keys_compare_like_export_values() -> None:
    hubspot = rules({"hubspot": {"lead_statuses": {"NOT_A_FIT": "lead.rejected:wrong_fit"}}})
    assert hubspot.statuses["not a fit"] == Target(EventType.LEAD_REJECTED, "wrong_fit")


def test_every_target_the_funnel_lacks_is_listed_with_its_key() -> None:
    document = {
        "hubspot": {
            "deal_stages": {"Legal": "legal"},
            "lead_statuses": {"Spam": "lead.rejected:spam", "Hot": "lead.hot"},
            "loss_reasons": {"Ghosted": "ghosted"},
        }
    }
    with pytest.raises(MappingError) as raised:
        rules(document)
    message = str(raised.value)
    for key in ("deal_stages['Legal']", "lead_statuses['Spam']", "lead_statuses['Hot']"):
        assert f"hubspot.{key}" in message
    assert "hubspot.loss_reasons['Ghosted']" in message


def test_reasons_are_checked_against_the_configured_lists() -> None:
    document = {"hubspot": {"lead_statuses": {"Spam": "lead.rejected:spam"}}}
    hubspot = rules(document, rejection_reasons=("spam", "wrong_fit", "bad_timing"))
    assert hubspot.statuses["spam"] == Target(EventType.LEAD_REJECTED, "spam")
    with pytest.raises(MappingError, match=r"lead_statuses\['Bad Timing'\]: 'bad_timing'"):
        rules(document, rejection_reasons=("spam", "wrong_fit"))


def test_loss_reasons_map_then_match_the_configured_names_else_become_other() -> None:
    hubspot = rules()
    assert hubspot.loss_reason("Lost to competitor") == ("competitor", True)
    assert hubspot.loss_reason("No decision") == ("no_decision", True)
    assert hubspot.loss_reason(" PRICE ") == ("price", True)
    assert hubspot.loss_reason("Chose to build in-house") == ("other", False)


def test_unknown_column_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown columns"):
        ImportMapping.model_validate({"salesforce": {"columns": {"lossreason": ["Why__c"]}}})


def test_a_column_spelling_replaces_the_default_spellings() -> None:
    salesforce = rules({"salesforce": {"columns": {"loss_reason": ["Why_Lost__c"]}}}, "salesforce")
    assert salesforce.columns["loss_reason"] == ("why lost c",)  # compared as norm_key does
