"""`leadflow import` as a command: starting, files, output, idempotence, Kafka."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from contextlib import redirect_stderr
from pathlib import Path

import orjson
import pytest
import yaml

from events import Event, Vocabulary, decode, to_micros
from leadflow.cli import main
from leadflow.importers.command import Progress
from tests.builders import CLOCK, replay
from tests.crm_exports import export, run_import

FIXTURES = Path(__file__).parents[1] / "fixtures" / "crm"
HUBSPOT = ["hubspot_contacts.csv", "hubspot_deals.csv"]
SALESFORCE = [
    "salesforce_leads.csv",
    "salesforce_opportunities.csv",
    "salesforce_opportunity_history.csv",
]
LEAD_ROW = {
    "contacts.csv": export(["Record ID", "Became a Lead Date"], ["101", "2024-03-01 09:00"])
}


def fixture_import(tmp_path: Path, crm: str, *extra: str) -> bytes:
    out = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    if crm == "hubspot":
        args = [*(str(FIXTURES / f) for f in HUBSPOT), "--timezone", "America/New_York"]
    else:
        args = [*(str(FIXTURES / f) for f in SALESFORCE), "--timezone", "Europe/Berlin"]
        args += ["--date-order", "dmy"]
    mapping = ["--mapping", str(FIXTURES / "mapping.yaml")]
    assert main(["import", crm, *args, *mapping, "--out", str(out), *extra]) == 1
    return out.read_bytes()


def test_without_a_time_zone_the_import_does_not_start(tmp_path: Path) -> None:
    done = run_import(tmp_path, "hubspot", LEAD_ROW, zone="")
    assert done.status == 2
    assert "--timezone is required" in done.stderr


def test_a_time_zone_must_be_an_iana_name(tmp_path: Path) -> None:
    done = run_import(tmp_path, "hubspot", LEAD_ROW, zone="EST5")
    assert (done.status, "not an IANA time zone" in done.stderr) == (2, True)


def test_a_mapping_target_the_funnel_lacks_stops_the_import_naming_the_key(tmp_path: Path) -> None:
    mapping = "hubspot:\n  deal_stages:\n    Legal Review: legal\n"
    done = run_import(tmp_path, "hubspot", LEAD_ROW, mapping=mapping)
    assert done.status == 2
    assert "hubspot.deal_stages['Legal Review']: 'legal' is not a configured pipeline stage" in (
        done.stderr
    )


def test_a_mapping_can_use_the_pipeline_stages_of_the_funnel_config(tmp_path: Path) -> None:
    config = "funnel:\n  pipeline_stages: [discovery, demo, proposal, negotiation, legal]\n"
    mapping = "hubspot:\n  deal_stages:\n    Legal Review: legal\n"
    deals = export(
        ["Record ID", "Deal Stage", "Create Date"], ["900", "Legal Review", "2024-03-06 09:00"]
    )
    done = run_import(tmp_path, "hubspot", {"deals.csv": deals}, mapping=mapping, config=config)
    assert done.status == 0
    assert [e["stage"] for e in done.events if "stage" in e] == ["legal"]


def test_a_misspelt_mapping_section_is_refused(tmp_path: Path) -> None:
    done = run_import(tmp_path, "hubspot", LEAD_ROW, mapping="hubspot:\n  deal_stage: {}\n")
    assert done.status == 2
    assert "hubspot.deal_stage: Extra inputs are not permitted" in done.stderr


def test_a_file_that_is_neither_export_says_how_to_name_its_kind(tmp_path: Path) -> None:
    done = run_import(tmp_path, "hubspot", {"other.csv": export(["Name"], ["x"])})
    assert done.status == 2
    assert "name it as KIND:FILE (contacts, deals)" in done.stderr


def test_a_kind_prefix_names_the_export(tmp_path: Path) -> None:
    (tmp_path / "q1.csv").write_text(
        export(["Record ID", "Became a Lead Date"], ["101", "2024-03-01"])
    )
    out = tmp_path / "out.jsonl"
    args = ["import", "hubspot", f"contacts:{tmp_path / 'q1.csv'}", "--timezone", "UTC"]
    assert main([*args, "--out", str(out)]) == 0
    assert b'"lead_id":"hubspot-contact-101"' in out.read_bytes()


def test_the_mapping_in_force_is_printed_and_reads_back_as_a_mapping_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("hubspot:\n  deal_stages:\n    Demo Given: demo\n")
    assert main(["import", "hubspot", "--print-mapping", "--mapping", str(mapping)]) == 0
    printed = capsys.readouterr().out
    stages = yaml.safe_load(printed)["hubspot"]["deal_stages"]
    assert (stages["Demo Given"], stages["Contract Sent"]) == ("demo", "negotiation")
    mapping.write_text(printed)
    assert main(["import", "hubspot", "--print-mapping", "--mapping", str(mapping)]) == 0
    assert capsys.readouterr().out == printed


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_importing_the_same_exports_twice_gives_identical_output(tmp_path: Path, crm: str) -> None:
    assert fixture_import(tmp_path, crm) == fixture_import(tmp_path, crm)


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_every_line_written_is_a_valid_contract_event(tmp_path: Path, crm: str) -> None:
    lines = fixture_import(tmp_path, crm).splitlines()
    decoded = [decode(line, Vocabulary(), to_micros(CLOCK)) for line in lines]
    assert all(isinstance(event, Event) for event in decoded), [
        d for d in decoded if not isinstance(d, Event)
    ]
    assert len(lines) > 1000


def test_overlapping_exports_imported_in_separate_runs_count_each_lead_once(
    tmp_path: Path,
) -> None:
    rows = (FIXTURES / "hubspot_contacts.csv").read_text().splitlines(keepends=True)
    header, body = rows[0], rows[1:]
    # January's export and a later one that repeats part of it.
    (tmp_path / "early.csv").write_text(header + "".join(body[:400]))
    (tmp_path / "late.csv").write_text(header + "".join(body[250:]))
    shutil.copy(FIXTURES / "hubspot_deals.csv", tmp_path / "deals.csv")
    runs = []
    for part in ("early.csv", "late.csv"):
        out = tmp_path / f"{part}.jsonl"
        files = [str(tmp_path / part), str(tmp_path / "deals.csv")]
        main(["import", "hubspot", *files, "--timezone", "America/New_York", "--out", str(out)])
        runs.append(out.read_bytes())
    whole = tmp_path / "whole.jsonl"
    files = [str(FIXTURES / f) for f in HUBSPOT]
    main(["import", "hubspot", *files, "--timezone", "America/New_York", "--out", str(whole)])
    both = (runs[0] + runs[1]).splitlines()
    assert len(both) > len(set(both))  # the overlap really repeats events
    assert replay(both) == replay(whole.read_bytes().splitlines())


def test_rows_are_numbered_by_the_line_they_start_on(tmp_path: Path) -> None:
    text = export(
        ["Record ID", "Became a Lead Date", "Message"],
        ["101", "2024-03-01 09:00", "Asked for pricing.\nCall back next week."],
        ["102", "2024-03-02 09:00"],  # a record cut short
        ["", "2024-03-03 09:00", ""],
    )
    done = run_import(tmp_path, "hubspot", {"contacts.csv": text})
    assert done.status == 1
    assert "contacts.csv:4: 2 fields where the header has 3" in done.stderr
    assert "contacts.csv:5: no Record ID" in done.stderr
    assert "skipped 2 rows" in done.stderr


def test_a_file_in_another_encoding_says_which_option_helps(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes(
        "Id,Status,LeadSource\n00Q,Neu,Messe München\n".encode("cp1252")
    )
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        status = main(["import", "salesforce", str(tmp_path / "leads.csv"), "--timezone", "UTC"])
    assert status == 2
    assert "leads.csv: not utf-8-sig text" in stderr.getvalue()
    assert "--encoding cp1252" in stderr.getvalue()


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_the_progress_bar_is_drawn_only_on_a_terminal() -> None:
    for tty in (False, True):
        stream = _Terminal(tty)
        progress = Progress(stream, total_bytes=1000)
        progress.update(500, 2000)
        progress.clear()
        assert ("50%" in stream.getvalue()) is tty
        assert (stream.getvalue() == "") is not tty


@pytest.mark.kafka
def test_produce_sends_the_same_events_to_the_events_topic(
    tmp_path: Path, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kafka import KafkaConsumer

    topic = f"test-import-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LEADFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("LEADFLOW_TOPIC", topic)
    monkeypatch.delenv("LEADFLOW_CONFIG", raising=False)
    expected = fixture_import(tmp_path, "salesforce").splitlines()
    files = [str(FIXTURES / f) for f in SALESFORCE]
    args = ["--timezone", "Europe/Berlin", "--date-order", "dmy", "--produce"]
    mapping = ["--mapping", str(FIXTURES / "mapping.yaml")]
    assert main(["import", "salesforce", *files, *args, *mapping]) == 1  # broken rows on purpose

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-reader",
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    received: list[bytes] = []
    try:
        for message in consumer:
            # Bulk messages: a JSON array of the events of one lead partition.
            received.extend(orjson.dumps(e) for e in json.loads(message.value))
            if len(received) >= len(expected):
                break
    finally:
        consumer.close()
    assert sorted(received) == sorted(expected)
