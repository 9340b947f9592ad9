"""The fault matrix: whatever happens to workers or the broker, the sums stay exact.

Every case produces ~14,000 chaotic events (duplicates, late `lead.created`, shuffled
arrival, ~2% invalid lines) while its fault happens, then checks that (a) the workers'
summed series equal `leadflow replay` of the input, (b) every invalid element is in the
dead-letter topic, and (c) a restart of every worker, restoring from the changelog only,
gives the same exact sums. See tests/faults.py for the harness and what it records.

Run: `.venv/bin/python -m pytest -m faults -s` (one line per case; JSON in the pytest tmp
dir, path printed at the end).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import (
    BULK,
    SINGLE,
    CaseResult,
    FaultContext,
    MessageMode,
    chaotic_input,
    own_broker,
    run_fault_case,
)
from tests.streaming import Deployment, WorkerProcess, counter, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

SESSION_TIMEOUT_S = 10  # the worker's default LEADFLOW_SESSION_TIMEOUT


def modes(*chosen: MessageMode) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("mode", chosen, ids=lambda mode: mode.name)


# The whole matrix must fit in ~15 minutes on a 2-core machine: the pause cases (the
# stale-owner fault) run in both message modes, the other faults alternate between them.
BOTH_MODES = modes(SINGLE, BULK)


@pytest.fixture(scope="module")
def fault_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.getbasetemp() / "fault-matrix.jsonl"
    yield path
    print(f"\n[fault matrix] per-case results (JSON lines): {path}")


def busy_with_the_backlog(worker: WorkerProcess) -> None:
    """Wait until `worker` is folding the burst, so a fault finds it with work in hand."""
    eventually(lambda: counter([worker], "leadflow_events_processed_total") > 300, timeout=60)


def assert_exact(result: CaseResult) -> None:
    problems = result.failures()
    assert not problems, f"{result.case}/{result.mode}:\n  " + "\n  ".join(problems)


@modes(SINGLE)
def test_a_worker_killed_mid_stream_and_restarted_leaves_the_sums_exact(
    deployment: Deployment, tmp_path: Path, fault_report: Path, mode: MessageMode
) -> None:
    def kill_and_restart(ctx: FaultContext) -> None:
        ctx.producer.wait_for(0.4)
        busy_with_the_backlog(ctx.workers[1])
        ctx.workers[1].kill()
        time.sleep(3)
        ctx.workers[1].start(wait=False)

    source = chaotic_input(tmp_path / "events.jsonl", seed=81)
    result = run_fault_case(
        "sigkill", deployment, mode, source, 3, kill_and_restart, 15, report=fault_report
    )
    assert_exact(result)


@pytest.mark.parametrize("pause_s", [12, 30], ids=lambda s: f"{s}s")
@BOTH_MODES
def test_a_worker_paused_beyond_its_session_timeout_never_writes_as_a_stale_owner(
    deployment: Deployment, tmp_path: Path, fault_report: Path, mode: MessageMode, pause_s: int
) -> None:
    assert pause_s > SESSION_TIMEOUT_S

    def pause_and_resume(ctx: FaultContext) -> None:
        victim = ctx.workers[1]
        ctx.producer.wait_for(0.4)  # the burst is out: every partition has a backlog
        busy_with_the_backlog(victim)
        victim.pause()
        time.sleep(pause_s)
        victim.resume()

    source = chaotic_input(tmp_path / "events.jsonl", seed=82)
    produce_s = pause_s + 10  # still producing after the worker wakes up
    result = run_fault_case(
        f"sigstop-{pause_s}s",
        deployment,
        mode,
        source,
        2,
        pause_and_resume,
        produce_s,
        report=fault_report,
    )
    assert_exact(result)


@modes(BULK)
def test_a_worker_killed_again_and_again_mid_stream_leaves_the_sums_exact(
    deployment: Deployment, tmp_path: Path, fault_report: Path, mode: MessageMode
) -> None:
    def kill_loop(ctx: FaultContext) -> None:
        victim = ctx.workers[1]
        for progress in (0.1, 0.3, 0.5, 0.7):  # often mid-start-up or mid-restore
            ctx.producer.wait_for(progress)
            victim.kill()
            time.sleep(1)
            victim.start(wait=False)

    source = chaotic_input(tmp_path / "events.jsonl", seed=83)
    result = run_fault_case(
        "kill-loop", deployment, mode, source, 3, kill_loop, 20, report=fault_report
    )
    assert_exact(result)


@modes(SINGLE)
def test_workers_joining_and_leaving_every_few_seconds_leave_the_sums_exact(
    deployment: Deployment, tmp_path: Path, fault_report: Path, mode: MessageMode
) -> None:
    def storm(ctx: FaultContext) -> None:
        spare = ctx.deployment.worker("d")  # a 4th worker, not running yet
        b, c = ctx.workers[1:3]
        steps = [(spare, True), (c, False), (c, True), (spare, False), (spare, True),
                 (b, False), (b, True), (c, False), (c, True)]  # fmt: skip
        ctx.producer.wait_for(0.1)
        for worker, join in steps:
            if join:
                worker.start(wait=False)
            else:
                worker.stop()  # SIGTERM: leaves the group cleanly
            time.sleep(3.5)

    source = chaotic_input(tmp_path / "events.jsonl", seed=84)
    result = run_fault_case(
        "rebalance-storm", deployment, mode, source, 3, storm, 30, report=fault_report
    )
    assert_exact(result)


@modes(BULK)
def test_a_broker_hard_killed_and_restarted_on_its_data_leaves_the_sums_exact(
    tmp_path: Path, fault_report: Path, mode: MessageMode
) -> None:
    def kill_broker(ctx: FaultContext) -> None:
        assert ctx.broker is not None
        ctx.producer.wait_for(0.3)
        ctx.broker.hard_kill()
        time.sleep(10)
        ctx.broker.start()  # same ports, same data dir

    source = chaotic_input(tmp_path / "events.jsonl", seed=85)
    with own_broker(tmp_path / "kafka") as broker:
        deployment = Deployment(broker.bootstrap, tmp_path / "workers")
        try:
            result = run_fault_case(
                "broker-sigkill",
                deployment,
                mode,
                source,
                2,
                kill_broker,
                20,
                broker=broker,
                report=fault_report,
            )
        finally:
            deployment.stop_workers()
    assert_exact(result)
