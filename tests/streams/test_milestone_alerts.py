"""Per-lead milestone alerts end to end: events through a real broker to real workers,
which post to a real Alertmanager with the shipped routes. SLAs are seconds long
(config file); everything else is as deployed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.test_alertmanager import Running, _alertmanager, _config, _get
from tests.streaming import ROOT, Deployment, counter, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus]

RESPONSE = "LeadflowLeadResponseOverdue"
CONFIG = """
targets:
  response_max_by_tier: {hot: 4s, warm: 1h}
  pipeline_stage_max: {proposal: 1h}
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Running]:
    home = tmp_path / "am"
    home.mkdir()
    yield from _alertmanager(home, _config())


@pytest.fixture
def milestones(deployment: Deployment, alertmanager: Running, tmp_path: Path) -> Deployment:
    config = tmp_path / "leadflow.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    deployment.extra_env.update(
        LEADFLOW_CONFIG=str(config),
        LEADFLOW_ALERTMANAGER_URL=alertmanager.url,
        LEADFLOW_MILESTONE_INTERVAL="1s",
        LEADFLOW_MILESTONE_ALERT_TTL="60s",
    )
    return deployment


def at(offset_seconds: float, base: datetime | None = None) -> str:
    moment = (base or datetime.now(UTC)) + timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds")


def line(type: str, lead: str, when: str, **fields: Any) -> str:
    document = {"event_id": f"{lead}-{type}-{when}", "type": type, "lead_id": lead}
    return json.dumps({**document, "occurred_at": when, **fields})


def send(deployment: Deployment, path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    deployment.produce(path, batch=500)


def alerts(url: str, app: str, alertname: str | None = None) -> list[dict[str, Any]]:
    filters = [("filter", f'app="{app}"')]
    if alertname is not None:
        filters.append(("filter", f'alertname="{alertname}"'))
    return _get(f"{url}/api/v2/alerts?{urllib.parse.urlencode(filters)}") or []


def notified(am: Running, lead: str, status: str) -> list[dict[str, Any]]:
    return [
        alert
        for alert in am.webhook.alerts()
        if alert["labels"].get("lead_id") == lead and alert["status"] == status
    ]


def test_a_hot_mql_not_contacted_in_time_is_one_alert_through_a_restart_until_contacted(
    milestones: Deployment, alertmanager: Running, tmp_path: Path
) -> None:
    worker = milestones.worker("w1").start()
    send(
        milestones,
        tmp_path / "mql.jsonl",
        [
            line("lead.created", "hot-1", at(-10), source="webinar", campaign="spring", score=90),
            line("lead.mql", "hot-1", at(0)),
        ],
    )
    eventually(lambda: alerts(alertmanager.url, milestones.name), timeout=30)
    (alert,) = alerts(alertmanager.url, milestones.name)
    assert alert["labels"] == {
        "alertname": RESPONSE,
        "app": milestones.name,
        "rule": "response",
        "lead_id": "hot-1",
        "source": "webinar",
        "tier": "hot",
        "stage": "mql",
        "team": "sales",
        "severity": "warning",
    }
    assert alert["annotations"]["campaign"] == "spring"
    assert alert["annotations"]["sla"] == "4s"
    eventually(lambda: notified(alertmanager, "hot-1", "firing"), timeout=15)
    assert alertmanager.webhook.payloads[0]["receiver"] == "sales"

    worker.restart()
    time.sleep(4)  # a few of the restarted worker's rounds
    (again,) = alerts(alertmanager.url, milestones.name)
    assert (again["fingerprint"], again["startsAt"]) == (alert["fingerprint"], alert["startsAt"])
    assert counter([worker], "leadflow_milestone_alerts_posted_total", action="kept") >= 1
    assert counter([worker], "leadflow_milestone_alerts_posted_total", action="opened") == 0
    assert len(notified(alertmanager, "hot-1", "firing")) == 1
    assert notified(alertmanager, "hot-1", "resolved") == []

    send(milestones, tmp_path / "contact.jsonl", [line("lead.contacted", "hot-1", at(0))])
    eventually(lambda: not alerts(alertmanager.url, milestones.name), timeout=30)
    eventually(lambda: notified(alertmanager, "hot-1", "resolved"), timeout=15)
    assert len(notified(alertmanager, "hot-1", "firing")) == 1


def test_out_of_order_contacts_and_late_lead_created_raise_no_false_alert(
    milestones: Deployment, alertmanager: Running, tmp_path: Path
) -> None:
    milestones.worker("w1").start()
    t0 = datetime.now(UTC)
    send(
        milestones,
        tmp_path / "first.jsonl",
        [
            # The contact arrives before the MQL it answers.
            line("lead.contacted", "answered", at(1, t0)),
            line("lead.mql", "answered", at(0, t0)),
            # Contacted before it even became an MQL.
            line("lead.contacted", "known", at(-30, t0)),
            line("lead.mql", "known", at(0, t0)),
            # Unscored until its lead.created turns up, late.
            line("lead.mql", "late-created", at(0, t0)),
            line("lead.contacted", "late-created", at(2, t0)),
            line("lead.mql", "control", at(0, t0)),
        ],
    )
    time.sleep(6)  # past the 4 s SLA: any false alert would be raised now
    hot = {"source": "webinar", "score": 95}
    send(
        milestones,
        tmp_path / "late.jsonl",
        [
            line("lead.created", lead, at(-60, t0), **hot)
            for lead in ("answered", "known", "late-created", "control")
        ],
    )
    eventually(lambda: alerts(alertmanager.url, milestones.name), timeout=30)
    time.sleep(3)
    (alert,) = alerts(alertmanager.url, milestones.name)
    assert alert["labels"]["lead_id"] == "control"
    named = {alert["labels"].get("lead_id") for alert in alertmanager.webhook.alerts()}
    assert named <= {"control"}


def test_a_burst_of_ten_thousand_breaches_stays_within_the_rate_limit_with_a_summary(
    milestones: Deployment, alertmanager: Running, tmp_path: Path
) -> None:
    milestones.extra_env.update(
        LEADFLOW_MILESTONE_ALERT_BURST="500", LEADFLOW_MILESTONE_ALERTS_PER_MINUTE="600"
    )
    worker = milestones.worker("w1").start()
    started = time.monotonic()
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    lines = []
    for index in range(10_000):
        lead = f"burst-{index:05d}"
        lines.append(line("lead.created", lead, at(-60, hour_ago), source="ads", score=80))
        lines.append(line("lead.mql", lead, at(0, hour_ago)))
    send(milestones, tmp_path / "burst.jsonl", lines)

    def breaches() -> float:
        return counter([worker], "leadflow_milestone_breaches", rule="response")

    eventually(lambda: breaches() == 10_000, timeout=60)
    eventually(
        lambda: alerts(alertmanager.url, milestones.name, "LeadflowMilestoneBreachesSuppressed"), 15
    )
    posted = alerts(alertmanager.url, milestones.name, RESPONSE)
    elapsed = time.monotonic() - started
    assert 500 <= len(posted) <= 500 + 10 * elapsed
    (summary,) = alerts(alertmanager.url, milestones.name, "LeadflowMilestoneBreachesSuppressed")
    assert summary["labels"]["team"] == "sales"
    text = worker.scrape_text()
    opened = counter([worker], "leadflow_milestone_alerts_posted_total", action="opened")
    suppressed = counter([worker], "leadflow_milestone_breaches_suppressed")
    assert "leadflow_milestone_breaches_suppressed" in text
    assert opened + suppressed == 10_000
    assert int(summary["annotations"]["suppressed"]) > 10_000 - 500 - 10 * elapsed - 1


def test_the_alerts_alertmanager_lists_equal_replays_breach_report(
    milestones: Deployment, alertmanager: Running, tmp_path: Path
) -> None:
    workers = [milestones.worker("w1"), milestones.worker("w2")]
    milestones.start_workers(workers)
    base = datetime.now(UTC) - timedelta(hours=3)
    lines = []
    for index in range(60):
        lead = f"mix-{index:02d}"
        score = (20, 50, 90)[index % 3]
        created = line(
            "lead.created", lead, at(0, base), source=("ads", "webinar")[index % 2], score=score
        )
        mql = line("lead.mql", lead, at(60 * index, base))  # warm SLA 1 h: some are overdue
        step = [mql, created] if index % 4 == 0 else [created, mql]  # some out of order
        if index % 5 == 0:
            step.append(line("lead.contacted", lead, at(60 * index + 30, base)))
        if index % 7 == 0:
            step += [
                line("opportunity.created", lead, at(60 * index + 60, base)),
                line(
                    "opportunity.stage_changed", lead, at(60 * index + 90, base), stage="proposal"
                ),
            ]
        lines += step + step[:1]  # and a duplicate
    events = tmp_path / "mix.jsonl"
    send(milestones, events, lines)

    def listed() -> set[tuple[tuple[str, str], ...]]:
        return {
            tuple(sorted(alert["labels"].items()))
            for alert in alerts(alertmanager.url, milestones.name)
        }

    report = tmp_path / "breaches.jsonl"
    as_of = datetime.now(UTC).isoformat()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "leadflow.cli",
            "replay",
            str(events),
            "--as-of",
            as_of,
            "--breaches",
            str(report),
        ],
        env=milestones.env(),
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    rows = [json.loads(text) for text in report.read_text().splitlines()]
    expected = {tuple(sorted(row["labels"].items())) for row in rows}
    assert len(expected) > 10
    assert {dict(key)["rule"] for key in expected} == {"response", "pipeline_stage"}
    eventually(lambda: listed() == expected, timeout=60)
    # Counted without lead labels too: summed over the workers, one per breach.
    eventually(lambda: counter(workers, "leadflow_milestone_breaches") == len(rows), timeout=15)
    # The same clocks too: each alert starts at its deadline, however it was posted.
    posted = {
        (alert["labels"]["lead_id"], alert["labels"]["rule"], alert["startsAt"])
        for alert in alerts(alertmanager.url, milestones.name)
    }
    assert posted == {
        (row["labels"]["lead_id"], row["labels"]["rule"], row["startsAt"].replace("Z", ".000Z"))
        for row in rows
    }
