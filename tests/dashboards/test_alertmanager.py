"""Alertmanager configuration: valid, routes by team and severity, inhibits business
alerts during pipeline trouble, and delivers annotations to the webhook (checked
against a real Alertmanager)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus_harness import running
from tests.streaming import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "dashboards" / "alertmanager"
CONFIG = CONFIG_DIR / "alertmanager.yml"
EXAMPLE = CONFIG_DIR / "alertmanager.example-email-slack.yml"
ALERTS = ROOT / "dashboards" / "prometheus" / "rules" / "leadflow-alerts.yml"
WEBHOOK = "http://127.0.0.1:9095/alerts"

needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


@pytest.mark.prometheus
@needs_amtool
@pytest.mark.parametrize("path", [CONFIG, EXAMPLE], ids=lambda path: path.name)
def test_amtool_check_config(path: Path) -> None:
    result = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@needs_amtool
@pytest.mark.parametrize("config", [CONFIG, EXAMPLE], ids=lambda path: path.name)
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"team": "platform", "severity": "critical"}, "platform-oncall"),
        ({"team": "platform", "severity": "warning"}, "platform"),
        ({"team": "sales", "severity": "warning"}, "sales"),
        ({"team": "sales", "severity": "info"}, "sales"),
        ({"team": "marketing", "severity": "warning"}, "marketing"),
        ({"team": "marketing", "severity": "info"}, "marketing"),
        ({"severity": "warning"}, "leadflow-default"),
    ],
)
def test_routes_by_team_and_severity(config: Path, labels: dict[str, str], receiver: str) -> None:
    result = subprocess.run(
        [
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={receiver}",
            *(f"{key}={value}" for key, value in labels.items()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_team_has_a_route() -> None:
    routed = {
        matcher.split("=", 1)[1].strip('"')
        for route in _config()["route"]["routes"]
        for matcher in route.get("matchers", [])
        if matcher.startswith("team=")
    }
    teams = {"marketing", "sales", "platform"}
    assert routed == teams
    for rule in _alert_rules():
        team = rule.get("labels", {}).get("team")
        assert team in teams or team is None, rule["alert"]  # None: set by the expression


def test_pipeline_alerts_inhibit_business_alerts() -> None:
    rule = _config()["inhibit_rules"][0]
    assert rule["source_matchers"] == ['team="platform"']
    assert rule["target_matchers"] == ['team=~"marketing|sales"']
    assert not rule.get("equal")
    pipeline = [r for r in _alert_rules() if r.get("labels", {}).get("team") == "platform"]
    assert {r["alert"] for r in pipeline} >= {"LeadflowWorkerDown", "LeadflowNoEventsProcessed"}


def test_the_email_and_slack_example_routes_exactly_as_the_shipped_config() -> None:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert example["route"] == _config()["route"]


def test_the_email_and_slack_example_inhibits_exactly_as_the_shipped_config() -> None:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert example["inhibit_rules"] == _config()["inhibit_rules"]
    assert len(example["inhibit_rules"]) == 3


def test_the_email_and_slack_example_has_a_receiver_for_every_route() -> None:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    names = {receiver["name"] for receiver in example["receivers"]}
    assert names == {receiver["name"] for receiver in _config()["receivers"]}


def test_every_receiver_posts_to_the_default_webhook() -> None:
    for receiver in _config()["receivers"]:
        urls = [hook["url"] for hook in receiver.get("webhook_configs", [])]
        assert urls == [WEBHOOK], receiver["name"]


@pytest.mark.prometheus
@needs_amtool
def test_notification_templates_render() -> None:
    for name in ("leadflow.title", "leadflow.text", "leadflow.email.subject"):
        result = subprocess.run(
            [
                "amtool",
                "template",
                "render",
                f"--template.glob={CONFIG_DIR / 'templates' / '*.tmpl'}",
                f'--template.text={{{{ template "{name}" . }}}}',
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (name, result.stderr)


# ---------------------------------------------------------- a real Alertmanager


@dataclass
class Webhook:
    payloads: list[dict[str, Any]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [alert for payload in self.payloads for alert in payload["alerts"]]


@dataclass
class Running:
    url: str
    webhook: Webhook


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Running]:
    yield from _alertmanager(tmp_path, _config())


@pytest.fixture
def slack_alertmanager(tmp_path: Path) -> Iterator[Running]:
    """The email and Slack example, its Slack messages (rendered by the templates)
    posted to the local server, its emails turned into webhooks."""
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    example["global"] = {"resolve_timeout": "5m"}
    yield from _alertmanager(tmp_path, example)


def _alertmanager(tmp_path: Path, config: dict[str, Any]) -> Iterator[Running]:
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager missing")
    webhook = Webhook()
    server = _webhook_server(webhook)
    # Same routes, receivers and inhibitions; only the timings shrink for a test.
    _shorten(config["route"])
    local = f"http://127.0.0.1:{server.server_address[1]}"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{local}/alerts"
        if receiver.pop("email_configs", None):
            receiver["webhook_configs"] = [{"url": f"{local}/alerts"}]
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file")
            slack["api_url"] = f"{local}/slack"
    (tmp_path / "templates").symlink_to(CONFIG_DIR / "templates")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [
        ALERTMANAGER,
        f"--config.file={path}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        with running(argv, tmp_path / "alertmanager.log") as process:
            _wait(lambda: _get(f"{url}/-/ready") is not None, process)
            yield Running(url, webhook)
    finally:
        server.shutdown()
        server.server_close()


def _shorten(route: dict[str, Any]) -> None:
    for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h")):
        if key in route:
            route[key] = value
    for child in route.get("routes", []):
        _shorten(child)


def _webhook_server(webhook: Webhook) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with webhook.lock:
                received = webhook.slack if self.path == "/slack" else webhook.payloads
                received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read()
    except OSError:
        return None
    return json.loads(text) if text.strip().startswith((b"[", b"{")) else text


def _post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def _wait(condition: Any, process: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "alertmanager exited"
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


RATIO_ALERT = {
    "labels": {
        "alertname": "LeadflowQualifiedRatioAboveBand",
        "severity": "warning",
        "team": "sales",
        "source": "paid_search",
        "period": "month",
        "period_start": "2026-02-01",
        "window": "previous",
    },
    "annotations": {
        "summary": "Qualified-to-won ratio 6.25 above the band (upper 6, target 5) for "
        "source paid_search, month starting 2026-02-01",
        "source": "paid_search",
        "ratio": "6.25",
        "value": "6.25",
        "target": "5",
        "runbook_url": "docs/runbooks.md#leadflowqualifiedratioaboveband",
    },
}
WORKER_DOWN = {
    "labels": {
        "alertname": "LeadflowWorkerDown",
        "severity": "critical",
        "team": "platform",
        "job": "leadflow",
        "instance": "worker-2:9108",
    },
    "annotations": {"summary": "Leadflow worker worker-2:9108 is down"},
}


@pytest.mark.prometheus
def test_webhook_receives_source_ratio_and_target(alertmanager: Running) -> None:
    _post_alerts(alertmanager.url, [RATIO_ALERT])
    _wait(lambda: alertmanager.webhook.alerts())
    (alert,) = alertmanager.webhook.alerts()
    assert alertmanager.webhook.payloads[0]["receiver"] == "sales"
    assert alert["labels"]["alertname"] == "LeadflowQualifiedRatioAboveBand"
    notes = alert["annotations"]
    assert (notes["source"], notes["ratio"], notes["target"]) == ("paid_search", "6.25", "5")


@pytest.mark.prometheus
def test_business_alerts_wait_while_the_pipeline_is_unhealthy(alertmanager: Running) -> None:
    _post_alerts(alertmanager.url, [WORKER_DOWN, RATIO_ALERT])
    _wait(lambda: alertmanager.webhook.alerts())

    def states() -> dict[str, dict[str, Any]]:
        alerts = _get(f"{alertmanager.url}/api/v2/alerts") or []
        return {alert["labels"]["alertname"]: alert["status"] for alert in alerts}

    _wait(lambda: states().get("LeadflowQualifiedRatioAboveBand", {}).get("inhibitedBy"))
    assert states()["LeadflowWorkerDown"]["state"] == "active"
    assert states()["LeadflowQualifiedRatioAboveBand"]["state"] == "suppressed"
    time.sleep(1.5)  # a group_wait more: the suppressed alert must still not be sent
    sent = {alert["labels"]["alertname"] for alert in alertmanager.webhook.alerts()}
    assert sent == {"LeadflowWorkerDown"}
    assert alertmanager.webhook.payloads[0]["receiver"] == "platform-oncall"


# Ten sources above the band for the same month.
TEN_SOURCES = [f"source_{index:02d}" for index in range(10)]


def _ratio_alert(source: str) -> dict[str, Any]:
    summary = (
        f"Qualified-to-won ratio 6.25 above the band (upper 6, target 5) for source "
        f"{source}, month starting 2026-02-01"
    )
    return {
        "labels": {**RATIO_ALERT["labels"], "source": source},
        "annotations": {**RATIO_ALERT["annotations"], "source": source, "summary": summary},
    }


def _sent_everything(webhook: Webhook) -> None:
    """Waits for the first notification, then group intervals more for any other."""
    _wait(lambda: webhook.payloads or webhook.slack)
    time.sleep(3)  # three shortened group intervals


@pytest.mark.prometheus
def test_ten_sources_above_the_band_in_one_month_make_one_notification(
    alertmanager: Running,
) -> None:
    _post_alerts(alertmanager.url, [_ratio_alert(source) for source in TEN_SOURCES])
    _sent_everything(alertmanager.webhook)
    (notification,) = alertmanager.webhook.payloads
    assert notification["receiver"] == "sales"
    assert notification["groupLabels"] == {
        "alertname": "LeadflowQualifiedRatioAboveBand",
        "team": "sales",
        "period": "month",
        "period_start": "2026-02-01",
    }
    sources = [alert["annotations"]["source"] for alert in notification["alerts"]]
    assert sorted(sources) == TEN_SOURCES


@pytest.mark.prometheus
def test_the_same_breach_in_another_period_is_another_notification(
    alertmanager: Running,
) -> None:
    january = _ratio_alert("paid_search")
    january["labels"]["period_start"] = "2026-01-01"
    _post_alerts(alertmanager.url, [_ratio_alert("paid_search"), january])
    _sent_everything(alertmanager.webhook)
    starts = sorted(p["groupLabels"]["period_start"] for p in alertmanager.webhook.payloads)
    assert starts == ["2026-01-01", "2026-02-01"]


@pytest.mark.prometheus
def test_the_slack_message_for_ten_sources_names_every_one(
    slack_alertmanager: Running,
) -> None:
    _post_alerts(slack_alertmanager.url, [_ratio_alert(source) for source in TEN_SOURCES])
    _sent_everything(slack_alertmanager.webhook)
    (message,) = slack_alertmanager.webhook.slack
    (attachment,) = message["attachments"]
    assert attachment["title"] == (
        "[FIRING:10] LeadflowQualifiedRatioAboveBand (sales), month starting 2026-02-01"
    )
    lines = attachment["text"].splitlines()
    assert lines[0] == "10 breaches: " + ", ".join(TEN_SOURCES)
    assert lines[1:11] == [
        f"- {_ratio_alert(source)['annotations']['summary']}" for source in TEN_SOURCES
    ]
