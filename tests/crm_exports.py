"""Small CSV exports written in a test, and `leadflow import` run on them in-process."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadflow.cli import main


def export(header: list[str], *rows: list[str]) -> str:
    """CSV text as the CRMs write it: a header row, then records (quoted where needed)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


@dataclass
class Imported:
    status: int
    lines: bytes
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines.splitlines()]

    def of(self, lead: str) -> list[tuple[str, str]]:
        """(type, occurred_at) of one lead's events, in output order."""
        return [(e["type"], e["occurred_at"]) for e in self.events if e["lead_id"] == lead]

    def one(self, lead: str, type: str) -> dict[str, Any]:
        matches = [e for e in self.events if e["lead_id"] == lead and e["type"] == type]
        assert len(matches) == 1, f"{lead} has {len(matches)} {type} events: {self.events}"
        return matches[0]


def run_import(
    tmp_path: Path,
    crm: str,
    files: dict[str, str],
    *options: str,
    zone: str = "America/New_York",
    mapping: str | None = None,
    config: str | None = None,
) -> Imported:
    """Write `files` (name -> CSV text) and import them; the output goes to a file."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out = tmp_path / "events.jsonl"
    args = ["import", crm, *(str(tmp_path / name) for name in files), "--out", str(out)]
    if zone:
        args += ["--timezone", zone]
    if mapping is not None:
        (tmp_path / "mapping.yaml").write_text(mapping)
        args += ["--mapping", str(tmp_path / "mapping.yaml")]
    environment = {}
    if config is not None:
        (tmp_path / "leadflow.yaml").write_text(config)
        environment["LEADFLOW_CONFIG"] = str(tmp_path / "leadflow.yaml")
    stderr = io.StringIO()
    with _environment(environment), contextlib.redirect_stderr(stderr):
        status = main([*args, *options])
    lines = out.read_bytes() if out.exists() else b""
    return Imported(status, lines, stderr.getvalue())


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in ("LEADFLOW_CONFIG", *values)}
    os.environ.pop("LEADFLOW_CONFIG", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
