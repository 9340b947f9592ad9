"""The worker's Faust app is built from the typed settings (no broker needed)."""

from __future__ import annotations

from pathlib import Path

from leadflow.settings import Settings, StoreKind
from projections import Funnel
from streams.app import ROCKSDB_OPTIONS, Worker, create_worker


def _worker(tmp_path: Path, **settings: object) -> Worker:
    return create_worker(Settings(app_id="config-test", data_dir=tmp_path, **settings), Funnel(), 6)


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
