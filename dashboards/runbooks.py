"""The Prometheus rule files with runbook links that open where the paged person is.

The committed rules link every alert to its section of docs/runbooks.md under the
project's published docs (`DEFAULT_RUNBOOK_BASE_URL`). A relative link is not
clickable in an email or a Slack message, so a deployment whose runbooks live
elsewhere (a wiki, its own git server) writes the rules with its own base instead:
`leadflow rules build --out DIR` with LEADFLOW_RUNBOOK_BASE_URL set.
"""

from __future__ import annotations

import re
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent / "prometheus" / "rules"
DEFAULT_RUNBOOK_BASE_URL = "https://leadflow.dev/docs/runbooks"

# Line-based, not a YAML round trip, so the written files keep their comments and layout.
_RUNBOOK_URL = re.compile(r"^(?P<key>[ \t]*runbook_url:[ \t]*)(?P<url>\S+)[ \t]*$", re.MULTILINE)


def runbook_urls(text: str) -> list[str]:
    return [match["url"] for match in _RUNBOOK_URL.finditer(text)]


def with_runbook_base(text: str, base_url: str) -> str:
    """Rules text whose every `runbook_url` is `base_url#<the same anchor>`."""
    base = base_url.rstrip("/")

    def relink(match: re.Match[str]) -> str:
        anchor = match["url"].partition("#")[2]
        return f"{match['key']}{base}#{anchor}"

    return _RUNBOOK_URL.sub(relink, text)


def write_rules(out: Path, base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> list[Path]:
    """Every rule file, its runbook links under `base_url`, written into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(RULES_DIR.glob("*.yml")):
        target = out / source.name
        target.write_text(with_runbook_base(source.read_text(encoding="utf-8"), base_url))
        written.append(target)
    return written
