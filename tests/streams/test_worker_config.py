"""The worker's Faust app is built from the typed settings (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from projections import Funnel
from streams.app import ROCKSDB_OPTIONS, Worker, create_worker
from streams.settings import StoreKind, WorkerSettings


def _worker(tmp_path: Path, **settings: object) -> Worker:
    return create_worker(
        WorkerSettings(app_id="config-test", data_dir=tmp_path, **settings), Funnel(), 6
    )


def test_the_stream_buffer_setting_reaches_faust(tmp_path: Path) -> None:
    worker = _worker(tmp_path, stream_buffer=128)
    assert worker.app.conf.stream_buffer_maxsize == 128


def test_the_memory_store_is_the_fast_restoring_one(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    assert str(worker.app.conf.store) == "leadmemory:"


def test_the_rocksdb_store_is_opened_with_small_buffers(tmp_path: Path) -> None:
    worker = _worker(tmp_path, store=StoreKind.ROCKSDB)
    table = worker.app.tables["leads"]
    assert str(worker.app.conf.store) == "leadrocks:"
    assert table.options == ROCKSDB_OPTIONS


def test_workers_export_how_many_lead_partitions_there_are(tmp_path: Path) -> None:
    worker = _worker(tmp_path, partitions=12)
    assert worker.telemetry.registry.get_sample_value("leadflow_lead_partitions") == 12


def test_settings_are_frozen_once_read(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path)
    with pytest.raises(ValidationError, match="frozen"):
        settings.batch_size = 1  # type: ignore[misc]


def test_the_environment_names_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_KAFKA_BOOTSTRAP", "kafka-1:9093")
    monkeypatch.setenv("LEADFLOW_STALL_TIMEOUT", "90s")
    settings = WorkerSettings()
    assert settings.kafka_bootstrap == "kafka-1:9093"
    assert settings.stall_timeout.total_seconds() == 90
