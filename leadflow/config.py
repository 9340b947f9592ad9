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
from leadflow.errors import UserError
from projections import Funnel, TargetOverrides, Targets
from projections.evidence import Evidence
from projections.funnel import Breakdowns, HistoryDepth, ScoreTier, SourceLabels, default_tiers


class ConfigError(UserError):
    """A config file that cannot be read or does not validate; one line per problem."""


class FunnelSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    qualified_stage: Stage = Stage.SQL
    timezone: str = "UTC"
    pipeline_stages: tuple[str, ...] = DEFAULT_PIPELINE_STAGES
    rejection_reasons: tuple[str, ...] = DEFAULT_REJECTION_REASONS
    loss_reasons: tuple[str, ...] = DEFAULT_LOSS_REASONS
    score_tiers: tuple[ScoreTier, ...] = Field(default_factory=default_tiers)
    # The vocabulary's own default (a timedelta: pydantic does not validate defaults).
    max_future_skew: Duration = Vocabulary.model_fields["max_future_skew"].default
    max_event_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_EVENT_BYTES
    source_labels: SourceLabels = SourceLabels()
    history: HistoryDepth = HistoryDepth()
    breakdowns: Breakdowns = Breakdowns()


class LeadflowConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    funnel: FunnelSection = FunnelSection()
    targets: Targets = Targets()
    sources: dict[str, TargetOverrides] = Field(default_factory=dict)
    evidence: Evidence = Evidence()

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
            source_labels=section.source_labels,
            evidence=self.evidence,
            history=section.history,
            breakdowns=section.breakdowns,
        )


def load_funnel(path: Path | None) -> Funnel:
    """Read and validate a config file; None means the built-in defaults."""
    if path is None:
        return LeadflowConfig().to_funnel()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"config file {path}: cannot read it ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from error
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None)
        raise ConfigError(
            f"config file {path}: not valid YAML{at}" + (f": {problem}" if problem else "")
        ) from error
    if document is None:
        document = {}  # an empty file: every default
    if not isinstance(document, dict):
        raise ConfigError(
            f"config file {path}: expected keys (funnel:, targets:, sources:), "
            f"found a YAML {type(document).__name__}"
        )
    try:
        return LeadflowConfig.model_validate(document).to_funnel()
    except ValidationError as error:
        raise ConfigError(
            "\n".join(
                # Checks across sections name their keys themselves (empty location).
                f"config file {path}: "
                + (f"{_config_key(item['loc'])}: " if item["loc"] else "")
                + item["msg"].removeprefix("Value error, ")
                for item in error.errors(include_url=False)
            )
        ) from error


def _config_key(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as the file's dotted key.

    Some checks run only when the sections become a Funnel, whose fields are flat
    (`timezone`) or grouped differently (`vocabulary.loss_reasons`); the file has
    them under `funnel:`.
    """
    parts = [str(part) for part in loc]
    if parts and parts[0] == "vocabulary":
        parts = ["funnel", *parts[1:]]
    elif parts and parts[0] in FunnelSection.model_fields:
        parts = ["funnel", *parts]
    return ".".join(parts) or "(top level)"
