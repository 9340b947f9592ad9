"""Running a real `leadflow gateway` process and talking to it over HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from gateway.tokens import hash_token, new_token
from tests.streaming import ROOT, free_port


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    partition: int
    headers: dict[str, bytes]


def make_tokens(*names: str) -> dict[str, str]:
    """Fresh random bearer tokens by name."""
    return {name: new_token() for name in names}


@dataclass
class GatewayProcess:
    bootstrap: str
    topic: str
    workdir: Path
    tokens: dict[str, str]
    settings: dict[str, str] = field(default_factory=dict)
    tls_ca: str | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"gateway-{self.port}.log"

    def env(self) -> dict[str, str]:
        hashes = {name: hash_token(token) for name, token in self.tokens.items()}
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LEADFLOW_KAFKA_BOOTSTRAP": self.bootstrap,
            "LEADFLOW_TOPIC": self.topic,
            "LEADFLOW_GATEWAY_PORT": str(self.port),
            "LEADFLOW_GATEWAY_TOKENS": json.dumps(hashes),
            **self.settings,
        }

    def start(self, wait: bool = True) -> GatewayProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "leadflow.cli", "gateway"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"gateway exited: {self.log()}")
            try:
                if self.get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gateway not ready after {timeout}s: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def connection(self, timeout: float = 60) -> http.client.HTTPConnection:
        if self.tls_ca is None:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        context = ssl.create_default_context(cafile=self.tls_ca)
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=context)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        connection = self.connection()
        try:
            connection.request(
                method,
                path,
                body=body,
                headers=dict(headers or {}),
                encode_chunked=body is not None and not isinstance(body, bytes),
            )
            response = connection.getresponse()
            raw = response.read()
            content_type = response.headers.get("Content-Type", "")
            parsed = json.loads(raw) if "json" in content_type else raw.decode()
            return Reply(response.status, dict(response.headers), parsed)
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(
        self,
        events: Any,
        token: str | None = None,
        raw: bytes | Iterable[bytes] | None = None,
        path: str = "/v1/events",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """POST `events` as JSON (or `raw` bytes) with `Authorization: Bearer <token>`."""
        body = raw if raw is not None else json.dumps(events).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.request("POST", path, body, sent)


def read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list[Record]:
    """Every record of `topic` up to its current end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic} not read to its end within {timeout}s")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(Record(m.key, m.value, m.partition, dict(m.headers)) for m in batch)
        return records
    finally:
        consumer.close()
