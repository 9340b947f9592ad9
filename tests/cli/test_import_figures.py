"""`leadflow import … | leadflow replay -` on the fixture exports gives figures counted
by hand from the CSV rows.

The counts below are read straight off the fixture files with `csv` and
`strptime`, following the README's conventions, not with the importer's code:
a month's MQLs are the contacts (leads) whose MQL date falls in it, and so on.
The literals are those counts, checked once by hand; the test recounts them so a
regenerated fixture cannot drift silently.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.builders import select, value

FIXTURES = Path(__file__).parents[1] / "fixtures" / "crm"
ROOT = Path(__file__).parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


# -- counting by hand: HubSpot (times are local to the portal, America/New_York) --------

_HUBSPOT_FORMATS = ("%Y-%m-%d %H:%M", "%m/%d/%Y %I:%M %p", "%b %d, %Y %I:%M %p", "%Y-%m-%d")


def _hubspot_time(text: str) -> datetime | None:
    for spelling in _HUBSPOT_FORMATS:
        try:
            return datetime.strptime(text, spelling)
        except ValueError:
            continue
    raise ValueError(text)


def _readable(row: dict[str, str | None], date_columns: list[str]) -> bool:
    """The importer skips rows that are short, lack an id or hold an unreadable date."""
    if None in row.values() or not row["Record ID"]:
        return False
    try:
        for column in date_columns:
            if row[column]:
                _hubspot_time(row[column] or "")
    except ValueError:
        return False
    return True


def _earliest(row: dict[str, str], columns: list[str]) -> datetime | None:
    moments = [_hubspot_time(row[c]) for c in columns if row[c]]
    return min((m for m in moments if m), default=None)


MQL_COLUMNS = [
    "Became a Marketing Qualified Lead Date",
    'Date entered "Marketing Qualified Lead (Lifecycle Stage Pipeline)"',
]
SQL_COLUMNS = [
    "Became a Sales Qualified Lead Date",
    'Date entered "Sales Qualified Lead (Lifecycle Stage Pipeline)"',
]


def hubspot_by_hand(month: int) -> tuple[int, int, int]:
    """(MQL entries, SQL entries, won leads) in `month` of 2024."""
    contacts = [
        r for r in _rows("hubspot_contacts.csv") if _readable(r, [c for c in r if "ate" in c])
    ]
    deals = []
    for row in _rows("hubspot_deals.csv"):
        amount = row["Amount"].replace("$", "").replace(",", "")
        if not row["Create Date"] or (amount and not amount.replace(".", "").isdigit()):
            continue  # the two broken deal rows
        deals.append(row)
    mqls = sum(1 for r in contacts if (m := _earliest(r, MQL_COLUMNS)) and m.month == month)
    sqls = sum(1 for r in contacts if (m := _earliest(r, SQL_COLUMNS)) and m.month == month)
    won: dict[str, datetime] = {}
    in_deals = {c for d in deals for c in d["Associated Contact IDs"].split(";") if c}
    for deal in deals:
        if deal["Deal Stage"] != "Closed Won":
            continue
        entered = deal[f'Date entered "Closed Won ({deal["Pipeline"]})"'] or deal["Close Date"]
        ids = [int(c) for c in deal["Associated Contact IDs"].split(";") if c]
        lead = f"contact {min(ids)}" if ids else f"deal {deal['Record ID']}"
        moment = _hubspot_time(entered)
        assert moment is not None
        won[lead] = min(won.get(lead, moment), moment)
    for row in contacts:
        if row["Record ID"] not in in_deals and row["Became a Customer Date"]:
            moment = _hubspot_time(row["Became a Customer Date"])
            assert moment is not None
            lead = f"contact {row['Record ID']}"
            won[lead] = min(won.get(lead, moment), moment)
    return mqls, sqls, sum(1 for moment in won.values() if moment.month == month)


# -- counting by hand: Salesforce (org zone Europe/Berlin) ------------------------------


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC).astimezone(BERLIN)


def salesforce_by_hand(month: int) -> tuple[int, int, int, int]:
    """(MQL entries, SQL entries, won leads, lost leads) in `month` of 2024."""
    leads = [r for r in _rows("salesforce_leads.csv") if r["CreatedDate"][:4].isdigit()]
    mqls = sum(1 for r in leads if r["MQL_Date__c"] and _utc(r["MQL_Date__c"]).month == month)
    sqls = sum(1 for r in leads if r["ConvertedDate"] and int(r["ConvertedDate"][5:7]) == month)
    converted = {r["ConvertedOpportunityId"]: r["Id"] for r in leads if r["ConvertedOpportunityId"]}
    history: dict[str, list[tuple[datetime, str]]] = {}
    for row in _rows("salesforce_opportunity_history.csv"):
        history.setdefault(row["OpportunityId"], []).append(
            (_utc(row["CreatedDate"]), row["StageName"])
        )
    outcomes: dict[str, dict[str, date]] = {"won": {}, "lost": {}}
    for row in _rows("salesforce_opportunities.csv"):
        if row["Amount"] == "n/a" or row["Closed"] != "1":
            continue  # the broken row is an open opportunity (asserted below)
        long_id = next(i for i in history if i.startswith(row["Opportunity ID"]))  # 15 → 18
        entries = [at for at, stage in history[long_id] if stage == row["Stage"]]
        day = (
            max(entries).date()
            if entries
            else datetime.strptime(row["Close Date"], "%d.%m.%Y").date()
        )
        lead = converted.get(long_id, long_id)
        outcome = outcomes["won" if row["Won"] == "1" else "lost"]
        outcome[lead] = min(outcome.get(lead, day), day)
    won = sum(1 for day in outcomes["won"].values() if day.month == month)
    lost = sum(1 for day in outcomes["lost"].values() if day.month == month)
    return mqls, sqls, won, lost


def test_the_unreadable_opportunity_row_is_an_open_one() -> None:
    """What the hand count above assumes about the fixture's broken row."""
    broken = [r for r in _rows("salesforce_opportunities.csv") if r["Amount"] == "n/a"]
    assert [r["Closed"] for r in broken] == ["0"]


# -- the pipeline ---------------------------------------------------------------------


def _pipeline(tmp_path: Path, crm: str, zone: str, files: list[str], *extra: str) -> dict:
    config = tmp_path / "leadflow.yaml"
    config.write_text(f"funnel:\n  timezone: {zone}\n")
    env = {**os.environ, "LEADFLOW_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "leadflow.cli"]
    importer = subprocess.Popen(
        [*command, "import", crm, *files, "--timezone", zone, *extra],
        cwd=FIXTURES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    replay = subprocess.run(
        [*command, "replay", "-", "--history", "all"],
        stdin=importer.stdout,
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert importer.stdout is not None
    importer.stdout.close()
    assert importer.wait(timeout=60) == 1  # the fixtures hold broken rows on purpose
    return _parse_prometheus(replay.stdout.decode())


def _parse_prometheus(text: str) -> dict:
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, number = line.rpartition(" ")
        name, _, labels = head.partition("{")
        pairs = [p.split("=", 1) for p in labels.rstrip("}").split(",") if p]
        key = (name, frozenset((k, v.strip('"')) for k, v in pairs))
        series[key] = float(number)
    return series


def _month(series: dict, name: str, start: str, **labels: str) -> float:
    return value(series, name, period="month", period_start=start, **labels)


def _entries(series: dict, start: str, stage: str) -> float:
    """Stage entries in a month, summed over sources."""
    name = "leadflow_stage_entries"
    return sum(select(series, name, period="month", period_start=start, stage=stage).values())


@pytest.fixture(scope="module")
def hubspot_series(tmp_path_factory: pytest.TempPathFactory) -> dict:
    files = ["hubspot_contacts.csv", "hubspot_deals.csv", "--mapping", "mapping.yaml"]
    return _pipeline(tmp_path_factory.mktemp("hubspot"), "hubspot", "America/New_York", files)


@pytest.fixture(scope="module")
def salesforce_series(tmp_path_factory: pytest.TempPathFactory) -> dict:
    files = [
        "salesforce_leads.csv",
        "salesforce_opportunities.csv",
        "salesforce_opportunity_history.csv",
        "--mapping",
        "mapping.yaml",
        "--date-order",
        "dmy",
    ]
    return _pipeline(tmp_path_factory.mktemp("salesforce"), "salesforce", "Europe/Berlin", files)


# (month, MQLs, SQLs, won) counted by hand from hubspot_contacts.csv and hubspot_deals.csv.
HUBSPOT_MONTHS = [(3, 68, 39, 13), (4, 61, 32, 12), (5, 49, 32, 10)]


@pytest.mark.parametrize(("month", "mqls", "sqls", "won"), HUBSPOT_MONTHS)
def test_hubspot_month_figures_match_the_hand_count(
    hubspot_series: dict, month: int, mqls: int, sqls: int, won: int
) -> None:
    assert hubspot_by_hand(month) == (mqls, sqls, won)
    start = f"2024-{month:02d}-01"
    assert [_entries(hubspot_series, start, s) for s in ("mql", "sql", "won")] == [mqls, sqls, won]
    conversion = _month(
        hubspot_series,
        "period:leadflow_conversion:ratio",
        start,
        from_stage="mql",
        to_stage="sql",
        basis="period",
    )
    assert conversion == pytest.approx(sqls / mqls)
    ratio = _month(hubspot_series, "period:leadflow_qualified_to_won:ratio", start)
    assert ratio == pytest.approx(sqls / won)


# (month, MQLs, SQLs, won, lost) counted by hand from the three Salesforce exports.
SALESFORCE_MONTHS = [(4, 52, 27, 14, 10), (5, 55, 30, 14, 8)]


@pytest.mark.parametrize(("month", "mqls", "sqls", "won", "lost"), SALESFORCE_MONTHS)
def test_salesforce_month_figures_match_the_hand_count(
    salesforce_series: dict, month: int, mqls: int, sqls: int, won: int, lost: int
) -> None:
    assert salesforce_by_hand(month) == (mqls, sqls, won, lost)
    start = f"2024-{month:02d}-01"
    stages = ("mql", "sql", "won", "lost")
    assert [_entries(salesforce_series, start, s) for s in stages] == [mqls, sqls, won, lost]
    conversion = _month(
        salesforce_series,
        "period:leadflow_conversion:ratio",
        start,
        from_stage="mql",
        to_stage="sql",
        basis="period",
    )
    assert conversion == pytest.approx(sqls / mqls)
    ratio = _month(salesforce_series, "period:leadflow_qualified_to_won:ratio", start)
    assert ratio == pytest.approx(sqls / won)
    win_rate = _month(salesforce_series, "period:leadflow_win:ratio", start)
    assert win_rate == pytest.approx(won / (won + lost))
