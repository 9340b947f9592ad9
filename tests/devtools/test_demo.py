"""`leadflow demo` shows the whole chain: a real alert reaches the webhook within minutes.

The demo renders the shipped rules and Alertmanager routing with short waits only;
these tests check the rendered files against the shipped ones and the real tools,
and one runs the demo itself against the test broker.
"""

from __future__ import annotations

import math
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.demo import (
    ALERTMANAGER_CONFIG,
    DEMO_ALERT_FOR,
    DEMO_GROUP_INTERVAL,
    DEMO_GROUP_WAIT,
    DEMO_PROFILE,
    HISTORY_EVENTS_PER_DAY,
    WARM_UP_DAYS,
    demo_alertmanager_config,
    demo_rules,
    history_days,
)
from devtools.generate import PROFILES, GeneratorSpec, generate_events
from tests.streaming import Deployment, free_port

RULES = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus" / "rules"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
WEBHOOK_PORT = 9195

needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing")
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")


def alert_rules(path: Path) -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [route, *(r for child in route.get("routes", []) for r in routes(child))]


def without_waits(route: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in route.items() if k not in ("group_wait", "group_interval")}
    if "routes" in route:
        kept["routes"] = [without_waits(child) for child in route["routes"]]
    return kept


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(demo_alertmanager_config(WEBHOOK_PORT))
    return path


# --------------------------------------------------------------------- Alertmanager policy


@pytest.mark.prometheus
@needs_amtool
def test_the_demo_policy_passes_amtool(policy: Path) -> None:
    result = subprocess.run(
        ["amtool", "check-config", str(policy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "templates" in result.stdout  # the shipped templates were found and loaded


def test_every_demo_route_notifies_seconds_after_an_alert_fires(policy: Path) -> None:
    for route in routes(yaml.safe_load(policy.read_text())["route"]):
        assert route["group_wait"] == DEMO_GROUP_WAIT == "5s"
        assert route["group_interval"] == DEMO_GROUP_INTERVAL == "30s"


def test_the_demo_policy_groups_routes_and_inhibits_as_shipped(policy: Path) -> None:
    demo = yaml.safe_load(policy.read_text())
    shipped = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    assert without_waits(demo["route"]) == without_waits(shipped["route"])
    assert demo["inhibit_rules"] == shipped["inhibit_rules"]
    assert [r["name"] for r in demo["receivers"]] == [r["name"] for r in shipped["receivers"]]


def test_every_demo_receiver_posts_to_the_demos_webhook(policy: Path) -> None:
    urls = {
        hook["url"]
        for receiver in yaml.safe_load(policy.read_text())["receivers"]
        for hook in receiver["webhook_configs"]
    }
    assert urls == {f"http://127.0.0.1:{WEBHOOK_PORT}/alerts"}


# --------------------------------------------------------------------- rules


@pytest.mark.prometheus
@needs_promtool
def test_the_demo_rules_pass_promtool(tmp_path: Path) -> None:
    paths = demo_rules(tmp_path, "https://leadflow.dev/docs/runbooks")
    result = subprocess.run(
        ["promtool", "check", "rules", *map(str, paths)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_rules_shorten_only_the_wait_of_business_alerts(tmp_path: Path) -> None:
    demo_rules(tmp_path, "https://leadflow.dev/docs/runbooks")
    shipped = alert_rules(RULES / "leadflow-alerts.yml")
    demo = alert_rules(tmp_path / "leadflow-alerts.yml")
    assert demo.keys() == shipped.keys()
    for name, rule in shipped.items():
        business = rule["labels"].get("team") != "platform"  # dwell: team set by stage
        expected = {**rule, "for": DEMO_ALERT_FOR} if business else rule
        assert demo[name] == expected, name
    assert DEMO_ALERT_FOR == "15s"


def test_the_demo_keeps_the_recording_rules_as_shipped(tmp_path: Path) -> None:
    demo_rules(tmp_path, "https://leadflow.dev/docs/runbooks")
    recording = "leadflow-recording.yml"
    assert (tmp_path / recording).read_text() == (RULES / recording).read_text()


# --------------------------------------------------------------------- history


@pytest.mark.parametrize(
    ("now", "previous_quarter"),
    [
        ("2026-11-30T13:07:00", "2026-07-01"),
        ("2026-12-31T23:59:00", "2026-07-01"),
        ("2026-10-01T00:30:00", "2026-07-01"),
        ("2027-01-02T08:00:00", "2026-10-01"),
        ("2026-05-15T12:00:00", "2026-01-01"),
    ],
)
def test_the_history_starts_a_warm_up_before_the_previous_quarter(
    now: str, previous_quarter: str
) -> None:
    # Live workers export the current and previous month and quarter; deals close weeks
    # after their leads qualify, so those periods must not be the history's first weeks.
    moment = datetime.fromisoformat(now).replace(tzinfo=UTC)
    quarter = datetime.fromisoformat(previous_quarter).replace(tzinfo=UTC)
    start = moment - timedelta(days=history_days(moment))
    assert quarter - timedelta(days=WARM_UP_DAYS + 1) < start <= quarter - timedelta(days=60)


def wilson_upper(won: int, qualified: int, z: float = 1.645) -> float:
    """Upper end of the 90 % Wilson score interval for won / qualified."""
    p = won / qualified
    centre = p + z * z / (2 * qualified)
    spread = z * math.sqrt(p * (1 - p) / qualified + z * z / (4 * qualified * qualified))
    return (centre + spread) / (1 + z * z / qualified)


@pytest.mark.parametrize("now", ["2026-11-30T13:00:00", "2027-01-15T09:00:00"])
def test_the_demo_history_breaches_the_band_for_paid_search_over_the_previous_quarter(
    now: str,
) -> None:
    # The planted breach the demo's first notification is about, with evidence: even
    # the low end of the ratio's 90 % interval is above the 4-6 band.
    end = datetime.fromisoformat(now).replace(tzinfo=UTC)
    days = history_days(end)
    spec = GeneratorSpec(
        seed=7,
        events=HISTORY_EVENTS_PER_DAY * days,
        days=days,
        end=end,
        profiles=PROFILES[DEMO_PROFILE],
    )
    this_quarter = end.replace(month=3 * ((end.month - 1) // 3) + 1, day=1, hour=0, minute=0)
    last_quarter = (this_quarter - timedelta(days=1)).replace(day=1)
    last_quarter = last_quarter.replace(month=3 * ((last_quarter.month - 1) // 3) + 1)
    sources: dict[str, str] = {}
    qualified = won = 0
    for event in generate_events(spec):
        if event["type"] == "lead.created":
            sources[event["lead_id"]] = event["source"]
        at = datetime.fromisoformat(event["occurred_at"])
        if sources.get(event["lead_id"]) == "paid_search" and last_quarter <= at < this_quarter:
            qualified += event["type"] == "lead.sql"
            won += event["type"] == "deal.won"
    assert qualified >= 100
    assert qualified / won > 12
    assert 1 / wilson_upper(won, qualified) > 6


# --------------------------------------------------------------------- the demo itself

NOTIFICATION = re.compile(r"^notification to (?P<receiver>\S+) \((?P<after>\d+)s after start\)")


@pytest.mark.kafka
@pytest.mark.prometheus
@pytest.mark.skipif(
    shutil.which("prometheus") is None or ALERTMANAGER is None,
    reason="prometheus or alertmanager missing",
)
def test_the_demo_prints_a_real_notification_within_two_minutes(
    deployment: Deployment, tmp_path: Path
) -> None:
    ports = [free_port() for _ in range(6)]
    argv = [
        *(sys.executable, "-m", "leadflow.cli", "demo", "--workdir", str(tmp_path / "demo")),
        *("--metrics-ports", f"{ports[0]},{ports[1]}", "--gateway-port", str(ports[2])),
        *("--prometheus-port", str(ports[3]), "--alertmanager-port", str(ports[4])),
        *("--webhook-port", str(ports[5]), "--every", "5", "--duration", "180"),
    ]
    demo = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=deployment.env(PYTHONUNBUFFERED="1"),
    )
    assert demo.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()

    def paid_search_paged() -> bool:
        return any(
            "LeadflowQualifiedRatioAboveBand" in line and "source paid_search" in line
            for line in list(lines)
        )

    try:
        deadline = time.monotonic() + 170
        while not paid_search_paged() and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        demo.send_signal(signal.SIGTERM)  # the demo stops what it started, by PID
        demo.wait(timeout=90)
        reader.join(timeout=10)
    output = "".join(lines)
    (tmp_path / "demo.out").write_text(output)  # kept with the test's directory, to read
    after = [int(m["after"]) for line in lines if (m := NOTIFICATION.match(line))]
    assert after, output
    assert after[0] <= 120, output
    assert paid_search_paged(), output
    # The live feed closes deals from the start: the month's won count grows.
    won = [int(m[1]) for m in re.finditer(r"^all sources\s+\d+\s+(\d+)", output, re.MULTILINE)]
    assert len(won) >= 2 and won[-1] > won[0], output
