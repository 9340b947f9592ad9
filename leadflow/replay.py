"""`leadflow replay`: fold a JSON-lines file through the projections, no broker."""

from __future__ import annotations

import argparse
import csv
import gc
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from events import Event, Rejection, decode, now_micros, to_micros
from events.batch import split_batch
from leadflow.config import load_funnel
from leadflow.errors import UserError
from leadflow.instants import aware_instant
from leadflow.settings import load_settings
from projections import Calendar, Family, Funnel, History, Key, LeadState, Ledger, export
from projections.exposition import render
from projections.milestones import breach_report

PROGRESS_EVERY = 250_000


@dataclass
class ReplayResult:
    families: list[Family]
    events: int
    duplicates: int
    bad_lines: int
    as_of: int | None
    leads: dict[str, LeadState] | None = None  # with keep_leads: for the breach report


@dataclass
class Partial:
    """A fold's outcome: additive totals of the leads it saw, and what it rejected."""

    totals: dict[Key, int]
    events: int
    duplicates: int
    bad: list[tuple[int, Rejection]]
    latest: int | None
    leads: dict[str, LeadState] | None = None


Numbered = Iterable[tuple[int, bytes]]  # (line number, one event's bytes)


def fold_numbered(
    parts: Numbered, funnel: Funnel, now_us: int, keep_leads: bool = False
) -> Partial:
    """Decode and fold events; the same code in-process and in each parallel job."""
    ledger = Ledger(funnel)
    bad: list[tuple[int, Rejection]] = []
    vocabulary = funnel.vocabulary

    def good_events() -> Iterator[Event]:
        for number, part in parts:
            decoded = decode(part, vocabulary, now_us)
            if isinstance(decoded, Rejection):
                bad.append((number, decoded))
            else:
                yield decoded

    # Lead state holds no reference cycles; without the pause, the cyclic collector
    # rescans every live lead again and again as their number grows.
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = ledger.fold(good_events())
        ledger.rebuild(track_latest=False)  # fold saw every event's time
    finally:
        if collecting:
            gc.enable()
    return Partial(
        totals=ledger.totals,
        events=sum(result.processed.values()),
        duplicates=sum(result.duplicates.values()),
        bad=bad,
        latest=ledger.latest_event_ts,
        leads=ledger.leads if keep_leads else None,
    )


def numbered_parts(
    lines: Iterable[bytes], on_progress: Callable[[int], None] = lambda lines: None
) -> Iterator[tuple[int, bytes]]:
    """Every event of a JSON-lines input with its line number; bulk lines split up."""
    for number, line in enumerate(lines, start=1):
        if number % PROGRESS_EVERY == 0:
            on_progress(number)
        if line.isspace() or not line:
            continue  # blank lines (a trailing newline, say) carry no event
        elements = split_batch(line)
        if elements is None:
            yield number, line
        else:
            for element in elements:
                yield number, element


def replay_lines(
    lines: Iterable[bytes],
    funnel: Funnel,
    *,
    now_us: int,
    as_of: int | None = None,
    history: History = History.LIVE,
    on_bad: Callable[[int, Rejection], None] = lambda line, rejection: None,
    on_progress: Callable[[int], None] = lambda lines: None,
    keep_leads: bool = False,
) -> ReplayResult:
    """Decode, fold and export; `now_us` is the clock for the future-skew check."""
    partial = fold_numbered(numbered_parts(lines, on_progress), funnel, now_us, keep_leads)
    for number, rejection in partial.bad:
        on_bad(number, rejection)
    instant = as_of if as_of is not None else partial.latest
    calendar = Calendar(funnel.timezone)
    families = (
        export(partial.totals, funnel, calendar, instant, history) if instant is not None else []
    )
    return ReplayResult(
        families=families,
        events=partial.events,
        duplicates=partial.duplicates,
        bad_lines=len({number for number, _ in partial.bad}),
        as_of=instant,
        leads=partial.leads,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="fold a JSON-lines file of events and print the metrics (no Kafka)",
        description="Fold a JSON-lines file through the same projections the workers run "
        "and print additive and derived series in the Prometheus text format.",
    )
    parser.add_argument("file", type=Path, help="JSON-lines events ('-' for stdin)")
    parser.add_argument(
        "--as-of",
        type=_instant,
        help="RFC 3339 instant deciding the current period "
        "(default: the latest occurred_at in the input)",
    )
    parser.add_argument(
        "--history",
        choices=[h.value for h in History],
        default=History.LIVE.value,
        help="'live': the current period of each kind and the completed ones the config "
        "keeps (funnel.history; what a worker exports); 'all': every period",
    )
    parser.add_argument(
        "--breaches",
        type=Path,
        metavar="FILE",
        help="also write the leads in milestone breach at --as-of to FILE, with the labels "
        "and annotations a worker posts to Alertmanager (.csv: CSV, else JSON lines)",
    )
    parser.set_defaults(func=run)


def _instant(text: str) -> int:
    return to_micros(aware_instant(text))


def run(args: argparse.Namespace) -> int:
    funnel = load_funnel(load_settings().config)
    started = time.monotonic()

    def on_bad(line: int, rejection: Rejection) -> None:
        print(f"line {line}: {rejection.reason}: {rejection.detail}", file=sys.stderr)

    def on_progress(lines: int) -> None:
        rate = lines / max(time.monotonic() - started, 1e-9)
        print(f"replay: {lines:,} lines read ({rate:,.0f}/s)", file=sys.stderr)

    try:
        with _open(args.file) as stream:
            result = replay_lines(
                stream,
                funnel,
                now_us=now_micros(),
                as_of=args.as_of,
                history=History(args.history),
                on_bad=on_bad,
                on_progress=on_progress,
                keep_leads=args.breaches is not None,
            )
    except OSError as error:
        raise UserError(f"cannot read {args.file} ({error.strerror})") from error
    if args.breaches is not None:
        written = _write_breaches(args.breaches, result, funnel)
        print(f"replay: {written:,} milestone breaches written to {args.breaches}", file=sys.stderr)
    sys.stdout.buffer.write(render(result.families))
    sys.stdout.flush()
    elapsed = time.monotonic() - started
    print(
        f"replay: {result.events:,} events folded, {result.duplicates:,} duplicates ignored, "
        f"{result.bad_lines:,} bad lines, in {elapsed:.1f}s",
        file=sys.stderr,
    )
    return 1 if result.bad_lines else 0


def _open(path: Path) -> BinaryIO:
    if str(path) == "-":
        return sys.stdin.buffer
    return path.open("rb", buffering=1 << 20)


def _write_breaches(path: Path, result: ReplayResult, funnel: Funnel) -> int:
    """The breach report: what the workers would have posted at the as-of instant."""
    from streams.milestone_settings import MilestoneSettings
    from streams.settings import WorkerSettings

    app_id = load_settings(WorkerSettings).app_id
    settings = load_settings(MilestoneSettings)
    rows = (
        breach_report(result.leads or {}, funnel, result.as_of, app_id, settings.runbook_base_url)
        if result.as_of is not None
        else []
    )
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            if path.suffix.lower() == ".csv":
                columns = [*BREACH_LABELS, *BREACH_ANNOTATIONS, "startsAt"]
                writer = csv.writer(out)
                writer.writerow(columns)
                for row in rows:
                    flat = {**row["labels"], **row["annotations"], "startsAt": row["startsAt"]}
                    writer.writerow(flat.get(column, "") for column in columns)
            else:
                for row in rows:
                    out.write(json.dumps(row, sort_keys=True) + "\n")
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror})") from error
    return len(rows)


BREACH_LABELS = (
    "alertname",
    "app",
    "rule",
    "lead_id",
    "source",
    "tier",
    "stage",
    "team",
    "severity",
)
BREACH_ANNOTATIONS = (
    "since",
    "waited",
    "waited_seconds",
    "sla",
    "sla_seconds",
    "campaign",
    "summary",
)
