"""How long this worker may still believe it owns its partitions.

The group coordinator expires a member one session timeout after the last
heartbeat it received, and only then can another worker be given its partitions.
A heartbeat the coordinator accepted was received after it was sent, so ownership
is certain until (send time + session timeout). A worker that was paused (SIGSTOP,
a frozen VM, a long GC pause) wakes up past that instant: it must not export its
sums or call itself ready until the group has confirmed it again. Kafka's fencing
of its writes (`streams.transactions`) does not depend on this; the lease only
keeps a woken stale owner off the boards in the moments before it learns the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Lease:
    def __init__(self, session_timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        # A margin below the broker's timeout: its clock started a little after ours.
        self._length = session_timeout * 0.9
        self._clock = clock
        self._until = float("-inf")

    def renew(self, sent_at: float) -> None:
        self._until = max(self._until, sent_at + self._length)

    def revoke(self) -> None:
        self._until = float("-inf")

    @property
    def valid(self) -> bool:
        return self._clock() < self._until

    @property
    def remaining(self) -> float:
        return self._until - self._clock()
