"""Log records of the libraries a worker runs that alarm without reason."""

from __future__ import annotations

import logging

COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
COORDINATOR_WAIT = (
    "waiting for Kafka's group coordinator (a new broker or group needs a moment); retrying"
)


class CalmCoordinatorWait(logging.Filter):
    """aiokafka logs ERROR each time it asks for the group coordinator too early.

    A fresh broker creates `__consumer_offsets` on the first group lookup and answers
    "not available" meanwhile; aiokafka retries and the worker comes up. The record
    becomes one calm INFO line; other coordinator errors keep their level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from aiokafka.errors import CoordinatorNotAvailableError

        if record.levelno >= logging.ERROR and any(
            isinstance(arg, CoordinatorNotAvailableError) for arg in _args(record)
        ):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg, record.args = COORDINATOR_WAIT, ()
        return True


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    return args if isinstance(args, tuple) else ()


def calm_known_noise() -> None:
    logger = logging.getLogger(COORDINATOR_LOGGER)
    if not any(isinstance(existing, CalmCoordinatorWait) for existing in logger.filters):
        logger.addFilter(CalmCoordinatorWait())
