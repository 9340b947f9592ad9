"""Per-token request rate limits (moving windows, from the `limits` library).

The asyncio flavour of its memory storage: the threaded one starts a timer thread
for expiry every few milliseconds under load.
"""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class TokenRateLimit:
    def __init__(self, spec: str) -> None:
        self.items = parse_many(spec)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, token: str) -> int | None:
        """Count a request of `token`; None if allowed, else seconds until it would be."""
        # Test every window before hitting any, so a refused request uses up none.
        blocked = [item for item in self.items if not await self.limiter.test(item, token)]
        if not blocked:
            for item in self.items:
                await self.limiter.hit(item, token)
            return None
        now = time.time()
        stats = [await self.limiter.get_window_stats(item, token) for item in blocked]
        return max(1, math.ceil(max(s.reset_time for s in stats) - now))
