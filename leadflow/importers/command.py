"""`leadflow import hubspot|salesforce FILES...`: CRM exports to contract events.

The edges live here: CSV files (any order, recognised by their headers), the
mapping file, a progress line on a terminal, JSON lines to a file or stdout or
Kafka, and the summary on stderr. Exit status: 0 when every row was read, 1 when
any row was skipped, 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from leadflow.config import ConfigError, load_funnel
from leadflow.importers import hubspot, salesforce
from leadflow.importers.cells import norm_key
from leadflow.importers.drafts import Report, Row, finish
from leadflow.importers.mapping import ImportMapping, MappingError, compile_rules
from leadflow.importers.timestamps import DateOrder, Stamp, parse_stamp

CRMS = ("hubspot", "salesforce")
PROGRESS_EVERY = 2_000  # rows between progress-line checks


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="turn HubSpot or Salesforce CSV exports into events (JSON lines or Kafka)",
        description="Read a CRM's standard CSV exports (several files, any order, joined by "
        "record id) and write contract events: JSON lines on stdout or --out, or straight to "
        "the events topic with --produce. Re-importing the same or overlapping exports gives "
        "the same event ids, so nothing is counted twice.",
    )
    parser.add_argument("crm", choices=CRMS, help="which CRM the exports come from")
    parser.add_argument(
        "files",
        nargs="*",
        help="CSV exports; the kind (contacts, deals / leads, opportunities, "
        "history) is recognised from the headers, or named as KIND:FILE, e.g. deals:q1.csv",
    )
    parser.add_argument(
        "--timezone",
        help="IANA zone of the portal / org (e.g. Europe/Berlin): times without an offset and "
        "dates without a time are read in it, and events are written with its offset",
    )
    parser.add_argument(
        "--date-order",
        choices=[o.value for o in DateOrder],
        default=DateOrder.MDY.value,
        help="how to read all-numeric dates such as 03/04/2024 (default mdy)",
    )
    parser.add_argument("--mapping", type=Path, help="YAML mapping file (see --print-mapping)")
    parser.add_argument(
        "--print-mapping",
        action="store_true",
        help="print the mapping in force (the defaults, merged with --mapping) and exit",
    )
    parser.add_argument("--encoding", default="utf-8-sig", help="of the CSV files (utf-8)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--out", type=Path, help="write the JSON lines here (default stdout)")
    output.add_argument(
        "--produce",
        action="store_true",
        help="send the events to the events topic (LEADFLOW_KAFKA_BOOTSTRAP, LEADFLOW_TOPIC)",
    )
    parser.add_argument("--topic", help="with --produce: override LEADFLOW_TOPIC")
    parser.set_defaults(func=run)


class StartError(Exception):
    """The run cannot start; the message says why."""


def run(args: argparse.Namespace) -> int:
    try:
        mapping = load_mapping(args.mapping)
        if args.print_mapping:
            print_mapping(mapping, args.crm, sys.stdout)
            return 0
        return _import(args, mapping)
    except StartError as error:
        print(f"leadflow import: {error}", file=sys.stderr)
        return 2


def load_mapping(path: Path | None) -> ImportMapping:
    if path is None:
        return ImportMapping()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise StartError(f"mapping file {path}: cannot read it ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise StartError(f"mapping file {path}: not valid YAML ({error})") from error
    try:
        return ImportMapping.model_validate(document)
    except ValidationError as error:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise StartError(f"mapping file {path} is invalid:\n{problems}") from error


def print_mapping(mapping: ImportMapping, crm: str, out: TextIO) -> None:
    section = getattr(mapping, crm)
    out.write(
        f"# The {crm} import mapping in force: the built-in defaults plus your --mapping file.\n"
        "# Save what you change under the same keys in a mapping file; entries you give are\n"
        "# added to the defaults or replace them (map a value to `ignore` to drop it).\n"
    )
    yaml.safe_dump({crm: section.model_dump()}, out, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str | None  # named on the command line, else recognised from the headers


def _sources(crm: str, specs: list[str]) -> list[Source]:
    kinds = hubspot.KINDS if crm == "hubspot" else salesforce.KINDS
    out = []
    for spec in specs:
        prefix, colon, rest = spec.partition(":")
        if colon and prefix in kinds and not Path(spec).exists():
            out.append(Source(Path(rest), prefix))
        else:
            out.append(Source(Path(spec), None))
    return out


def _import(args: argparse.Namespace, mapping: ImportMapping) -> int:
    from streams.settings import WorkerSettings

    if not args.files:
        raise StartError("name at least one CSV export")
    if not args.timezone:
        raise StartError(
            "--timezone is required: the zone your CRM shows times in (HubSpot: Settings > "
            "Account Defaults; Salesforce: Company Information), e.g. --timezone America/New_York"
        )
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StartError(f"--timezone {args.timezone!r} is not an IANA time zone") from None
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise StartError(f"--encoding {args.encoding!r} is not a text encoding") from None
    settings = WorkerSettings()
    try:
        funnel = load_funnel(settings.config)
        rules = compile_rules(getattr(mapping, args.crm), funnel.vocabulary)
    except ConfigError as error:
        raise StartError(str(error)) from error
    except MappingError as error:
        raise StartError(
            f"the mapping names things the funnel config doesn't have:\n{error}"
        ) from None
    sources = _sources(args.crm, args.files)
    for source in sources:
        if not source.path.is_file():
            raise StartError(f"{source.path}: no such file")
    order = DateOrder(args.date_order)

    def read_stamp(text: str) -> Stamp:
        return parse_stamp(text, zone, order)

    report = Report()
    importer: hubspot.HubSpotImport | salesforce.SalesforceImport
    if args.crm == "hubspot":
        importer = hubspot.HubSpotImport(rules, read_stamp, report)
        kind_of = hubspot.kind_of
    else:
        importer = salesforce.SalesforceImport(rules, read_stamp, report)
        kind_of = salesforce.kind_of
    started = time.monotonic()
    progress = Progress(sys.stderr, sum(s.path.stat().st_size for s in sources))
    for source in sources:
        with CsvFile(source.path, args.encoding, progress) as table:
            kind = source.kind or kind_of(table.headers, rules)
            if kind is None:
                raise StartError(
                    f"{source.path}: cannot tell which {args.crm} export this is from its "
                    f"headers; name it as KIND:FILE ({', '.join(_kinds(args.crm))})"
                )
            importer.add_rows(kind, table.headers, table.rows())
    drafts = importer.drafts()
    sourceless = sum(1 for d in drafts if d.fields.get("source") == "unknown")
    if sourceless:
        report.note("leads without a source in the export: source 'unknown'", sourceless)
    lines = finish(drafts)
    progress.clear()
    if args.produce:
        sent = _produce(lines, settings, args.topic or settings.topic)
        where = f"{sent:,} events to {args.topic or settings.topic}"
    else:
        _write(lines, args.out)
        where = f"{len(lines):,} events to {args.out or 'stdout'}"
    print_summary(report, args.crm, len(sources), where, time.monotonic() - started, sys.stderr)
    return 1 if report.skipped else 0


def _kinds(crm: str) -> tuple[str, ...]:
    return hubspot.KINDS if crm == "hubspot" else salesforce.KINDS


def _write(lines: list[bytes], path: Path | None) -> None:
    stream: IO[bytes] = sys.stdout.buffer if path is None else path.open("wb")
    try:
        for line in lines:
            stream.write(line)
            stream.write(b"\n")
    finally:
        if path is None:
            stream.flush()
        else:
            stream.close()


def _produce(lines: list[bytes], settings: Any, topic: str) -> int:
    from kafka.errors import KafkaError

    from leadflow.produce import DEFAULT_BATCH, Sender, connect

    try:
        producer, partitions = connect(settings, topic)
    except KafkaError as error:
        raise StartError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({error}); nothing was sent"
        ) from error
    sender = Sender(producer, topic, partitions, DEFAULT_BATCH, "lead")
    try:
        for line in lines:
            sender.send(line)
        sender.close()
    except KafkaError as error:
        raise StartError(f"Kafka failed after {sender.events:,} events: {error}") from error
    finally:
        producer.close()
    return sender.events


class CsvFile:
    """One export: its header and its rows with the line each starts on."""

    def __init__(self, path: Path, encoding: str, progress: Progress) -> None:
        self.path, self.encoding, self.progress = path, encoding, progress
        self.raw = _CountingReader(path.open("rb", buffering=0))
        self.text = io.TextIOWrapper(
            io.BufferedReader(self.raw, 1 << 20), encoding=encoding, newline=""
        )
        self.reader = csv.reader(self.text)
        self.headers: list[str] = []

    def __enter__(self) -> CsvFile:
        try:
            self.headers = next(self.reader, [])
        except (UnicodeDecodeError, csv.Error) as error:
            self.text.close()
            raise StartError(self._unreadable(error)) from error
        if not self.headers:
            self.text.close()
            raise StartError(f"{self.path}: empty file, no header row")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.finished(self.raw.count)
        self.text.close()

    def rows(self) -> Iterator[Row]:
        keys = [norm_key(header) for header in self.headers]
        width, name, reader = len(keys), self.path.name, self.reader
        progress, raw = self.progress, self.raw
        line = reader.line_num + 1
        count = 0
        try:
            for values in reader:
                start, line = line, reader.line_num + 1
                count += 1
                if count % PROGRESS_EVERY == 0:
                    progress.update(raw.count, count)
                if not any(value.strip() for value in values):
                    continue  # blank lines carry nothing
                if len(values) != width:
                    # Handed on all the same, so the converter reports the row as skipped.
                    problem = f"{len(values)} fields where the header has {width}"
                    yield Row(name, start, {}, problem)
                    continue
                yield Row(name, start, dict(zip(keys, values, strict=True)))
        except (UnicodeDecodeError, csv.Error) as error:
            raise StartError(self._unreadable(error, line)) from error

    def _unreadable(self, error: Exception, line: int | None = None) -> str:
        if isinstance(error, UnicodeDecodeError):
            # Text is decoded ahead in large chunks: the line being parsed says nothing.
            return (
                f"{self.path}: not {self.encoding} text ({error.reason}); Salesforce report "
                "exports may be in another encoding: try --encoding cp1252"
            )
        where = f"{self.path}:{line}" if line else str(self.path)
        return f"{where}: not valid CSV ({error})"


class _CountingReader(io.RawIOBase):
    """Bytes read so far, for the progress line."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer) or 0
        self.count += n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total_bytes: int) -> None:
        self.stream, self.total = stream, max(total_bytes, 1)
        self.enabled = stream.isatty()
        self.done_bytes = 0  # of the files already finished
        self.rows = 0
        self.last = 0.0

    def update(self, file_bytes: int, file_rows: int) -> None:
        if not self.enabled or time.monotonic() - self.last < 0.1:
            return
        self.last = time.monotonic()
        share = min(1.0, (self.done_bytes + file_bytes) / self.total)
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        rows = self.rows + file_rows
        self.stream.write(f"\rimport [{bar}] {share:4.0%} {rows:,} rows")
        self.stream.flush()

    def finished(self, file_bytes: int) -> None:
        self.done_bytes += file_bytes

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


def print_summary(
    report: Report, crm: str, files: int, where: str, seconds: float, out: TextIO
) -> None:
    read = ", ".join(f"{_rows(count)} of {kind}" for kind, count in report.rows.items())
    out.write(
        f"import {crm}: read {read or 'no rows'} from {files} file(s); wrote {where}; "
        f"skipped {_rows(len(report.skipped))}; {seconds:.1f}s\n"
    )
    if report.skipped:
        out.write("skipped rows:\n")
        for where_, reason in report.skipped:
            out.write(f"  {where_}: {reason}\n")
    if report.unmapped:
        out.write(
            f"values the mapping lacks (add them with --mapping; see {crm} --print-mapping):\n"
        )
        for (what, value, outcome), entry in sorted(report.unmapped.items()):
            examples = ", ".join(entry.examples)
            out.write(f"  {what} {value!r}: {_rows(entry.count)} ({outcome}), e.g. {examples}\n")
    if report.notes:
        out.write("conventions applied:\n")
        for message, count in sorted(report.notes.items()):
            out.write(f"  {count:,} x {message}\n")


def _rows(count: int) -> str:
    return f"{count:,} row" if count == 1 else f"{count:,} rows"
