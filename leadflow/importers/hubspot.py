"""HubSpot's contacts and deals exports, joined by record id, as drafts of events.

Who is the lead: a contact is a lead (`hubspot-contact-<Record ID>`). A deal
continues the lead of its associated contact, and of one contact only, the one
with the smallest record id (usually the first created, the one marketing
brought in), so a deal with three contacts is still one sale. A deal with no
associated contact is a lead of its own (`hubspot-deal-<Record ID>`) that enters
the funnel when the deal is created.

Which dates count: a contact's lifecycle-stage dates ("Became a … Date" and the
newer "Date entered …" columns; the earliest wins) give lead, MQL, SQL,
opportunity and customer. For contacts associated with a deal in the same
run, the deals decide opportunity and won instead (they carry amounts, pipeline
stages and losses); import contacts and deals together. A deal's outcome is its
current stage: a deal that was closed lost and then reopened is open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from events import EventType
from leadflow.importers.cells import (
    CellError,
    hubspot_ids,
    norm_key,
    parse_amount,
    parse_score,
    slug,
)
from leadflow.importers.drafts import Draft, Report, Row, RowError, find_column
from leadflow.importers.mapping import (
    IGNORE,
    LOST,
    WON,
    Rules,
    StageTarget,
    Target,
    dated_status,
)
from leadflow.importers.timestamps import Stamp, TimestampError

CONTACTS, DEALS = "contacts", "deals"
KINDS = (CONTACTS, DEALS)

StampReader = Callable[[str], Stamp]

# Lifecycle and stage-entry date columns: labels as the UI exports them, internal
# names as API exports do (matched on the comparable header, see cells.norm_key).
_BECAME = re.compile(r"became an? (.+) date", re.IGNORECASE)
_DATE_ENTERED = re.compile(r'date entered\s+"?(.+?)"?', re.IGNORECASE)
_API_LIFECYCLE = re.compile(r"hs lifecyclestage (\w+) date")
_API_DATE_ENTERED = re.compile(r"hs (?:v2 )?date entered (\w+)")
_PIPELINE = re.compile(r"(.+?)\s*\(([^()]+)\)")

_DEAL_TYPES = (EventType.OPPORTUNITY_CREATED, EventType.DEAL_WON, EventType.DEAL_LOST)
_MAIN_TYPES = (
    EventType.LEAD_CREATED,
    EventType.LEAD_MQL,
    EventType.LEAD_SQL,
    EventType.OPPORTUNITY_CREATED,
    EventType.DEAL_WON,
    EventType.DEAL_LOST,
)


@dataclass(frozen=True, slots=True)
class StageColumn:
    header: str  # comparable header
    stage: str  # comparable stage name, without the pipeline
    pipeline: str | None  # comparable pipeline name, if the header names one
    label: str  # the stage (and pipeline) as the export spells it, for reports


def stage_columns(headers: Iterable[str]) -> list[StageColumn]:
    """The lifecycle-date or stage-entry columns of an export."""
    found: list[StageColumn] = []
    for header in headers:
        key = norm_key(header)
        spelled = " ".join(header.replace("\ufeff", "").split())
        match = (
            _BECAME.fullmatch(spelled)
            or _DATE_ENTERED.fullmatch(spelled)
            or _API_LIFECYCLE.fullmatch(key)
            or _API_DATE_ENTERED.fullmatch(key)
        )
        if match is None:
            continue
        label = match[1].strip()
        stage, pipeline = label, None
        if inner := _PIPELINE.fullmatch(label):
            stage, pipeline = inner[1], norm_key(inner[2])
        found.append(StageColumn(key, norm_key(stage), pipeline, label))
    return found


def kind_of(headers: list[str], rules: Rules) -> str | None:
    """Which export a file is, from its headers; None if neither."""
    if find_column(headers, rules.columns["deal_stage"]) or "deal name" in map(norm_key, headers):
        return DEALS
    keys = {norm_key(h) for h in headers}
    if stage_columns(headers) or "lifecycle stage" in keys or "lifecyclestage" in keys:
        return CONTACTS
    return None


@dataclass(slots=True)
class Contact:
    id: str
    row: Row
    entries: dict[EventType, tuple[Stamp, str | None]]  # type -> (earliest, reason)
    source: str
    score: int | None
    status: tuple[Target, Stamp] | None


@dataclass(slots=True)
class Deal:
    id: str
    row: Row
    created: Stamp
    contacts: list[str]
    amount: float | None
    opens: list[tuple[str, Stamp]]  # (pipeline stage, entered)
    current: StageTarget | None
    current_at: Stamp | None  # when it entered its current stage, if exported
    reopened: bool
    reason: str | None
    source: str


@dataclass
class HubSpotImport:
    """Reads rows of either export; `drafts()` joins them once all are read."""

    rules: Rules
    read_stamp: StampReader
    report: Report
    contacts: dict[str, Contact] = field(default_factory=dict)
    deals: dict[str, Deal] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # comparable -> exported header

    def add_rows(self, kind: str, headers: list[str], rows: Iterable[Row]) -> None:
        self.labels.update((norm_key(header), header.strip()) for header in headers)
        columns = stage_columns(headers)
        parse = self._contact if kind == CONTACTS else self._deal
        records: dict[str, Contact] | dict[str, Deal] = (
            self.contacts if kind == CONTACTS else self.deals
        )
        for row in rows:
            self.report.rows[kind] += 1
            if row.problem:
                self.report.skip(row, row.problem)
                continue
            unknown: list[tuple[str, str, str]] = []
            try:
                record = parse(row, columns, unknown)
            except RowError as error:
                self.report.skip(row, str(error))
                continue
            for what, value, outcome in unknown:
                self.report.unknown(what, value, row, outcome)
            if record.id in records:
                # Overlapping exports: the row read last (the newer export) stands.
                self.report.note(f"{kind} rows for a record already read: the later row used")
            records[record.id] = record  # type: ignore[assignment]

    # -- reading rows --------------------------------------------------------------

    def _stamp(self, column: str, text: str) -> Stamp:
        try:
            return self.read_stamp(text)
        except TimestampError as error:
            raise RowError(f"column {column!r}: {error}") from None

    def _date(self, row: Row, aliases: Iterable[str]) -> Stamp | None:
        """The column's moment, None if blank; a RowError naming the column if unreadable."""
        key, text = row.find(aliases)
        return self._stamp(self.labels.get(key, key), text) if text else None

    def _record_id(self, row: Row) -> str:
        record = row.get(self.rules.columns["record_id"])
        if not record:
            raise RowError("no Record ID")
        if not record.isdigit():
            raise RowError(f"Record ID {record!r} is not a HubSpot record id")
        return record

    def _source(self, raw: str, drill_down: str, unknown: list[tuple[str, str, str]]) -> str:
        if not raw:
            return "unknown"
        sources = self.rules.sources
        for key in (norm_key(f"{raw} / {drill_down}"), norm_key(raw)):
            if key in sources:
                return sources[key]
        label = slug(raw)
        unknown.append(("HubSpot original source", raw, f"imported as source {label!r}"))
        return label

    def _contact(
        self, row: Row, columns: list[StageColumn], unknown: list[tuple[str, str, str]]
    ) -> Contact:
        rules, cols = self.rules, self.rules.columns
        record = self._record_id(row)
        entries: dict[EventType, tuple[Stamp, str | None]] = {}
        for column in columns:
            text = row.cells.get(column.header, "").strip()
            if not text:
                continue
            stamp = self._stamp(self.labels.get(column.header, column.label), text)
            target = rules.funnel_types.get(column.stage)
            if target is None:
                unknown.append(("HubSpot lifecycle stage", column.label, "its dates ignored"))
                continue
            if target.type is None:
                continue
            earlier = entries.get(target.type)
            if earlier is None or stamp.at < earlier[0].at:
                entries[target.type] = (stamp, target.reason)
        try:
            score, clamped = parse_score(row.get(cols["score"]))
        except CellError as error:
            raise RowError(str(error)) from None
        if clamped:
            self.report.note("HubSpot scores outside 0-100 clamped to the range")
        status = dated_status(
            row.get(cols["lead_status"]),
            rules.statuses,
            lambda: self._date(row, cols["status_date"]),
            "HubSpot",
            unknown,
            self.report.note,
        )
        source = self._source(row.get(cols["source"]), row.get(cols["source_drill_down"]), unknown)
        return Contact(record, row, entries, source, score, status)

    def _deal(
        self, row: Row, columns: list[StageColumn], unknown: list[tuple[str, str, str]]
    ) -> Deal:
        cols = self.rules.columns
        record = self._record_id(row)
        created = self._date(row, cols["create_date"])
        if created is None:
            raise RowError("no Create Date")
        try:
            contacts = hubspot_ids(row.get(cols["deal_contacts"]))
            amount = parse_amount(row.get(cols["amount"]))
        except CellError as error:
            raise RowError(str(error)) from None
        pipeline = row.get(cols["pipeline"])
        opens: list[tuple[str, Stamp]] = []
        closes: list[Stamp] = []
        entered: dict[str, Stamp] = {}
        for column in columns:
            text = row.cells.get(column.header, "").strip()
            if not text:
                continue
            stamp = self._stamp(self.labels.get(column.header, column.label), text)
            entered[column.stage] = stamp
            target = self._stage(column.stage, column.pipeline)
            if target is None:
                unknown.append(("HubSpot deal stage", column.label, "its entry dates ignored"))
            elif target.outcome == "pipeline":
                opens.append((target.stage or "", stamp))
            elif target.outcome in (WON, LOST):
                closes.append(stamp)
        raw_stage = row.get(cols["deal_stage"])
        if not raw_stage:
            raise RowError("no Deal Stage")
        current = self._stage(norm_key(raw_stage), norm_key(pipeline) if pipeline else None)
        if current is None:
            label = f"{raw_stage} ({pipeline})" if pipeline else raw_stage
            unknown.append(("HubSpot deal stage", label, "deals there: no outcome, no stage"))
        current_at = entered.get(norm_key(raw_stage))
        if current is not None and current.outcome in (WON, LOST) and current_at is None:
            current_at = self._date(row, cols["close_date"])
            if current_at is None:
                raise RowError(f"deal in {raw_stage!r} without a Close Date")
        if current is not None and current.outcome == "pipeline" and current_at is None:
            current_at = self._date(row, cols["last_modified"]) or created
        reopened = bool(closes) and current is not None and current.outcome == "pipeline"
        source = self._source(row.get(cols["deal_source"]), "", unknown)
        reason = row.get(cols["closed_lost_reason"]) or None
        return Deal(
            record,
            row,
            created,
            contacts,
            amount,
            opens,
            current,
            current_at,
            reopened,
            reason,
            source,
        )

    def _stage(self, stage: str, pipeline: str | None) -> StageTarget | None:
        stages = self.rules.stages
        if pipeline and (target := stages.get(f"{stage} ({pipeline})")) is not None:
            return target
        return stages.get(stage)

    # -- joining -------------------------------------------------------------------

    def drafts(self) -> list[Draft]:
        out: list[Draft] = []
        with_deals: set[str] = set()
        for deal in self.deals.values():
            with_deals.update(deal.contacts)
            out.extend(self._deal_drafts(deal))
        by_lead: dict[str, list[Draft]] = {}
        for draft in out:
            by_lead.setdefault(draft.lead_id, []).append(draft)
        for contact in self.contacts.values():
            lead = f"hubspot-contact-{contact.id}"
            drafts = self._contact_drafts(contact, lead, contact.id in with_deals)
            drafts += by_lead.get(lead, [])
            if not any(d.type in _MAIN_TYPES for d in drafts):
                self.report.note("contacts that never entered a mapped lifecycle stage: no events")
                continue
            if contact.status is not None:
                target, stamp = contact.status
                fields = {"reason": target.reason} if target.reason else {}
                assert target.type is not None
                out.append(Draft(lead, target.type, stamp, lead, fields))
            created = [d for d in drafts if d.type is EventType.LEAD_CREATED]
            own = [d for d in drafts if d.record == lead]
            if not created:
                # Leadflow needs a lead.created for the source; a contact that skipped
                # Lead in HubSpot entered the funnel at its first recorded stage.
                first = min(drafts, key=lambda d: d.at.at)
                self.report.note("contacts without a Lead date: lead.created at their first stage")
                own.append(Draft(lead, EventType.LEAD_CREATED, first.at, lead))
            for draft in own:
                if draft.type is EventType.LEAD_CREATED:
                    draft.fields.update(source=contact.source, score=contact.score)
            out.extend(own)
        referenced = {min(deal.contacts, key=int) for deal in self.deals.values() if deal.contacts}
        missing = sorted(referenced - self.contacts.keys(), key=int)
        if missing:
            self.report.note(
                "deals whose contact is not in the contacts export: no lead.created for it here",
                len(missing),
            )
        return out

    def _contact_drafts(self, contact: Contact, lead: str, has_deals: bool) -> list[Draft]:
        drafts: list[Draft] = []
        for kind, (stamp, reason) in contact.entries.items():
            if has_deals and kind in _DEAL_TYPES:
                continue
            fields = {"reason": reason} if reason else {}
            drafts.append(Draft(lead, kind, stamp, lead, fields))
        if has_deals and any(kind in _DEAL_TYPES for kind in contact.entries):
            self.report.note("contacts with deals: opportunity and customer dates from the deals")
        return drafts

    def _deal_drafts(self, deal: Deal) -> list[Draft]:
        record = f"hubspot-deal-{deal.id}"
        if deal.contacts:
            lead = f"hubspot-contact-{min(deal.contacts, key=int)}"
            drafts: list[Draft] = []
        else:
            lead = record
            self.report.note("deals without an associated contact: a lead of their own")
            drafts = [
                Draft(lead, EventType.LEAD_CREATED, deal.created, record, {"source": deal.source})
            ]
        drafts.append(
            Draft(
                lead, EventType.OPPORTUNITY_CREATED, deal.created, record, {"amount": deal.amount}
            )
        )
        for stage, stamp in deal.opens:
            drafts.append(
                Draft(lead, EventType.OPPORTUNITY_STAGE_CHANGED, stamp, record, {"stage": stage})
            )
        current, at = deal.current, deal.current_at
        if current is None or current.outcome == IGNORE or at is None:
            return drafts
        if current.outcome == "pipeline":
            if (current.stage, at) not in deal.opens:
                drafts.append(
                    Draft(
                        lead,
                        EventType.OPPORTUNITY_STAGE_CHANGED,
                        at,
                        record,
                        {"stage": current.stage},
                    )
                )
            if deal.reopened:
                self.report.note("deals reopened after closing: open, their earlier close ignored")
        elif current.outcome == WON:
            drafts.append(Draft(lead, EventType.DEAL_WON, at, record, {"amount": deal.amount}))
        else:
            drafts.append(
                Draft(lead, EventType.DEAL_LOST, at, record, {"reason": self._reason(deal)})
            )
        return drafts

    def _reason(self, deal: Deal) -> str:
        if not deal.reason:
            self.report.note("lost deals without a Closed Lost Reason: reason 'other'")
            return "other"
        reason, mapped = self.rules.loss_reason(deal.reason)
        if not mapped:
            self.report.unknown("loss reason", deal.reason, deal.row, "reason 'other'")
        return reason
