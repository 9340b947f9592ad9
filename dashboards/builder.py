"""A small builder for Grafana dashboard JSON, as plain dicts.

Only what Leadflow's dashboards use: time series, stat, bar gauge and table panels
on a Prometheus data source chosen by a `datasource` variable, query and custom
variables, rows, and an automatic 24-column layout. Output is deterministic (no
ids or timestamps from the clock) so the committed JSON can be checked for drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from string import ascii_uppercase
from typing import Any

JSON = dict[str, Any]

SCHEMA_VERSION = 39  # Grafana 10.x / 11.x dashboards
DATASOURCE: JSON = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    """One PromQL target. `legend` uses Grafana's {{label}} syntax."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False  # one row per series (instant), for table panels


@dataclass(frozen=True)
class Override:
    """Field properties for the series whose display name is `name` (or matches it)."""

    name: str
    properties: tuple[tuple[str, Any], ...]
    regex: bool = False  # `name` is a regular expression such as "/^max .*/"

    def to_json(self) -> JSON:
        return {
            "matcher": {"id": "byRegexp" if self.regex else "byName", "options": self.name},
            "properties": [{"id": key, "value": value} for key, value in self.properties],
        }


@dataclass
class Panel:
    kind: str  # timeseries | stat | bargauge | table | row
    title: str
    queries: Sequence[Query] = ()
    description: str = ""
    unit: str = "short"
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    overrides: Sequence[Override] = ()
    options: JSON = field(default_factory=dict)
    custom: JSON = field(default_factory=dict)
    thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),)
    transformations: Sequence[JSON] = ()

    def to_json(self, panel_id: int, x: int, y: int) -> JSON:
        grid = {"x": x, "y": y, "w": self.width, "h": self.height}
        if self.kind == "row":
            return {
                "type": "row",
                "id": panel_id,
                "title": self.title,
                "gridPos": grid,
                "collapsed": False,
                "panels": [],
            }
        defaults: JSON = {
            "unit": self.unit,
            "thresholds": {
                "mode": "absolute",
                "steps": [{"value": value, "color": color} for value, color in self.thresholds],
            },
        }
        for key in ("min", "max", "decimals"):
            if getattr(self, key) is not None:
                defaults[key] = getattr(self, key)
        if self.custom:
            defaults["custom"] = self.custom
        panel: JSON = {
            "type": self.kind,
            "id": panel_id,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": grid,
            "targets": [_target(query, ascii_uppercase[n]) for n, query in enumerate(self.queries)],
            "fieldConfig": {
                "defaults": defaults,
                "overrides": [override.to_json() for override in self.overrides],
            },
            "options": self.options,
        }
        if self.transformations:
            panel["transformations"] = list(self.transformations)
        return panel


def _target(query: Query, ref_id: str) -> JSON:
    return {
        "refId": ref_id,
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": not (query.instant or query.table),
        "instant": query.instant or query.table,
        "format": "table" if query.table else "time_series",
    }


# --------------------------------------------------------------------- panel kinds

_LEGEND_TABLE = {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}
_REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def timeseries(title: str, *queries: Query, stack: bool = False, **kwargs: Any) -> Panel:
    custom = {
        "drawStyle": "line",
        "lineWidth": 2,
        "fillOpacity": 20 if stack else 0,
        "showPoints": "never",
        "spanNulls": True,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    options = {"legend": _LEGEND_TABLE, "tooltip": {"mode": "multi", "sort": "desc"}}
    return Panel("timeseries", title, queries, custom=custom, options=options, **kwargs)


def stat(title: str, *queries: Query, **kwargs: Any) -> Panel:
    options = {
        "reduceOptions": _REDUCE_LAST,
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "textMode": "auto",
        "orientation": "auto",
    }
    kwargs.setdefault("width", 6)
    kwargs.setdefault("height", 4)
    return Panel("stat", title, queries, options=options, **kwargs)


def bargauge(title: str, *queries: Query, **kwargs: Any) -> Panel:
    options = {
        "reduceOptions": _REDUCE_LAST,
        "orientation": "horizontal",
        "displayMode": "gradient",
        "showUnfilled": True,
        "valueMode": "color",
        "namePlacement": "auto",
    }
    return Panel("bargauge", title, queries, options=options, **kwargs)


def table(title: str, *queries: Query, columns: dict[str, str], **kwargs: Any) -> Panel:
    """Instant queries joined on their labels; `columns` renames "Value #A" etc."""
    transformations = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True}, "renameByName": columns},
        },
    ]
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return Panel(
        "table", title, queries, options=options, transformations=transformations, **kwargs
    )


def barchart(title: str, *queries: Query, x_field: str = "period_start", **kwargs: Any) -> Panel:
    """One bar group per value of `x_field` (a label every query keeps), one bar per query.

    The queries are instant tables joined on `x_field`; each bar is named by its
    query's legend. Made for per-period views: every kept period is on the board
    as soon as the workers export it, with no history to accumulate in Prometheus.
    """
    table_queries = tuple(
        Query(query.expr, query.legend, instant=True, table=True) for query in queries
    )
    names = {f"Value #{ascii_uppercase[n]}": query.legend for n, query in enumerate(queries)}
    if len(queries) == 1:
        names = {"Value": queries[0].legend}
    transformations = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": names}},
        {"id": "sortBy", "options": {"sort": [{"field": x_field}]}},
    ]
    options = {
        "xField": x_field,
        "orientation": "vertical",
        "groupWidth": 0.7,
        "barWidth": 0.9,
        "showValue": "never",
        "stacking": "none",
        "xTickLabelRotation": -45,
        "legend": {"displayMode": "list", "placement": "bottom", "calcs": []},
        "tooltip": {"mode": "multi", "sort": "none"},
    }
    return Panel(
        "barchart",
        title,
        table_queries,
        options=options,
        transformations=transformations,
        custom={"fillOpacity": 80, "lineWidth": 1},
        **kwargs,
    )


def row(title: str) -> Panel:
    return Panel("row", title, width=GRID_WIDTH, height=1)


def band_overrides(upper: str, lower: str, target: str) -> tuple[Override, ...]:
    """Dashed target line, with the healthy band shaded between its bounds."""
    dashed = ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})
    green = ("color", {"mode": "fixed", "fixedColor": "green"})
    return (
        Override(upper, (green, dashed, ("custom.fillBelowTo", lower), ("custom.fillOpacity", 15))),
        Override(lower, (green, dashed)),
        Override(target, (("color", {"mode": "fixed", "fixedColor": "blue"}), dashed)),
    )


def limit_override(name: str, color: str = "red", *, regex: bool = False) -> Override:
    """A configured limit drawn as a dashed line."""
    return Override(
        name,
        (
            ("color", {"mode": "fixed", "fixedColor": color}),
            ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
        ),
        regex=regex,
    )


def threshold_line(panel: Panel) -> Panel:
    """Draw the panel's thresholds as lines (for fixed reference values such as 1)."""
    panel.custom = {**panel.custom, "thresholdsStyle": {"mode": "line+area"}}
    return panel


# ----------------------------------------------------------------------- variables


def datasource_variable() -> JSON:
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> JSON:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,  # on time range change: new sources appear without a reload
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "options": [],
        "regex": "",
    }


def custom_variable(name: str, label: str, values: Sequence[str], default: str) -> JSON:
    return {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(values),
        "current": {"selected": True, "text": default, "value": default},
        "options": [
            {"selected": value == default, "text": value, "value": value} for value in values
        ],
        "multi": False,
        "includeAll": False,
        "hide": 0,
    }


# ----------------------------------------------------------------------- dashboard


def layout(panels: Sequence[Panel]) -> list[JSON]:
    """Place panels left to right, wrapping at the grid width; rows start a line."""
    out: list[JSON] = []
    x = y = line_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if panel.kind == "row" or x + panel.width > GRID_WIDTH:
            y, x, line_height = y + line_height, 0, 0
        out.append(panel.to_json(panel_id, x, y))
        x += panel.width
        line_height = max(line_height, panel.height)
        if panel.kind == "row":
            y, x, line_height = y + panel.height, 0, 0
    return out


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[Panel],
    variables: Sequence[JSON],
    *,
    time_from: str = "now-7d",
) -> JSON:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["leadflow"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,  # shared crosshair
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "title": "Leadflow",
                "tags": ["leadflow"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": list(variables)},
        "panels": layout(panels),
    }
