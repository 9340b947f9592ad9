"""Process helpers shared by the measurements: names, child processes, workers, producing.

Children run in their own session, so a Ctrl-C in the terminal reaches the harness only
and the harness stops every child itself, by PID, in `finally` blocks (and once more at
exit, for anything a crash left behind).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

ROOT = Path(__file__).resolve().parents[1]  # the checkout: default results dir
_source = ROOT  # where children import the project from: a snapshot during a run
PARTITIONS = 6  # the worker's default LEADFLOW_PARTITIONS; every topic here uses it

T = TypeVar("T")


class BenchError(RuntimeError):
    """A measurement could not complete (timeout, crashed child, unexpected output)."""


# --------------------------------------------------------------------------- run context


@dataclass(frozen=True)
class Sizes:
    """Every size a measurement uses; `--quick` swaps in the small set."""

    throughput_events: int = 300_000  # as in the reference figures (NOTES.md)
    latency_rate: float = 5_000.0
    latency_seconds: float = 60.0
    startup_backlog: int = 1_000
    restart_leads: int = 1_000_000
    replay_events: int = 1_000_000
    bulk_batch: int = 500  # events per bulk message, if `leadflow produce --batch` exists
    restart_separate_fills: bool = False  # fill each store by processing (2x the time)
    # Bare Faust and one worker, run alternately this many times: the worker/Faust
    # ratio is a median, since one pair on this machine swings by +-6 points.
    ratio_pairs: int = 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            ratio_pairs=1,
            throughput_events=30_000,
            latency_seconds=15.0,
            restart_leads=50_000,
            replay_events=100_000,
        )


@dataclass
class Context:
    """What every measurement gets: the broker, where to log, where to put big files."""

    bootstrap: str
    run_dir: Path  # logs, profiles: kept
    work_dir: Path  # generated inputs, worker data dirs: deleted after the run
    sizes: Sizes
    profile: bool = False
    seed: int = 7
    broker_pid: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)  # results other measurements reuse

    def names(self, label: str) -> Names:
        return Names(f"bench-{label}-{uuid.uuid4().hex[:8]}")

    def log_path(self, name: str) -> Path:
        path = self.run_dir / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Names:
    """A fresh app id and its topics: nothing is shared between measurements."""

    app_id: str

    @property
    def topic(self) -> str:
        return f"{self.app_id}-events"

    @property
    def dlq(self) -> str:
        return f"{self.app_id}-dlq"


def use_source(path: Path) -> None:
    """Run every child from this copy of the tree (see bench.snapshot)."""
    global _source
    _source = path


def source_root() -> Path:
    return _source


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def base_env() -> dict[str, str]:
    # The repo root on the path: the harness must work from a checkout without `pip install`.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_source), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def leadflow_env(ctx: Context, names: Names, **extra: str) -> dict[str, str]:
    env = base_env()
    # Inherited LEADFLOW_* settings (a developer's shell) must not leak into a measurement.
    for key in [k for k in env if k.startswith("LEADFLOW_")]:
        del env[key]
    env.update(
        LEADFLOW_KAFKA_BOOTSTRAP=ctx.bootstrap,
        LEADFLOW_APP_ID=names.app_id,
        LEADFLOW_TOPIC=names.topic,
        LEADFLOW_DLQ_TOPIC=names.dlq,
        LEADFLOW_PARTITIONS=str(PARTITIONS),
        LEADFLOW_METRICS_HOST="127.0.0.1",
    )
    env.update(extra)
    return env


def free_port() -> int:
    from devtools.broker import free_port as broker_free_port

    return broker_free_port()


# --------------------------------------------------------------------------- processes

_LIVE: dict[int, Child] = {}


class Child:
    """A child process with its output in a log file, stopped by PID."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd or _source
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.monotonic() just before the fork

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError(f"{self.name} not started")
        return self.proc.pid

    def start(self) -> Child:
        with self.log_path.open("ab") as out:
            out.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(self.cmd)}\n".encode())
            out.flush()
            self.started_at = time.monotonic()
            # A session of its own: Ctrl-C goes to the harness, which stops children itself.
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE[self.proc.pid] = self
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"{self.name} (PID {self.proc.pid}) exited with {self.proc.returncode}:\n"
                f"{self.tail()}"
            )

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGTERM) -> float | None:
        """Signal by PID, wait, SIGKILL after `timeout`; return seconds to exit (None: killed)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            _LIVE.pop(proc.pid if proc else -1, None)
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
            took: float | None = time.monotonic() - started
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            took = None
        _LIVE.pop(proc.pid, None)
        return took

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{self.name} still running after {timeout:.0f}s") from exc

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def proc_status(self) -> dict[str, int]:
        """VmHWM/VmRSS etc. in KiB from /proc/PID/status (empty once the process is gone)."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return {}
        values: dict[str, int] = {}
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if key.startswith("Vm") and len(parts) == 2 and parts[1] == "kB":
                values[key] = int(parts[0])
        return values

    def maps_mention(self, needle: str) -> bool:
        """Whether a shared object whose path contains `needle` is mapped (e.g. uvloop)."""
        try:
            return needle in Path(f"/proc/{self.pid}/maps").read_text()
        except OSError:
            return False


def stop_all() -> None:
    """Last resort at exit: every child still running, by PID."""
    for child in list(_LIVE.values()):
        child.stop(timeout=10.0)


atexit.register(stop_all)


@contextlib.contextmanager
def running(*children: Child, timeout: float = 60.0) -> Iterator[None]:
    """Stop the children (by PID) however the block ends."""
    try:
        yield
    finally:
        for child in children:
            child.stop(timeout)


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
    children: Iterable[Child] = (),
) -> T:
    """Poll `check` until it returns something other than None/False; fail loudly on timeout."""
    watched = list(children)
    deadline = time.monotonic() + timeout
    while True:
        for child in watched:
            child.check_alive()
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {c.name} ({c.log_path})\n{c.tail()}" for c in watched)
            raise BenchError(f"{what}: not reached within {timeout:.0f}s\n{tails}")
        time.sleep(interval)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def leadflow_cmd(*args: str) -> list[str]:
    return python_cmd("-m", "leadflow.cli", *args)


# --------------------------------------------------------------------------- workers


class WorkerProcess(Child):
    """One `leadflow worker` with its own metrics port and data dir."""

    def __init__(
        self,
        ctx: Context,
        names: Names,
        label: str,
        extra_env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        cmd: Sequence[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.data_dir = data_dir or ctx.work_dir / label
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = leadflow_env(
            ctx,
            names,
            LEADFLOW_METRICS_PORT=str(self.port),
            LEADFLOW_DATA_DIR=str(self.data_dir),
            **dict(extra_env or {}),
        )
        super().__init__(
            label,
            cmd or leadflow_cmd("worker", "--loglevel", "info"),
            env,
            ctx.log_path(label),
        )

    def get(self, path: str, timeout: float = 5.0) -> bytes | None:
        """GET a path on the worker's web port; None while it does not answer."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=timeout
            ) as response:
                return bytes(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def status(self, lead: str | None = None) -> dict[str, Any] | None:
        body = self.get("/status" if lead is None else f"/status?lead={lead}")
        if body is None:
            return None
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def done_count(self) -> int | None:
        """Events reflected in state: folded plus recognised duplicates (None: no answer)."""
        status = self.status()
        if status is None:
            return None
        return int(status.get("processed", 0) + status.get("duplicates", 0))

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Seconds from process start until /status says ready."""
        wait_for(
            lambda: (s := self.status()) is not None and bool(s.get("ready")),
            timeout,
            f"{self.name} ready",
            interval=0.05,
            children=[self],
        )
        return time.monotonic() - self.started_at


def wait_partitions_settled(workers: Sequence[WorkerProcess], timeout: float = 90.0) -> None:
    """Until all workers are ready and own disjoint partition sets covering every partition."""

    def settled() -> bool:
        owned: list[int] = []
        for worker in workers:
            status = worker.status()
            if status is None or not status.get("ready") or not status.get("partitions"):
                return False
            owned.extend(status["partitions"])
        return sorted(owned) == list(range(PARTITIONS))

    wait_for(settled, timeout, "partitions settled", interval=0.1, children=workers)


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # steal counted as busy: the machine was not ours then
    return total - idle, total


@dataclass
class CpuWindow:
    """CPU used by named processes and by the whole machine between two snapshots.

    Reported as cores: 1.0 is one CPU busy for the whole window. On a 2-core machine
    that shares the broker with the workers, this tells "slow" from "starved".
    """

    pids: dict[str, int]
    started: float = 0.0
    start_cpu: dict[str, float | None] = field(default_factory=dict)
    start_machine: tuple[float, float] = (0.0, 0.0)

    def begin(self) -> CpuWindow:
        self.started = time.monotonic()
        self.start_cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.start_machine = machine_busy()
        return self

    def end(self) -> dict[str, float | None]:
        span = max(time.monotonic() - self.started, 1e-9)
        cores: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            before, after = self.start_cpu.get(name), cpu_seconds(pid)
            cores[name] = None if before is None or after is None else (after - before) / span
        busy, total = machine_busy()
        cpus = os.cpu_count() or 1
        share = (busy - self.start_machine[0]) / max(total - self.start_machine[1], 1)
        machine = share * cpus
        # What the machine did besides the processes named here: other people's tests,
        # other brokers. The machine is shared, so this is the noise next to each figure.
        ours = sum(v for v in cores.values() if v is not None)
        cores["machine"] = machine
        cores["everything_else"] = max(0.0, machine - ours)
        return {name: None if v is None else round(v, 3) for name, v in cores.items()}


@dataclass
class Progress:
    """How a run of `expected` events went through worker state, seen by polling /status."""

    expected: int
    first_seen_at: float  # monotonic time of the first poll that saw any event done
    first_seen_count: int
    last_at: float  # monotonic time of the first poll that saw all events done
    samples: list[tuple[float, int]]
    cpu_cores: dict[str, float | None] = field(default_factory=dict)
    last_zero_at: float | None = None  # the last poll that still saw nothing done

    @property
    def coarse(self) -> bool:
        """Most of the run fell between two polls (a fast run, or a loop too busy to answer)."""
        return self.first_seen_count > 0.2 * self.expected or self.last_at <= self.first_seen_at

    @property
    def rate(self) -> float:
        if not self.coarse:
            # Events done by the first sighting are left out with their time: each end of
            # the window is then off by at most one poll interval.
            return (self.expected - self.first_seen_count) / (self.last_at - self.first_seen_at)
        # Bounded from the last poll that saw nothing: a lower bound on the rate.
        if self.last_zero_at is not None and self.last_at > self.last_zero_at:
            return self.expected / (self.last_at - self.last_zero_at)
        return float("nan")

    @property
    def seconds(self) -> float:
        return self.last_at - self.first_seen_at

    @property
    def window_start(self) -> float:
        """Earliest moment the run may have started: the last poll that saw nothing."""
        return self.last_zero_at if self.last_zero_at is not None else self.first_seen_at

    def summary(self, since: float) -> dict[str, Any]:
        step = max(1, len(self.samples) // 60)
        return {
            "events": self.expected,
            "rate_events_per_s": self.rate,
            "rate_is_lower_bound": self.coarse,
            "seconds_first_to_last": self.seconds,
            "first_seen_count": self.first_seen_count,
            "first_seen_after_s": self.first_seen_at - since,
            "cpu_cores_first_to_last": self.cpu_cores,
            "samples_t_count": [
                (round(t - since, 3), n) for t, n in self.samples[::step] + self.samples[-1:]
            ],
        }


def track(
    workers: Sequence[WorkerProcess],
    expected: int,
    timeout: float,
    interval: float = 0.05,
    broker_pid: int | None = None,
    extra_pids: Mapping[str, int] | None = None,
) -> Progress:
    """Poll the workers' /status until processed+duplicates summed equals `expected`.

    CPU use of the workers, the broker and this harness is measured over the same window.
    """
    pids = {worker.name: worker.pid for worker in workers}
    if broker_pid is not None:
        pids["broker"] = broker_pid
    pids["harness"] = os.getpid()
    pids.update(extra_pids or {})
    cpu = CpuWindow(pids)
    deadline = time.monotonic() + timeout
    first_at: float | None = None
    first_count = 0
    last_zero_at: float | None = None
    samples: list[tuple[float, int]] = []
    last_logged = time.monotonic()
    while True:
        for worker in workers:
            worker.check_alive()
        counts = [worker.done_count() for worker in workers]
        now = time.monotonic()
        if all(c is not None for c in counts):
            total = sum(c for c in counts if c is not None)
            samples.append((now, total))
            if total == 0:
                # The CPU window restarts until work shows up: it then spans the run.
                last_zero_at = now
                cpu.begin()
            if total > 0 and first_at is None:
                first_at, first_count = now, total
            if total >= expected:
                if total > expected:
                    raise BenchError(f"workers report {total} events done, expected {expected}")
                assert first_at is not None
                cores = cpu.end() if cpu.started else {}
                return Progress(expected, first_at, first_count, now, samples, cores, last_zero_at)
            if now - last_logged > 15:
                log(f"  ... {total:,}/{expected:,} events done")
                last_logged = now
        if now > deadline:
            done = samples[-1][1] if samples else 0
            tails = "\n".join(f"--- {w.name} ({w.log_path})\n{w.tail()}" for w in workers)
            raise BenchError(
                f"only {done:,} of {expected:,} events done after {timeout:.0f}s\n{tails}"
            )
        time.sleep(interval)


# --------------------------------------------------------------------------- topics, producing


def create_topics(ctx: Context, names: Names) -> dict[str, int]:
    """The project's own topic creation (events, by-lead, dead letters), before any producing.

    Producing into a topic Kafka auto-creates would work too, but this way the partition
    count is the worker's plan and not the broker default.
    """
    from streams.settings import WorkerSettings
    from streams.topics import ensure_topics

    settings = WorkerSettings(
        kafka_bootstrap=ctx.bootstrap,
        app_id=names.app_id,
        topic=names.topic,
        dlq_topic=names.dlq,
        partitions=PARTITIONS,
    )
    # A produce right after creation may see NotLeaderForPartition once; aiokafka
    # retries it, so the warning it logs is harmless.
    return ensure_topics(settings)


class ChangelogWatch:
    """End offsets of an app's table changelogs, to see when its state is durable.

    A worker reports an event as processed once it is folded in memory; the table write
    behind it sits in Faust's producer buffer until sent. Under load that buffer holds
    hundreds of thousands of writes (a restart or crash then loses or replays them), so
    the harness also times when the changelog stops growing.
    """

    def __init__(self, ctx: Context, names: Names) -> None:
        from kafka import KafkaConsumer

        self.app_id = names.app_id
        self.consumer = KafkaConsumer(bootstrap_servers=ctx.bootstrap, client_id="bench-watch")
        self.partitions: list[Any] | None = None

    def total(self) -> int | None:
        from kafka import TopicPartition

        if self.partitions is None:
            topics = [
                t
                for t in self.consumer.topics()
                if t.startswith(f"{self.app_id}-") and t.endswith("-changelog")
            ]
            found = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(self.consumer.partitions_for_topic(topic) or ())
            ]
            if not found:
                return None
            self.partitions = found
        return int(sum(self.consumer.end_offsets(self.partitions).values()))

    def wait_settled(
        self, at_least: int = 1, quiet: float = 3.0, timeout: float = 300.0
    ) -> tuple[float, int]:
        """(monotonic time of the last growth, records) once >= at_least and quiet that long."""
        deadline = time.monotonic() + timeout
        last_total: int | None = None
        changed_at = time.monotonic()
        while True:
            total = self.total()
            now = time.monotonic()
            if total != last_total:
                last_total, changed_at = total, now
            elif total is not None and total >= at_least and now - changed_at >= quiet:
                return changed_at, total
            if now > deadline:
                raise BenchError(
                    f"changelog of {self.app_id} not settled after {timeout:.0f}s "
                    f"({last_total} records, wanted >= {at_least})"
                )
            time.sleep(0.25)

    def close(self) -> None:
        self.consumer.close()


def lead_key(line: bytes) -> bytes | None:
    try:
        lead = orjson.loads(line).get("lead_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return lead.encode() if isinstance(lead, str) else None


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=1 << 20) as stream:
        for line in stream:
            stripped = line.rstrip(b"\r\n")
            if stripped:
                yield stripped


async def _produce(bootstrap: str, topic: str, lines: Iterable[bytes]) -> int:
    from aiokafka import AIOKafkaProducer

    from streams.partitioning import lead_partition

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",  # what `leadflow produce` uses
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        linger_ms=5,
    )
    await producer.start()
    sent = 0
    try:
        # Whole batches per partition, built here: per-message send() futures cost more
        # than the broker does, and the backlog should be ready quickly, not realistically.
        builders: dict[int, Any] = {}
        inflight: list[asyncio.Future[Any]] = []
        for line in lines:
            key = lead_key(line)
            # The same partition as kafka-python's default partitioner would pick for the
            # key (murmur2), so events land on their lead's partition as with `produce`.
            partition = lead_partition(key.decode(), PARTITIONS) if key else sent % PARTITIONS
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = producer.create_batch()
            if builder.append(key=key, value=line, timestamp=None) is None:
                inflight.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[partition] = producer.create_batch()
                if builder.append(key=key, value=line, timestamp=None) is None:
                    raise BenchError(f"message of {len(line)} bytes does not fit a batch")
                if len(inflight) > 64:
                    await asyncio.gather(*inflight)
                    inflight.clear()
            sent += 1
        for partition, builder in builders.items():
            if builder.record_count():
                inflight.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*inflight)
    finally:
        await producer.stop()
    return sent


def produce_file(ctx: Context, topic: str, path: Path) -> tuple[int, float]:
    """Send a JSON-lines file keyed by lead id; return (messages, seconds)."""
    started = time.monotonic()
    sent = asyncio.run(_produce(ctx.bootstrap, topic, read_lines(path)))
    return sent, time.monotonic() - started


def produce_cli(
    ctx: Context, names: Names, path: Path, extra: Sequence[str] = (), timeout: float = 600.0
) -> tuple[str, float]:
    """`leadflow produce FILE [extra]`: the project's own producer; returns (stdout, seconds)."""
    started = time.monotonic()
    done = subprocess.run(
        leadflow_cmd("produce", str(path), *extra),
        env=leadflow_env(ctx, names),
        cwd=_source,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"leadflow produce failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout, time.monotonic() - started


def bulk_args(ctx: Context) -> list[str]:
    """`leadflow produce` options for bulk messages, or [] if it cannot send them.

    Bulk messages are being added to the project while this harness exists, so the
    producer's own --help decides, once per run.
    """
    if "bulk_args" not in ctx.shared:
        done = subprocess.run(
            leadflow_cmd("produce", "--help"),
            env=base_env(),
            cwd=_source,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        match = re.search(r"--batch(?:[ =]([A-Z_]+))?", done.stdout + done.stderr)
        if match is None:
            ctx.shared["bulk_args"] = []
        elif match.group(1):  # takes a value: events per bulk message
            ctx.shared["bulk_args"] = ["--batch", str(ctx.sizes.bulk_batch)]
        else:
            ctx.shared["bulk_args"] = ["--batch"]
    args: list[str] = ctx.shared["bulk_args"]
    return args


# --------------------------------------------------------------------------- histograms, stats


def histogram_buckets(metrics_text: str, name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) pairs of a histogram from a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return sorted(buckets.items())


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # as Prometheus does: the highest finite bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def bucket_bounds(q: float, buckets: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The (lower, upper) bounds of the bucket holding quantile q: how coarse the estimate is."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower = 0.0
    for bound, count in buckets:
        if count >= rank:
            return lower, bound
        lower = bound
    return lower, float("inf")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile of raw samples (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    if math.isinf(ordered[high]):
        return math.inf  # a sample never completed: the percentile is unbounded
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _strict(value: Any) -> Any:
    """NaN and infinities as strings: JSON has no such numbers and strict parsers refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_strict(value), indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n")
