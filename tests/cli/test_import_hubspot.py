"""`leadflow import hubspot`: what each part of the contacts and deals exports becomes.

Times in these exports are the portal's local time (America/New_York here).
"""

from __future__ import annotations

from pathlib import Path

from tests.crm_exports import export, run_import

MQL_ENTERED = 'Date entered "Marketing Qualified Lead (Lifecycle Stage Pipeline)"'
CONTACT = [
    "Record ID",
    "Became a Lead Date",
    "Became a Marketing Qualified Lead Date",
    MQL_ENTERED,
    "Became a Sales Qualified Lead Date",
    "Became an Opportunity Date",
    "Became a Customer Date",
    "Original Source",
    "Original Source Drill-Down 1",
    "HubSpot Score",
    "Lead Status",
    "Last Modified Date",
]
DEAL = [
    "Record ID",
    "Pipeline",
    "Deal Stage",
    "Create Date",
    "Close Date",
    "Amount",
    "Closed Lost Reason",
    "Associated Contact IDs",
    "Original Source Type",
    'Date entered "Appointment Scheduled (Sales Pipeline)"',
    'Date entered "Contract Sent (Sales Pipeline)"',
    'Date entered "Closed Won (Sales Pipeline)"',
    'Date entered "Closed Lost (Sales Pipeline)"',
]


def contact(record: str, **cells: str) -> list[str]:
    values = {"Record ID": record, "Original Source": "Organic Search", **cells}
    return [values.get(column, "") for column in CONTACT]


def deal(record: str, **cells: str) -> list[str]:
    values = {"Record ID": record, "Pipeline": "Sales Pipeline", **cells}
    return [values.get(column, "") for column in DEAL]


def contacts(*rows: list[str]) -> dict[str, str]:
    return {"contacts.csv": export(CONTACT, *rows)}


def deals(*rows: list[str]) -> dict[str, str]:
    return {"deals.csv": export(DEAL, *rows)}


def test_a_contact_is_a_lead_from_its_lead_date_with_its_mapped_source_and_score(
    tmp_path: Path,
) -> None:
    row = contact("101", **{"Became a Lead Date": "2024-03-01 09:00", "HubSpot Score": "55"})
    done = run_import(tmp_path, "hubspot", contacts(row))
    assert done.status == 0
    created = done.one("hubspot-contact-101", "lead.created")
    assert created["occurred_at"] == "2024-03-01T09:00:00-05:00"
    assert (created["source"], created["score"]) == ("organic_search", 55)


def test_the_earlier_of_the_old_and_new_lifecycle_date_columns_counts(tmp_path: Path) -> None:
    row = contact(
        "101",
        **{
            "Became a Lead Date": "2024-03-01 09:00",
            "Became a Marketing Qualified Lead Date": "2024-03-05 11:00",
            MQL_ENTERED: "2024-03-05 10:00",
        },
    )
    done = run_import(tmp_path, "hubspot", contacts(row))
    assert done.one("hubspot-contact-101", "lead.mql")["occurred_at"] == "2024-03-05T10:00:00-05:00"


def test_a_contact_that_skipped_lead_enters_the_funnel_at_its_first_stage(tmp_path: Path) -> None:
    row = contact("101", **{"Became a Marketing Qualified Lead Date": "2024-03-05 10:00"})
    done = run_import(tmp_path, "hubspot", contacts(row))
    assert done.of("hubspot-contact-101") == [
        ("lead.created", "2024-03-05T10:00:00-05:00"),
        ("lead.mql", "2024-03-05T10:00:00-05:00"),
    ]
    assert "1 x contacts without a Lead date: lead.created at their first stage" in done.stderr


def test_a_contact_that_never_entered_a_mapped_stage_gives_no_events_and_is_counted(
    tmp_path: Path,
) -> None:
    done = run_import(
        tmp_path, "hubspot", contacts(contact("101", **{"Lead Status": "Unqualified"}))
    )
    assert done.status == 0
    assert done.events == []
    assert "1 x contacts that never entered a mapped lifecycle stage: no events" in done.stderr


def test_an_unqualified_lead_is_rejected_when_it_was_last_modified(tmp_path: Path) -> None:
    row = contact(
        "101",
        **{
            "Became a Lead Date": "2024-03-01 09:00",
            "Lead Status": "Unqualified",
            "Last Modified Date": "2024-03-09 16:00",
        },
    )
    rejected = run_import(tmp_path, "hubspot", contacts(row)).one(
        "hubspot-contact-101", "lead.rejected"
    )
    assert (rejected["occurred_at"], rejected["reason"]) == (
        "2024-03-09T16:00:00-05:00",
        "wrong_fit",
    )


def test_a_custom_lifecycle_stage_is_reported_with_counts_and_examples_not_guessed(
    tmp_path: Path,
) -> None:
    header = [*CONTACT, 'Date entered "Recycled (Lifecycle Stage Pipeline)"']
    rows = [
        [*contact("101", **{"Became a Lead Date": "2024-03-01 09:00"}), "2024-04-01 09:00"],
        [*contact("104", **{"Became a Lead Date": "2024-03-02 09:00"}), "2024-04-02 09:00"],
    ]
    done = run_import(tmp_path, "hubspot", {"contacts.csv": export(header, *rows)})
    assert done.status == 0
    assert {e["type"] for e in done.events} == {"lead.created"}
    assert (
        "HubSpot lifecycle stage 'Recycled (Lifecycle Stage Pipeline)': 2 rows "
        "(its dates ignored), e.g. contacts.csv:2, contacts.csv:3"
    ) in done.stderr


def test_the_source_drill_down_can_refine_a_source(tmp_path: Path) -> None:
    row = contact(
        "101",
        **{
            "Became a Lead Date": "2024-03-01 09:00",
            "Original Source": "Offline Sources",
            "Original Source Drill-Down 1": "INTEGRATION",
        },
    )
    mapping = "hubspot:\n  sources:\n    Offline Sources / INTEGRATION: partner\n"
    done = run_import(tmp_path, "hubspot", contacts(row), mapping=mapping)
    assert done.one("hubspot-contact-101", "lead.created")["source"] == "partner"


def test_an_unmapped_source_keeps_its_name_as_a_label_and_is_reported(tmp_path: Path) -> None:
    row = contact(
        "101", **{"Became a Lead Date": "2024-03-01 09:00", "Original Source": "AI Referrals"}
    )
    done = run_import(tmp_path, "hubspot", contacts(row))
    assert done.one("hubspot-contact-101", "lead.created")["source"] == "ai_referrals"
    assert "HubSpot original source 'AI Referrals': 1 row" in done.stderr


def test_a_deal_continues_the_lead_of_its_first_contact(tmp_path: Path) -> None:
    files = {
        **contacts(contact("205", **{"Became a Lead Date": "2024-03-01 09:00"})),
        **deals(
            deal(
                "900",
                **{
                    "Deal Stage": "Appointment Scheduled",
                    "Create Date": "2024-03-06 09:00",
                    "Associated Contact IDs": "205;101",
                    "Amount": "12,500.00",
                },
            )
        ),
    }
    done = run_import(tmp_path, "hubspot", files)
    opportunity = done.one("hubspot-contact-101", "opportunity.created")
    assert opportunity["amount"] == 12500.0
    assert done.of("hubspot-contact-205") == [("lead.created", "2024-03-01T09:00:00-05:00")]


def test_for_contacts_with_deals_the_deals_decide_opportunity_and_won(tmp_path: Path) -> None:
    files = {
        **contacts(
            contact(
                "101",
                **{
                    "Became a Lead Date": "2024-03-01 09:00",
                    "Became an Opportunity Date": "2024-03-06 09:00",
                    "Became a Customer Date": "2024-03-28 16:59",
                },
            )
        ),
        **deals(
            deal(
                "900",
                **{
                    "Deal Stage": "Closed Won",
                    "Create Date": "2024-03-06 09:00",
                    'Date entered "Closed Won (Sales Pipeline)"': "2024-03-28 17:00",
                    "Associated Contact IDs": "101",
                    "Amount": "$3,000",
                },
            )
        ),
    }
    done = run_import(tmp_path, "hubspot", files)
    won = done.one("hubspot-contact-101", "deal.won")
    assert (won["occurred_at"], won["amount"]) == ("2024-03-28T17:00:00-04:00", 3000.0)
    done.one("hubspot-contact-101", "opportunity.created")


def test_a_colleague_on_the_deal_does_not_win_it_a_second_time(tmp_path: Path) -> None:
    customer = {"Became a Lead Date": "2024-03-01 09:00", "Became a Customer Date": "2024-03-28"}
    files = {
        **contacts(contact("101", **customer), contact("102", **customer)),
        **deals(
            deal(
                "900",
                **{
                    "Deal Stage": "Closed Won",
                    "Create Date": "2024-03-06 09:00",
                    "Close Date": "2024-03-28 17:00",
                    "Associated Contact IDs": "101;102",
                },
            )
        ),
    }
    won = [
        e["lead_id"]
        for e in run_import(tmp_path, "hubspot", files).events
        if e["type"] == "deal.won"
    ]
    assert won == ["hubspot-contact-101"]


def test_a_contact_whose_deal_is_not_exported_keeps_its_customer_date(tmp_path: Path) -> None:
    row = contact(
        "101",
        **{"Became a Lead Date": "2024-03-01 09:00", "Became a Customer Date": "2024-03-28 17:00"},
    )
    done = run_import(tmp_path, "hubspot", contacts(row))
    assert done.one("hubspot-contact-101", "deal.won")["occurred_at"] == "2024-03-28T17:00:00-04:00"


def test_a_deal_without_a_contact_is_a_lead_of_its_own_from_its_creation(tmp_path: Path) -> None:
    row = deal(
        "900",
        **{
            "Deal Stage": "Appointment Scheduled",
            "Create Date": "2024-03-06 09:00",
            "Original Source Type": "Paid Search",
        },
    )
    done = run_import(tmp_path, "hubspot", deals(row))
    created = done.one("hubspot-deal-900", "lead.created")
    assert (created["occurred_at"], created["source"]) == (
        "2024-03-06T09:00:00-05:00",
        "paid_search",
    )
    done.one("hubspot-deal-900", "opportunity.created")


def test_stage_entry_dates_are_pipeline_stages_and_skipped_stages_are_not_implied(
    tmp_path: Path,
) -> None:
    row = deal(
        "900",
        **{
            "Deal Stage": "Contract Sent",
            "Create Date": "2024-03-06 09:00",
            'Date entered "Appointment Scheduled (Sales Pipeline)"': "2024-03-06 09:00",
            'Date entered "Contract Sent (Sales Pipeline)"': "2024-03-15 14:00",
        },
    )
    events = run_import(tmp_path, "hubspot", deals(row)).events
    stages = [(e["stage"], e["occurred_at"]) for e in events if "stage" in e]
    assert stages == [
        ("discovery", "2024-03-06T09:00:00-05:00"),
        ("negotiation", "2024-03-15T14:00:00-04:00"),
    ]


def test_a_reopened_deal_is_open_in_its_current_stage(tmp_path: Path) -> None:
    row = deal(
        "900",
        **{
            "Deal Stage": "Contract Sent",
            "Create Date": "2024-03-06 09:00",
            "Close Date": "2024-03-20 10:00",
            'Date entered "Closed Lost (Sales Pipeline)"': "2024-03-20 10:00",
            'Date entered "Contract Sent (Sales Pipeline)"': "2024-03-27 10:00",
        },
    )
    done = run_import(tmp_path, "hubspot", deals(row))
    assert "deal.lost" not in {e["type"] for e in done.events}
    assert "1 x deals reopened after closing: open, their earlier close ignored" in done.stderr


def test_a_renamed_stage_is_reported_until_the_mapping_names_it(tmp_path: Path) -> None:
    header = [*DEAL, 'Date entered "Demo Given (Partner Pipeline)"']
    row = [
        *deal(
            "900",
            **{
                "Pipeline": "Partner Pipeline",
                "Deal Stage": "Demo Given",
                "Create Date": "2024-03-06 09:00",
            },
        ),
        "2024-03-08 11:00",
    ]
    files = {"deals.csv": export(header, row)}
    unmapped = run_import(tmp_path, "hubspot", files)
    assert "HubSpot deal stage 'Demo Given (Partner Pipeline)'" in unmapped.stderr
    assert not [e for e in unmapped.events if "stage" in e]
    mapping = "hubspot:\n  deal_stages:\n    Demo Given (Partner Pipeline): demo\n"
    mapped = run_import(tmp_path, "hubspot", files, mapping=mapping)
    assert [(e["stage"], e["occurred_at"]) for e in mapped.events if "stage" in e] == [
        ("demo", "2024-03-08T11:00:00-05:00")
    ]
    assert "Demo Given" not in mapped.stderr


def test_a_won_deal_without_a_stage_entry_date_is_won_at_its_close_date(tmp_path: Path) -> None:
    row = deal(
        "900",
        **{
            "Deal Stage": "Closed Won",
            "Create Date": "2024-03-06 09:00",
            "Close Date": "2024-03-28 17:00",
        },
    )
    done = run_import(tmp_path, "hubspot", deals(row))
    assert done.one("hubspot-deal-900", "deal.won")["occurred_at"] == "2024-03-28T17:00:00-04:00"


def test_a_lost_deal_carries_its_loss_reason_normalised_to_the_configured_list(
    tmp_path: Path,
) -> None:
    lost = {
        "Deal Stage": "Closed Lost",
        "Create Date": "2024-03-06 09:00",
        "Close Date": "2024-03-20 10:00",
    }
    rows = [
        deal("900", **lost, **{"Closed Lost Reason": "Lost to competitor"}),
        deal("901", **lost, **{"Closed Lost Reason": "Chose to build in-house"}),
        deal("902", **lost),
    ]
    done = run_import(tmp_path, "hubspot", deals(*rows))
    reasons = [done.one(f"hubspot-deal-{d}", "deal.lost")["reason"] for d in (900, 901, 902)]
    assert reasons == ["competitor", "other", "other"]
    assert "loss reason 'Chose to build in-house': 1 row (reason 'other'), e.g. deals.csv:3" in (
        done.stderr
    )
    assert "1 x lost deals without a Closed Lost Reason: reason 'other'" in done.stderr


def test_a_closed_deal_without_a_close_date_is_skipped_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    rows = [
        deal("900", **{"Deal Stage": "Appointment Scheduled", "Create Date": "2024-03-06 09:00"}),
        deal("901", **{"Deal Stage": "Closed Won", "Create Date": "2024-03-06 09:00"}),
    ]
    done = run_import(tmp_path, "hubspot", deals(*rows))
    assert done.status == 1
    assert "deals.csv:3: deal in 'Closed Won' without a Close Date" in done.stderr
    assert {e["lead_id"] for e in done.events} == {"hubspot-deal-900"}


def test_overlapping_exports_use_the_row_of_the_later_file(tmp_path: Path) -> None:
    january = contacts(contact("101", **{"Became a Lead Date": "2024-01-03 09:00"}))
    february = export(
        CONTACT,
        contact(
            "101",
            **{
                "Became a Lead Date": "2024-01-03 09:00",
                "Became a Marketing Qualified Lead Date": "2024-02-01 09:00",
                "Original Source": "Referrals",
            },
        ),
    )
    done = run_import(tmp_path, "hubspot", {**january, "february.csv": february})
    assert [t for t, _ in done.of("hubspot-contact-101")] == ["lead.created", "lead.mql"]
    assert done.one("hubspot-contact-101", "lead.created")["source"] == "referral"
