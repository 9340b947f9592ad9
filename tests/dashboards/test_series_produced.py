"""Every series an alert, a recording rule or a dashboard reads is produced by code.

A rule or a panel reading a name nothing exports is dead: promtool tests feed it
synthetic series, so they pass, and in production it never fires or stays blank.
This lists every metric name the rule files and the generated dashboards use and
checks each one against what the code exports: the additive and point-in-time
families and the configuration series (`projections`), the worker's telemetry
registry (`streams.telemetry`), the recording rules' own names, and Prometheus'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics_core import Metric

from leadflow.config import LeadflowConfig
from projections import AsOf, Calendar, catalog
from projections.snapshot import configuration_families
from streams.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "dashboards" / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "dashboards" / "grafana").glob("*.json"))

# Series Prometheus makes itself (scrape health, alert state).
PROMETHEUS_OWN = frozenset(
    {
        "up",
        "ALERTS",
        "ALERTS_FOR_STATE",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}
# A selector by name regex (`{__name__=~"leadflow_(a|b)_total"}`), and plain names:
# leadflow_* and recorded level:metric:operation names.
_NAME_REGEX = re.compile(r"""__name__\s*=~\s*["']([^"']+)["']""")
# A recorded name whose level a template fills in: printf "%s:leadflow_x:ratio" $level.
_ANY_LEVEL = re.compile(r"%s:([a-z0-9_]+:[a-z0-9_]+)")
_NAME = re.compile(r"(?<![\w:.\-/#])((?:[a-z_]+:)+[a-z0-9_]+|leadflow_[a-z0-9_]+|up)\b(?!\s*\()")


def exported_names() -> frozenset[str]:
    """Names a worker or `replay` puts on /metrics, from the code that does it."""
    names = {metric.name for metric in catalog.ADDITIVE_METRICS}
    names |= {metric.name for metric in catalog.POINT_IN_TIME_METRICS}
    funnel = LeadflowConfig().to_funnel()
    calendar = Calendar(funnel.timezone)
    as_of = AsOf.at(calendar, 1_773_847_800_000_000)  # 2026-03-18T15:30:00Z
    names |= {family.name for family in configuration_families(funnel, calendar, as_of, ())}
    family: Metric
    for family in Telemetry().registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
    return frozenset(names)


def recorded_names() -> frozenset[str]:
    return frozenset(
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "record" in rule
    )


def names_in(query: str) -> set[str]:
    """Metric names a PromQL query (or an annotation template holding queries) reads."""
    names = set()
    for pattern in _NAME_REGEX.findall(query):
        names |= _expand(pattern)
    for name in _ANY_LEVEL.findall(query):
        names |= {f"{level}:{name}" for level in (catalog.LEVEL_SOURCE, catalog.LEVEL_ALL)}
    names |= set(_NAME.findall(_ANY_LEVEL.sub("", _NAME_REGEX.sub("", query))))
    return names


def _expand(pattern: str) -> set[str]:
    """The names a `prefix_(a|b|c)_suffix` regex stands for (one group, no other syntax)."""
    match = re.fullmatch(r"([\w:]*)\(([\w|]+)\)([\w:]*)", pattern)
    if match is None:
        assert re.fullmatch(r"[\w:]+", pattern), f"name regex too clever to check: {pattern}"
        return {pattern}
    prefix, choices, suffix = match.groups()
    return {prefix + choice + suffix for choice in choices.split("|")}


def rule_queries() -> Iterator[tuple[str, str]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule["record"]
                yield f"{path.name}: {name}", rule["expr"]
                for key, text in rule.get("annotations", {}).items():
                    yield f"{path.name}: {name}.{key}", text


def dashboard_queries() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        document = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(document.get("panels", [])):
            for target in panel.get("targets", []):
                if "expr" in target:
                    yield f"{path.name}: {panel.get('title')}", target["expr"]
        for variable in document.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") == "query":
                text = query.get("query", "") if isinstance(query, dict) else query
                yield f"{path.name}: ${variable['name']}", text


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def test_the_name_extraction_sees_selectors_name_regexes_and_recorded_names() -> None:
    query = (
        'sum by (source) (period_source:leadflow_stage_entries:sum{stage="won"})'
        " / rate(leadflow_ingest_latency_seconds_count[5m])"
        ' + increase({__name__=~"leadflow_events_(processed|duplicate)_total"}[2h])'
        ' and on () count(up{job="leadflow"} == 1) > 0'
    )
    assert names_in(query) == {
        "period_source:leadflow_stage_entries:sum",
        "leadflow_ingest_latency_seconds_count",
        "leadflow_events_processed_total",
        "leadflow_events_duplicate_total",
        "up",
    }


def test_annotation_queries_are_read_too() -> None:
    text = (
        "{{ with printf \"sum(leadflow_stalled_leads{source='%s'})\" $labels.source | query }}"
        "{{ . | first | value }}{{ end }} of the leadflow stage"
        "{{ with printf \"%s:leadflow_win:ratio{period='week'}\" $level | query }}{{ end }}"
    )
    assert names_in(text) == {
        "leadflow_stalled_leads",
        "period_source:leadflow_win:ratio",
        "period:leadflow_win:ratio",
    }


def test_the_exported_names_include_telemetry_with_their_suffixes() -> None:
    names = exported_names()
    assert {
        "leadflow_processing_errors_total",
        "leadflow_ingest_latency_seconds_bucket",
        "leadflow_consumer_lag",
        "leadflow_stage_entries",
        "leadflow_target_qualified_to_won_ratio",
        "leadflow_funnel_stage_info",
    } <= names
    assert "leadflow_processing_errors" in names  # the family, as the client names it


def test_every_series_the_rules_read_is_exported_or_recorded() -> None:
    known = exported_names() | recorded_names() | PROMETHEUS_OWN
    dead = {
        (where, name)
        for where, query in rule_queries()
        for name in names_in(query)
        if name not in known
    }
    assert dead == set()


def test_every_series_the_dashboards_read_is_exported_or_recorded() -> None:
    known = exported_names() | recorded_names() | PROMETHEUS_OWN
    queries = list(dashboard_queries())
    assert len(queries) > 20
    dead = {
        (where, name) for where, query in queries for name in names_in(query) if name not in known
    }
    assert dead == set()


def test_a_name_no_code_exports_is_reported() -> None:
    known = exported_names() | recorded_names() | PROMETHEUS_OWN
    query = "sum(increase(leadflow_batches_failed_total[10m])) > 0"
    assert names_in(query) - known == {"leadflow_batches_failed_total"}
