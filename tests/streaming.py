"""Running real `leadflow worker` processes against the test broker, and reading them.

Each test gets its own app id, topics and ports, so tests never share state.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from events import to_micros
from leadflow.config import load_funnel
from leadflow.replay import replay_lines
from projections import History, catalog

SeriesKey = tuple[str, frozenset[tuple[str, str]]]
ADDITIVE = frozenset(m.name for m in (*catalog.ADDITIVE_METRICS, *catalog.POINT_IN_TIME_METRICS))
ROOT = Path(__file__).resolve().parents[1]


def topic_records(bootstrap: str, topic: str, **options: Any) -> list[Any]:
    """Every record of `topic` from the start, once nothing new arrives for a few seconds."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **{"consumer_timeout_ms": 5_000, **options},
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Deployment:
    """One isolated Leadflow deployment: an app id and its topics on the test broker."""

    bootstrap: str
    workdir: Path
    partitions: int = 6
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return f"{self.name}-events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.name}-dlq"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "LEADFLOW_KAFKA_BOOTSTRAP": self.bootstrap,
            "LEADFLOW_APP_ID": self.name,
            "LEADFLOW_TOPIC": self.topic,
            "LEADFLOW_DLQ_TOPIC": self.dlq_topic,
            "LEADFLOW_PARTITIONS": str(self.partitions),
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }
        env.update(overrides)
        return env

    def produce(self, path: Path, key: str = "lead", batch: int = 500) -> int:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "leadflow.cli",
                "produce",
                str(path),
                "--key",
                key,
                "--batch",
                str(batch),
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return int(done.stdout.split()[1])

    def worker(self, label: str) -> WorkerProcess:
        worker = WorkerProcess(self, label, free_port())
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def start_workers(self, workers: Iterable[WorkerProcess], timeout: float = 120) -> None:
        """Start several workers at once (one group join, not one per worker), then wait."""
        started = list(workers)
        for worker in started:
            worker.start(wait=False)
        for worker in started:
            worker.wait_ready(timeout)


@dataclass
class WorkerProcess:
    deployment: Deployment
    label: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self, wait: bool = True) -> WorkerProcess:
        data_dir = self.deployment.workdir / self.label
        data_dir.mkdir(parents=True, exist_ok=True)
        log = (data_dir / "worker.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", "worker", "--loglevel", "info"],
            env=self.deployment.env(
                LEADFLOW_METRICS_PORT=str(self.port), LEADFLOW_DATA_DIR=str(data_dir)
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.paused = False
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        eventually(lambda: self.scrape_text().count("leadflow_ready 1.0") == 1, timeout=timeout)

    @property
    def running(self) -> bool:
        """Started, not exited (a paused worker is running, just not scheduled)."""
        return self.process is not None and self.process.poll() is None

    def scrape_text(self, timeout: float = 5) -> str:
        """The worker's /metrics; "" while it is paused or not answering, like a failed scrape."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"worker {self.label} exited: {self.log_tail()}")
        if self.paused:
            return ""
        try:
            with urllib.request.urlopen(self.url, timeout=timeout) as response:
                return response.read().decode()
        except OSError:
            return ""

    def pause(self) -> None:
        """SIGSTOP: every thread stops, heartbeats included; the group moves on without it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT: the worker carries on from where it was, unaware of the time that passed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self, wait: bool = True) -> WorkerProcess:
        """Stop (SIGTERM) and start again on the same port and data dir."""
        self.stop()
        return self.start(wait=wait)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.paused = False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.paused:
                self.resume()  # a stopped process would hold SIGTERM pending forever
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        path = self.deployment.workdir / self.label / "worker.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def parse_series(text: str, names: Iterable[str] = ADDITIVE) -> dict[SeriesKey, float]:
    wanted = frozenset(names)
    series: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted and sample.value:
                key = (sample.name, frozenset(sample.labels.items()))
                series[key] = series.get(key, 0.0) + sample.value
    return series


def summed(
    workers: Iterable[WorkerProcess], names: Iterable[str] = ADDITIVE
) -> dict[SeriesKey, float]:
    total: dict[SeriesKey, float] = {}
    for worker in workers:
        for key, value in parse_series(worker.scrape_text(), names).items():
            total[key] = total.get(key, 0.0) + value
    return {key: value for key, value in total.items() if value}


def counter(workers: Iterable[WorkerProcess], name: str, **labels: str) -> float:
    value = 0.0
    for worker in workers:
        for family in text_string_to_metric_families(worker.scrape_text()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    value += sample.value
    return value


def replayed(path: Path, config: Path | None = None) -> dict[SeriesKey, float]:
    """What `leadflow replay` says of the file, as of now (the workers' live as-of)."""
    from events import now_micros
    from projections.exposition import render

    funnel = load_funnel(config)
    with path.open("rb") as lines:
        result = replay_lines(
            lines,
            funnel,
            now_us=now_micros(),
            as_of=to_micros(datetime.now(UTC)),
            history=History.LIVE,
        )
    return parse_series(render(result.families).decode())


def differences(
    live: Mapping[SeriesKey, float], expected: Mapping[SeriesKey, float]
) -> dict[SeriesKey, tuple[float | None, float | None]]:
    return {
        key: (live.get(key), expected.get(key))
        for key in set(live) | set(expected)
        if abs(live.get(key, 0.0) - expected.get(key, 0.0)) > 1e-6
    }


def eventually(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def converge(
    workers: list[WorkerProcess], path: Path, timeout: float = 120
) -> dict[SeriesKey, tuple[float | None, float | None]]:
    """Wait until the workers' summed series equal replay's; return the last difference."""
    deadline = time.monotonic() + timeout
    while True:
        diff = differences(summed(workers), replayed(path))
        if not diff or time.monotonic() > deadline:
            return diff
        time.sleep(1.0)
