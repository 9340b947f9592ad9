"""The fault harness: chaotic input, workers, a fault while producing, and the three checks.

One case runs like this:

1. N workers start (one group join); a gate sampler scrapes them every half second.
2. A paced producer sends the chaotic input (duplicates, late `lead.created`, shuffles,
   invalid lines) over a few tens of seconds while the case's fault is injected.
3. Once the input is all sent and the fault is over, the checks:
   (a) summed over workers, the additive series equal `leadflow replay` of the input;
   (b) every invalid element of the input is in the dead-letter topic (read_committed),
       with replay's reason;
   (c) after a restart of every worker (state from the changelog only), (a) again.

Waiting is bounded: a pipeline that stops changing while the gate says "complete" and the
sums are still wrong fails after `stuck_after` seconds (lag stuck, or caught up but wrong)
instead of waiting out the whole timeout.

Per case the harness records the recover time (fault end to exact sums), how long the
coverage gate (Σ `leadflow_partitions_owned` * `leadflow_ready` = `leadflow_lead_partitions`)
was open and closed, and the samples where the gate was open, the group had committed
every input offset, and the sums were still wrong (the boards would have shown a wrong
figure as complete).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from devtools.broker import LocalKafka, free_port
from devtools.generate import GeneratorSpec, generate_events, write_events
from events import Rejection, decode, now_micros
from events.batch import split_batch
from leadflow.config import load_funnel
from leadflow.produce import Sender, lines
from leadflow.replay import replay_lines
from streams import deadletter
from streams.security import kafka_python_config
from streams.settings import WorkerSettings
from streams.topics import ensure_topics
from tests.streaming import (
    Deployment,
    SeriesKey,
    WorkerProcess,
    differences,
    parse_series,
    replayed,
)

Diff = dict[SeriesKey, tuple[float | None, float | None]]
GATE_METRICS = ("leadflow_partitions_owned", "leadflow_ready", "leadflow_lead_partitions")


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class MessageMode:
    """How the input travels: `leadflow produce --batch B --key K`."""

    name: str
    batch: int
    key: str


# One event per message with random keys: most events take the by-lead detour, as in the
# issue's reproduction. Bulk: 200 events per message, sent to their lead's partition.
SINGLE = MessageMode("single", batch=1, key="random")
BULK = MessageMode("bulk", batch=200, key="lead")


@dataclass(frozen=True)
class FaultInput:
    path: Path
    lines: int
    dead_letters: frozenset[tuple[bytes, str]]  # (element bytes, replay's reason)


def chaotic_input(
    path: Path, seed: int, events: int = 14_000, bad_lines: float = 0.02
) -> FaultInput:
    """~`events` chaotic events plus about `bad_lines` of invalid lines, and what replay rejects."""
    spec = GeneratorSpec(seed=seed, events=events, chaos=True)
    with path.open("wb") as out:
        stats = write_events(generate_events(spec), out, bad_lines=bad_lines, seed=seed)
    return FaultInput(path, stats.lines, expected_dead_letters(path))


def expected_dead_letters(path: Path) -> frozenset[tuple[bytes, str]]:
    """The elements `leadflow replay` reports as bad, as the bytes a worker dead-letters.

    Replay reports line numbers; a line is dead-lettered whole, or, if it is a bulk array,
    each bad element alone. The producer strips line ends, so the bytes do too.
    """
    funnel = load_funnel(None)
    bad_numbers: dict[int, str] = {}
    with path.open("rb") as source:
        replay_lines(
            source,
            funnel,
            now_us=now_micros(),
            on_bad=lambda number, rejection: bad_numbers.setdefault(number, rejection.reason),
        )
    found: set[tuple[bytes, str]] = set()
    now = now_micros()
    with path.open("rb") as source:
        for number, raw in enumerate(source, start=1):
            if number not in bad_numbers:
                continue
            line = raw.rstrip(b"\r\n")
            elements = split_batch(line)
            if elements is None:
                found.add((line, str(bad_numbers[number])))
                continue
            for element in elements:
                decoded = decode(element, funnel.vocabulary, now)
                if isinstance(decoded, Rejection):
                    found.add((element, str(decoded.reason)))
    return frozenset(found)


# --------------------------------------------------------------------------- Kafka reads


def read_dead_letters(bootstrap: str, topic: str) -> set[tuple[bytes, str]]:
    """Every committed dead letter as (value, reason); read_committed, as a user would."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
        consumer_timeout_ms=4_000,
    )
    try:
        return {
            (message.value, dict(message.headers).get(deadletter.REASON, b"").decode())
            for message in consumer
        }
    finally:
        consumer.close()


class GroupLag:
    """The workers' consumer group: input offsets not yet committed, per topic."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.topics = (deployment.topic, f"{deployment.name}-events-by-lead")
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def __call__(self) -> dict[str, int] | None:
        """Lag per topic, or None if the broker could not say (down, restarting)."""
        try:
            if self._admin is None:
                config = {
                    "bootstrap_servers": self.deployment.bootstrap,
                    "request_timeout_ms": 3000,
                }
                self._admin = KafkaAdminClient(**config)
                self._consumer = KafkaConsumer(
                    **config, enable_auto_commit=False, isolation_level="read_committed"
                )
            assert self._consumer is not None
            parts = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in range(self.deployment.partitions)
            ]
            ends = self._consumer.end_offsets(parts)
            group = self.deployment.name
            committed = self._admin.list_group_offsets({group: None}).get(group, {})
        except Exception:  # any broker trouble: unknown now, ask again with fresh clients
            self.close()
            return None
        lag = dict.fromkeys(self.topics, 0)
        try:
            for tp in parts:
                done = committed.get(tp)
                start = done.offset if done else 0
                end = ends.get(tp, 0)
                if end > start:
                    transactional = tp.topic == self.topics[1]
                    lag[tp.topic] += (
                        self._records_after(tp, start, end) if transactional else end - start
                    )
        except Exception:
            self.close()
            return None
        return lag

    def _records_after(self, tp: TopicPartition, start: int, end: int) -> int:
        """Committed records in [start, end). Transactional topics (by-lead) end in commit
        markers, which take offsets but are never delivered nor committed past."""
        assert self._consumer is not None
        self._consumer.assign([tp])
        self._consumer.seek(tp, start)
        count = 0
        deadline = time.monotonic() + 5
        while self._consumer.position(tp) < end and time.monotonic() < deadline:
            for records in self._consumer.poll(timeout_ms=500).values():
                count += sum(1 for record in records if record.offset < end)
        if self._consumer.position(tp) < end and count == 0:
            return end - start  # could not read: count it all
        return count

    def caught_up(self, lag: Mapping[str, int] | None) -> bool:
        """Every input record committed."""
        if lag is None:
            return False
        return all(value == 0 for value in lag.values())

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._admin = self._consumer = None


# --------------------------------------------------------------------------- producing


class PacedProducer(threading.Thread):
    """Sends the input with `leadflow produce`'s own Sender: a burst, then a steady trickle.

    The first `burst` fraction goes out at full speed, so the workers have a backlog (a
    fault then hits a worker with fetched, unprocessed and uncommitted events, as a
    backfill or a catch-up would); the rest is spread evenly over `seconds`.

    If the broker fails the send (broker case), the whole input is sent again: duplicates
    change nothing, and a repeated bad line may be dead-lettered twice, which is allowed.
    """

    def __init__(
        self,
        deployment: Deployment,
        source: FaultInput,
        mode: MessageMode,
        seconds: float,
        burst: float = 0.4,
    ) -> None:
        super().__init__(name="paced-producer", daemon=True)
        self.deployment, self.source, self.mode, self.seconds = deployment, source, mode, seconds
        self.burst = burst
        self.sent = 0
        self.attempts = 0
        self.errors: list[str] = []
        self.done = threading.Event()

    @property
    def progress(self) -> float:
        return self.sent / max(1, self.source.lines)

    def wait_for(self, fraction: float, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.progress < fraction and not self.done.is_set():
            if time.monotonic() > deadline:
                raise AssertionError(f"producer stuck at {self.progress:.0%}")
            time.sleep(0.1)

    def run(self) -> None:
        try:
            while self.attempts < 3:
                self.attempts += 1
                try:
                    self._send_all()
                    return
                except Exception as error:  # recorded; then the whole input again
                    self.errors.append(f"attempt {self.attempts}: {error!r}")
                    time.sleep(2)
        finally:
            self.done.set()

    def _send_all(self) -> None:
        deployment = self.deployment
        settings = WorkerSettings(
            kafka_bootstrap=deployment.bootstrap,
            topic=deployment.topic,
            dlq_topic=deployment.dlq_topic,
            app_id=deployment.name,
            partitions=deployment.partitions,
        )
        partitions = ensure_topics(settings)[deployment.topic]
        producer = KafkaProducer(
            acks="all",
            linger_ms=20,
            batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            **kafka_python_config(settings),
        )
        sender = Sender(producer, deployment.topic, partitions, self.mode.batch, self.mode.key)
        burst = int(self.source.lines * self.burst)
        rate = (self.source.lines - burst) / self.seconds
        self.sent = 0
        trickle_started = time.monotonic()
        try:
            with self.source.path.open("rb") as stream:
                for number, line in lines(stream):
                    sender.send(line, number)
                    self.sent += 1
                    if self.sent == burst:
                        sender.close()  # the partly filled bulk messages, then flush
                        trickle_started = time.monotonic()
                    elif self.sent > burst and self.sent % 50 == 0:
                        due = (self.sent - burst) / rate
                        ahead = due - (time.monotonic() - trickle_started)
                        if ahead > 0:
                            time.sleep(ahead)
                sender.close()
        finally:
            producer.close(timeout=10)


# --------------------------------------------------------------------------- the gate


@dataclass
class Scrape:
    owned_ready: float
    lead_partitions: float
    texts: list[str]

    @property
    def gate_open(self) -> bool:
        return self.lead_partitions > 0 and self.owned_ready == self.lead_partitions

    @functools.cached_property
    def sums(self) -> dict[SeriesKey, float]:
        """The additive series summed over the scraped workers (parsed only when asked)."""
        total: dict[SeriesKey, float] = {}
        for text in self.texts:
            for key, value in parse_series(text).items():
                total[key] = total.get(key, 0.0) + value
        return {key: value for key, value in total.items() if value}


def gate_values(text: str) -> dict[str, float]:
    """The three gate gauges of one scrape, read line by line (no full parse)."""
    values = dict.fromkeys(GATE_METRICS, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in values:
            values[name] = float(value)
    return values


def scrape_all(workers: list[WorkerProcess], strict: bool = False) -> Scrape:
    """What Prometheus would see: workers that are down or paused are simply not there.

    `strict`: a worker that exited although the harness did not stop it raises.
    """
    owned_ready = 0.0
    lead_partitions = 0.0
    texts = []
    for worker in workers:
        if worker.paused or worker.process is None:
            continue
        if not worker.running and not strict:
            continue
        text = worker.scrape_text(timeout=2)
        if not text:
            continue
        gate = gate_values(text)
        owned_ready += gate["leadflow_partitions_owned"] * gate["leadflow_ready"]
        lead_partitions = max(lead_partitions, gate["leadflow_lead_partitions"])
        texts.append(text)
    return Scrape(owned_ready, lead_partitions, texts)


@dataclass
class GateRecord:
    open_s: float = 0.0
    closed_s: float = 0.0
    samples: int = 0
    # Gate open, every input offset committed, input all sent, and yet sums != replay.
    open_caught_up_wrong: int = 0
    open_caught_up_wrong_max_series: int = 0


class GateSampler(threading.Thread):
    """Samples the coverage gate every `interval` seconds into the current phase's record."""

    def __init__(self, workers: list[WorkerProcess], lag: GroupLag, interval: float = 0.5) -> None:
        super().__init__(name="gate-sampler", daemon=True)
        self.workers, self.lag, self.interval = workers, lag, interval
        self.records: dict[str, GateRecord] = {}
        self.phase = "fault"
        self.expected: dict[SeriesKey, float] | None = None  # set once all input is sent
        self._halt = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        while not self._halt.wait(self.interval):
            try:
                scrape = scrape_all(list(self.workers))
            except AssertionError:  # a worker exited; the harness reports that itself
                continue
            now = time.monotonic()
            record = self.records.setdefault(self.phase, GateRecord())
            record.samples += 1
            if scrape.gate_open:
                record.open_s += now - last
                expected = self.expected
                if expected is not None and self.lag.caught_up(self.lag()):
                    wrong = differences(scrape.sums, expected)
                    if wrong:
                        record.open_caught_up_wrong += 1
                        record.open_caught_up_wrong_max_series = max(
                            record.open_caught_up_wrong_max_series, len(wrong)
                        )
            else:
                record.closed_s += now - last
            last = now

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)
        self.lag.close()


# --------------------------------------------------------------------------- settling


@dataclass
class Settled:
    exact: bool
    seconds: float
    diff: Diff
    why: str  # "exact", or why the wait ended without it

    def describe(self, examples: int = 3) -> str:
        if self.exact:
            return f"exact after {self.seconds:.1f}s"
        return f"{self.why} after {self.seconds:.1f}s: {describe_diff(self.diff, examples)}"


def describe_diff(diff: Diff, examples: int = 3) -> str:
    extra = sum(1 for live, want in diff.values() if not want)
    missing = sum(1 for live, want in diff.values() if not live)
    shown = []
    for (name, labels), (live, want) in sorted(diff.items(), key=str)[:examples]:
        rendered = ",".join(f"{k}={v}" for k, v in sorted(labels))
        shown.append(f"{name}{{{rendered}}} live={live} replay={want}")
    return (
        f"{len(diff)} series differ ({extra} should not exist, {missing} absent); e.g. "
        + "; ".join(shown)
    )


def settle(
    workers: list[WorkerProcess],
    source: Path,
    lag: GroupLag,
    timeout: float = 240,
    stuck_after: float = 25,
) -> Settled:
    """Wait for the summed series to equal replay's, within bounds.

    Ends early, not exact, when the gate has been open and the sums unchanged for
    `stuck_after` seconds: the pipeline has stopped (lag stuck) or caught up wrong.
    """
    started = time.monotonic()
    expected = replayed(source)
    last_sums: dict[SeriesKey, float] | None = None
    unchanged_since = started
    diff: Diff = {}
    while True:
        now = time.monotonic()
        try:
            scrape = scrape_all(workers, strict=True)
        except AssertionError as exited:
            return Settled(False, now - started, diff, f"a worker exited ({exited})")
        diff = differences(scrape.sums, expected) if scrape.gate_open else diff
        if scrape.gate_open and not diff:
            return Settled(True, now - started, {}, "exact")
        if scrape.sums != last_sums or not scrape.gate_open:
            last_sums, unchanged_since = scrape.sums, now
        if scrape.gate_open and now - unchanged_since > stuck_after:
            expected = replayed(source)  # a period boundary may have passed meanwhile
            diff = differences(scrape.sums, expected)
            if not diff:
                return Settled(True, now - started, {}, "exact")
            lagging = lag()
            state = "caught up but wrong" if lag.caught_up(lagging) else "stuck"
            return Settled(False, now - started, diff, f"{state} (uncommitted input {lagging})")
        if now - started > timeout:
            gate = "open" if scrape.gate_open else "closed"
            return Settled(False, now - started, diff, f"timed out, gate {gate}")
        time.sleep(1.0)


def drain(lag: GroupLag, timeout: float = 30) -> tuple[bool, dict[str, int] | None]:
    """Wait for the group to commit every input offset: a stuck partition shows here even
    when what it holds back happens to change no sum."""
    deadline = time.monotonic() + timeout
    while True:
        left = lag()
        if lag.caught_up(left) or time.monotonic() > deadline:
            return lag.caught_up(left), left
        time.sleep(1.0)


# --------------------------------------------------------------------------- a case


@dataclass
class CaseResult:
    case: str
    mode: str
    events_lines: int
    produce_s: float = 0.0
    fault_s: float = 0.0
    settle: str = ""
    exact: bool = False
    recover_s: float | None = None  # fault end to exact sums
    catch_up_s: float | None = None  # last event sent to exact sums
    lag_drained: bool = False  # every input offset committed once the sums were exact
    lag_left: dict[str, int] | None = None
    dlq_expected: int = 0
    dlq_missing: int = 0
    dlq_missing_examples: list[str] = field(default_factory=list)
    dlq_unexpected: int = 0
    restart_settle: str = ""
    restart_exact: bool = False
    restart_s: float | None = None  # restart of every worker to exact sums
    gate: dict[str, dict[str, float]] = field(default_factory=dict)
    producer_errors: list[str] = field(default_factory=list)
    total_s: float = 0.0

    def summary(self) -> str:
        gate = self.gate.get("fault", {})
        recover = (
            f"{self.recover_s:.1f}s after the fault, {self.catch_up_s:.1f}s after the last send"
            if self.recover_s is not None and self.catch_up_s is not None
            else "never"
        )
        restart = f"{self.restart_s:.1f}s" if self.restart_s is not None else "never"
        return (
            f"[fault matrix] {self.case}/{self.mode}: "
            f"{'EXACT' if self.exact else 'WRONG'} (recover {recover}), "
            f"lag {'drained' if self.lag_drained else f'left {self.lag_left}'}, "
            f"DLQ missing {self.dlq_missing}/{self.dlq_expected}, "
            f"after restart-all {'EXACT' if self.restart_exact else 'WRONG'} ({restart}); "
            f"gate open {gate.get('open_s', 0):.1f}s closed {gate.get('closed_s', 0):.1f}s, "
            f"open+caught-up+wrong samples {gate.get('open_caught_up_wrong', 0)}; "
            f"case {self.total_s:.0f}s"
        )

    def failures(self) -> list[str]:
        problems = []
        if not self.exact:
            problems.append(f"(a) summed workers != replay: {self.settle}")
        if self.exact and not self.lag_drained:
            problems.append(f"(a) sums exact, but input never committed: lag {self.lag_left}")
        if self.dlq_missing:
            problems.append(
                f"(b) {self.dlq_missing} of {self.dlq_expected} bad elements missing from the "
                f"DLQ, e.g. {self.dlq_missing_examples}"
            )
        if not self.restart_exact:
            problems.append(f"(c) after a restart of every worker: {self.restart_settle}")
        return problems


@dataclass
class FaultContext:
    """What a fault may touch while the input is being produced."""

    deployment: Deployment
    workers: list[WorkerProcess]
    producer: PacedProducer
    broker: BrokerUnderTest | None = None


Fault = Callable[[FaultContext], None]


def run_fault_case(
    case: str,
    deployment: Deployment,
    mode: MessageMode,
    source: FaultInput,
    workers: int,
    fault: Fault,
    produce_seconds: float,
    broker: BrokerUnderTest | None = None,
    report: Path | None = None,
) -> CaseResult:
    """Start `workers`, produce while `fault` runs, then check (a), (b) and (c)."""
    began = time.monotonic()
    result = CaseResult(case, mode.name, source.lines)
    pool = [deployment.worker(chr(ord("a") + i)) for i in range(workers)]
    deployment.start_workers(pool)
    lag = GroupLag(deployment)
    sampler = GateSampler(deployment.workers, GroupLag(deployment))
    sampler.start()
    producer = PacedProducer(deployment, source, mode, produce_seconds)
    try:
        producer.start()
        fault_started = time.monotonic()
        fault(FaultContext(deployment, deployment.workers, producer, broker))
        fault_ended = time.monotonic()
        result.fault_s = fault_ended - fault_started
        producer.join(timeout=300)
        produced = time.monotonic()
        result.produce_s = produced - fault_started
        result.producer_errors = producer.errors
        assert producer.done.is_set(), "the producer did not finish within 300 s"
        sampler.expected = replayed(source.path)

        settled = settle(deployment.workers, source.path, lag)
        result.exact, result.settle = settled.exact, settled.describe()
        if settled.exact:
            result.recover_s = time.monotonic() - fault_ended
            result.catch_up_s = time.monotonic() - produced
            result.lag_drained, result.lag_left = drain(lag)
        else:
            result.lag_left = lag()

        letters = read_dead_letters(deployment.bootstrap, deployment.dlq_topic)
        missing = source.dead_letters - letters
        result.dlq_expected = len(source.dead_letters)
        result.dlq_missing = len(missing)
        result.dlq_missing_examples = [
            f"{reason}: {raw[:80]!r}" for raw, reason in sorted(missing)[:3]
        ]
        result.dlq_unexpected = len(
            {raw for raw, _ in letters} - {raw for raw, _ in source.dead_letters}
        )

        sampler.phase = "restart"
        restarted = time.monotonic()
        deployment.stop_workers()
        deployment.start_workers(deployment.workers)
        again = settle(deployment.workers, source.path, lag)
        result.restart_exact, result.restart_settle = again.exact, again.describe()
        if again.exact:
            result.restart_s = time.monotonic() - restarted
    finally:
        sampler.stop()
        lag.close()
        result.gate = {phase: asdict(record) for phase, record in sampler.records.items()}
        result.total_s = time.monotonic() - began
        print(result.summary(), flush=True)
        if report is not None:
            with report.open("a") as out:
                out.write(json.dumps(asdict(result)) + "\n")
    return result


# --------------------------------------------------------------------------- the broker


class BrokerUnderTest:
    """A case's own broker, on fixed ports and a data dir that outlive a SIGKILL."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port, self.controller_port = free_port(), free_port()
        self.current: LocalKafka | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        broker = LocalKafka(
            port=self.port, controller_port=self.controller_port, data_dir=self.data_dir
        )
        self.current = broker.start(timeout=120)

    def hard_kill(self) -> None:
        """SIGKILL the JVM by its PID: no clean shutdown, no flush of the log."""
        assert self.current is not None and self.current.pid is not None
        os.kill(self.current.pid, signal.SIGKILL)
        self.current.wait()  # reaps it; the ports and the data dir's lock are free again
        self.current = None  # its stop() would only remove the next broker's PID file

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


@contextlib.contextmanager
def own_broker(data_dir: Path) -> Iterator[BrokerUnderTest]:
    broker = BrokerUnderTest(data_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
