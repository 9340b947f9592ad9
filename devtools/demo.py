"""`leadflow demo`: a local broker, two workers, live synthetic events, a live summary.

Starts Prometheus and Alertmanager with Leadflow's rules too when they are
installed, and prints the alerts Alertmanager delivers. Ctrl-C stops everything
this command started (by PID), nothing else.

The live feed continues the backfilled history (its open deals close as the demo
runs), so the funnel ratios keep the level the history set. The demo renders the
shipped rules and Alertmanager routing with short waits only (`DEMO_ALERT_FOR`,
`DEMO_GROUP_WAIT`): a business alert breached by the history notifies within a
minute or two instead of after 15 minutes to hours.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import yaml

from dashboards.prometheus_config import Scrape
from dashboards.prometheus_config import render as render_prometheus_config
from dashboards.runbooks import RULES_DIR, write_rules
from leadflow.ports import ensure_listenable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "config" / "leadflow.yaml"
ALERTMANAGER_CONFIG = ROOT / "dashboards" / "alertmanager" / "alertmanager.yml"
# A scenario with one clear breach: paid search qualifies leads as usual but rarely
# closes them. Over the previous quarter that is about 140 qualified leads at a
# qualified-to-won ratio of 13-17 against a 4-6 band (90 % Wilson interval above 8 on
# every start date tried over a year), so the alert has evidence behind it, not luck.
DEMO_PROFILE = "ratio-skew"
# Demo-only waits. The shipped rules wait 15 minutes to hours before a business alert
# fires and Alertmanager batches for 30 s to an hour; a newcomer should see the chain
# work within a couple of minutes. Pipeline-health alerts keep their `for`: a fresh
# Prometheus has no history yet, and a firing one would inhibit every business alert.
DEMO_ALERT_FOR = "15s"
DEMO_GROUP_WAIT = "5s"
DEMO_GROUP_INTERVAL = "30s"
# The history covers what live workers export (the current and previous month and
# quarter) plus a warm-up: deals close weeks after their leads qualify, so the first
# weeks of any history have qualified leads without their wins, and a previous quarter
# that fell in them would breach every band on an artefact of the data.
WARM_UP_DAYS = 60
HISTORY_EVENTS_PER_DAY = 250


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a local demo: broker, two workers, live synthetic events, metrics",
    )
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"))
    parser.add_argument(
        "--history-events",
        type=int,
        default=None,
        help=f"events of backfilled history (default {HISTORY_EVENTS_PER_DAY} a day, over "
        f"the previous quarter, the current one and {WARM_UP_DAYS} days before them)",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="live events per second")
    parser.add_argument(
        "--metrics-ports",
        type=_ports,
        default=[9108, 9109],
        help="the workers' /metrics ports, comma-separated (default 9108,9109)",
    )
    parser.add_argument(
        "--gateway-port", type=int, default=8088, help="the HTTP gateway the live feed goes through"
    )
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument(
        "--webhook-port",
        type=int,
        default=9095,
        help="where the demo receives Alertmanager's notifications",
    )
    parser.add_argument("--every", type=float, default=10.0, help="seconds between summaries")
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: run until Ctrl-C)",
    )
    parser.add_argument(
        "--profile",
        default=DEMO_PROFILE,
        help=f"generator profile (default {DEMO_PROFILE}: paid search rarely closes, "
        "so the sales team is notified)",
    )
    parser.set_defaults(func=run)


@dataclass
class Stack:
    """Processes the demo started; stopped in reverse order, by PID."""

    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)

    def spawn(
        self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            argv,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the rest
        )
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"demo: {name} did not stop, killing PID {process.pid}", file=sys.stderr)
                process.kill()
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                close()


def run(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer

    from devtools.broker import LocalKafka
    from devtools.generate import (
        PROFILES,
        GeneratorSpec,
        LiveSpec,
        generate_events,
        live_events,
    )
    from leadflow.config import load_funnel
    from leadflow.rules import RulesSettings
    from leadflow.settings import load_settings
    from leadflow.workdirs import ensure_data_dir
    from streams.security import kafka_python_config
    from streams.topics import ensure_topics

    # Bad LEADFLOW_* variables are reported before anything starts.
    load_settings()
    runbook_base_url = load_settings(RulesSettings).runbook_base_url
    if args.profile not in PROFILES:
        raise SystemExit(f"demo: no profile {args.profile!r}; profiles: {', '.join(PROFILES)}")
    profile = PROFILES[args.profile]
    workdir: Path = ensure_data_dir(args.workdir.resolve(), "--workdir")
    ports: list[int] = args.metrics_ports
    config = Path(os.environ.get("LEADFLOW_CONFIG", DEFAULT_CONFIG))
    funnel = load_funnel(config)
    for port, option in _ports_to_open(args):
        ensure_listenable("127.0.0.1", port, option)
    stack = Stack()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    try:
        bootstrap = os.environ.get("LEADFLOW_KAFKA_BOOTSTRAP")
        if bootstrap is None:
            broker = LocalKafka(port=_free_or_any(9092), data_dir=workdir / "kafka")
            broker.start()
            stack.closers.append(broker.stop)
            bootstrap = broker.bootstrap
            print(f"demo: Apache Kafka ready at {bootstrap} ({time.monotonic() - started:.1f}s)")
        env = {**os.environ, "LEADFLOW_KAFKA_BOOTSTRAP": bootstrap, "LEADFLOW_CONFIG": str(config)}
        settings = load_settings(kafka_bootstrap=bootstrap)
        ensure_topics(settings)
        producer = KafkaProducer(linger_ms=20, **kafka_python_config(settings))
        stack.closers.append(producer.close)

        # Workers start up while the history is written: the two take about as long.
        for index, port in enumerate(ports):
            stack.spawn(
                f"worker-{index + 1}",
                [sys.executable, "-m", "leadflow.cli", "worker", "--loglevel", "warning"],
                workdir / f"worker-{index + 1}" / "worker.log",
                env={
                    **env,
                    "LEADFLOW_METRICS_PORT": str(port),
                    "LEADFLOW_DATA_DIR": str(workdir / f"worker-{index + 1}"),
                },
            )
        days = history_days(datetime.now(UTC))
        history = GeneratorSpec(
            seed=7,
            events=round(HISTORY_EVENTS_PER_DAY * days)
            if args.history_events is None
            else args.history_events,
            days=days,
            profiles=profile,
        )
        sent = _send(producer, settings.topic, generate_events(history))
        print(
            f"demo: {sent:,} events of history ({days} days) sent to {settings.topic} "
            f"({time.monotonic() - started:.1f}s since start)"
        )
        # Without a history there are no open deals to close: the feed starts empty.
        live = (
            LiveSpec.after(history, rate=args.rate)
            if sent
            else LiveSpec(rate=args.rate, profiles=profile)
        )

        urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
        _wait_ready(urls, stack)
        print(f"demo: {len(urls)} workers ready ({time.monotonic() - started:.1f}s since start)")
        for url in urls:
            print(f"      {url}")
        # Rules evaluated on a half-folded history would alert on figures that are
        # about to change; the demo's short waits would let them notify.
        _wait_folded(urls, sent, stack)
        print(f"demo: history folded ({time.monotonic() - started:.1f}s since start)")

        alerts = _start_observability(args, stack, workdir, ports, runbook_base_url, started)
        gateway = _start_gateway(args, stack, workdir, env)

        feed = threading.Thread(target=_feed, daemon=True, args=(gateway, live_events(live), stop))
        feed.start()
        print(
            f"demo: live feed at ~{args.rate:g} events/s through the gateway, "
            f"{live.speedup * 60 / 86_400:.1f} funnel days a minute: new leads, and the "
            "history's open deals closing; Ctrl-C stops everything\n"
        )

        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.is_set():
            stop.wait(args.every)
            print(summary(urls, funnel, alerts))
            if deadline is not None and time.monotonic() >= deadline:
                break
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        print("demo: stopping", file=sys.stderr)
        stack.stop()


def history_days(now: datetime) -> int:
    """Days from `WARM_UP_DAYS` before the previous quarter's start (UTC) to `now`."""
    quarter_start = now.replace(
        month=3 * ((now.month - 1) // 3) + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )
    previous = (quarter_start - timedelta(days=1)).replace(day=1)
    previous = previous.replace(month=3 * ((previous.month - 1) // 3) + 1)
    return math.ceil((now - previous) / timedelta(days=1)) + WARM_UP_DAYS


def _ports(text: str) -> list[int]:
    try:
        ports = [int(port) for port in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of ports: {text!r}") from None
    if not ports or any(not 0 < port < 65536 for port in ports):
        raise argparse.ArgumentTypeError(f"ports are 1-65535: {text!r}")
    return ports


def _ports_to_open(args: argparse.Namespace) -> list[tuple[int, str]]:
    """The ports this demo will listen on, each with the option that moves it."""
    wanted = [(port, "--metrics-ports") for port in args.metrics_ports]
    if shutil.which("prometheus"):
        wanted.append((args.prometheus_port, "--prometheus-port"))
    if shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"):
        wanted += [
            (args.alertmanager_port, "--alertmanager-port"),
            (args.webhook_port, "--webhook-port"),
        ]
    return wanted


def _free_or_any(port: int) -> int | None:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None  # taken: let the broker pick a free one
    return port


def _send(producer: Any, topic: str, events: Iterator[dict[str, Any]]) -> int:
    sent = 0
    for event in events:
        producer.send(topic, key=event["lead_id"].encode(), value=orjson.dumps(event))
        sent += 1
    producer.flush()
    return sent


@dataclass(frozen=True)
class GatewayFeed:
    url: str
    token: str


def _start_gateway(
    args: argparse.Namespace, stack: Stack, workdir: Path, env: dict[str, str]
) -> GatewayFeed:
    """`leadflow gateway` with a token made for this run, written to workdir (mode 600)."""
    from gateway.tokens import hash_token, new_token

    token = new_token()
    port = _free_or_any(args.gateway_port) or _any_port()
    stack.spawn(
        "gateway",
        [sys.executable, "-m", "leadflow.cli", "gateway", "--loglevel", "warning"],
        workdir / "gateway.log",
        env={
            **env,
            "LEADFLOW_GATEWAY_PORT": str(port),
            "LEADFLOW_GATEWAY_TOKENS": json.dumps({"demo": hash_token(token)}),
        },
    )
    token_file = workdir / "gateway-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while '"ready":true' not in _get(f"{base}/readyz"):
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: gateway not ready after 60s; see {workdir / 'gateway.log'}")
        time.sleep(0.3)
    print(f"demo: gateway      {base}/v1/events (bearer token in {token_file})")
    return GatewayFeed(f"{base}/v1/events", token)


def _feed(gateway: GatewayFeed, events: Iterator[dict[str, Any]], stop: threading.Event) -> None:
    # Each event is resent until a 2xx: a resent event_id is counted once by the workers.
    for event in events:
        body = orjson.dumps(event)
        while not stop.is_set() and not _post(gateway, body):
            stop.wait(1.0)
        if stop.is_set():
            return


def _post(gateway: GatewayFeed, body: bytes) -> bool:
    request = urllib.request.Request(
        gateway.url,
        data=body,
        headers={"Authorization": f"Bearer {gateway.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bool(200 <= response.status < 300)
    except urllib.error.HTTPError as error:
        # A 4xx other than 429 will not change on a resend: drop the event, say why.
        if error.code not in (429, 503):
            print(f"demo: gateway refused an event: {error.read()[:300]!r}", file=sys.stderr)
            return True
        return False
    except OSError:
        return False


def _any_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(urls: list[str], stack: Stack, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = set(urls)
    while pending:
        for name, process in stack.processes:
            if process.poll() is not None:
                raise SystemExit(f"demo: {name} exited with {process.returncode}; see its log")
        for url in list(pending):
            if "leadflow_ready 1.0" in _get(url):
                pending.discard(url)
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: workers not ready after {timeout:.0f}s: {sorted(pending)}")
        time.sleep(0.5)


def _folded(urls: list[str]) -> float:
    """Events the workers have dealt with: folded, duplicate or dead-lettered."""
    from prometheus_client.parser import text_string_to_metric_families

    names = {
        "leadflow_events_processed_total",
        "leadflow_events_duplicate_total",
        "leadflow_events_dead_lettered_total",
    }
    return sum(
        sample.value
        for url in urls
        for family in text_string_to_metric_families(_get(url))
        for sample in family.samples
        if sample.name in names
    )


def _wait_folded(urls: list[str], events: int, stack: Stack, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _folded(urls) < events:
        for name, process in stack.processes:
            if process.poll() is not None:
                raise SystemExit(f"demo: {name} exited with {process.returncode}; see its log")
        if time.monotonic() > deadline:
            print(f"demo: the history is not folded after {timeout:.0f}s; going on")
            return
        time.sleep(0.5)


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


# -- Prometheus, Alertmanager and a webhook that prints what Alertmanager sends ---------------


@dataclass
class AlertLog:
    started: float  # time.monotonic() when the demo started: notifications say how long after
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def drain(self) -> list[str]:
        with self.lock:
            lines, self.lines = self.lines, []
        return lines


def _start_observability(
    args: argparse.Namespace,
    stack: Stack,
    workdir: Path,
    ports: list[int],
    runbook_base_url: str,
    started: float,
) -> AlertLog | None:
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not prometheus or not RULES_DIR.is_dir():
        print("demo: Prometheus not installed (scripts/install-system-deps.sh); skipping rules")
        return None
    alerts = AlertLog(started)
    if alertmanager and ALERTMANAGER_CONFIG.is_file():
        server = _webhook(args.webhook_port, alerts)
        stack.closers.append(server.shutdown)
        policy = workdir / "alertmanager.yml"
        policy.write_text(demo_alertmanager_config(args.webhook_port))
        manager = stack.spawn(
            "alertmanager",
            [
                alertmanager,
                f"--config.file={policy}",
                f"--storage.path={workdir / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{args.alertmanager_port}",
                "--cluster.listen-address=",
            ],
            workdir / "alertmanager.log",
        )
        _wait_up("alertmanager", args.alertmanager_port, manager, workdir / "alertmanager.log")
    config = workdir / "prometheus.yml"
    config.write_text(
        render_prometheus_config(
            Scrape(
                workers=[f"127.0.0.1:{port}" for port in ports],
                gateways=[f"127.0.0.1:{args.gateway_port}"],
                alertmanager=f"127.0.0.1:{args.alertmanager_port}",
                rule_files=demo_rules(workdir / "rules", runbook_base_url),
            )
        )
    )
    prometheus_process = stack.spawn(
        "prometheus",
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{args.prometheus_port}",
        ],
        workdir / "prometheus.log",
    )
    _wait_up("prometheus", args.prometheus_port, prometheus_process, workdir / "prometheus.log")
    print(f"demo: Prometheus   http://127.0.0.1:{args.prometheus_port}/alerts")
    if alertmanager:
        print(
            f"demo: Alertmanager http://127.0.0.1:{args.alertmanager_port} "
            f"(notifications are printed below)"
        )
    return alerts


def demo_rules(out: Path, runbook_base_url: str) -> list[Path]:
    """The shipped rule files in `out`, business alerts waiting `DEMO_ALERT_FOR` at most.

    Expressions, labels, annotations and pipeline alerts are the shipped ones: the demo
    shows real alerts on its data, only sooner.
    """
    written = write_rules(out, runbook_base_url)
    for path in written:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        changed = False
        for group in document.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule and rule.get("labels", {}).get("team") != "platform":
                    rule["for"] = DEMO_ALERT_FOR
                    changed = True
        if changed:
            path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return written


def demo_alertmanager_config(webhook_port: int) -> str:
    """The shipped routing, grouping and inhibition, with demo waits and the demo's webhook.

    Every route's `group_wait` and `group_interval` shrink to `DEMO_GROUP_WAIT` and
    `DEMO_GROUP_INTERVAL`; repeat intervals stay (a demo has no use for reminders).
    """
    document = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))

    def hurry(route: dict[str, Any]) -> None:
        route["group_wait"] = DEMO_GROUP_WAIT
        route["group_interval"] = DEMO_GROUP_INTERVAL
        for child in route.get("routes", []):
            hurry(child)

    hurry(document["route"])
    for receiver in document.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://127.0.0.1:{webhook_port}/alerts"
    # Template globs are relative to the config file, which the demo writes elsewhere.
    document["templates"] = [
        str(ALERTMANAGER_CONFIG.parent / pattern) for pattern in document.get("templates", [])
    ]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _wait_up(
    name: str, port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """Until `name` answers on /-/ready: a port taken since the check at start, or a bad
    config, stops the demo with the log to read instead of a demo that never alerts."""
    deadline = time.monotonic() + timeout
    while not _get(f"http://127.0.0.1:{port}/-/ready"):
        if process.poll() is not None:
            raise SystemExit(f"demo: {name} exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: {name} not ready after {timeout:.0f}s; see {log}")
        time.sleep(0.3)


def _webhook(port: int, alerts: AlertLog) -> ThreadingHTTPServer:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            after = time.monotonic() - alerts.started
            with contextlib.suppress(ValueError):
                payload = json.loads(body)
                received = payload.get("alerts", [])
                alerts.add(
                    f"notification to {payload.get('receiver', '?')} "
                    f"({after:.0f}s after start): {len(received)} alert(s)"
                )
                for alert in received:
                    labels, notes = alert.get("labels", {}), alert.get("annotations", {})
                    alerts.add(
                        f"  [{alert.get('status', '?')}] {labels.get('alertname')} "
                        f"({labels.get('severity', '-')}/{labels.get('team', '-')}): "
                        f"{notes.get('summary', '')}"
                    )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- the terminal summary ----------------------------------------------------------------------


def summary(urls: list[str], funnel: Any, alerts: AlertLog | None) -> str:
    from prometheus_client.parser import text_string_to_metric_families

    entries: dict[tuple[str, str], float] = defaultdict(float)
    ops: dict[str, float] = defaultdict(float)
    month = ""
    for url in urls:
        for family in text_string_to_metric_families(_get(url)):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "leadflow_stage_entries"
                    and labels.get("period") == "month"
                    and labels.get("window") == "current"
                ):
                    entries[(labels["source"], labels["stage"])] += sample.value
                    month = labels["period_start"]
                elif sample.name in (
                    "leadflow_events_processed_total",
                    "leadflow_events_duplicate_total",
                    "leadflow_events_dead_lettered_total",
                ):
                    ops[sample.name] += sample.value
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    qualified = str(funnel.qualified_stage)
    rows = [
        f"── {now} · current month from {month or '-'} · qualified stage: {qualified}",
        f"{'source':<14}{'qualified':>10}{'won':>6}{'ratio':>8}  {'band':<11}{'status':<8}"
        f"{'MQL→SQL':>8}{'win rate':>10}",
    ]
    sources = sorted({source for source, _ in entries})
    for source in [*sources, None]:

        def count(stage: str, source: str | None = source) -> float:
            if source is None:
                return sum(v for (s, st), v in entries.items() if st == stage)
            return entries.get((source, stage), 0.0)

        band = funnel.targets_for(source).qualified_to_won_ratio
        q, won, lost = count(qualified), count("won"), count("lost")
        ratio = q / won if won else None
        status = (
            "-"
            if ratio is None
            else "below"
            if ratio < band.lower
            else "above"
            if ratio > band.upper
            else "ok"
        )
        rows.append(
            f"{source or 'all sources':<14}{q:>10.0f}{won:>6.0f}"
            f"{_fmt(ratio, '{:.2f}'):>8}  {f'{band.lower:g}-{band.upper:g}':<11}{status:<8}"
            f"{_fmt(_div(count('sql'), count('mql')), '{:.0%}'):>8}"
            f"{_fmt(_div(won, won + lost), '{:.0%}'):>10}"
        )
    rows.append(
        f"events: {ops['leadflow_events_processed_total']:,.0f} folded, "
        f"{ops['leadflow_events_duplicate_total']:,.0f} duplicates, "
        f"{ops['leadflow_events_dead_lettered_total']:,.0f} dead-lettered"
    )
    if alerts is not None:
        rows.extend(alerts.drain())
    return "\n".join(rows) + "\n"


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)
