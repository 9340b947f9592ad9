"""Worker start-up with a small backlog, and restart with a big state (memory and RocksDB).

Clocks start just before the process is forked, so interpreter start, imports, the
group join and state recovery are all inside the figure, as an operator would see it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    BenchError,
    ChangelogWatch,
    Context,
    Names,
    WorkerProcess,
    bulk_args,
    create_topics,
    log,
    produce_cli,
    produce_file,
    running,
    track,
    wait_for,
)
from bench.inputs import created_only, generated
from bench.report import Outcome, Row, load_note

POLL_S = 0.02


def run_startup(ctx: Context) -> Outcome:
    outcome = Outcome("startup")
    source = generated(ctx, ctx.sizes.startup_backlog)
    names = ctx.names("startup")
    create_topics(ctx, names)
    sent, _ = produce_file(ctx, names.topic, source.path)
    worker = WorkerProcess(ctx, names, "worker-startup")
    marks: dict[str, float] = {}
    with running(worker):
        worker.start()

        def observe() -> bool:
            status = worker.status()
            now = time.monotonic() - worker.started_at
            if status is None:
                return False
            marks.setdefault("http_up", now)
            if status.get("ready"):
                marks.setdefault("ready", now)
            done = int(status.get("processed", 0) + status.get("duplicates", 0))
            if done > 0:
                marks.setdefault("first_event", now)
            if done >= sent:
                marks.setdefault("backlog_done", now)
                return True
            return False

        wait_for(observe, 90.0, "start-up backlog processed", interval=POLL_S, children=[worker])
        ctx.shared["idle_worker_kib"] = worker.proc_status()
    both = max(marks["ready"], marks["first_event"])
    outcome.details = {"topic": names.topic, "backlog": sent, "marks_s": marks}
    outcome.rows += [
        Row.info("startup_ready", "Start-up: process start → /status ready", marks["ready"], "s"),
        Row.checked(
            "startup_first",
            f"Start-up: process start → ready and first event processed ({sent:,} backlog)",
            both,
            "s",
            "< 5",
            lambda v: v < 5,
        ),
    ]
    return outcome


def run_restart(ctx: Context) -> Outcome:
    """Fill a 1M-lead state once, then time a restart with it for each store.

    Filling is the slow part (a table write per new lead), so it is done once, by a
    RocksDB-store worker folding the lead.created feed (as bulk messages when `leadflow
    produce --batch` exists: same state, a fraction of the time). That worker is stopped
    with SIGTERM and started again: the RocksDB restart (local state plus persisted
    changelog offsets). A memory store keeps nothing locally, so its restart is a
    memory-store worker starting on that same app: it rebuilds all 1M leads from the
    changelog, exactly what restarting a memory-store worker does.
    `--restart-separate-fills` fills a separate app per store instead (twice the time).
    """
    outcome = Outcome("restart")
    leads = ctx.sizes.restart_leads
    source = created_only(ctx, leads)
    bulk = bulk_args(ctx)
    shared_names: Names | None = None
    for store in ("rocksdb", "memory"):
        try:
            if shared_names is None or ctx.sizes.restart_separate_fills:
                names = ctx.names(f"restart-{store}")
                filled = _fill(ctx, names, store, source.path, leads, bulk)
                shared_names = names
                outcome.details[f"fill_{store}"] = filled
                how = f"bulk {' '.join(bulk)}" if bulk else "single-event messages"
                folded = filled["fill"]["rate_events_per_s"]
                lag = filled["changelog_complete_after_last_fold_s"]
                note = f"folded at {folded:,.0f}/s, changelog complete {lag:.0f} s later"
                outcome.rows.append(
                    Row.info(
                        f"fill_{store}",
                        f"Fill: {leads:,} new leads durable in the changelog ({how}), "
                        f"{store} store",
                        filled["durable_rate_leads_per_s"],
                        "leads/s",
                        note=", ".join(filter(None, [note, load_note(filled["fill"])])),
                    )
                )
                ctx.shared[f"restart_memory_{store}"] = {"leads": leads, **filled["memory"]}
                what = f"Restart with {leads:,} leads, {store} store: start → ready with all leads"
            else:
                names = shared_names
                ctx.shared[f"restart_memory_{store}"] = {"leads": leads}
                what = (
                    f"Restart with {leads:,} leads, {store} store (rebuilt from the "
                    "changelog): start → ready with all leads"
                )
            worker = WorkerProcess(
                ctx,
                names,
                f"worker-{store}-restart",
                extra_env={"LEADFLOW_STORE": store},
                data_dir=_data_dir(ctx, names, store),
            )
            seconds, marks, memory = _timed_start(worker, leads, f"{store} restart")
            ctx.shared[f"restart_memory_{store}"]["restart_kib"] = memory
            starts = recovery_starts(worker.log_path.read_text(errors="replace"))
            outcome.details[f"restart_{store}"] = {
                "seconds": seconds,
                "marks_s": marks,
                "changelog_read_from_offsets": starts,
            }
            note = ""
            if store != "memory" and starts and all(offset < 0 for offset in starts):
                # Local state should make a restart read only the changelog's tail.
                note = "re-read the whole changelog: no persisted offsets were used"
            outcome.rows.append(
                Row.checked(
                    f"restart_{store}", what, seconds, "s", "< 30", lambda v: v < 30, note=note
                )
            )
        except BenchError as error:
            outcome.details[store] = {"error": str(error)}
            outcome.rows.append(
                Row.checked(
                    f"restart_{store}",
                    f"Restart with {leads:,} leads, {store} store",
                    None,
                    "s",
                    "< 30",
                    lambda v: v < 30,
                    note=f"failed: {str(error).splitlines()[0][:120]}",
                )
            )
            log(f"restart ({store}) failed: {error}")
            if not ctx.sizes.restart_separate_fills:
                shared_names = None  # the next store fills its own state then
    _compare_stores(outcome)
    return outcome


def _compare_stores(outcome: Outcome) -> None:
    """Record how a RocksDB restart compares with the memory store's full re-read.

    Both now read at Kafka's speed and spend most of a restart rebuilding the
    aggregates, so the ratio is information, not a check: whether RocksDB used its
    persisted offsets is judged from Faust's recovery log (see `run_restart`).
    """
    rocks = outcome.details.get("restart_rocksdb", {}).get("seconds")
    memory = outcome.details.get("restart_memory", {}).get("seconds")
    if rocks and memory:
        outcome.details["rocksdb_vs_memory_restart"] = rocks / memory


def recovery_starts(log_text: str) -> list[int]:
    """Offsets Faust's recovery started reading the active changelogs at (-1: beginning).

    Parsed from the "Reading Starts At - Active" table Faust logs at INFO; [] if absent.
    """
    lines = log_text.splitlines()
    starts: list[int] = []
    for i, line in enumerate(lines):
        if "Reading Starts At - Active" not in line:
            continue
        starts = []
        for row in lines[i + 1 :]:
            if row.startswith("+") and starts:
                break
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            if len(cells) == 3 and cells[1].isdigit():
                try:
                    starts.append(int(cells[2]))
                except ValueError:
                    continue
    return starts


def _data_dir(ctx: Context, names: Names, store: str) -> Path:
    """One data dir per app and store: a restart must find what the previous run left."""
    return ctx.work_dir / f"{names.app_id}-{store}"


def _fill(
    ctx: Context, names: Names, store: str, path: Path, leads: int, bulk: list[str]
) -> dict[str, Any]:
    """Produce the lead.created feed, let one worker fold it all, stop it with SIGTERM."""
    create_topics(ctx, names)
    if bulk:
        _, took = produce_cli(ctx, names, path, bulk)
        sent = leads  # the worker counts events, not messages
    else:
        sent, took = produce_file(ctx, names.topic, path)
    log(f"restart: {sent:,} lead.created produced in {took:.1f}s; filling a {store} worker")
    worker = WorkerProcess(
        ctx,
        names,
        f"worker-{store}-fill",
        extra_env={"LEADFLOW_STORE": store},
        data_dir=_data_dir(ctx, names, store),
    )
    watch = ChangelogWatch(ctx, names)
    with running(worker), contextlib.closing(watch):
        worker.start()
        worker.wait_ready()
        fill = track([worker], sent, max(300.0, sent / 800), broker_pid=ctx.broker_pid)
        status = worker.status() or {}
        if int(status.get("leads", -1)) != leads:
            raise BenchError(f"after the fill the worker tracks {status.get('leads')} leads")
        # Folded is not durable: each new lead is one changelog write, and Faust may hold
        # most of them in its producer buffer when the last event is folded. The state
        # is filled once every lead is in the changelog.
        durable_at, records = watch.wait_settled(at_least=leads, timeout=max(300.0, leads / 500))
        memory = worker.proc_status()
        # SIGTERM: the clean stop an operator (or Kubernetes) does; its duration is kept.
        stop_seconds = worker.stop(timeout=180.0)
    durable_rate = leads / max(durable_at - fill.window_start, 1e-9)
    log(
        f"restart: folded at {fill.rate:,.0f} events/s, durable at {durable_rate:,.0f} leads/s "
        f"(changelog complete {durable_at - fill.last_at:.1f}s after the last fold); "
        f"SIGTERM stop took {stop_seconds}s"
    )
    return {
        "durable_rate_leads_per_s": durable_rate,
        "changelog_records": records,
        "changelog_complete_after_last_fold_s": max(0.0, durable_at - fill.last_at),
        "topic": names.topic,
        "store": store,
        "produce_seconds": took,
        "produce_bulk_args": bulk,
        "fill": fill.summary(worker.started_at),
        "stop_seconds": stop_seconds,
        "memory": {"fill_kib": memory},
    }


def _timed_start(
    worker: WorkerProcess, leads: int, what: str
) -> tuple[float, dict[str, float], dict[str, int]]:
    """Start; seconds from fork until /status is ready with all `leads`; marks; memory."""
    marks: dict[str, float] = {}

    def restored() -> bool:
        status = worker.status()
        if status is None:
            return False
        now = time.monotonic() - worker.started_at
        marks.setdefault("http_up", now)
        if status.get("ready"):
            marks.setdefault("ready", now)
            if int(status.get("leads", 0)) == leads:
                marks["ready_with_all_leads"] = now
                return True
        return False

    with running(worker):
        worker.start()
        # /status waits while a restore blocks the loop; a 0.1 s poll is plenty then.
        wait_for(restored, max(180.0, leads / 2_000), what, 0.1, children=[worker])
        memory = worker.proc_status()
        # A clean stop matters: a RocksDB store killed mid-flush would make the next
        # start a recovery instead of a restart.
        marks["sigterm_stop_s"] = worker.stop(timeout=120.0) or float("nan")
    seconds = marks["ready_with_all_leads"]
    log(f"restart: {what}: ready with {leads:,} leads after {seconds:.1f}s")
    return seconds, marks, memory
