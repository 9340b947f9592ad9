"""`leadflow import salesforce`: what the Lead, Opportunity and OpportunityHistory exports
become. Data Loader writes UTC; the org's zone here is Europe/Berlin."""

from __future__ import annotations

from pathlib import Path

from tests.crm_exports import export, run_import

LEAD = [
    "Id",
    "CreatedDate",
    "LeadSource",
    "Status",
    "MQL_Date__c",
    "IsConverted",
    "ConvertedDate",
    "ConvertedOpportunityId",
    "LastModifiedDate",
]
OPPORTUNITY = [
    "Id",
    "CreatedDate",
    "StageName",
    "Amount",
    "IsClosed",
    "IsWon",
    "CloseDate",
    "LeadSource",
    "Loss_Reason__c",
]
HISTORY = ["OpportunityId", "StageName", "Amount", "CreatedDate"]

LEAD_ID = "00Q5g00000ABCDEFGH"
OPP_15 = "0065g00000XyZ12"
OPP_18 = "0065g00000XyZ12AAF"  # the same record, case-safe form (X and Z upper: F)


def lead(**cells: str) -> list[str]:
    values = {
        "Id": LEAD_ID,
        "CreatedDate": "2024-05-02T08:00:00.000Z",
        "LeadSource": "Web",
        **cells,
    }
    return [values.get(column, "") for column in LEAD]


def opportunity(**cells: str) -> list[str]:
    values = {"Id": OPP_15, "CreatedDate": "2024-05-10T12:30:00.000Z", "StageName": "Prospecting"}
    values = {**values, "IsClosed": "false", "IsWon": "false", **cells}
    return [values.get(column, "") for column in OPPORTUNITY]


def files(leads=(), opportunities=(), history=()) -> dict[str, str]:
    out = {}
    if leads:
        out["Lead.csv"] = export(LEAD, *leads)
    if opportunities:
        out["Opportunity.csv"] = export(OPPORTUNITY, *opportunities)
    if history:
        out["OpportunityHistory.csv"] = export(HISTORY, *history)
    return out


def converted(**cells: str) -> list[str]:
    return lead(
        IsConverted="true", ConvertedDate="2024-05-10", ConvertedOpportunityId=OPP_18, **cells
    )


def imported(tmp_path: Path, exports: dict[str, str], mapping: str | None = None):
    return run_import(tmp_path, "salesforce", exports, zone="Europe/Berlin", mapping=mapping)


LEAD_KEY = f"salesforce-lead-{LEAD_ID}"


def test_a_lead_is_created_at_its_created_date_with_its_mapped_lead_source(tmp_path: Path) -> None:
    done = imported(tmp_path, files(leads=[lead(LeadSource="Partner Referral")]))
    created = done.one(LEAD_KEY, "lead.created")
    assert (created["occurred_at"], created["source"]) == ("2024-05-02T10:00:00+02:00", "partner")


def test_a_custom_date_field_enters_the_stage_the_mapping_names(tmp_path: Path) -> None:
    mapping = "salesforce:\n  lead_dates:\n    MQL_Date__c: lead.mql\n"
    row = lead(MQL_Date__c="2024-05-04T07:00:00.000Z")
    done = imported(tmp_path, files(leads=[row]), mapping=mapping)
    assert done.one(LEAD_KEY, "lead.mql")["occurred_at"] == "2024-05-04T09:00:00+02:00"


def test_conversion_is_sql_at_the_moment_the_opportunity_was_created(tmp_path: Path) -> None:
    done = imported(tmp_path, files(leads=[converted()], opportunities=[opportunity()]))
    assert done.one(LEAD_KEY, "lead.sql")["occurred_at"] == "2024-05-10T14:30:00+02:00"


def test_a_converted_opportunity_continues_its_lead_whatever_the_id_length(tmp_path: Path) -> None:
    done = imported(
        tmp_path, files(leads=[converted()], opportunities=[opportunity(Amount="18000")])
    )
    assert done.one(LEAD_KEY, "opportunity.created")["amount"] == 18000.0
    assert {e["lead_id"] for e in done.events} == {LEAD_KEY}


def test_a_conversion_without_its_opportunity_is_sql_at_the_start_of_that_day(
    tmp_path: Path,
) -> None:
    done = imported(tmp_path, files(leads=[converted(CreatedDate="2024-05-01T08:00:00.000Z")]))
    assert done.one(LEAD_KEY, "lead.sql")["occurred_at"] == "2024-05-10T00:00:00+02:00"


def test_a_bare_date_never_comes_before_the_same_days_earlier_stages(tmp_path: Path) -> None:
    row = converted(CreatedDate="2024-05-10T09:15:00.000Z")  # created the day it was converted
    done = imported(tmp_path, files(leads=[row]))
    assert done.of(LEAD_KEY) == [
        ("lead.created", "2024-05-10T11:15:00+02:00"),
        ("lead.sql", "2024-05-10T11:15:00+02:00"),
    ]


def test_history_rows_are_pipeline_stage_entries(tmp_path: Path) -> None:
    history = [
        [OPP_18, "Prospecting", "18000", "2024-05-10T12:30:00.000Z"],
        [OPP_18, "Proposal/Price Quote", "18000", "2024-05-20T08:00:00.000Z"],
    ]
    done = imported(tmp_path, files(opportunities=[opportunity()], history=history))
    stages = [(e["stage"], e["occurred_at"]) for e in done.events if "stage" in e]
    assert stages == [
        ("discovery", "2024-05-10T14:30:00+02:00"),
        ("proposal", "2024-05-20T10:00:00+02:00"),
    ]


def test_is_won_decides_the_outcome_even_for_a_stage_nobody_mapped(tmp_path: Path) -> None:
    row = opportunity(StageName="Signed", IsClosed="true", IsWon="true", CloseDate="2024-05-28")
    history = [[OPP_18, "Signed", "18000", "2024-05-28T15:00:00.000Z"]]
    done = imported(tmp_path, files(leads=[converted()], opportunities=[row], history=history))
    assert done.one(LEAD_KEY, "deal.won")["occurred_at"] == "2024-05-28T17:00:00+02:00"


def test_without_a_history_row_a_close_is_dated_by_its_close_date(tmp_path: Path) -> None:
    row = opportunity(
        StageName="Closed Lost",
        IsClosed="true",
        CloseDate="2024-05-28",
        Loss_Reason__c="Competitor",
    )
    done = imported(tmp_path, files(leads=[converted()], opportunities=[row]))
    lost = done.one(LEAD_KEY, "deal.lost")
    assert (lost["occurred_at"], lost["reason"]) == ("2024-05-28T00:00:00+02:00", "competitor")


def test_a_reopened_opportunity_is_open(tmp_path: Path) -> None:
    row = opportunity(StageName="Negotiation/Review", CloseDate="2024-05-20")
    history = [
        [OPP_18, "Prospecting", "18000", "2024-05-10T12:30:00.000Z"],
        [OPP_18, "Closed Lost", "18000", "2024-05-20T08:00:00.000Z"],
        [OPP_18, "Negotiation/Review", "18000", "2024-05-24T08:00:00.000Z"],
    ]
    done = imported(tmp_path, files(leads=[converted()], opportunities=[row], history=history))
    assert "deal.lost" not in {e["type"] for e in done.events}
    assert [e["stage"] for e in done.events if "stage" in e] == ["discovery", "negotiation"]


def test_an_opportunity_no_lead_was_converted_into_is_a_lead_of_its_own(tmp_path: Path) -> None:
    done = imported(tmp_path, files(opportunities=[opportunity(LeadSource="Trade Show")]))
    key = f"salesforce-opportunity-{OPP_18}"
    created = done.one(key, "lead.created")
    assert (created["occurred_at"], created["source"]) == ("2024-05-10T14:30:00+02:00", "events")


def test_closed_not_converted_rejects_the_lead_when_it_was_last_modified(tmp_path: Path) -> None:
    row = lead(Status="Closed - Not Converted", LastModifiedDate="2024-05-21T10:00:00.000Z")
    rejected = imported(tmp_path, files(leads=[row])).one(LEAD_KEY, "lead.rejected")
    assert (rejected["occurred_at"], rejected["reason"]) == ("2024-05-21T12:00:00+02:00", "other")


def test_a_lead_without_a_readable_created_date_is_skipped_with_its_line(tmp_path: Path) -> None:
    done = imported(tmp_path, files(leads=[lead(), lead(Id="00Q5g00000ZZZZZZZZ", CreatedDate="")]))
    assert done.status == 1
    assert "Lead.csv:3: no created date" in done.stderr
    assert [e["lead_id"] for e in done.events] == [LEAD_KEY]
