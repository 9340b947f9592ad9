"""Prometheus rules: promtool checks and unit tests, and a real Prometheus run.

The real run is the one that matters: two fake workers (each serving the `replay`
output of half the leads) are scraped by a real `prometheus` with our rule files,
and every recording rule must equal what `replay` derives from the whole file.
The same run checks that every Grafana panel query returns data.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dashboards.prometheus_config import Scrape
from dashboards.prometheus_config import render as render_prometheus_config
from dashboards.runbooks import DEFAULT_RUNBOOK_BASE_URL
from projections import catalog
from tests.prometheus_harness import busiest_values, query, substitute
from tests.streaming import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "dashboards" / "prometheus" / "rules"
RECORDING = RULES_DIR / "leadflow-recording.yml"
ALERTS = RULES_DIR / "leadflow-alerts.yml"
UNIT_TESTS = sorted((ROOT / "dashboards" / "prometheus" / "tests").glob("*.yml"))
GRAFANA_DIR = ROOT / "dashboards" / "grafana"
PROMETHEUS_CONFIG = ROOT / "dashboards" / "prometheus" / "prometheus.yml"

AS_OF = "2026-03-18T15:30:00Z"  # a Wednesday: current and previous week both have data
RELATIVE = 1e-9
Series = dict[frozenset[tuple[str, str]], float]

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus missing"
)


def _rule_groups(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]


def _recorded_names() -> list[str]:
    names = [rule["record"] for group in _rule_groups(RECORDING) for rule in group["rules"]]
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------ static checks


def test_recording_rule_names_follow_level_metric_operation() -> None:
    # cluster: the coverage of lead partitions, summed over every worker.
    levels = {catalog.LEVEL_SOURCE, catalog.LEVEL_ALL, "stage", "cluster"}
    for name in _recorded_names():
        level, metric, operation = name.split(":")
        assert level in levels, name
        assert metric.startswith("leadflow_"), name
        assert operation, name


def test_every_derived_catalog_name_is_recorded_at_both_levels() -> None:
    derived = [value for key, value in vars(catalog).items() if key.startswith("DERIVED_")]
    recorded = set(_recorded_names())
    for metric in derived:
        for level in (catalog.LEVEL_SOURCE, catalog.LEVEL_ALL):
            assert catalog.derived_name(level, metric) in recorded


def test_data_present_rule_lists_every_additive_metric() -> None:
    # The pace needs every (period, source) that has any additive series.
    rule = next(
        rule
        for group in _rule_groups(RECORDING)
        for rule in group["rules"]
        if rule.get("record") == "period_source:leadflow_data:present"
    )
    listed = rule["expr"].split('__name__=~"leadflow_(')[1].split(')"')[0].split("|")
    assert sorted(f"leadflow_{name}" for name in listed) == sorted(
        metric.name for metric in catalog.ADDITIVE_METRICS
    )


def test_every_alert_has_the_required_labels_and_annotations() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8")
    anchors = {_anchor(line) for line in runbooks.splitlines() if line.startswith("## ")}
    alerts = [rule for group in _rule_groups(ALERTS) for rule in group["rules"]]
    assert alerts
    for rule in alerts:
        name = rule["alert"]
        labels, annotations = rule.get("labels", {}), rule["annotations"]
        assert labels.get("severity") in {"critical", "warning", "info"}, name
        # team may come from the expression (label_replace by stage) instead.
        assert labels.get("team") in {"marketing", "sales", "platform"} or (
            "team" in rule["expr"]
        ), name
        for key in ("summary", "description", "runbook", "runbook_url"):
            assert annotations.get(key), (name, key)
        url = annotations["runbook_url"]
        assert url.startswith(f"{DEFAULT_RUNBOOK_BASE_URL}#"), name
        assert url.split("#", 1)[1] in anchors, (name, url)


def test_every_alert_on_an_interval_ratio_needs_its_evidence() -> None:
    """An alert comparing a ratio that has a Wilson interval with its target must also
    test the interval and the minimum count, or small samples page again."""
    guarded = {
        catalog.derived_name(level, interval.ratio.name): interval
        for interval in catalog.INTERVALS
        for level in catalog.LEVELS
    }
    alerts = [rule for group in _rule_groups(ALERTS) for rule in group["rules"]]
    checked = 0
    for rule in alerts:
        expr = rule["expr"]
        for name, interval in guarded.items():
            matchers = ", ".join(f'{k}="{v}"' for k, v in interval.ratio.labels)
            if f"{name}{{{matchers}" in expr or (not matchers and f"{name}{{window" in expr):
                level = name.split(":", 1)[0]
                assert catalog.derived_name(level, interval.trials_name) in expr, rule["alert"]
                assert catalog.EVIDENCE_MIN_COUNT in expr, rule["alert"]
                bounds = (interval.lower, interval.upper)
                assert any(catalog.derived_name(level, b) in expr for b in bounds), rule["alert"]
                checked += 1
    assert checked == 10  # four band alerts and the MQL -> SQL one, at both levels


def _anchor(heading: str) -> str:
    # GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped.
    text = heading.lstrip("#").strip().lower()
    return "".join(c for c in text.replace(" ", "-") if c.isalnum() or c in "-_")


@pytest.mark.prometheus
@needs_promtool
def test_promtool_check_rules() -> None:
    result = _run(["promtool", "check", "rules", str(RECORDING), str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@needs_promtool
def test_promtool_unit_tests() -> None:
    assert UNIT_TESTS, "no promtool unit tests found"
    result = _run(["promtool", "test", "rules", *map(str, UNIT_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_cover_every_alert_firing_and_silent() -> None:
    alerts = {rule["alert"] for group in _rule_groups(ALERTS) for rule in group["rules"]}
    firing: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TESTS:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in document["tests"]:
            for case in test.get("alert_rule_test", []):
                expected = case.get("exp_alerts") or []
                if expected:
                    assert all("exp_annotations" in alert for alert in expected), case
                    assert all("exp_labels" in alert for alert in expected), case
                    firing.add(case["alertname"])
                else:
                    silent.add(case["alertname"])
    assert alerts - firing == set(), "alerts without a firing test"
    assert alerts - silent == set(), "alerts without a must-not-fire test"


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


# ------------------------------------------------------------- the real Prometheus run


@dataclass
class Stack:
    url: str
    full: dict[str, Series]  # replay of the whole file, by metric name


# A funnel configured away from every default the rules could have baked in: the
# qualified stage is opportunity (so the (qualified, won) pair is the fixed
# (opportunity, won) one), a different company band, and one source with its own
# band and closed-deal goals.
CUSTOM_CONFIG = {
    "funnel": {"qualified_stage": "opportunity"},
    "targets": {"qualified_to_won_ratio": {"target": 3.0, "lower": 2.0, "upper": 4.0}},
    "sources": {
        "paid_search": {
            "qualified_to_won_ratio": {"target": 8.0, "lower": 6.0, "upper": 10.0},
            "closed_deals": {"month": 5, "quarter": 15},
        }
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _run_stack(tmp_path_factory.mktemp("prom"), config=None)


@pytest.fixture(scope="module")
def custom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _run_stack(tmp_path_factory.mktemp("prom-custom"), config=CUSTOM_CONFIG)


def _run_stack(work: Path, config: dict | None) -> Iterator[Stack]:
    """Two fake workers (replay of half the leads each) scraped by a real Prometheus."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus missing")
    env = {}
    if config is not None:
        (work / "leadflow.yaml").write_text(yaml.safe_dump(config))
        env["LEADFLOW_CONFIG"] = str(work / "leadflow.yaml")
    events = work / "events.jsonl"
    # 450 days: more than a year of history, so the kept past periods and the periods a
    # year before the current one (funnel.history) have data.
    generate = ["--events", "12000", "--seed", "7", "--profile", "ratio-skew", "--end", AS_OF]
    generate += ["--days", "450"]
    _leadflow("generate", *generate, "--out", str(events))
    halves = _split_by_lead(events, work)
    exports = [_leadflow("replay", str(half), "--as-of", AS_OF, env=env) for half in halves]
    full = _parse(_leadflow("replay", str(events), "--as-of", AS_OF, env=env))
    servers = [_serve(text + _operational(index)) for index, text in enumerate(exports)]
    port = free_port()
    (work / "prometheus.yml").write_text(
        _prometheus_config([server.server_address[1] for server in servers])
    )
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, full, process)
        yield Stack(url, full)
    finally:
        # Stop exactly the process this fixture started.
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        for server in servers:
            server.shutdown()
            server.server_close()


def _leadflow(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _split_by_lead(events: Path, work: Path) -> list[Path]:
    # What two workers would own: every event of a lead goes to the same half.
    halves = [work / "half-0.jsonl", work / "half-1.jsonl"]
    outputs = [path.open("w", encoding="utf-8") for path in halves]
    try:
        for line in events.read_text(encoding="utf-8").splitlines():
            if line.strip():
                lead = json.loads(line)["lead_id"]
                outputs[zlib.crc32(lead.encode()) % 2].write(line + "\n")
    finally:
        for output in outputs:
            output.close()
    return halves


def _operational(index: int) -> str:
    # The pipeline-health series a live worker adds to its export (replay has none);
    # constant values are enough for the dashboards' queries to return data.
    return (
        f'leadflow_events_processed_total{{type="lead.created"}} {1000 + index}\n'
        f'leadflow_events_duplicate_total{{type="lead.created"}} {index}\n'
        f'leadflow_events_dead_lettered_total{{reason="invalid_json"}} {index + 1}\n'
        "leadflow_processing_errors_total 0\n"
        "leadflow_rebalances_total 1\n"
        "leadflow_last_event_timestamp_seconds 1773847800\n"
        "leadflow_event_time_lag_seconds 2.5\n"
        f'leadflow_consumer_lag{{topic="lead-events",partition="{index}"}} 3\n'
        f"leadflow_leads_tracked {500 + index}\n"
        # Each half owns three of six lead partitions, restored: the sums are whole.
        "leadflow_lead_partitions 6\n"
        "leadflow_partitions_owned 3\n"
        "leadflow_ready 1\n"
    )


def _serve(body: str) -> ThreadingHTTPServer:
    payload = body.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _prometheus_config(ports: list[int]) -> str:
    # The one config with the test's targets and intervals: its metric relabelling
    # (dropping workers' own partial ratios) is part of what is being tested.
    template = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    return render_prometheus_config(
        Scrape(
            workers=[f"127.0.0.1:{port}" for port in ports],
            interval="1s",
            rule_files=[PROMETHEUS_CONFIG.parent / path for path in template["rule_files"]],
        )
    )


def _wait_until_ready(url: str, full: dict[str, Series], process: subprocess.Popen) -> None:
    # Ready once every derived series replay printed has been recorded, and enough
    # scrapes have happened for rate() over the dashboards' windows.
    wanted = {name: len(series) for name, series in full.items() if ":" in name}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "prometheus exited early"
        try:
            counts = {name: len(query(url, name)) for name in wanted}
            scrapes = query(url, "count_over_time(up[1m])")
        except OSError:
            counts, scrapes = {}, []
        if counts == wanted and scrapes and min(float(s["value"][1]) for s in scrapes) >= 4:
            return
        time.sleep(0.5)
    raise AssertionError(f"rules did not evaluate in time: {counts} != {wanted}")


def _parse(text: str) -> dict[str, Series]:
    out: dict[str, Series] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if v != "")
            out[sample.name][labels] = sample.value
    return dict(out)


def _as_series(result: list[dict]) -> Series:
    series: Series = {}
    for item in result:
        labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
        series[frozenset(labels.items())] = float(item["value"][1])
    return series


def _expected(name: str, full: dict[str, Series]) -> Series:
    """What a recording rule must produce, from the replay of the whole file."""
    if name in full:  # a derived series replay prints itself
        return full[name]
    level, metric, operation = name.split(":")
    if level == "cluster":  # coverage: two halves of three lead partitions each
        return {frozenset(): 6.0 if operation == "sum" else 1.0}
    qualified = next(dict(labels)["stage"] for labels in full[catalog.FUNNEL_STAGE_INFO])
    if name == "stage:leadflow_qualified_stage:info":
        return {frozenset({("stage", qualified), ("from_stage", qualified)}): 1.0}
    if metric == "leadflow_qualified_entries":
        source = {
            labels: value
            for labels, value in full[catalog.STAGE_ENTRIES.name].items()
            if ("stage", qualified) in labels
        }
    elif metric == "leadflow_data":
        source = {
            frozenset((k, v) for k, v in labels if k in catalog.COMMON_LABELS): 1.0
            for additive in catalog.ADDITIVE_METRICS
            for labels in full.get(additive.name, {})
        }
    elif metric == "leadflow_rejection_reason":
        sums = _expected(f"{level}:leadflow_rejections:sum", full)
        totals: dict[frozenset, float] = defaultdict(float)
        for labels, value in sums.items():
            totals[_drop(labels, "reason")] += value
        return {labels: value / totals[_drop(labels, "reason")] for labels, value in sums.items()}
    else:
        source = full.get(metric, {})
    assert operation in {"sum", "present"}, name
    grouped: Series = defaultdict(float)
    for labels, value in source.items():
        key = _drop(labels, "source") if level == catalog.LEVEL_ALL else labels
        grouped[key] = 1.0 if operation == "present" else grouped[key] + value
    return dict(grouped)


def _drop(labels: frozenset[tuple[str, str]], name: str) -> frozenset[tuple[str, str]]:
    return frozenset((k, v) for k, v in labels if k != name)


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=RELATIVE, abs_tol=0.0)


@pytest.mark.prometheus
@needs_prometheus
@pytest.mark.parametrize("which", ["stack", "custom_stack"], ids=["defaults", "custom-config"])
def test_recording_rules_equal_replay_of_the_whole_file(
    which: str, request: pytest.FixtureRequest
) -> None:
    stack: Stack = request.getfixturevalue(which)
    checked = 0
    for name in _recorded_names():
        got = _as_series(query(stack.url, name))
        want = _expected(name, stack.full)
        assert want, f"{name}: the test data should exercise every rule"
        assert set(got) == set(want), (
            f"{name}: label sets differ; only in Prometheus: {sorted(set(got) - set(want))[:3]}, "
            f"only in replay: {sorted(set(want) - set(got))[:3]}"
        )
        for labels, value in want.items():
            assert _close(got[labels], value), (name, sorted(labels), got[labels], value)
            checked += 1
    assert checked > 1000


@pytest.mark.prometheus
@needs_prometheus
def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    from dashboards.build import panel_queries

    values = busiest_values(stack.url)
    dashboards = sorted(GRAFANA_DIR.glob("*.json"))
    assert dashboards
    empty, short = [], []
    checked = 0
    for path in dashboards:
        document = json.loads(path.read_text(encoding="utf-8"))
        for title, expr in panel_queries(document):
            concrete = substitute(expr, values)
            checked += 1
            result = query(stack.url, concrete)
            if not result:
                empty.append(f"{path.name} | {title} | {concrete}")
            elif 'window!="future"' in concrete:
                # Per-period views: the kept quarters are there after a few scrapes, not
                # only the two windows Prometheus happened to see (five of the six: the
                # oldest holds only the data's first week, no wins or exits).
                periods = {item["metric"].get("period_start") for item in result}
                if len(periods) < 5:
                    short.append(f"{path.name} | {title} | {sorted(periods)}")
    assert not empty, "\n".join(empty)
    assert not short, "\n".join(short)
    assert checked > 50
