"""The worker's milestone poster: per-lead breaches to Alertmanager, from its own state.

Every `LEADFLOW_MILESTONE_INTERVAL` the worker computes the breaches open now
(`projections.milestones`) over the lead partitions it owns, and only while it can
vouch for that ownership (restored, and its heartbeat lease valid: a woken stale
owner posts nothing). It then POSTs to Alertmanager's `/api/v2/alerts`:

- a breach already posted: again, with `endsAt` one TTL ahead, which keeps it
  open. The labels are the breach's identity and `startsAt` is its deadline, so
  whichever worker posts it, Alertmanager holds one alert;
- a breach posted before and open no longer (contacted, moved on): once more with
  `endsAt` = now, which resolves it;
- a new breach: if the per-worker token bucket has a token. Breaches it refuses
  are counted, and one summary alert per worker (`LeadflowMilestoneBreachesSuppressed`)
  says how many; they are posted as tokens come back, oldest deadline first.

A worker gaining a partition first asks Alertmanager which milestone alerts of its
app are open for that partition's leads and takes them over, so a breach that
cleared while the partition changed hands is resolved, not left to expire, and an
open one costs no token. If Alertmanager cannot be asked, the alerts simply expire
at their `endsAt` unless re-posted.

Open breaches are also counted without lead labels for `/metrics`
(`leadflow_milestone_breaches`), whether or not an Alertmanager is configured.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter

from events import now_micros
from projections.milestones import (
    ALERT_NAMES,
    Breach,
    BreachKey,
    Milestones,
    alert_annotations,
    alert_labels,
    breach_counts,
    breach_family,
    rfc3339,
)
from projections.snapshot import Family
from streams.milestone_settings import MilestoneSettings
from streams.partitioning import lead_partition
from streams.token_bucket import TokenBucket

log = logging.getLogger("leadflow.milestones")

SUMMARY_ALERT = "LeadflowMilestoneBreachesSuppressed"
_SCAN_SLICE = 20_000  # leads between yields to the event loop: folding must not stall
_POST_CHUNK = 1_000  # alerts per POST


AlertKey = tuple[tuple[str, str], ...]  # sorted label pairs: an alert's identity


@dataclass
class Posted:
    partition: int
    alert: dict[str, Any]  # labels, annotations, startsAt as last posted


@dataclass
class ScanResult:
    at: int
    breaches: dict[AlertKey, tuple[int, Breach]]
    counts: dict[int, Counter[BreachKey]]  # per partition
    scanned: dict[int, dict[str, Any]]  # partition -> the leads read


@dataclass
class MilestonePoster:
    """One per worker. `owned()` gives the owned lead partitions' leads, or None when
    the worker cannot vouch for its ownership right now."""

    settings: MilestoneSettings
    rules: Milestones
    app_id: str
    partitions: int
    owned: Callable[[], dict[int, dict[str, Any]] | None]
    registry: CollectorRegistry
    instance: str = field(default_factory=socket.gethostname)
    runbook_base: str = ""  # LEADFLOW_RUNBOOK_BASE_URL
    clock: Callable[[], int] = now_micros
    monotonic: Callable[[], float] = time.monotonic  # the rate limit's clock
    posted: dict[AlertKey, Posted] = field(default_factory=dict)
    adopted: set[int] = field(default_factory=set)  # partitions taken over from Alertmanager
    # The last round's counts per partition, with the leads they were read from.
    counts: dict[int, tuple[dict[str, Any], Counter[BreachKey]]] = field(default_factory=dict)
    suppressed: int = 0
    summary_open: bool = False
    # partition -> (the leads dict it indexes, ids of leads that can be in breach)
    _index: dict[int, tuple[dict[str, Any], set[str]]] = field(default_factory=dict)
    _touched: dict[int, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        per_second = self.settings.milestone_alerts_per_minute / 60
        self.bucket = TokenBucket(per_second, self.settings.milestone_alert_burst, self.monotonic)
        self.sent = PromCounter(
            "leadflow_milestone_alerts_posted",
            "Milestone alerts posted to Alertmanager, by what the post did.",
            ("action",),
            registry=self.registry,
        )
        self.suppressed_gauge = Gauge(
            "leadflow_milestone_breaches_suppressed",
            "Open breaches this worker has not posted: over its alert rate limit.",
            registry=self.registry,
        )
        self.errors = PromCounter(
            "leadflow_milestone_post_errors",
            "Failed requests to Alertmanager (posted again at the next scan).",
            registry=self.registry,
        )

    def family(self) -> Family:
        """Open breaches of the partitions owned now, as last counted.

        A partition that moved (or was rebuilt) since is left out until the next
        round counts it, so two workers never both count it.
        """
        owned = self.owned()
        total: Counter[BreachKey] = Counter()
        if owned is not None:
            for partition, leads in owned.items():
                counted = self.counts.get(partition)
                if counted is not None and counted[0] is leads:
                    total.update(counted[1])
        return breach_family(total)

    # ------------------------------------------------------------------ scanning

    def note_folded(self, partition: int, leads: list[str]) -> None:
        """Leads whose state a batch changed: the only ones whose watch may change."""
        if leads:
            self._touched.setdefault(partition, set()).update(leads)

    async def scan(self) -> ScanResult | None:
        """The breaches open now on the owned partitions; None if ownership is in doubt.

        Only leads that can be in breach are visited (`Milestones.watching`): an
        index per partition, built by one pass over a newly owned (or rebuilt)
        partition and kept up to date from the leads each batch changed.
        """
        owned = self.owned()
        if owned is None:
            return None
        at = self.clock()
        rules = self.rules
        for gone in set(self._index) - set(owned):
            del self._index[gone]
            self._touched.pop(gone, None)
        found: dict[AlertKey, tuple[int, Breach]] = {}
        for partition, leads in owned.items():
            watched = await self._watched(partition, leads, at)
            for lead_id in list(watched):
                state = leads.get(lead_id)
                breaches = rules.breaches(lead_id, state, at) if state is not None else []
                for breach in breaches:
                    found[self.key(breach)] = (partition, breach)
                if not breaches and (state is None or not rules.watching(state, at)):
                    watched.discard(lead_id)
        by_partition: dict[int, list[Breach]] = {partition: [] for partition in owned}
        for partition, breach in found.values():
            by_partition[partition].append(breach)
        counts = {partition: breach_counts(each) for partition, each in by_partition.items()}
        return ScanResult(at, found, counts, owned)

    async def _watched(self, partition: int, leads: dict[str, Any], at: int) -> set[str]:
        watching = self.rules.watching
        indexed = self._index.get(partition)
        if indexed is None or indexed[0] is not leads:  # new here, or rebuilt on restore
            self._touched.pop(partition, None)
            watched: set[str] = set()
            for seen, (lead_id, state) in enumerate(list(leads.items()), start=1):
                if watching(state, at):
                    watched.add(lead_id)
                if seen % _SCAN_SLICE == 0:
                    await asyncio.sleep(0)  # folding must not wait for a whole pass
            self._index[partition] = (leads, watched)
            return watched
        watched = indexed[1]
        for lead_id in self._touched.pop(partition, ()):
            state = leads.get(lead_id)
            if state is not None and watching(state, at):
                watched.add(lead_id)
            else:
                watched.discard(lead_id)
        return watched

    def key(self, breach: Breach) -> AlertKey:
        return tuple(sorted(self.labels(breach).items()))

    def labels(self, breach: Breach) -> dict[str, str]:
        return alert_labels(breach, self.app_id)

    # ------------------------------------------------------------------ one round

    async def round(self, http: aiohttp.ClientSession | None) -> None:
        """Scan, then bring Alertmanager in line with what is open now."""
        result = await self.scan()
        if result is None:
            self.counts = {}
            return
        self.counts = {p: (result.scanned[p], counted) for p, counted in result.counts.items()}
        owned = self.owned()
        if owned is None:
            return
        # Partitions that moved, or were rebuilt, while the scan yielded: next round.
        mine = {p for p, leads in owned.items() if result.scanned.get(p) is leads}
        result.breaches = {k: v for k, v in result.breaches.items() if v[0] in mine}
        # Partitions that moved away: their alerts are the new owner's now.
        self.posted = {k: p for k, p in self.posted.items() if p.partition in owned}
        self.adopted &= set(owned)
        if http is None:
            self.suppressed = 0
            return
        if set(owned) - self.adopted:
            await self._adopt(http, set(owned) - self.adopted)
        await self._post_round(http, result, mine)

    async def _post_round(
        self, http: aiohttp.ClientSession, result: ScanResult, mine: set[int]
    ) -> None:
        at, ttl = result.at, _micros(self.settings.milestone_alert_ttl)
        open_until = rfc3339(at + ttl)
        now = rfc3339(at)
        # (key, partition, alert, action)
        outgoing: list[tuple[AlertKey, int, dict[str, Any], str]] = []
        for key, held in self.posted.items():
            if held.partition in mine and key not in result.breaches:
                resolved = {**held.alert, "endsAt": now}
                outgoing.append((key, held.partition, resolved, "resolved"))
        fresh: list[tuple[AlertKey, int, Breach]] = []
        for key, (partition, breach) in result.breaches.items():
            if key in self.posted:
                alert = self._alert(breach, at, open_until)
                outgoing.append((key, partition, alert, "kept"))
            else:
                fresh.append((key, partition, breach))
        fresh.sort(key=lambda item: (item[2].deadline, item[0]))
        granted = self.bucket.take(len(fresh))
        for key, partition, breach in fresh[:granted]:
            outgoing.append((key, partition, self._alert(breach, at, open_until), "opened"))
        suppressed = len(fresh) - granted
        summary = self._summary(suppressed, at, open_until)
        if not await self._send(http, [alert for _, _, alert, _ in outgoing] + summary):
            self.bucket.give_back(granted)  # posted again, as new, next round
            return
        for key, partition, alert, action in outgoing:
            self.sent.labels(action).inc()
            if action == "resolved":
                self.posted.pop(key, None)
            else:
                self.posted[key] = Posted(partition, alert)
        self.suppressed = suppressed
        self.suppressed_gauge.set(suppressed)
        self.summary_open = suppressed > 0
        if suppressed:
            log.warning(
                "%d milestone breach(es) over the alert rate limit (%s a minute, burst %d); "
                "posted as the limit allows",
                suppressed,
                self.settings.milestone_alerts_per_minute,
                self.settings.milestone_alert_burst,
            )

    def _alert(self, breach: Breach, at: int, ends: str) -> dict[str, Any]:
        return {
            "labels": self.labels(breach),
            "annotations": alert_annotations(breach, at, self.runbook_base),
            "startsAt": rfc3339(breach.deadline),
            "endsAt": ends,
        }

    def _summary(self, suppressed: int, at: int, ends: str) -> list[dict[str, Any]]:
        if not suppressed and not self.summary_open:
            return []
        labels = {
            "alertname": SUMMARY_ALERT,
            "app": self.app_id,
            "instance": self.instance,
            "team": "sales",
            "severity": "warning",
        }
        burst = self.settings.milestone_alert_burst
        rate = self.settings.milestone_alerts_per_minute
        annotations = {
            "summary": f"{suppressed} more milestone breaches than this worker may post "
            f"({rate:g} a minute, burst {burst}); the rest follow as the limit allows",
            "suppressed": str(suppressed),
            **(
                {"runbook_url": f"{self.runbook_base}#{SUMMARY_ALERT.lower()}"}
                if self.runbook_base
                else {}
            ),
        }
        return [
            {
                "labels": labels,
                "annotations": annotations,
                "endsAt": ends if suppressed else rfc3339(at),
            }
        ]

    # ------------------------------------------------------------------ HTTP

    async def _send(self, http: aiohttp.ClientSession, alerts: list[dict[str, Any]]) -> bool:
        if not alerts:
            return True
        url = f"{self.settings.alertmanager_url}/api/v2/alerts"
        for start in range(0, len(alerts), _POST_CHUNK):
            # Checked before every request: the lease may lapse while we post.
            if self.owned() is None:
                return False
            try:
                async with http.post(url, json=alerts[start : start + _POST_CHUNK]) as response:
                    if response.status >= 300:
                        body = (await response.text())[:200]
                        raise aiohttp.ClientError(f"HTTP {response.status}: {body}")
            except (aiohttp.ClientError, TimeoutError) as error:
                self.errors.inc()
                log.warning("posting milestone alerts to %s failed: %s", url, error)
                return False
        return True

    async def _adopt(self, http: aiohttp.ClientSession, partitions: set[int]) -> None:
        """Take over the open milestone alerts of newly owned partitions' leads."""
        names = "|".join(ALERT_NAMES.values())
        query = urllib.parse.urlencode(
            [("filter", f'app="{self.app_id}"'), ("filter", f'alertname=~"{names}"')]
        )
        url = f"{self.settings.alertmanager_url}/api/v2/alerts?{query}"
        try:
            async with http.get(url) as response:
                if response.status >= 300:
                    raise aiohttp.ClientError(f"HTTP {response.status}")
                alerts = json.loads(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self.errors.inc()
            log.warning("cannot list open milestone alerts at %s: %s", url, error)
            return
        for alert in alerts:
            labels = alert.get("labels", {})
            partition = lead_partition(labels.get("lead_id", ""), self.partitions)
            if partition in partitions and alert.get("status", {}).get("state") != "resolved":
                kept = {k: alert[k] for k in ("labels", "annotations", "startsAt") if k in alert}
                self.posted.setdefault(tuple(sorted(labels.items())), Posted(partition, kept))
        self.adopted |= partitions

    async def run(self) -> None:
        interval = self.settings.milestone_interval.total_seconds()
        url = self.settings.alertmanager_url
        timeout = aiohttp.ClientTimeout(total=self.settings.milestone_post_timeout.total_seconds())
        http = aiohttp.ClientSession(timeout=timeout) if url else None
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.round(http)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one bad round must not end alerting for good
                    log.exception("milestone round failed")
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            if http is not None:
                await http.close()


def _micros(duration: timedelta) -> int:
    return round(duration.total_seconds() * 1_000_000)
