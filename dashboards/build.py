"""Write the Grafana dashboards as JSON: `python -m dashboards.build [--out DIR]`.

The JSON in dashboards/grafana/ is committed (Grafana provisioning reads it) and a
test checks it matches this builder, so edit the Python, then rebuild.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dashboards import breakdowns, funnel, pipeline, sources, velocity

DEFAULT_OUT = Path(__file__).resolve().parent / "grafana"

# File name -> builder. The names are stable: provisioning and links use the uids.
DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "leadflow-funnel.json": funnel.build,
    "leadflow-sources.json": sources.build,
    "leadflow-velocity.json": velocity.build,
    "leadflow-pipeline.json": pipeline.build,
    "leadflow-breakdowns.json": breakdowns.build,
}


def build_all() -> dict[str, dict[str, Any]]:
    return {name: build() for name, build in DASHBOARDS.items()}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in build_all().items():
        path = out / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def panel_queries(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, rows included."""
    for panel in _panels(document.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel.get("title", ""), target["expr"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write Leadflow's Grafana dashboards as JSON.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    for path in write_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
