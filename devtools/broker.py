"""A local, single-node Apache Kafka 4.x broker (KRaft) for development and tests.

The broker is the official Apache Kafka server, fetched as jars from Maven Central with
Maven (see ``kafka-pom.xml``) and run with the system Java, so no Docker engine and no
download from outside the package registries is needed.

Layout of a broker's data directory::

    server.properties   broker config, rewritten on every start
    log4j2.properties   logging config, rewritten on every start
    broker.pid          PID of the running JVM
    logs/server.log     the broker's own log (log4j 2, rolled by size)
    logs/kafka.out      JVM stdout/stderr (crashes before logging starts end up here)
    data/               Kafka's log.dirs: partitions and the KRaft metadata log
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from leadflow.errors import UserError
from streams.paths import user_data_dir

POM_PATH = Path(__file__).with_name("kafka-pom.xml")
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_STAMP_NAME = ".leadflow-fetched"
_MAIN_CLASS = "kafka.Kafka"
_STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
_NODE_ID = 1
# Kafka's own defaults (1 GiB heap, 50 partitions per internal topic) are sized for servers;
# a dev broker on a 2-core machine starts faster and leaves memory for the workers with these.
_JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
_INTERNAL_TOPIC_PARTITIONS = 10


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped."""


# --------------------------------------------------------------------------- fetching


def default_data_dir() -> Path:
    """Per user, so `broker stop` finds the broker `broker start` ran from any directory."""
    return user_data_dir() / "kafka"


def default_cache_dir() -> Path:
    """``$LEADFLOW_CACHE_DIR``, else ``~/.cache/leadflow``."""
    env = os.environ.get("LEADFLOW_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "leadflow"


def kafka_version(pom: Path = POM_PATH) -> str:
    """The Kafka version pinned in the pom, so the version lives in one place only."""
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not node.text:
        raise BrokerError(f"{pom} has no <kafka.version> property")
    return node.text.strip()


def _pom_digest(pom: Path) -> str:
    # The stamp records the pom's hash, so editing the pom (e.g. the log4j version) refetches
    # instead of silently keeping the old jars.
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _is_fetched(libs: Path, digest: str) -> bool:
    stamp = libs / _STAMP_NAME
    return stamp.is_file() and stamp.read_text().strip() == digest


def _find_executable(name: str, home_env: str | None = None) -> str:
    if home_env and (home := os.environ.get(home_env)):
        candidate = Path(home) / "bin" / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        where = f"${home_env}/bin or PATH" if home_env else "PATH"
        raise BrokerError(
            f"`{name}` not found on {where}; install it (e.g. apt-get install "
            f"{'openjdk-17-jre-headless' if name == 'java' else 'maven'})"
        )
    return found


def find_java() -> str:
    """The ``java`` binary: ``$JAVA_HOME/bin/java`` first, then PATH. Kafka 4 needs Java 17+."""
    return _find_executable("java", "JAVA_HOME")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Parallel test sessions may fetch at the same time; the lock makes the second one wait
    # and then find the jars already there instead of racing Maven into the same directory.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_maven(pom: Path, repo: Path, out_dir: Path) -> None:
    cmd = [
        _find_executable("mvn", "MAVEN_HOME"),
        "-q",
        "-B",
        "-f",
        str(pom),
        # A repo inside the cache keeps the fetch independent of ~/.m2 and easy to wipe.
        f"-Dmaven.repo.local={repo}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={out_dir}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise BrokerError(f"Maven could not fetch Kafka ({' '.join(cmd)}):\n{output}")


def fetch_kafka(cache_dir: Path | None = None, pom: Path = POM_PATH) -> Path:
    """Download the Kafka broker jars once; return the directory to put on the classpath.

    Later calls only compare a stamp file with the pom's hash, so they cost no JVM start.
    """
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    home = cache / f"kafka-{kafka_version(pom)}"
    libs = home / "libs"
    digest = _pom_digest(pom)
    if _is_fetched(libs, digest):
        return libs
    with _locked(home / ".fetch.lock"):
        if _is_fetched(libs, digest):
            return libs
        # Fetch into a scratch directory and swap it in whole, so an interrupted download
        # never leaves a half-filled classpath that looks complete.
        partial = home / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _run_maven(pom, cache / "m2", partial)
        (partial / _STAMP_NAME).write_text(digest + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
    return libs


# --------------------------------------------------------------------------- configuration


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).

    Same shape as ``kafka-storage random-uuid`` but without paying a JVM start for it.
    Kafka rejects ids starting with '-' (they read like a CLI flag), so those are redrawn.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class SaslSslListener:
    """A second client listener that requires TLS and a SCRAM-SHA-512 login.

    `keystore` is a PKCS12 file with the broker's private key and certificate chain
    (for 127.0.0.1). `users` are the SCRAM credentials; they are written into the KRaft
    metadata when the storage is formatted, so a reused data dir keeps its first users.
    The PLAINTEXT listener stays, on loopback, for the broker's own inter-broker and
    controller traffic and for the readiness probe.
    """

    keystore: Path
    keystore_password: str
    users: Mapping[str, str]

    MECHANISM = "SCRAM-SHA-512"

    def properties(self) -> dict[str, object]:
        return {
            "sasl.enabled.mechanisms": self.MECHANISM,
            # No username here: the listener only serves clients, so the broker never
            # logs in with it, but Kafka needs a login module configured for it.
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PKCS12",
            "listener.name.sasl_ssl.ssl.keystore.location": str(self.keystore),
            "listener.name.sasl_ssl.ssl.keystore.password": self.keystore_password,
            "listener.name.sasl_ssl.ssl.client.auth": "none",
        }

    def scram_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create the users' SCRAM credentials."""
        arguments: list[str] = []
        for name, password in self.users.items():
            arguments += ["--add-scram", f"{self.MECHANISM}=[name={name},password={password}]"]
        return arguments


def render_server_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    partitions: int = 6,
    sasl_ssl: SaslSslListener | None = None,
    sasl_ssl_port: int | None = None,
) -> str:
    """The broker+controller config of a single-node KRaft cluster bound to 127.0.0.1."""
    listeners = {"PLAINTEXT": port}
    if sasl_ssl is not None:
        if sasl_ssl_port is None:
            raise BrokerError("a SASL_SSL listener needs a port")
        listeners["SASL_SSL"] = sasl_ssl_port
    client_listeners = ",".join(f"{name}://127.0.0.1:{p}" for name, p in listeners.items())
    settings: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": _NODE_ID,
        # A static voter list (not `format --standalone`) keeps the quorum config-only, so a
        # restart on a different free controller port still finds its quorum.
        "controller.quorum.voters": f"{_NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": f"{client_listeners},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": client_listeners,
        "listener.security.protocol.map": ",".join(
            [*(f"{name}:{name}" for name in listeners), "CONTROLLER:PLAINTEXT"]
        ),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": partitions,
        "auto.create.topics.enable": "true",
        # One broker: every replication factor and min ISR must be 1 or topic creation,
        # consumer-group offsets and transactions (Faust exactly-once) all fail.
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "offsets.topic.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "transaction.state.log.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        # The 3 s default only helps groups whose members join one by one across machines;
        # here it would just add 3 s to every first consumer-group assignment.
        "group.initial.rebalance.delay.ms": 0,
        # Dev data: small segments and a day of retention keep the data dir small.
        "log.segment.bytes": 64 * 1024 * 1024,
        "log.retention.hours": 24,
        "log.retention.check.interval.ms": 60_000,
        **(sasl_ssl.properties() if sasl_ssl is not None else {}),
    }
    lines = [f"{key}={value}" for key, value in settings.items()]
    return "# Written by devtools.broker; regenerated on every start.\n" + "\n".join(lines) + "\n"


def render_log4j2_properties(log_file: Path) -> str:
    """log4j 2 config sending the broker's log to a size-rolled file instead of the terminal."""
    return f"""\
# Written by devtools.broker; regenerated on every start.
status = warn
# Kafka logs its own shutdown from a JVM shutdown hook; log4j's hook would close the file
# first and lose exactly the lines that explain a slow or failed stop.
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request and per-partition state logs are the bulk of Kafka's INFO output.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


# --------------------------------------------------------------------------- process helpers


def _tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _errors(path: Path, limit: int = 8) -> str:
    """The ERROR/FATAL lines of a Kafka log, each with its exception message.

    A failed start logs thousands of lines and ends with shutdown chatter, so the plain tail
    rarely shows the cause (e.g. "failed to bind to 127.0.0.1:9092: Address already in use").
    """
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if "] ERROR " in line or "] FATAL " in line:
            found.append(line)
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if following and not following.startswith(("[", "\t")):
                found.append("    " + following)
    return "\n".join(found[-2 * limit :])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); in a container whose PID 1 does not reap orphans, a
    # detached broker that exited stays one forever, so it must count as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rpartition(")")[2].split()[0] != "Z"


def _is_our_broker(pid: int, properties: Path) -> bool:
    # A PID file can outlive its process and the PID be reused; only signal a process that
    # is a Kafka JVM started with this very server.properties.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)  # no /proc (macOS): best effort
    return _MAIN_CLASS.encode() in cmdline and str(properties).encode() in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _broker_answers(bootstrap: str) -> bool:
    """True once the broker serves metadata and lists itself, i.e. clients can use it."""
    from kafka import KafkaAdminClient  # imported late: `broker fetch` does not need it

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=5000, bootstrap_timeout_ms=5000
        )
    except Exception:  # any failure here just means "not ready yet"; the caller retries
        return False
    try:
        return bool(admin.describe_cluster().get("brokers"))
    except Exception:
        return False
    finally:
        admin.close()


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM (Kafka's clean shutdown), then SIGKILL if it has not exited within `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)


def _stop_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
    # For our own child, wait() both reaps it and sees the exit at once, where polling the
    # PID (as stop_pid does) would see the unreaped zombie as alive until the timeout.
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "broker.pid").read_text().strip())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- the broker


class LocalKafka:
    """A single-node Kafka 4.x (KRaft) broker run as a child JVM.

    ``data_dir`` holds the config, PID file and logs (a temporary directory when None);
    ``log_dir`` is Kafka's ``log.dirs``, i.e. partition data (``<data_dir>/data`` when None).
    A data dir that was formatted before is reused as is, so topics survive restarts.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        controller_port: int | None = None,
        log_dir: Path | None = None,
        partitions: int = 6,
        cache_dir: Path | None = None,
        sasl_ssl: SaslSslListener | None = None,
        sasl_ssl_port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        if self.controller_port == self.port:
            self.controller_port = free_port()
        self.sasl_ssl = sasl_ssl
        self.sasl_ssl_port = (sasl_ssl_port or free_port()) if sasl_ssl is not None else None
        # Without a data dir the broker is throw-away: a temp dir, removed again by stop().
        self._tmp_dir = None if data_dir else Path(tempfile.mkdtemp(prefix="leadflow-kafka-"))
        self.data_dir = Path(data_dir or self._tmp_dir or ".").resolve()
        self.log_dir = Path(log_dir).resolve() if log_dir else self.data_dir / "data"
        self.partitions = partitions
        self.cache_dir = cache_dir
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths -------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """Where clients log in with SCRAM over TLS (only with a `sasl_ssl` listener)."""
        if self.sasl_ssl_port is None:
            raise BrokerError("this broker has no SASL_SSL listener")
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def server_log(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.data_dir / "logs" / "kafka.out"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalKafka:
        """Fetch (if needed), configure, format (first time only), launch and wait for ready."""
        if self._proc is not None:
            raise BrokerError("broker already started")
        try:
            self._refuse_if_running()
            self._check_ports_free()
            find_java()  # fail before downloading or writing anything
            libs = fetch_kafka(self.cache_dir)
            self._write_config()
            if not (self.log_dir / "meta.properties").exists():
                self._format_storage(libs)
            self._launch(libs)
            self._wait_ready(timeout)
        except BaseException:
            # Also on Ctrl-C while waiting: a half-started JVM or temp dir must not outlive
            # a start() that raised, since no __exit__/stop() will follow it.
            self.stop(timeout=10.0)
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after `timeout`) and remove the PID file."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_child(proc, timeout)
            self.pid_path.unlink(missing_ok=True)
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def wait(self) -> int:
        """Block until the broker exits on its own; return its exit code."""
        if self._proc is None:
            raise BrokerError("broker not started")
        return self._proc.wait()

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- steps ---------------------------------------------------------------------------

    def _refuse_if_running(self) -> None:
        # Two JVMs on one log dir corrupt it (Kafka's lock catches it, but with a worse error).
        pid = read_pid(self.data_dir)
        if pid is not None and _is_our_broker(pid, self.properties_path):
            raise BrokerError(f"a broker (PID {pid}) is already running in {self.data_dir}")

    def _check_ports_free(self) -> None:
        # Fail in milliseconds with a plain message instead of after a JVM start, and never
        # mistake another process listening on the port (e.g. a second broker) for ours.
        ports = [("port", self.port), ("controller port", self.controller_port)]
        if self.sasl_ssl_port is not None:
            ports.append(("SASL_SSL port", self.sasl_ssl_port))
        for name, port in ports:
            if _port_open(port):
                raise BrokerError(
                    f"{name} {port} on 127.0.0.1 is already in use; choose another with "
                    f"--{name.replace(' ', '-')}"
                )

    def _write_config(self) -> None:
        self.server_log.parent.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text(
            render_server_properties(
                self.port,
                self.controller_port,
                self.log_dir,
                self.partitions,
                self.sasl_ssl,
                self.sasl_ssl_port,
            )
        )
        (self.data_dir / "log4j2.properties").write_text(render_log4j2_properties(self.server_log))

    def _java_cmd(self, libs: Path, main_class: str, *args: str) -> list[str]:
        return [
            find_java(),
            *_JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",  # a JVM classpath wildcard, expanded by java, not by a shell
            main_class,
            *args,
        ]

    def _format_storage(self, libs: Path) -> None:
        cmd = self._java_cmd(
            libs,
            _STORAGE_TOOL_CLASS,
            "format",
            "--cluster-id",
            random_cluster_id(),
            "--config",
            str(self.properties_path),
            *(self.sasl_ssl.scram_arguments() if self.sasl_ssl is not None else []),
        )
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting KRaft storage in {self.log_dir} failed:\n"
                f"{(result.stdout + result.stderr).strip()[-4000:]}"
            )

    def _launch(self, libs: Path) -> None:
        cmd = self._java_cmd(libs, _MAIN_CLASS, str(self.properties_path))
        with self.stdout_log.open("ab") as out:
            # A new session keeps Ctrl-C in the terminal away from the JVM, so the broker is
            # stopped by us (SIGTERM, clean shutdown) and not half-way by the SIGINT.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._fail(f"broker exited with code {code} during start-up")
            # The TCP check is cheap and fails fast while the JVM boots; the admin request
            # then proves the broker is registered with its controller and serves metadata.
            if _port_open(self.port) and _broker_answers(self.bootstrap):
                return
            time.sleep(0.2)
        self._fail(f"broker not ready after {timeout:.0f}s")

    def _fail(self, reason: str) -> None:
        # Runs before start()'s clean-up, which deletes a temporary data dir with its logs.
        sections = {
            f"errors in {self.server_log}": _errors(self.server_log),
            f"end of {self.server_log}": _tail(self.server_log),
            f"end of {self.stdout_log}": _tail(self.stdout_log),
        }
        tails = [f"--- {title} ---\n{text}" for title, text in sections.items() if text]
        raise BrokerError("\n".join([f"{reason} (data dir {self.data_dir})", *tails]))


def stop_data_dir(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker whose PID is recorded in `data_dir`; False if none was running."""
    data_dir = data_dir.resolve()
    pid = read_pid(data_dir)
    pid_file = data_dir / "broker.pid"
    if pid is None or not _is_our_broker(pid, data_dir / "server.properties"):
        pid_file.unlink(missing_ok=True)  # stale: the broker is gone already
        return False
    stop_pid(pid, timeout)
    pid_file.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------- CLI


def _cmd_fetch(args: argparse.Namespace) -> int:
    print(fetch_kafka(args.cache_dir))
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    broker = LocalKafka(
        port=args.port,
        data_dir=args.data_dir,
        controller_port=args.controller_port,
        partitions=args.partitions,
        cache_dir=args.cache_dir,
    )
    try:
        broker.start(timeout=args.timeout)
    except BrokerError as exc:
        raise UserError(str(exc)) from exc
    if args.detach:
        print(broker.pid)
        return 0
    print(
        f"Kafka {kafka_version()} ready on {broker.bootstrap} (PID {broker.pid}, "
        f"logs in {broker.server_log.parent}); Ctrl-C to stop",
        file=sys.stderr,
    )
    return _run_foreground(broker)


def _run_foreground(broker: LocalKafka) -> int:
    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # one clean-stop path for Ctrl-C and SIGTERM

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code = broker.wait()
        print(
            f"error: broker exited on its own with code {code}; see {broker.server_log}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut stop() short and orphan the JVM.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        broker.stop()
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous)


def _cmd_stop(args: argparse.Namespace) -> int:
    if stop_data_dir(args.data_dir):
        print(f"stopped the broker in {args.data_dir}")
    else:
        print(f"no broker running in {args.data_dir}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``broker {fetch,start,stop}`` to a CLI's subcommands."""
    broker = subparsers.add_parser("broker", help="local single-node Apache Kafka (KRaft)")
    sub = broker.add_subparsers(dest="broker_command", required=True)

    fetch = sub.add_parser("fetch", help="download the Kafka jars; print their directory")
    fetch.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="default: $LEADFLOW_CACHE_DIR or ~/.cache/leadflow",
    )
    fetch.set_defaults(func=_cmd_fetch)

    start = sub.add_parser("start", help="run a broker until Ctrl-C (or --detach)")
    start.add_argument("--port", type=int, default=9092)
    start.add_argument(
        "--controller-port",
        type=int,
        default=None,
        help="KRaft controller port (default: a free one)",
    )
    start.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="default: $XDG_DATA_HOME/leadflow/kafka or ~/.local/share/leadflow/kafka",
    )
    start.add_argument(
        "--partitions", type=int, default=6, help="num.partitions for auto-created topics"
    )
    start.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the broker to be ready"
    )
    start.add_argument("--cache-dir", type=Path, default=None)
    start.add_argument(
        "--detach",
        action="store_true",
        help="return once ready, leaving the broker running; print its PID",
    )
    start.set_defaults(func=_cmd_start)

    stop = sub.add_parser("stop", help="stop the broker recorded in --data-dir")
    stop.add_argument("--data-dir", type=Path, default=default_data_dir())
    stop.set_defaults(func=_cmd_stop)
