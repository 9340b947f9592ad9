"""Template variables shared by the business dashboards."""

from __future__ import annotations

from dashboards.builder import JSON, custom_variable, datasource_variable, query_variable
from dashboards.promql import ENTRIES
from projections import catalog


def business() -> list[JSON]:
    """Data source, sources (multi, default all), period kind and window."""
    return [
        datasource_variable(),
        query_variable("source", "Source", f"label_values({ENTRIES}, source)"),
        custom_variable("period", "Period", ("day", "week", "month", "quarter"), "month"),
        custom_variable("window", "Window", ("current", "previous"), "current"),
    ]


def breakdowns() -> list[JSON]:
    """Campaigns and segments (multi, default all), from the recorded entries."""
    return [
        query_variable(
            name,
            name.capitalize(),
            f"label_values({catalog.sum_name(catalog.LEVEL_SOURCE, metric)}, {name})",
        )
        for name, metric in catalog.BREAKDOWN_ENTRIES.items()
    ]
