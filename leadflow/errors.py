"""Mistakes a user can fix, and how the CLI reports them.

Commands raise `UserError` (or a subclass) for anything the person at the
terminal caused and can correct: a bad setting, a missing file, an unreachable
broker, a port in use. `leadflow.cli.main` prints each line of the message as
`leadflow COMMAND: line` and exits non-zero. Everything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """Reported without a traceback; one line per problem in the message."""

    exit_code = 2


@contextmanager
def writing_into(folder: Path) -> Iterator[None]:
    """A failure to write files into `folder` as a user error naming it."""
    try:
        yield
    except OSError as error:
        raise UserError(f"cannot write into {folder} ({error.strerror})") from error


def kafka_problem(bootstrap: str, error: Exception) -> UserError:
    """A kafka-python error as a user error naming the broker and the setting."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from streams.topics import KafkaUnreachable

    if isinstance(error, KafkaUnreachable):  # diagnosed: the reason names the cause
        return UserError(
            f"cannot reach Kafka at {bootstrap}: {error} (set LEADFLOW_KAFKA_BOOTSTRAP, "
            "or start one: leadflow broker start)"
        )
    if isinstance(error, KafkaTimeoutError | KafkaConnectionError):
        return UserError(
            f"cannot reach Kafka at {bootstrap} (set LEADFLOW_KAFKA_BOOTSTRAP, "
            "or start one: leadflow broker start)"
        )
    return UserError(f"Kafka at {bootstrap} refused the request: {error}")
