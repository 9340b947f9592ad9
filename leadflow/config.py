"""The YAML config file: the funnel, its targets and per-source overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events import Stage, Vocabulary
from events.vocabulary import (
    DEFAULT_LOSS_REASONS,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_PIPELINE_STAGES,
    DEFAULT_REJECTION_REASONS,
    Duration,
)
from projections import Funnel, TargetOverrides, Targets
from projections.funnel import ScoreTier, default_tiers


class ConfigError(Exception):
    """A config file that cannot be read or does not validate; the message says where."""


class FunnelSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    qualified_stage: Stage = Stage.SQL
    timezone: str = "UTC"
    pipeline_stages: tuple[str, ...] = DEFAULT_PIPELINE_STAGES
    rejection_reasons: tuple[str, ...] = DEFAULT_REJECTION_REASONS
    loss_reasons: tuple[str, ...] = DEFAULT_LOSS_REASONS
    score_tiers: tuple[ScoreTier, ...] = Field(default_factory=default_tiers)
    max_future_skew: Annotated[Duration, Field(default="5m")]
    max_event_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_EVENT_BYTES


class LeadflowConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    funnel: FunnelSection = FunnelSection()
    targets: Targets = Targets()
    sources: dict[str, TargetOverrides] = Field(default_factory=dict)

    def to_funnel(self) -> Funnel:
        section = self.funnel
        vocabulary = Vocabulary(
            rejection_reasons=section.rejection_reasons,
            loss_reasons=section.loss_reasons,
            pipeline_stages=section.pipeline_stages,
            max_future_skew=section.max_future_skew,
            max_event_bytes=section.max_event_bytes,
        )
        return Funnel(
            qualified_stage=section.qualified_stage,
            timezone=section.timezone,
            vocabulary=vocabulary,
            score_tiers=section.score_tiers,
            targets=self.targets,
            sources=self.sources,
        )


def load_funnel(path: Path | None) -> Funnel:
    """Read and validate a config file; None means the built-in defaults."""
    if path is None:
        return LeadflowConfig().to_funnel()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"config file {path}: cannot read it ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path}: not valid YAML ({error})") from error
    try:
        return LeadflowConfig.model_validate(document).to_funnel()
    except ValidationError as error:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise ConfigError(f"config file {path} is invalid:\n{problems}") from error
