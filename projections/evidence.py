"""How much data a business alert needs before it may conclude: Wilson score intervals.

A ratio computed from five qualified leads and one won deal says almost nothing
about the source; the same ratio from 250 and 40 does. Alerts therefore compare a
confidence interval of the underlying proportion (won of qualified, SQL of MQL,
won of closed) with the target, not the bare ratio, and ignore samples below a
minimum count. The Wilson interval behaves at small counts and at 0 % and 100 %,
where the normal approximation does not, and it is plain arithmetic, so the
recording rules compute exactly what `replay` does.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Evidence(BaseModel):
    """The interval level, and the fewest trials an alert may conclude from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Two-sided level. 80 % makes each bound a one-sided 90 % test, which keeps the
    # domain's 250 qualified / 40 won (6.25 against a 4-6 band) an alert while 5 / 1
    # stays silent; at 90 % the 250 / 40 source would never be called off target.
    level: Annotated[float, Field(gt=0, lt=1)] = 0.8
    min_count: Annotated[int, Field(ge=1)] = 20

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(0.5 + self.level / 2)


def wilson(successes: float, trials: float, z: float) -> tuple[float, float]:
    """The Wilson score interval of the proportion successes / trials (trials > 0).

    A proportion above 1 (more wins than qualified entries in one period, which the
    period basis allows) is taken as 1, as the recording rules do.
    """
    p = min(successes / trials, 1.0)
    z2 = z * z
    scale = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # Exact at the edges, where the arithmetic leaves rounding noise of ~1e-17.
    low = 0.0 if p == 0 else max(centre - half, 0.0)
    high = 1.0 if p == 1 else min(centre + half, 1.0)
    return low, high
