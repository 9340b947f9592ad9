"""Every long-running command comes up from an empty working directory with the
default settings: only where Kafka is, plus names and ports that keep parallel
tests apart. Nothing is written into the working directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.streaming import eventually, free_port

pytestmark = pytest.mark.kafka


def default_env(home: Path, **settings: str) -> dict[str, str]:
    """The caller's environment minus every LEADFLOW_* and XDG data setting."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LEADFLOW_") and key != "XDG_DATA_HOME"
    }
    return {**env, "HOME": str(home), **settings}


def isolated(bootstrap: str) -> dict[str, str]:
    name = f"fresh{uuid.uuid4().hex[:8]}"
    return {
        "LEADFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "LEADFLOW_APP_ID": name,
        "LEADFLOW_TOPIC": f"{name}-events",
        "LEADFLOW_DLQ_TOPIC": f"{name}-dlq",
    }


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def start(
    processes: list[subprocess.Popen[str]], cwd: Path, env: dict[str, str], *args: str
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "leadflow.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    processes.append(process)
    return process


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


def test_a_worker_comes_up_with_default_settings_from_an_empty_directory(
    kafka_bootstrap: str, empty_dir: Path, home: Path, started: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    env = default_env(home, **isolated(kafka_bootstrap), LEADFLOW_METRICS_PORT=str(port))
    worker = start(started, empty_dir, env, "worker")

    eventually(lambda: worker.poll() is None and "leadflow_ready 1.0" in scrape(port), 90)

    output = stop(worker)
    assert (home / ".local" / "share" / "leadflow").is_dir()
    assert list(empty_dir.iterdir()) == []
    assert "Traceback" not in output
    assert "[ERROR]" not in output
    assert "\x1b" not in output  # no terminal escape codes in a log file


def test_the_data_dir_follows_xdg_data_home(
    kafka_bootstrap: str, empty_dir: Path, home: Path, started: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    xdg = home / "xdg-data"
    env = default_env(
        home, **isolated(kafka_bootstrap), LEADFLOW_METRICS_PORT=str(port), XDG_DATA_HOME=str(xdg)
    )
    worker = start(started, empty_dir, env, "worker")
    eventually(lambda: worker.poll() is None and "leadflow_ready 1.0" in scrape(port), 90)
    stop(worker)
    assert (xdg / "leadflow").is_dir()


def test_a_live_generator_streams_from_an_empty_directory(
    empty_dir: Path, home: Path, started: list[subprocess.Popen[str]]
) -> None:
    generator = start(
        started, empty_dir, default_env(home), "generate", "--rate", "200", "--events", "40"
    )
    output, _ = generator.communicate(timeout=60)
    assert generator.returncode == 0, output
    assert sum(line.startswith('{"event_id"') for line in output.splitlines()) >= 40
    assert list(empty_dir.iterdir()) == []


def test_the_local_broker_starts_in_one_directory_and_stops_from_another(
    tmp_path: Path, empty_dir: Path, started: list[subprocess.Popen[str]]
) -> None:
    # HOME stays: the Kafka jars are cached under it. Only the data dir moves.
    env = {**default_env(Path.home()), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    broker = start(started, empty_dir, env, "broker", "start", "--port", str(free_port()))
    assert broker.stdout is not None
    ready = broker.stdout.readline()
    assert " ready on 127.0.0.1:" in ready, ready + (broker.stdout.read() if broker.poll() else "")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stopped = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "broker", "stop"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stopped.stdout.startswith("stopped the broker in "), stopped.stderr
    assert broker.wait(timeout=60) == 1  # it reports that its JVM was stopped elsewhere
    assert list(empty_dir.iterdir()) == []


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus missing")
def test_the_demo_comes_up_from_an_empty_directory(
    kafka_bootstrap: str, empty_dir: Path, home: Path, started: list[subprocess.Popen[str]]
) -> None:
    ports = [free_port() for _ in range(5)]
    demo = start(
        started,
        empty_dir,
        default_env(home, **isolated(kafka_bootstrap)),
        "demo",
        "--history-events",
        "300",
        "--duration",
        "1",
        "--every",
        "1",
        f"--metrics-ports={ports[0]},{ports[1]}",
        f"--prometheus-port={ports[2]}",
        f"--alertmanager-port={ports[3]}",
        f"--webhook-port={ports[4]}",
    )
    output, _ = demo.communicate(timeout=240)
    assert demo.returncode == 0, output
    assert "2 workers ready" in output
    assert "all sources" in output
    assert "Traceback" not in output
