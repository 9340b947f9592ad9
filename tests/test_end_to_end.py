"""End to end: Kafka → workers → Prometheus rules → Alertmanager → a webhook.

Every part is real: the project's own Apache Kafka, two `leadflow worker`
processes, Debian's Prometheus evaluating the shipped rule files, and Debian's
Alertmanager with the shipped routing. Only the waiting is shortened: business
alerts' `for` and Alertmanager's grouping delays (their values are covered by the
promtool unit tests), and the scrape and evaluation intervals.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.prometheus_config import Scrape
from dashboards.prometheus_config import render as render_prometheus_config
from devtools.generate import PROFILES, GeneratorSpec, generate_events, write_events
from tests.prometheus_harness import busiest_values, query, running, substitute
from tests.streaming import Deployment, converge, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus]

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "dashboards" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = ROOT / "dashboards" / "alertmanager" / "alertmanager.yml"
GRAFANA = ROOT / "dashboards" / "grafana"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
SKEWED_SOURCE = "paid_search"  # the ratio-skew profile's source with very few wins


class Webhook:
    """Collects what Alertmanager posts, like a chat or paging integration would."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        received = self.alerts

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.extend(json.loads(body)["alerts"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def find(self, alertname: str, source: str) -> dict[str, Any] | None:
        return next(
            (
                alert
                for alert in list(self.alerts)
                if alert["labels"].get("alertname") == alertname
                and alert["labels"].get("source") == source
                and alert["status"] == "firing"
            ),
            None,
        )


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def fast_alert_rules(work: Path) -> Path:
    # Business alerts fire at once; pipeline-health alerts keep their `for`, as they
    # need history (a fresh Prometheus has seen no throughput yet), and a firing
    # one would rightly inhibit every business alert.
    document = yaml.safe_load((RULES / "leadflow-alerts.yml").read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule["labels"].get("team") != "platform":
                rule["for"] = "0s"
    path = work / "leadflow-alerts.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def fast_alertmanager_config(work: Path, webhook_url: str) -> Path:
    document = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())

    def hurry(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
        for child in route.get("routes", []):
            hurry(child)

    document["route"].update(group_wait="1s", group_interval="1s")
    hurry(document["route"])
    for receiver in document["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
    document["templates"] = [
        str(ALERTMANAGER_CONFIG.parent / pattern) for pattern in document.get("templates", [])
    ]
    path = work / "alertmanager.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def prometheus_config(work: Path, workers: list[int], alertmanager: int) -> Path:
    scrape = Scrape(
        workers=[f"127.0.0.1:{port}" for port in workers],
        alertmanager=f"127.0.0.1:{alertmanager}",
        interval="1s",
        rule_files=[RULES / "leadflow-recording.yml", fast_alert_rules(work)],
    )
    path = work / "prometheus.yml"
    path.write_text(render_prometheus_config(scrape))
    return path


@pytest.mark.skipif(
    shutil.which("prometheus") is None or ALERTMANAGER is None,
    reason="prometheus or alertmanager missing",
)
def test_a_source_far_above_its_band_pages_sales_and_every_panel_has_data(
    deployment: Deployment, webhook: Webhook, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    spec = GeneratorSpec(seed=21, events=40_000, days=120, profiles=PROFILES["ratio-skew"])
    # A thinner year before it, so the boards' year-before comparisons have data too.
    older = GeneratorSpec(
        seed=22,
        events=10_000,
        days=340,
        end=spec.end - timedelta(days=120),
        profiles=PROFILES["ratio-skew"],
    )
    with events.open("wb") as out:
        write_events(generate_events(older), out)
        write_events(generate_events(spec), out)
    workers = [deployment.worker(name).start() for name in ("a", "b")]
    deployment.produce(events)
    assert converge(workers, events) == {}

    am_port, prom_port = free_port(), free_port()
    with (
        running(
            [
                ALERTMANAGER,
                f"--config.file={fast_alertmanager_config(tmp_path, webhook.url)}",
                f"--storage.path={tmp_path / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        ),
        running(
            [
                "prometheus",
                f"--config.file={prometheus_config(tmp_path, [w.port for w in workers], am_port)}",
                f"--storage.tsdb.path={tmp_path / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path / "prometheus.log",
        ),
    ):
        deadline = time.monotonic() + 120
        while (alert := webhook.find("LeadflowQualifiedRatioAboveBand", SKEWED_SOURCE)) is None:
            assert time.monotonic() < deadline, (
                f"no notification; received {[a['labels'] for a in webhook.alerts]}"
            )
            time.sleep(1)

        labels, notes = alert["labels"], alert["annotations"]
        assert labels["team"] == "sales"
        assert labels["severity"] == "warning"
        ratio = query(
            f"http://127.0.0.1:{prom_port}",
            f'period_source:leadflow_qualified_to_won:ratio{{source="{SKEWED_SOURCE}", '
            f'period="{labels["period"]}", window="previous"}}',
        )
        assert float(notes["ratio"]) == pytest.approx(float(ratio[0]["value"][1]))
        assert float(notes["ratio"]) > 6.0
        assert notes["source"] == SKEWED_SOURCE
        assert float(notes["target"]) == 5.0
        assert float(notes["upper"]) == 6.0
        assert SKEWED_SOURCE in notes["summary"] and "target 5" in notes["summary"]

        empty = _panels_without_data(f"http://127.0.0.1:{prom_port}")
        assert not empty, "\n".join(empty)


def _panels_without_data(url: str) -> list[str]:
    from dashboards.build import panel_queries

    values = busiest_values(url)
    # rate() over the dashboards' windows needs a few scrapes of the live counters.
    time.sleep(5)
    empty = []
    checked = 0
    for path in sorted(GRAFANA.glob("*.json")):
        for title, expr in panel_queries(json.loads(path.read_text())):
            checked += 1
            if not query(url, substitute(expr, values)):
                empty.append(f"{path.name} | {title} | {substitute(expr, values)}")
    assert checked > 50
    return empty
