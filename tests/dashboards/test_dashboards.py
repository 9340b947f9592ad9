"""Grafana dashboards as code: committed JSON up to date, structure, queries, push.

Whether every panel query returns data is checked against a real Prometheus in
tests/dashboards/test_rules.py. A real Grafana is not available here, so `push` is tested up
to the payloads it sends.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import DASHBOARDS, build_all, main, panel_queries, render
from leadflow.cli import main as leadflow_main
from leadflow.dashboards import PUSH_MESSAGE, ensure_folder, folder_uid, push_payloads
from projections import catalog
from streams.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "dashboards" / "grafana"
PROVISIONING = GRAFANA_DIR / "provisioning"
RECORDING = ROOT / "dashboards" / "prometheus" / "rules" / "leadflow-recording.yml"
BUSINESS = ("leadflow-funnel.json", "leadflow-sources.json", "leadflow-velocity.json")

# The workers' operational series (streams/telemetry.py) and Prometheus' own.
# What a live worker exports besides the catalogue: its telemetry registry.
OPERATIONAL = {
    name
    for family in Telemetry().registry.collect()
    for name in (family.name, *(sample.name for sample in family.samples))
}


def _known_series() -> set[str]:
    rules = yaml.safe_load(RECORDING.read_text(encoding="utf-8"))
    recorded = {rule["record"] for group in rules["groups"] for rule in group["rules"]}
    exported = {
        metric.name for metric in (*catalog.ADDITIVE_METRICS, *catalog.POINT_IN_TIME_METRICS)
    }
    config = {value for key, value in vars(catalog).items() if key.startswith("TARGET_")}
    config |= {catalog.PERIOD_PROGRESS, catalog.PERIOD_YEAR_BEFORE, catalog.FUNNEL_STAGE_INFO}
    config.add(catalog.EVIDENCE_Z)
    return recorded | exported | config | OPERATIONAL


def test_committed_json_is_what_the_builder_writes() -> None:
    built = build_all()
    on_disk = {path.name for path in GRAFANA_DIR.glob("*.json")}
    assert on_disk == set(built), "run `python -m dashboards.build`"
    for name, document in built.items():
        committed = (GRAFANA_DIR / name).read_text(encoding="utf-8")
        assert committed == render(document), f"{name} is stale: run `python -m dashboards.build`"


def test_build_entry_points_write_the_same_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "module")]) == 0
    assert leadflow_main(["dashboards", "build", "--out", str(tmp_path / "cli")]) == 0
    for name in DASHBOARDS:
        expected = (GRAFANA_DIR / name).read_text(encoding="utf-8")
        assert (tmp_path / "module" / name).read_text(encoding="utf-8") == expected
        assert (tmp_path / "cli" / name).read_text(encoding="utf-8") == expected


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_structure(name: str) -> None:
    document = build_all()[name]
    assert document["title"].startswith("Leadflow / ")
    assert document["uid"] == name.removesuffix(".json")
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in document["templating"]["list"]}
    assert "datasource" in variables
    for panel in document["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]


def test_panels_do_not_overlap() -> None:
    for name, document in build_all().items():
        cells: set[tuple[int, int]] = set()
        for panel in document["panels"]:
            grid = panel["gridPos"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, (name, panel["title"])
            cells |= area


@pytest.mark.parametrize("name", BUSINESS)
def test_business_dashboards_filter_by_source_and_period(name: str) -> None:
    document = build_all()[name]
    variables = {variable["name"]: variable for variable in document["templating"]["list"]}
    assert variables["source"]["multi"] and variables["source"]["includeAll"]
    assert variables["period"]["query"] == "day,week,month,quarter"
    for title, expr in panel_queries(document):
        if "period_source:" in expr:
            assert "$source" in expr, title


def test_targets_are_drawn_from_the_target_series() -> None:
    queries = {
        name: "\n".join(expr for _, expr in panel_queries(document))
        for name, document in build_all().items()
    }
    assert catalog.TARGET_RATIO in queries["leadflow-funnel.json"]
    assert catalog.TARGET_RATIO in queries["leadflow-sources.json"]
    assert catalog.TARGET_MQL_TO_SQL_MIN in queries["leadflow-funnel.json"]
    assert catalog.TARGET_LEAD_TO_MQL_MAX_DROP in queries["leadflow-funnel.json"]
    assert catalog.TARGET_CLOSED_DEALS in queries["leadflow-funnel.json"]
    assert catalog.TARGET_DWELL_MAX in queries["leadflow-velocity.json"]
    assert catalog.TARGET_RESPONSE_MAX in queries["leadflow-velocity.json"]


def test_queries_only_use_series_that_exist() -> None:
    known = _known_series()
    for name, document in build_all().items():
        for title, expr in panel_queries(document):
            names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
            used = {n for n in names if n.startswith("leadflow_") or n.count(":") == 2}
            assert used <= known, (name, title, sorted(used - known))


def test_provisioning_points_at_the_dashboards() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "leadflow.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "leadflow.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    # `push` lands in the same folder as provisioning.
    assert provider["folderUid"] == folder_uid(provider["folder"])


# --------------------------------------------------------------------------- push


def test_push_payloads_replace_by_uid_in_the_folder() -> None:
    documents = list(build_all().values())
    payloads = push_payloads(documents, "leadflow")
    assert len(payloads) == len(documents)
    for payload, document in zip(payloads, documents, strict=True):
        assert payload["folderUid"] == "leadflow"
        assert payload["overwrite"] is True
        assert payload["message"] == PUSH_MESSAGE
        body = payload["dashboard"]
        assert body["uid"] == document["uid"] and body["title"] == document["title"]
        assert body["id"] is None and "version" not in body
        assert body["panels"] == document["panels"]
        json.dumps(payload)  # serialisable as the request body
    assert "version" in documents[0], "the built documents must not be modified"


class _Folders:
    """Stands in for grafana_client's folder API (no HTTP involved)."""

    def __init__(self, existing: list[dict[str, Any]]) -> None:
        self.existing = existing
        self.created: list[tuple[str, str | None]] = []

    def get_all_folders(self) -> list[dict[str, Any]]:
        return self.existing

    def create_folder(self, title: str, uid: str | None = None) -> dict[str, Any]:
        self.created.append((title, uid))
        return {"title": title, "uid": uid}


def test_push_reuses_an_existing_folder() -> None:
    folders = _Folders([{"title": "Other", "uid": "x"}, {"title": "Leadflow", "uid": "abc"}])
    assert ensure_folder(folders, "Leadflow") == "abc"
    assert folders.created == []


def test_push_creates_a_missing_folder_with_a_stable_uid() -> None:
    folders = _Folders([])
    assert ensure_folder(folders, "Revenue Ops / Leadflow") == "revenue-ops-leadflow"
    assert folders.created == [("Revenue Ops / Leadflow", "revenue-ops-leadflow")]


def test_push_reports_an_unreachable_grafana(monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on localhost: connection refused, no server involved.
    monkeypatch.setenv("LEADFLOW_GRAFANA_URL", "http://127.0.0.1:9")
    assert leadflow_main(["dashboards", "push"]) == 1
