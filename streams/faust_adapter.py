"""Every use of Faust's and aiokafka's private API, in one place.

Tested with faust-streaming 0.15 and aiokafka 0.14 (the pinned ranges in
pyproject.toml); `tests/streams/test_faust_adapter.py` checks each behaviour relied on here
(and `tests/streams/test_transactions.py` those that need a broker: fetch positions, heartbeats),
so an upgrade that changes one fails there first.

What Leadflow changes about Faust:
- Faust never commits offsets. Leadflow commits them inside its own Kafka
  transactions, together with the state and the records they produced
  (`streams.transactions`); a Faust commit could acknowledge input whose output
  a failed transaction never delivered.
- Faust's consumer reads `read_committed`, so a fenced worker's aborted output is
  never read back (by-lead events, changelog), and high watermarks are last stable
  offsets.
- The group heartbeat renews an ownership lease (`streams.lease`): a worker that
  was paused past its session stops exporting and calls itself unready before it
  has even heard that its partitions moved on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from faust.stores.memory import Store as FaustMemoryStore
from faust.stores.rocksdb import Store as FaustRocksDBStore
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

SCHEME = "leadkafka"


class LeadflowConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def _highwaters(self, partitions: list[TP]) -> Any:
        # Faust reads cached last stable offsets in transactional mode, which are -1
        # until a partition has been fetched; its recovery needs them before that.
        # A read_committed consumer's end offsets *are* the last stable offsets.
        return await self._ensure_consumer().end_offsets(partitions)


class LeadflowConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, reading committed data only and committing nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Faust reads this flag for the isolation level and for LSO-based highwaters;
        # its own transaction manager stays off (see on_init_dependencies).
        self.in_transaction = True

    def on_init_dependencies(self) -> list[Any]:
        return []

    def _new_consumer_thread(self) -> LeadflowConsumerThread:
        return LeadflowConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        return False


class LeadflowTransport(faust_aiokafka.Transport):
    Consumer = LeadflowConsumer


class PlacedRocksDBStore(FaustRocksDBStore):
    """Faust's RocksDB store, with each key's partition computed by `partition_of`.

    Faust's own store takes the partition from the event being processed, and a
    batch has no single one.
    """

    def partition_of(self, key: bytes) -> int:
        raise NotImplementedError

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self.partition_of(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    def partition_db(self, partition: int) -> Any:
        """The partition's database, opened on first use."""
        return self._db_for_partition(partition)

    def open_partition_dbs(self) -> list[tuple[int, Any]]:
        return list(self._dbs.items())

    def visible_items(self, db: Any) -> Any:
        return self._visible_items(db)


class PartitionedMemoryStore(FaustMemoryStore):
    """Faust's memory store, with the partition it recorded for each key it holds."""

    @property
    def key_partitions(self) -> dict[Any, int]:
        return self._key_partition

    def clear_all(self) -> None:
        self._clear()
        self._key_partition.clear()


def register() -> None:
    TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:LeadflowTransport")


def broker_urls(bootstrap: str) -> list[str]:
    return [f"{SCHEME}://{host}" for host in bootstrap.split(",")]


def _aiokafka_consumer(app: Any) -> Any | None:
    thread = getattr(app.consumer, "_thread", None)
    return getattr(thread, "_consumer", None)


def watch_heartbeats(app: Any, on_success: Callable[[float], None]) -> bool:
    """Call `on_success(sent_at)` (monotonic) for every heartbeat the group accepts.

    Returns False while the consumer does not exist yet. Idempotent.
    """
    consumer = _aiokafka_consumer(app)
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None:
        return False
    if getattr(coordinator, "_leadflow_watched", False):
        return True
    original = coordinator._do_heartbeat

    async def heartbeat() -> bool:
        sent_at = time.monotonic()
        ok = bool(await original())
        if ok:
            on_success(sent_at)
        return ok

    coordinator._do_heartbeat = heartbeat
    coordinator._leadflow_watched = True
    return True


def fetch_position(app: Any, tp: TP) -> int | None:
    """The consumer's fetch position (past transaction markers), or None if unknown."""
    consumer = _aiokafka_consumer(app)
    if consumer is None:
        return None
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
    except (AttributeError, KeyError):
        return None
    return None if state is None or not state.has_valid_position else state.position


def unacked_partitions(app: Any) -> set[TP]:
    """Partitions with messages delivered to agents and not yet processed."""
    return {message.tp for message in list(app.consumer._unacked_messages) if not message.acked}


def last_stable_offset(app: Any, tp: TP) -> int | None:
    consumer = _aiokafka_consumer(app)
    if consumer is None:
        return None
    try:
        return consumer.last_stable_offset(tp)
    except (AssertionError, KeyError, AttributeError):  # not assigned (any more)
        return None


def transaction_failed_fatally(producer: Any) -> bool:
    """Whether an aiokafka transactional producer can no longer be used (fenced, or worse)."""
    return bool(producer._txn_manager.is_fatal_error())


def rocksdb_for_partition(store: Any, partition: int) -> Any:
    return store._db_for_partition(partition)


def group_id(app: Any) -> str:
    return str(app.conf.id)


def aiokafka_connection(app: Any, purpose: str) -> dict[str, Any]:
    """The connection Faust's own consumer uses (servers, TLS, SASL), for our clients."""
    conf = app.conf
    return {
        "bootstrap_servers": faust_aiokafka.server_list(conf.broker, 9092),
        "client_id": f"{conf.broker_client_id}-{purpose}",
        "request_timeout_ms": int(conf.broker_request_timeout * 1000),
        **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    }


def request_rejoin(app: Any) -> None:
    """Ask the group for a new generation: this worker's partitions are assigned afresh."""
    consumer = _aiokafka_consumer(app)
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None:
        loop = app.consumer._thread.thread_loop
        loop.call_soon_threadsafe(coordinator.request_rejoin)


def note_committed(app: Any, tps: Any) -> None:
    """Tell Faust's livelock check that these partitions were committed just now.

    Faust warns about partitions it has not committed for minutes; Leadflow commits
    them itself, in its transactions.
    """
    thread = getattr(app.consumer, "_thread", None)
    committed_at = getattr(thread, "tp_last_committed_at", None)
    if committed_at is not None:
        now = time.monotonic()
        for tp in tps:
            committed_at[tp] = now
