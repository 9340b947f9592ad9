"""config/leadflow.yaml shows the built-in defaults, key for key, and an example
override that is marked as one (and is valid)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from leadflow.config import FunnelSection, LeadflowConfig, load_funnel
from projections import Targets

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "leadflow.yaml"
OVERRIDE_START = "# sources:"


def _document() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _commented_override() -> str:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    start = lines.index(OVERRIDE_START)
    return "\n".join(line.removeprefix("#").removeprefix(" ") for line in lines[start:])


def _keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_the_example_file_is_the_built_in_defaults() -> None:
    assert LeadflowConfig.model_validate(_document()) == LeadflowConfig()


def test_a_worker_with_the_example_file_has_the_same_funnel_as_one_without() -> None:
    assert load_funnel(EXAMPLE) == load_funnel(None)


def test_the_example_file_shows_every_key() -> None:
    document = _document()
    assert set(document) == _keys(LeadflowConfig)
    assert set(document["funnel"]) == _keys(FunnelSection)
    assert set(document["targets"]) == _keys(Targets)


def test_the_example_override_is_commented_out_and_gives_its_sources_their_own_band(
    tmp_path: Path,
) -> None:
    override = tmp_path / "override.yaml"
    override.write_text(_commented_override(), encoding="utf-8")
    funnel = load_funnel(override)
    events = funnel.targets_for("events").qualified_to_won_ratio
    referral = funnel.targets_for("referral").qualified_to_won_ratio
    assert (events.lower, events.target, events.upper) == (5.0, 6.0, 7.5)
    assert (referral.lower, referral.target, referral.upper) == (2.0, 3.0, 4.0)
    assert funnel.targets_for("organic") == load_funnel(None).targets
