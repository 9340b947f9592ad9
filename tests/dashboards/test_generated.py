"""Generated files are committed (Prometheus and Grafana read files); they must be
exactly what `make generate` writes from the code."""

from __future__ import annotations

import yaml

from dashboards import recording
from dashboards.generate import RECORDING_RULES
from projections import catalog


def test_committed_recording_rules_are_what_the_catalogue_generates() -> None:
    committed = RECORDING_RULES.read_text(encoding="utf-8")
    assert committed == recording.render(), "run `make generate` and commit the result"


def _records() -> list[dict]:
    document = yaml.safe_load(recording.render())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_additive_family_is_summed_at_both_levels() -> None:
    recorded = {rule["record"] for rule in _records()}
    for metric in catalog.ADDITIVE_METRICS:
        for level in catalog.LEVELS:
            assert catalog.sum_name(level, metric) in recorded


def test_every_catalogue_ratio_is_one_rule_per_level_and_variant() -> None:
    rules = [(rule["record"], tuple(sorted(rule.get("labels", {}).items()))) for rule in _records()]
    for ratio in catalog.RATIOS:
        for level in catalog.LEVELS:
            key = (catalog.derived_name(level, ratio.name), tuple(sorted(ratio.labels)))
            assert rules.count(key) == 1, key


def test_every_interval_records_its_trials_and_both_bounds() -> None:
    recorded = {rule["record"] for rule in _records()}
    for interval in catalog.INTERVALS:
        for name in (interval.trials_name, interval.lower, interval.upper):
            for level in catalog.LEVELS:
                assert catalog.derived_name(level, name) in recorded


def test_a_ratio_renders_as_zero_filled_numerator_over_its_denominator() -> None:
    expr = recording.ratio_expr(
        catalog.MQL_TO_SQL, lambda chosen: recording.selection("period", chosen)
    )
    assert expr == (
        '(period:leadflow_stage_entries:sum{stage="sql"}\n'
        'or ignoring (stage) 0 * period:leadflow_stage_entries:sum{stage="mql"})\n'
        '/ ignoring (stage) period:leadflow_stage_entries:sum{stage="mql"}'
    )
