"""The worker's milestone poster against a real Alertmanager, with the lead state and
the clocks in the test's hands (no Kafka): what it posts, keeps open, resolves,
takes over after a restart, refuses as a stale owner, and holds back over its limit."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from builders import decoded, event
from prometheus_client import CollectorRegistry

from events import now_micros
from leadflow.settings import SettingsError, load_settings
from projections import Funnel, LeadState
from projections.milestones import Milestones, rfc3339
from streams.app import create_worker
from streams.ledgers import encode_state
from streams.milestone_settings import MilestoneSettings
from streams.milestones import SUMMARY_ALERT, MilestonePoster
from streams.settings import WorkerSettings
from streams.token_bucket import TokenBucket
from tests.dashboards.test_alertmanager import (
    EXAMPLE,
    Running,
    _alertmanager,
    _config,
    _get,
    _sent_everything,
)

pytestmark = pytest.mark.prometheus

# Alertmanager keeps time itself, so the test's clock starts at the real one: set for
# each test (below), not at import, which a long suite does half an hour earlier (an
# alert whose endsAt lies in Alertmanager's past is resolved on arrival).
NOW = 0
MQL_AT = CREATED_AT = CONTACTED_AT = ""
APP = "poster-test"


@pytest.fixture(autouse=True)
def _real_now() -> None:
    global NOW, MQL_AT, CREATED_AT, CONTACTED_AT
    NOW = now_micros() // 1_000_000 * 1_000_000
    MQL_AT = rfc3339(NOW - 90 * 60 * 1_000_000)  # 1.5 h ago: a hot lead is overdue
    CREATED_AT = rfc3339(NOW - 150 * 60 * 1_000_000)
    CONTACTED_AT = rfc3339(NOW - 60_000_000)  # contacted a minute ago, after the deadline


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Running]:
    yield from _alertmanager(tmp_path, _config())


def hot_mql(lead: str) -> LeadState:
    state = LeadState()
    for line in (
        event("lead.created", lead, CREATED_AT, source="webinar", score=90),
        event("lead.mql", lead, MQL_AT),
    ):
        state.apply(decoded(line))
    return state


class Clock:
    def __init__(self) -> None:
        self.micros = NOW
        self.seconds = 0.0


def poster(
    url: str,
    leads: dict[str, LeadState],
    clock: Clock,
    owner: list[bool] | None = None,
    burst: int = 200,
) -> MilestonePoster:
    settings = MilestoneSettings(
        alertmanager_url=url,
        milestone_interval=timedelta(seconds=1),
        milestone_alert_ttl=timedelta(minutes=5),
        milestone_alerts_per_minute=60,
        milestone_alert_burst=burst,
    )
    owning = owner if owner is not None else [True]
    return MilestonePoster(
        settings=settings,
        rules=Milestones(Funnel()),
        app_id=APP,
        partitions=1,
        owned=lambda: {0: leads} if owning[0] else None,
        registry=CollectorRegistry(),
        instance="worker-1:9108",
        clock=lambda: clock.micros,
        monotonic=lambda: clock.seconds,
    )


def rounds(*posters: MilestonePoster) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            for each in posters:
                await each.round(http)

    asyncio.run(run())


def active(url: str, **labels: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in labels.items()])
    return _get(f"{url}/api/v2/alerts?{query}") or []


def test_a_breach_is_posted_once_and_reposting_keeps_one_alert(alertmanager: Running) -> None:
    clock = Clock()
    worker = poster(alertmanager.url, {"L1": hot_mql("L1")}, clock)
    rounds(worker, worker, worker)
    (alert,) = active(alertmanager.url, app=APP)
    assert alert["labels"]["lead_id"] == "L1"
    deadline = rfc3339(NOW - 30 * 60 * 1_000_000)  # MQL + 1 h
    assert alert["startsAt"] == deadline.replace("Z", ".000Z")
    assert alert["annotations"]["waited"] == "1h 30m"
    assert worker.sent.labels("opened")._value.get() == 1
    assert worker.sent.labels("kept")._value.get() == 2


def test_a_contacted_lead_is_resolved_by_the_next_round(alertmanager: Running) -> None:
    clock = Clock()
    leads = {"L1": hot_mql("L1")}
    worker = poster(alertmanager.url, leads, clock)
    rounds(worker)
    leads["L1"].apply(decoded(event("lead.contacted", "L1", CONTACTED_AT)))
    rounds(worker)
    assert active(alertmanager.url, app=APP) == []
    assert worker.sent.labels("resolved")._value.get() == 1


def test_a_worker_that_cannot_vouch_for_its_ownership_posts_nothing(
    alertmanager: Running,
) -> None:
    owner = [False]
    worker = poster(alertmanager.url, {"L1": hot_mql("L1")}, Clock(), owner=owner)
    rounds(worker)
    assert active(alertmanager.url, app=APP) == []
    assert worker.family().samples == ()


def test_a_new_owner_takes_over_the_open_alerts_and_resolves_one_that_cleared(
    alertmanager: Running,
) -> None:
    clock = Clock()
    leads = {"L1": hot_mql("L1"), "L2": hot_mql("L2")}
    rounds(poster(alertmanager.url, leads, clock))
    assert len(active(alertmanager.url, app=APP)) == 2
    # The first worker is gone; while nobody owned the leads, L2 was contacted.
    leads["L2"].apply(decoded(event("lead.contacted", "L2", CONTACTED_AT)))
    successor = poster(alertmanager.url, leads, clock)
    rounds(successor)
    (alert,) = active(alertmanager.url, app=APP)
    assert alert["labels"]["lead_id"] == "L1"
    assert successor.sent.labels("opened")._value.get() == 0  # taken over, not re-opened
    assert successor.sent.labels("resolved")._value.get() == 1


def test_breaches_over_the_limit_are_held_back_and_summarised(alertmanager: Running) -> None:
    clock = Clock()
    leads = {f"L{index:03d}": hot_mql(f"L{index:03d}") for index in range(300)}
    worker = poster(alertmanager.url, leads, clock, burst=100)
    rounds(worker)
    milestone = active(alertmanager.url, app=APP, alertname="LeadflowLeadResponseOverdue")
    assert len(milestone) == 100
    (summary,) = active(alertmanager.url, alertname=SUMMARY_ALERT)
    assert summary["annotations"]["suppressed"] == "200"
    assert summary["labels"]["instance"] == "worker-1:9108"
    clock.seconds += 60  # 60 a minute: 60 more tokens
    rounds(worker)
    assert len(active(alertmanager.url, app=APP, alertname="LeadflowLeadResponseOverdue")) == 160
    (summary,) = active(alertmanager.url, alertname=SUMMARY_ALERT)
    assert summary["annotations"]["suppressed"] == "140"
    clock.seconds += 600  # a long quiet spell refills the bucket to its burst, no further
    rounds(worker)
    assert len(active(alertmanager.url, app=APP, alertname="LeadflowLeadResponseOverdue")) == 260
    clock.seconds += 600
    rounds(worker)
    assert len(active(alertmanager.url, app=APP, alertname="LeadflowLeadResponseOverdue")) == 300
    assert active(alertmanager.url, alertname=SUMMARY_ALERT) == []  # resolved


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=5, clock=lambda: now[0])
    assert bucket.take(10) == 5
    now[0] = 1.0
    assert bucket.take(10) == 2
    now[0] = 100.0
    assert bucket.take(10) == 5


def test_a_lead_a_batch_changed_is_watched_from_the_next_round(alertmanager: Running) -> None:
    clock = Clock()
    leads = {"L1": LeadState()}
    worker = poster(alertmanager.url, leads, clock)
    rounds(worker)  # indexes the partition: nothing to watch yet
    leads["L1"] = hot_mql("L1")
    worker.note_folded(0, ["L1"])
    rounds(worker)
    (alert,) = active(alertmanager.url, app=APP)
    assert alert["labels"]["lead_id"] == "L1"


@pytest.fixture
def slack_alertmanager(tmp_path: Path) -> Iterator[Running]:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    example["global"] = {"resolve_timeout": "5m"}
    yield from _alertmanager(tmp_path, example)


def test_the_chat_message_names_every_waiting_lead_with_a_line_each(
    slack_alertmanager: Running,
) -> None:
    leads = {lead: hot_mql(lead) for lead in ("L1", "L2", "L3")}
    worker = poster(slack_alertmanager.url, leads, Clock())
    worker.runbook_base = "https://leadflow.dev/docs/runbooks"
    rounds(worker)
    _sent_everything(slack_alertmanager.webhook)
    (message,) = slack_alertmanager.webhook.slack
    (attachment,) = message["attachments"]
    assert attachment["title"] == "[FIRING:3] LeadflowLeadResponseOverdue (sales)"
    lines = attachment["text"].splitlines()
    assert lines[0] == "3 leads waiting for a first contact: L1, L2, L3"
    assert lines[1] == (
        f"- Lead L1 (hot, webinar) has waited 1h 30m for a first contact since its MQL at "
        f"{MQL_AT}; the SLA is 1h 00m"
    )
    assert lines[4] == ("Runbook: https://leadflow.dev/docs/runbooks#leadflowleadresponseoverdue")


def test_settings_refuse_a_ttl_shorter_than_three_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFLOW_MILESTONE_INTERVAL", "30s")
    monkeypatch.setenv("LEADFLOW_MILESTONE_ALERT_TTL", "60s")
    with pytest.raises(SettingsError, match="at least three LEADFLOW_MILESTONE_INTERVALs"):
        load_settings(MilestoneSettings)


def test_settings_name_a_bad_alertmanager_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_ALERTMANAGER_URL", "alertmanager:9093")
    with pytest.raises(SettingsError) as raised:
        load_settings(MilestoneSettings)
    assert str(raised.value) == (
        "LEADFLOW_ALERTMANAGER_URL='alertmanager:9093': need an http:// or https:// URL"
    )


def test_a_worker_whose_lease_lapsed_posts_nothing_though_it_holds_the_leads(
    alertmanager: Running, tmp_path: Path
) -> None:
    """The worker's own wiring: the poster asks the same question as /metrics."""
    settings = WorkerSettings(app_id=APP, data_dir=tmp_path, partitions=1)
    milestone = MilestoneSettings(
        alertmanager_url=alertmanager.url,
        milestone_interval=timedelta(seconds=1),
        milestone_alert_ttl=timedelta(minutes=5),
    )
    worker = create_worker(settings, Funnel(), 1, milestone)
    assert worker.milestones is not None
    worker.ledgers.assign({0}, [(0, b"L1", encode_state(hot_mql("L1")))])
    worker.restored = True
    worker.lease.renew(time.monotonic())
    worker.lease.revoke()  # paused past its session: the group has moved on
    rounds(worker.milestones)
    assert active(alertmanager.url, app=APP) == []
    worker.lease.renew(time.monotonic())  # the group confirmed it again
    rounds(worker.milestones)
    (alert,) = active(alertmanager.url, app=APP)
    assert alert["labels"]["lead_id"] == "L1"
