"""The event loop of the long-running commands (worker, gateway).

uvloop where available: it cuts the per-message cost of Faust's event-loop churn by
about a quarter. Either way, closing a TLS connection waits at most a couple of
seconds for the peer's close_notify: Kafka brokers often never send one, and
uvloop would then hold every client close (a consumer stop in the middle of a
rebalance, a producer stop at shutdown) for its 30 s default. By the time a Kafka
client closes a connection, every response it waits for has arrived.
"""

from __future__ import annotations

import asyncio
from typing import Any

TLS_CLOSE_TIMEOUT = 2.0  # seconds


class _BoundedTlsClose:
    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") and kwargs.get("ssl_shutdown_timeout") is None:
            kwargs["ssl_shutdown_timeout"] = TLS_CLOSE_TIMEOUT
        return await super().create_connection(*args, **kwargs)  # type: ignore[misc]


class _AsyncioLoop(_BoundedTlsClose, asyncio.SelectorEventLoop):
    pass


def new_event_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:

            class _UvLoop(_BoundedTlsClose, uvloop.Loop):
                pass

            return _UvLoop()
    return _AsyncioLoop()
