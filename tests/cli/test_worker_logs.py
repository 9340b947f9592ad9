"""A worker's log says calmly what is harmless and keeps real errors as errors."""

from __future__ import annotations

import logging
import threading

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

from leadflow.worker_logs import COORDINATOR_LOGGER, COORDINATOR_WAIT, calm_known_noise


def _from_this_thread(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # aiokafka clients left running by earlier tests (in threads of this process) log to
    # the same logger; only the record this test emitted, in its own thread, is its own.
    return [record for record in caplog.records if record.thread == threading.get_ident()]


@pytest.fixture
def coordinator_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    calm_known_noise()
    caplog.set_level(logging.DEBUG, logger=COORDINATOR_LOGGER)
    return caplog


def test_a_coordinator_not_yet_available_is_an_info_line(
    coordinator_log: pytest.LogCaptureFixture,
) -> None:
    logging.getLogger(COORDINATOR_LOGGER).error(
        "Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError()
    )
    [record] = _from_this_thread(coordinator_log)
    assert (record.levelname, record.getMessage()) == ("INFO", COORDINATOR_WAIT)


def test_other_coordinator_errors_stay_errors(coordinator_log: pytest.LogCaptureFixture) -> None:
    logging.getLogger(COORDINATOR_LOGGER).error(
        "Group Coordinator Request failed: %s", GroupAuthorizationFailedError()
    )
    [record] = _from_this_thread(coordinator_log)
    assert record.levelname == "ERROR"
    assert "GroupAuthorizationFailedError" in record.getMessage()


def test_the_filter_is_installed_once() -> None:
    calm_known_noise()
    calm_known_noise()
    assert len(logging.getLogger(COORDINATOR_LOGGER).filters) == 1
