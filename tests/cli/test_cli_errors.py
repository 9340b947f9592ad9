"""Every mistake a user can make at the command line gets one line on stderr that
names what to fix, and a non-zero exit status; never a traceback.

Each command runs as a real process from an empty working directory, with no
LEADFLOW_* variable but the ones a test sets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from leadflow.settings import load_settings
from tests.streaming import free_port

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1


def leadflow(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdout: int | None = subprocess.PIPE,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("LEADFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "leadflow.cli", *args],
        cwd=cwd,
        env={**clean, "XDG_DATA_HOME": str(cwd / "xdg"), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )


def the_error(done: subprocess.CompletedProcess[str], command: str) -> str:
    """The single line a failed command printed, without its `leadflow CMD: ` prefix."""
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    prefix = f"leadflow {command}: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0].removeprefix(prefix)


def the_usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """argparse's own report: usage, then one `error:` line; exit status 2."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr.splitlines()[-1].split(" error: ", 1)[1]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    empty = tmp_path / "cwd"
    empty.mkdir()
    return empty


@pytest.fixture
def events(workdir: Path) -> Path:
    path = workdir / "events.jsonl"
    path.write_text(
        '{"event_id": "e1", "type": "lead.created", "lead_id": "L1", '
        '"occurred_at": "2026-03-02T10:00:00Z", "source": "web"}\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def not_kafka() -> Iterator[str]:
    """An HTTP server: a port that answers, but not as Kafka (a wrong port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------- environment settings


def test_a_plain_number_of_seconds_is_a_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_SESSION_TIMEOUT", "10")
    monkeypatch.setenv("LEADFLOW_BATCH_TIMEOUT", "0.25")
    settings = load_settings()
    assert settings.session_timeout == timedelta(seconds=10)
    assert settings.batch_timeout == timedelta(milliseconds=250)


def test_a_bad_duration_is_reported_by_its_variable(workdir: Path) -> None:
    done = leadflow("worker", cwd=workdir, env={"LEADFLOW_SESSION_TIMEOUT": "soon"})
    assert the_error(done, "worker") == (
        "LEADFLOW_SESSION_TIMEOUT='soon': not a duration; "
        "use seconds (10) or 90s, 15m, 24h, 7d, 2w, or ISO 8601 (P3D)"
    )
    assert done.returncode == 2


def test_each_bad_variable_gets_its_own_line(workdir: Path) -> None:
    done = leadflow(
        "topics", cwd=workdir, env={"LEADFLOW_PARTITIONS": "many", "LEADFLOW_METRICS_PORT": "70000"}
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "leadflow topics: LEADFLOW_PARTITIONS='many': "
        "Input should be a valid integer, unable to parse string as an integer",
        "leadflow topics: LEADFLOW_METRICS_PORT='70000': "
        "Input should be less than or equal to 65535",
    ]


def test_a_topic_name_kafka_would_refuse_is_reported_by_its_variable(
    workdir: Path, events: Path
) -> None:
    done = leadflow("produce", str(events), cwd=workdir, env={"LEADFLOW_TOPIC": "lead events"})
    assert the_error(done, "produce") == (
        "LEADFLOW_TOPIC='lead events': use 1-249 letters, digits, '.', '_' or '-'"
    )


def test_a_missing_tls_file_is_reported_by_its_variable(workdir: Path) -> None:
    done = leadflow("topics", cwd=workdir, env={"LEADFLOW_SSL_CAFILE": "/nowhere/ca.pem"})
    assert the_error(done, "topics") == (
        "LEADFLOW_SSL_CAFILE='/nowhere/ca.pem': Path does not point to a file"
    )


def test_a_tls_file_without_a_certificate_is_reported_by_its_variable(workdir: Path) -> None:
    (workdir / "ca.pem").write_text("not a certificate\n", encoding="utf-8")
    done = leadflow(
        "topics",
        cwd=workdir,
        env={"LEADFLOW_SECURITY_PROTOCOL": "SSL", "LEADFLOW_SSL_CAFILE": "ca.pem"},
    )
    assert the_error(done, "topics").startswith("LEADFLOW_SSL_CAFILE='ca.pem': no CA certificate")


def test_sasl_without_credentials_names_the_variables_it_needs(workdir: Path) -> None:
    done = leadflow("worker", cwd=workdir, env={"LEADFLOW_SECURITY_PROTOCOL": "SASL_SSL"})
    assert the_error(done, "worker") == (
        "LEADFLOW_SECURITY_PROTOCOL=SASL_SSL needs LEADFLOW_SASL_MECHANISM, "
        "LEADFLOW_SASL_USERNAME and LEADFLOW_SASL_PASSWORD"
    )


def test_bad_settings_are_reported_by_commands_without_kafka_too(
    workdir: Path, events: Path
) -> None:
    done = leadflow("replay", str(events), cwd=workdir, env={"LEADFLOW_PARTITIONS": "0"})
    assert the_error(done, "replay") == (
        "LEADFLOW_PARTITIONS='0': Input should be greater than or equal to 1"
    )


# ----------------------------------------------------------------------- config file


def test_a_config_error_names_the_key_with_its_section(workdir: Path, events: Path) -> None:
    config = workdir / "leadflow.yaml"
    config.write_text("funnel:\n  timezone: Mars/Olympus_Mons\n", encoding="utf-8")
    done = leadflow("replay", str(events), cwd=workdir, env={"LEADFLOW_CONFIG": str(config)})
    assert the_error(done, "replay") == (
        f"config file {config}: funnel.timezone: unknown time zone 'Mars/Olympus_Mons'"
    )


def test_each_config_error_gets_its_own_line(workdir: Path, events: Path) -> None:
    config = workdir / "leadflow.yaml"
    config.write_text("targets:\n  mql_to_sql_min_ratio: 1.5\n  win_rate: 0.3\n", encoding="utf-8")
    done = leadflow("replay", str(events), cwd=workdir, env={"LEADFLOW_CONFIG": str(config)})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"leadflow replay: config file {config}: targets.mql_to_sql_min_ratio: "
        "Input should be less than or equal to 1",
        f"leadflow replay: config file {config}: targets.win_rate: Extra inputs are not permitted",
    ]


def test_a_missing_config_file_is_reported(workdir: Path) -> None:
    done = leadflow("worker", cwd=workdir, env={"LEADFLOW_CONFIG": "nowhere.yaml"})
    assert the_error(done, "worker") == (
        "config file nowhere.yaml: cannot read it (No such file or directory)"
    )


def test_an_unreadable_config_file_is_reported(workdir: Path, events: Path) -> None:
    # A directory: unreadable as a file even for root, who ignores permission bits.
    done = leadflow("replay", str(events), cwd=workdir, env={"LEADFLOW_CONFIG": str(workdir)})
    assert the_error(done, "replay") == f"config file {workdir}: cannot read it (Is a directory)"


def test_a_config_file_in_another_encoding_is_reported(workdir: Path, events: Path) -> None:
    config = workdir / "leadflow.yaml"
    config.write_text("funnel:\n  timezone: Europe/Zürich\n", encoding="utf-16")
    done = leadflow("replay", str(events), cwd=workdir, env={"LEADFLOW_CONFIG": str(config)})
    assert the_error(done, "replay") == (
        f"config file {config}: not UTF-8 text (byte 0); save it as UTF-8"
    )


def test_a_config_file_that_is_not_yaml_is_reported_with_its_line(
    workdir: Path, events: Path
) -> None:
    config = workdir / "leadflow.yaml"
    config.write_text("targets:\n  closed_deals: {month: 50\n", encoding="utf-8")
    done = leadflow("replay", str(events), cwd=workdir, env={"LEADFLOW_CONFIG": str(config)})
    assert the_error(done, "replay").startswith(f"config file {config}: not valid YAML at line 3")


# ------------------------------------------------------------------------ input files


def test_produce_reports_a_missing_file_before_trying_kafka(workdir: Path) -> None:
    done = leadflow(
        "produce", "events.jsonl", cwd=workdir, env={"LEADFLOW_KAFKA_BOOTSTRAP": UNREACHABLE}
    )
    assert the_error(done, "produce") == "cannot read events.jsonl (No such file or directory)"


def test_replay_reports_a_missing_file(workdir: Path) -> None:
    done = leadflow("replay", "events.jsonl", cwd=workdir)
    assert the_error(done, "replay") == "cannot read events.jsonl (No such file or directory)"


def test_replay_reports_a_directory_given_as_the_file(workdir: Path) -> None:
    done = leadflow("replay", str(workdir), cwd=workdir)
    assert the_error(done, "replay") == f"cannot read {workdir} (Is a directory)"


def test_replay_reports_lines_in_another_encoding_by_number(workdir: Path) -> None:
    latin = workdir / "latin1.jsonl"
    latin.write_bytes(
        b'{"event_id": "e1", "type": "lead.created", "lead_id": "L\xe9", '
        b'"occurred_at": "2026-03-02T10:00:00Z", "source": "web"}\n'
    )
    done = leadflow("replay", str(latin), cwd=workdir)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == "line 1: not-utf8: invalid UTF-8 at byte 56"


def test_generate_reports_an_output_file_it_cannot_create(workdir: Path) -> None:
    done = leadflow("generate", "--events", "10", "--out", "missing/events.jsonl", cwd=workdir)
    assert the_error(done, "generate") == (
        "cannot write missing/events.jsonl (No such file or directory)"
    )


# -------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("given", ["2026-11-01", "2026-11-01Z"])
def test_generate_suggests_an_end_it_accepts(workdir: Path, given: str) -> None:
    done = leadflow("generate", "--end", given, cwd=workdir)
    message = the_usage_error(done)
    assert message.startswith("argument --end: ")
    assert message.endswith("e.g. 2026-11-01T00:00:00Z")
    again = leadflow("generate", "--events", "10", "--end", "2026-11-01T00:00:00Z", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert len(again.stdout.splitlines()) >= 10


def test_replay_suggests_an_as_of_with_an_offset(workdir: Path, events: Path) -> None:
    done = leadflow("replay", str(events), "--as-of", "2026-03-31T23:59:59", cwd=workdir)
    assert the_usage_error(done) == (
        "argument --as-of: needs a time zone offset: '2026-03-31T23:59:59'; "
        "e.g. 2026-03-31T23:59:59Z"
    )


def test_generate_refuses_an_end_in_the_future(workdir: Path) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    done = leadflow("generate", "--end", tomorrow.isoformat(), cwd=workdir)
    assert "is in the future" in the_error(done, "generate")


def test_demo_refuses_metrics_ports_that_are_not_numbers(workdir: Path) -> None:
    done = leadflow("demo", "--metrics-ports", "9108,next", cwd=workdir)
    assert the_usage_error(done) == "argument --metrics-ports: not a list of ports: '9108,next'"


# -------------------------------------------------------------------------------- pipes


@pytest.mark.parametrize(
    "args",
    [("schema",), ("generate", "--events", "2000", "--end", "2026-11-01T00:00:00Z")],
    ids=["schema", "generate"],
)
def test_a_reader_that_went_away_stops_the_command_quietly(
    workdir: Path, args: tuple[str, ...]
) -> None:
    # What `leadflow schema | head -1` does, without the race: the read end is closed
    # before the command writes anything.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = leadflow(*args, cwd=workdir, stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert done.stderr == ""


# -------------------------------------------------------------------------------- Kafka


@pytest.mark.parametrize("command", ["worker", "topics"])
def test_an_unreachable_broker_is_reported_with_the_setting_to_fix(
    workdir: Path, command: str, busy_port: int
) -> None:
    env = {"LEADFLOW_KAFKA_BOOTSTRAP": UNREACHABLE}
    if command == "worker":
        env["LEADFLOW_METRICS_PORT"] = "0"
    done = leadflow(command, cwd=workdir, env=env)
    assert the_error(done, command) == (
        f"cannot reach Kafka at {UNREACHABLE}: connection refused: nothing is listening "
        "there (set LEADFLOW_KAFKA_BOOTSTRAP, or start one: leadflow broker start)"
    )


def test_a_bootstrap_port_that_is_not_kafka_is_reported_as_unreachable(
    workdir: Path, not_kafka: str
) -> None:
    done = leadflow(
        "worker",
        cwd=workdir,
        env={"LEADFLOW_KAFKA_BOOTSTRAP": not_kafka, "LEADFLOW_METRICS_PORT": "0"},
    )
    assert the_error(done, "worker").startswith(f"cannot reach Kafka at {not_kafka}: ")


# ------------------------------------------------------------------- ports and folders


def test_a_metrics_port_in_use_is_reported_by_its_variable(workdir: Path, busy_port: int) -> None:
    done = leadflow("worker", cwd=workdir, env={"LEADFLOW_METRICS_PORT": str(busy_port)})
    assert the_error(done, "worker") == (
        f"port {busy_port} on 127.0.0.1 is already in use; choose another with "
        "LEADFLOW_METRICS_PORT"
    )


def test_a_metrics_host_that_does_not_exist_is_reported(workdir: Path) -> None:
    done = leadflow("worker", cwd=workdir, env={"LEADFLOW_METRICS_HOST": "no-such-host.invalid"})
    assert the_error(done, "worker").startswith("cannot listen on no-such-host.invalid: ")


def test_the_demo_checks_its_ports_before_starting_anything(workdir: Path, busy_port: int) -> None:
    done = leadflow("demo", "--metrics-ports", f"{busy_port},{free_port()}", cwd=workdir)
    assert the_error(done, "demo") == (
        f"port {busy_port} on 127.0.0.1 is already in use; choose another with --metrics-ports"
    )
    assert not (workdir / "var" / "demo" / "kafka").exists()


def test_the_local_broker_reports_its_port_in_use(workdir: Path, busy_port: int) -> None:
    done = leadflow("broker", "start", "--port", str(busy_port), cwd=workdir)
    assert the_error(done, "broker") == (
        f"port {busy_port} on 127.0.0.1 is already in use; choose another with --port"
    )


def test_a_data_dir_that_cannot_be_created_is_reported_by_its_variable(workdir: Path) -> None:
    (workdir / "state").write_text("a file, not a folder", encoding="utf-8")
    done = leadflow("worker", cwd=workdir, env={"LEADFLOW_DATA_DIR": "state/leadflow"})
    assert the_error(done, "worker") == (
        "cannot create the data directory state/leadflow (Not a directory); set LEADFLOW_DATA_DIR"
    )
