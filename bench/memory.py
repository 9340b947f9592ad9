"""Peak RSS per tracked lead, from what the other measurements recorded.

The worker's figure is VmHWM (peak resident set, /proc/PID/status) of a worker started
on the restart state, divided by the leads it then tracks: the memory a worker needs to
hold and rebuild that state. The filling worker's own peak is kept as a note: it also
holds the in-flight (bulk) batches, which is transient, not per-lead, memory. Without a
restart run the throughput worker is used, whose small state makes the interpreter's
own ~100 MB dominate, which the row says. The marginal figure subtracts an idle
worker's peak (the start-up run's).
"""

from __future__ import annotations

from typing import Any

from bench.harness import Context
from bench.report import Outcome, Row


def _hwm(part: Any) -> int:
    return int(part.get("VmHWM", 0)) if isinstance(part, dict) else 0


def run(ctx: Context) -> Outcome:
    outcome = Outcome("memory")
    idle_kib = _hwm(ctx.shared.get("idle_worker_kib")) or None
    sources: list[tuple[str, int, int, int, str]] = []  # store, leads, peak, fill peak, origin
    for store in ("memory", "rocksdb"):
        memory = ctx.shared.get(f"restart_memory_{store}")
        if memory:
            peak = _hwm(memory.get("restart_kib")) or _hwm(memory.get("fill_kib"))
            sources.append(
                (store, int(memory["leads"]), peak, _hwm(memory.get("fill_kib")), "restart run")
            )
    if not sources and "worker_memory" in ctx.shared:
        memory = ctx.shared["worker_memory"]
        sources.append(
            ("memory", int(memory["leads"]), _hwm(memory), 0, "throughput run, small state")
        )
    for store, leads, peak, fill_peak, origin in sources:
        if not leads or not peak:
            continue
        per_lead = peak * 1024 / leads
        marginal = (peak - idle_kib) * 1024 / leads if idle_kib else None
        outcome.details[store] = {
            "leads": leads,
            "peak_kib": peak,
            "fill_peak_kib": fill_peak or None,
            "idle_worker_peak_kib": idle_kib,
            "bytes_per_lead": per_lead,
            "marginal_bytes_per_lead": marginal,
            "origin": origin,
        }
        notes = [f"{peak / 1024:,.0f} MiB peak"]
        if marginal is not None:
            notes.append(f"{marginal:,.0f} B/lead above an idle worker")
        if fill_peak:
            notes.append(f"filling worker peaked at {fill_peak / 1024:,.0f} MiB")
        outcome.rows.append(
            Row.checked(
                f"worker_rss_per_lead_{store}",
                f"Worker peak RSS per tracked lead, {store} store, {leads:,} leads ({origin})",
                per_lead,
                "B",
                "< 1,024",
                lambda v: v < 1024,
                note="; ".join(notes),
            )
        )
    replay = ctx.shared.get("replay_memory")
    if replay:
        outcome.details["replay"] = replay
    return outcome
