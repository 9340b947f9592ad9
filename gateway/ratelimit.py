"""Per-token request rate limits (moving windows, from the `limits` library)."""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class TokenRateLimit:
    def __init__(self, spec: str) -> None:
        self.items = parse_many(spec)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, token: str) -> int | None:
        """Count a request of `token`; None if allowed, else seconds until it would be."""
        # Test every window before hitting any, so a refused request uses up none.
        blocked = [item for item in self.items if not self.limiter.test(item, token)]
        if not blocked:
            for item in self.items:
                self.limiter.hit(item, token)
            return None
        now = time.time()
        reset = max(self.limiter.get_window_stats(item, token).reset_time for item in blocked)
        return max(1, math.ceil(reset - now))
