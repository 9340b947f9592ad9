"""Reading single cells of CRM exports (leadflow.importers.cells)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadflow.importers.cells import (
    CellError,
    hubspot_ids,
    norm_key,
    parse_amount,
    parse_bool,
    parse_score,
    salesforce_id,
    slug,
)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("12500", 12500.0),
        ("12,500.00", 12500.0),
        ("$3,000", 3000.0),
        ("EUR 1200", 1200.0),
        ("9000,00", 9000.0),  # a German-locale report
        ("1.200,50", 1200.5),
        ("€ 12.000,00", 12000.0),
        ("", None),
    ],
)
def test_amounts_in_export_spellings(text: str, amount: float | None) -> None:
    assert parse_amount(text) == amount


@pytest.mark.parametrize("text", ["TBD", "n/a", "1,2,3", "-300", "12.5.2024"])
def test_what_is_not_an_amount_is_refused(text: str) -> None:
    with pytest.raises(CellError):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=99))
def test_grouped_amounts_in_either_locale_read_the_same(units: int, cents: int) -> None:
    us = f"{units:,}.{cents:02d}"
    german = us.replace(",", "_").replace(".", ",").replace("_", ".")
    assert parse_amount(us) == parse_amount(german) == pytest.approx(units + cents / 100)


def test_scores_outside_the_contract_range_are_clamped_and_say_so() -> None:
    assert parse_score("104.5") == (100, True)
    assert parse_score("-5") == (0, True)
    assert parse_score("72") == (72, False)
    assert parse_score("") == (None, False)


def test_checkbox_spellings() -> None:
    assert [parse_bool(t) for t in ("true", "1", "TRUE", "false", "0", "")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(CellError):
        parse_bool("maybe")


def test_a_salesforce_15_character_id_becomes_its_18_character_form() -> None:
    # Worked by hand: upper-case positions 3 | none | 1 of the three chunks → I, A, C.
    assert salesforce_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert salesforce_id("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"


@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
        min_size=15,
        max_size=15,
    )
)
def test_ids_differing_only_in_case_stay_different_in_18_characters(id15: str) -> None:
    flipped = id15.swapcase()
    if flipped != id15:
        assert salesforce_id(id15).lower() != salesforce_id(flipped).lower()


def test_hubspot_multi_value_ids() -> None:
    assert hubspot_ids("101;205") == ["101", "205"]
    assert hubspot_ids("") == []
    with pytest.raises(CellError):
        hubspot_ids("Jane Doe (jane@example.com)")


def test_headers_and_values_compare_whatever_their_case_and_underscores() -> None:
    assert norm_key("Lead Status") == norm_key("hs_lead_status".replace("hs_", "")) == "lead status"
    assert norm_key("BAD_TIMING") == norm_key("Bad  Timing") == "bad timing"


def test_unmapped_sources_become_labels() -> None:
    assert slug("Trade Show 2024") == "trade_show_2024"
    assert slug("!!!") == "unknown"
