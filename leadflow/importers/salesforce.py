"""Salesforce's Lead, Opportunity and OpportunityHistory exports as drafts of events.

Who is the lead: a Lead record is a lead (`salesforce-lead-<Id>`). The
opportunity it was converted into (Lead.ConvertedOpportunityId) continues that
lead, so the conversion, the pipeline and the outcome count for the lead that
marketing brought in. An opportunity no lead was converted into is a lead of its
own (`salesforce-opportunity-<Id>`) that enters the funnel when the opportunity is
created, with the opportunity's Lead Source. Ids are compared in their
18-character form, so report exports (15) and Data Loader exports (18) join.

Which dates count: the Lead's date fields as mapped (by default CreatedDate is
lead.created and ConvertedDate is lead.sql: converting a lead is sales accepting
it); OpportunityHistory rows give pipeline stage entries; the opportunity's
current state (IsClosed, IsWon) decides its outcome, dated by the history row that
entered the current stage, else by CloseDate. A reopened opportunity is open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from events import EventType
from leadflow.importers.cells import (
    CellError,
    norm_key,
    parse_amount,
    parse_bool,
    salesforce_id,
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

LEADS, OPPORTUNITIES, HISTORY = "leads", "opportunities", "history"
KINDS = (LEADS, OPPORTUNITIES, HISTORY)

StampReader = Callable[[str], Stamp]


def kind_of(headers: list[str], rules: Rules) -> str | None:
    """Which export a file is, from its headers; None if neither."""
    cols = rules.columns

    def has(column: str) -> bool:
        return find_column(headers, cols[column]) is not None

    # OpportunityHistory has no IsWon/IsClosed; an Opportunity report may call its own
    # id "Opportunity ID", the history's reference to it.
    if has("stage") and (has("won") or has("closed")):
        return OPPORTUNITIES
    if has("opportunity") and has("stage"):
        return HISTORY
    if has("stage") and has("close_date"):
        return OPPORTUNITIES
    if has("id") and (has("status") or has("converted") or has("converted_date")):
        return LEADS
    return None


@dataclass(slots=True)
class Lead:
    id: str
    row: Row
    entries: list[tuple[EventType, Stamp, str | None, str]]  # type, at, reason, column
    source: str
    status: tuple[Target, Stamp] | None
    converted_to: str | None


@dataclass(slots=True)
class Opportunity:
    id: str
    row: Row
    created: Stamp
    stage: str  # as exported
    current: StageTarget | None
    outcome: str | None  # WON, LOST, "open", or None when neither flags nor mapping say
    amount: float | None
    close: Stamp | None
    modified: Stamp | None
    source: str
    reason: str | None


@dataclass(slots=True)
class HistoryRow:
    row: Row
    stage: str
    target: StageTarget | None
    at: Stamp
    amount: float | None


@dataclass
class SalesforceImport:
    rules: Rules
    read_stamp: StampReader
    report: Report
    leads: dict[str, Lead] = field(default_factory=dict)
    opportunities: dict[str, Opportunity] = field(default_factory=dict)
    history: dict[str, list[HistoryRow]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # comparable -> exported header

    def add_rows(self, kind: str, headers: list[str], rows: Iterable[Row]) -> None:
        self.labels.update((norm_key(header), header.strip()) for header in headers)
        parse = {LEADS: self._lead, OPPORTUNITIES: self._opportunity, HISTORY: self._history}[kind]
        for row in rows:
            self.report.rows[kind] += 1
            if row.problem:
                self.report.skip(row, row.problem)
                continue
            unknown: list[tuple[str, str, str]] = []
            try:
                parse(row, unknown)
            except RowError as error:
                self.report.skip(row, str(error))
                continue
            for what, value, outcome in unknown:
                self.report.unknown(what, value, row, outcome)

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

    def _id(self, row: Row, column: str, what: str) -> str:
        text = row.get(self.rules.columns[column])
        if not text:
            raise RowError(f"no {what}")
        try:
            return salesforce_id(text)
        except CellError as error:
            raise RowError(f"{what}: {error}") from None

    def _source(self, raw: str, unknown: list[tuple[str, str, str]]) -> str:
        if not raw:
            return "unknown"
        mapped = self.rules.sources.get(norm_key(raw))
        if mapped is None:
            mapped = slug(raw)
            unknown.append(("Salesforce lead source", raw, f"imported as source {mapped!r}"))
        return mapped

    def _stage(
        self, raw: str, unknown: list[tuple[str, str, str]], outcome: str
    ) -> StageTarget | None:
        target = self.rules.stages.get(norm_key(raw))
        if target is None:
            unknown.append(("Salesforce opportunity stage", raw, outcome))
        return target

    def _lead(self, row: Row, unknown: list[tuple[str, str, str]]) -> None:
        rules, cols = self.rules, self.rules.columns
        lead_id = self._id(row, "id", "Id")
        entries: list[tuple[EventType, Stamp, str | None, str]] = []
        for key, target in rules.funnel_types.items():
            if target.type is None:
                continue
            stamp = self._date(row, cols.get(key.replace(" ", "_"), (key,)))
            if stamp is not None:
                entries.append((target.type, stamp, target.reason, key))
        if not any(kind is EventType.LEAD_CREATED for kind, *_ in entries):
            raise RowError("no created date (the lead_dates field mapped to lead.created)")
        status = dated_status(
            row.get(cols["status"]),
            rules.statuses,
            lambda: self._date(row, cols["status_date"]),
            "Salesforce",
            unknown,
            self.report.note,
        )
        converted_to = None
        if row.get(cols["converted_opportunity"]):
            converted_to = self._id(row, "converted_opportunity", "ConvertedOpportunityId")
        try:
            converted = parse_bool(row.get(cols["converted"]))
        except CellError as error:
            raise RowError(f"IsConverted: {error}") from None
        if converted and not row.get(cols["converted_date"]):
            self.report.note("converted leads without a ConvertedDate: no conversion event")
        source = self._source(row.get(cols["source"]), unknown)
        if lead_id in self.leads:
            self.report.note("lead rows for a record already read: the later row used")
        self.leads[lead_id] = Lead(lead_id, row, entries, source, status, converted_to)

    def _opportunity(self, row: Row, unknown: list[tuple[str, str, str]]) -> None:
        cols = self.rules.columns
        opportunity = self._id(row, "id", "Id")
        created = self._date(row, cols["created_date"])
        if created is None:
            raise RowError("no CreatedDate")
        stage = row.get(cols["stage"])
        if not stage:
            raise RowError("no StageName")
        try:
            amount = parse_amount(row.get(cols["amount"]))
            closed_text, won_text = row.get(cols["closed"]), row.get(cols["won"])
            closed = parse_bool(closed_text) if closed_text else None
            won = parse_bool(won_text) if won_text else None
        except CellError as error:
            raise RowError(str(error)) from None
        if closed is not None:
            # The stage's own metadata (IsClosed, IsWon) is authoritative, so renamed
            # closing stages need no mapping to count as won or lost.
            outcome: str | None = (WON if won else LOST) if closed else "open"
            current = self._stage(stage, unknown, "no pipeline stage") if not closed else None
        else:
            current = self._stage(stage, unknown, "opportunity imported without its outcome")
            outcome = None if current is None else current.outcome
            outcome = "open" if outcome == "pipeline" else outcome
        close = self._date(row, cols["close_date"])
        modified = self._date(row, cols["last_modified"])
        source = self._source(row.get(cols["source"]), unknown)
        reason = row.get(cols["loss_reason"]) or None
        if opportunity in self.opportunities:
            self.report.note("opportunity rows for a record already read: the later row used")
        self.opportunities[opportunity] = Opportunity(
            opportunity,
            row,
            created,
            stage,
            current,
            outcome,
            amount,
            close,
            modified,
            source,
            reason,
        )

    def _history(self, row: Row, unknown: list[tuple[str, str, str]]) -> None:
        cols = self.rules.columns
        opportunity = self._id(row, "opportunity", "OpportunityId")
        stage = row.get(cols["stage"])
        if not stage:
            raise RowError("no StageName")
        at = self._date(row, cols["created_date"])
        if at is None:
            raise RowError("no CreatedDate")
        try:
            amount = parse_amount(row.get(cols["amount"]))
        except CellError as error:
            raise RowError(str(error)) from None
        target = self._stage(stage, unknown, "no event")
        entries = self.history.setdefault(opportunity, [])
        if any(h.at == at and norm_key(h.stage) == norm_key(stage) for h in entries):
            return  # the same history row from an overlapping export
        entries.append(HistoryRow(row, stage, target, at, amount))

    # -- joining -------------------------------------------------------------------

    def drafts(self) -> list[Draft]:
        lead_of: dict[str, str] = {}
        for lead in self.leads.values():
            if lead.converted_to:
                lead_of[lead.converted_to] = f"salesforce-lead-{lead.id}"
        out: list[Draft] = []
        for lead in self.leads.values():
            out.extend(self._lead_drafts(lead))
        for opportunity in self.opportunities.values():
            out.extend(self._opportunity_drafts(opportunity, lead_of))
        orphans = sorted(self.history.keys() - self.opportunities.keys())
        for opportunity_id in orphans:
            out.extend(self._history_only(opportunity_id, lead_of))
        return out

    def _lead_drafts(self, lead: Lead) -> list[Draft]:
        lead_id = f"salesforce-lead-{lead.id}"
        converted = self.opportunities.get(lead.converted_to or "")
        drafts: list[Draft] = []
        for kind, stamp, reason, column in lead.entries:
            if (
                column == "converted date"
                and stamp.date_only
                and converted is not None
                and converted.created.day == stamp.day
            ):
                # ConvertedDate has no time, but converting created the opportunity:
                # its CreatedDate is the moment of conversion.
                stamp = converted.created
            fields: dict[str, object] = {"reason": reason} if reason else {}
            if kind is EventType.LEAD_CREATED:
                fields["source"] = lead.source
            drafts.append(Draft(lead_id, kind, stamp, lead_id, fields))
        if lead.status is not None:
            target, stamp = lead.status
            assert target.type is not None
            fields = {"reason": target.reason} if target.reason else {}
            drafts.append(Draft(lead_id, target.type, stamp, lead_id, fields))
        return drafts

    def _opportunity_drafts(self, opp: Opportunity, lead_of: dict[str, str]) -> list[Draft]:
        record = f"salesforce-opportunity-{opp.id}"
        lead = lead_of.get(opp.id)
        drafts: list[Draft] = []
        if lead is None:
            lead = record
            self.report.note("opportunities not converted from a lead here: a lead of their own")
            drafts.append(
                Draft(lead, EventType.LEAD_CREATED, opp.created, record, {"source": opp.source})
            )
        drafts.append(
            Draft(lead, EventType.OPPORTUNITY_CREATED, opp.created, record, {"amount": opp.amount})
        )
        history = sorted(self.history.get(opp.id, []), key=lambda h: h.at.at)
        closed_before = False
        for entry in history:
            if entry.target is None or entry.target.outcome == IGNORE:
                continue
            if entry.target.outcome == "pipeline":
                drafts.append(
                    Draft(
                        lead,
                        EventType.OPPORTUNITY_STAGE_CHANGED,
                        entry.at,
                        record,
                        {"stage": entry.target.stage},
                    )
                )
            else:
                closed_before = True
        same_stage = [h for h in history if norm_key(h.stage) == norm_key(opp.stage)]
        entered = same_stage[-1].at if same_stage else None
        if opp.outcome == "open":
            if closed_before:
                self.report.note("opportunities reopened after closing: open, the close ignored")
            if entered is None and opp.current is not None and opp.current.stage:
                at = opp.modified or opp.created
                drafts.append(
                    Draft(
                        lead,
                        EventType.OPPORTUNITY_STAGE_CHANGED,
                        at,
                        record,
                        {"stage": opp.current.stage},
                    )
                )
        elif opp.outcome in (WON, LOST):
            at = entered or opp.close
            if at is None:
                self.report.skip(opp.row, f"closed opportunity ({opp.stage!r}) without a CloseDate")
                return []
            if opp.outcome == WON:
                drafts.append(Draft(lead, EventType.DEAL_WON, at, record, {"amount": opp.amount}))
            else:
                reason = self._reason(opp.reason, opp.row)
                drafts.append(Draft(lead, EventType.DEAL_LOST, at, record, {"reason": reason}))
        return drafts

    def _history_only(self, opportunity_id: str, lead_of: dict[str, str]) -> list[Draft]:
        record = f"salesforce-opportunity-{opportunity_id}"
        lead = lead_of.get(opportunity_id, record)
        history = sorted(self.history[opportunity_id], key=lambda h: h.at.at)
        self.report.note("opportunities only in OpportunityHistory: imported from their history")
        first, last = history[0], history[-1]
        drafts = [
            Draft(lead, EventType.OPPORTUNITY_CREATED, first.at, record, {"amount": first.amount})
        ]
        for entry in history:
            if entry.target is not None and entry.target.outcome == "pipeline":
                drafts.append(
                    Draft(
                        lead,
                        EventType.OPPORTUNITY_STAGE_CHANGED,
                        entry.at,
                        record,
                        {"stage": entry.target.stage},
                    )
                )
        if last.target is not None and last.target.outcome == WON:
            drafts.append(Draft(lead, EventType.DEAL_WON, last.at, record, {"amount": last.amount}))
        elif last.target is not None and last.target.outcome == LOST:
            drafts.append(Draft(lead, EventType.DEAL_LOST, last.at, record, {"reason": "other"}))
        return drafts

    def _reason(self, raw: str | None, row: Row) -> str:
        if not raw:
            self.report.note("lost opportunities without a loss reason: reason 'other'")
            return "other"
        reason, mapped = self.rules.loss_reason(raw)
        if not mapped:
            self.report.unknown("loss reason", raw, row, "reason 'other'")
        return reason
