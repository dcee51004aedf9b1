"""``skyalert up``: the whole stack on one machine, started in order and stopped as one."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
from confluent_kafka.admin import AdminClient

from skyalert.auth.first_admin import ensure_admin
from skyalert.auth.kafka_listener import oauth_listener
from skyalert.broker.core import migrate
from skyalert.broker.core.db import check_database, make_engine
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.processes import Child, spawn
from skyalert.broker.core.running import RunningStack
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.admin import sync_topics, wait_for_kafka
from skyalert.broker.kafka.config import admin_config, message_max_bytes
from skyalert.broker.kafka.inboxes import topics_to_sync
from skyalert.broker.kafka.kafka_node import port_is_free
from skyalert.broker.kafka.local_broker import LocalBroker, local_broker
from skyalert.broker.run.workers import WORKERS, wanted
from skyalert.schemas.catalog import load_catalog

Say = Callable[[str], None]

#: Worker processes that ``skyalert up`` runs beside the web app; later services add theirs.
#: A process that exits is started again after 1 s, then 2, 4 … up to a minute.
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0
#: More exits than this within CRASH_WINDOW seconds stop the stack: it will not get better.
MAX_CRASHES = 5
CRASH_WINDOW = 600.0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "skyalert.broker.run.cli", *args]


@dataclass
class Service:
    """One of the stack's processes, started again when it exits."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    child: Child | None = None
    #: When (monotonic) it exited lately; the count sets the delay and the give-up point.
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None

    def start(self) -> Child:
        self.child = spawn(self.name, self.argv, self.log, self.env)
        self.restart_at = None
        return self.child

    def crashed(self, now: float) -> float | None:
        """Record an exit; the seconds until the restart, or None when it keeps failing."""
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW] + [now]
        if len(self.crashes) > MAX_CRASHES:
            return None
        delay = min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2.0 ** (len(self.crashes) - 1))
        self.restart_at = now + delay
        return delay


@dataclass(frozen=True)
class Scale:
    """How many of each: local Kafka nodes, web replicas, and scalable workers by name."""

    brokers: int = 1
    web: int = 1
    workers: dict[str, int] = field(default_factory=dict)

    def count(self, worker: str) -> int:
        return self.workers.get(worker, 1) if WORKERS[worker].scalable else 1


def _numbered(name: str, count: int) -> list[str]:
    return [name] if count == 1 else [f"{name}-{n}" for n in range(1, count + 1)]


@dataclass
class Stack:
    settings: Settings
    say: Say
    scale: Scale = field(default_factory=Scale)
    broker: LocalBroker | None = None
    services: list[Service] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    running: RunningStack | None = None
    #: The first admin's email, and its password when this start created it (printed once).
    admin: tuple[str, str | None] | None = None

    @property
    def logs(self) -> Path:
        return self.settings.var_dir.resolve() / "logs"

    @property
    def children(self) -> list[Child]:
        """The processes running now."""
        return [service.child for service in self.services if service.child is not None]

    def start(self) -> Settings:
        """Bring everything up; returns the settings the children run with."""
        settings = self.settings
        var = settings.var_dir.resolve()
        var.mkdir(parents=True, exist_ok=True)
        settings = settings.model_copy(update={"var_dir": var})
        self.running = RunningStack(var)
        self.running.claim()
        if settings.kafka_bootstrap is None:
            self.broker = local_broker(settings, oauth_listener, self.scale.brokers)
            self.broker.start(self.say)
            updates = {"kafka_bootstrap": self.broker.bootstrap, **self.broker.services_settings}
            if settings.kafka_client_bootstrap is None:  # subscribers: the SASL listener
                updates["kafka_client_bootstrap"] = self.broker.client_bootstrap
                updates["kafka_client_security_protocol"] = self.broker.client_security_protocol
            settings = settings.model_copy(update=updates)
        else:
            self.say(f"using the Kafka cluster at {settings.kafka_bootstrap}")
            wait_for_kafka(admin_config(settings), settings.kafka_timeout)

        engine = make_engine(settings)
        try:
            check_database(engine)
            before, after = migrate.upgrade(engine)
        finally:
            engine.dispose()
        self.admin = ensure_admin(settings)
        url = engine.url.render_as_string(hide_password=True)
        self.say(
            f"database {url}: "
            + (f"migrated {before or 'empty'} -> {after}" if before != after else f"at {after}")
        )

        topics = topics_to_sync(load_catalog(), settings.inbox_partitions)
        report = sync_topics(
            AdminClient(admin_config(settings)),
            topics,
            max_message_bytes=message_max_bytes(settings),
        )
        for line in report.lines(brief=True):  # a first start creates ~200 topics
            self.say(f"topics: {line}")

        for port in range(settings.port, settings.port + self.scale.web):
            if not port_is_free(port, settings.host):
                raise SkyalertError(
                    f"port {port} on {settings.host} is in use (web replicas take "
                    f"{self.scale.web} ports from SKYALERT_PORT); "
                    "stop what runs there or choose another with SKYALERT_PORT"
                )
        _check_vtp_ports(settings)
        env = {**os.environ, **_environment(settings)}
        self.services = [
            Service(name, _cli("serve", "--port", str(port)), self.logs / f"{name}.log", env)
            for port, name in enumerate(_numbered("web", self.scale.web), start=settings.port)
        ] + [
            Service(name, _cli("worker", worker), self.logs / f"{name}.log", env)
            for worker in wanted(settings)
            for name in _numbered(worker, self.scale.count(worker))
        ]
        for service in self.services:
            service.start()
        self._wait_for_web(settings)
        self.running.publish(_shared_environment(settings))
        return settings

    def _wait_for_web(self, settings: Settings, timeout: float = 120.0) -> None:
        """Return once every web replica answers /readyz on its port."""
        deadline = time.monotonic() + timeout
        webs = self.services[: self.scale.web]  # started first, on consecutive ports
        with httpx.Client(timeout=2.0) as http:
            for port, web in enumerate(webs, start=settings.port):
                self._wait_for_one(http, web, f"http://{settings.host}:{port}/readyz", deadline)

    def _wait_for_one(self, http: httpx.Client, web: Service, url: str, deadline: float) -> None:
        child = web.child
        assert child is not None
        while time.monotonic() < deadline:
            if child.exited() is not None:
                raise SkyalertError(f"{web.name} exited while starting:\n{child.log_tail()}")
            try:
                if http.get(url).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SkyalertError(f"{web.name} did not become ready in time:\n{child.log_tail()}")

    def supervise(self) -> int:
        """Wait for Ctrl-C or SIGTERM, restarting processes that exit (with growing delays);
        stop when one keeps failing or the local broker dies. Returns an exit code."""
        while not self.stopping.wait(0.25):
            for service in self.services:
                if not self._keep_running(service):
                    return 1
            if self.broker is not None and not self.broker.alive():
                self.say("the local Kafka broker exited; stopping")
                return 1
        return 0

    def _keep_running(self, service: Service) -> bool:
        now = time.monotonic()
        if service.restart_at is not None:
            if now >= service.restart_at:
                self.say(f"{service.name} restarted, pid {service.start().pid}")
            return True
        gone = service.child
        code = gone.exited() if gone is not None else None
        if gone is None or code is None:
            return True
        gone.stop()  # whatever it spawned goes with it
        service.child = None
        self.say(f"{service.name} (pid {gone.pid}) exited with status {code}:")
        self.say(gone.log_tail())
        delay = service.crashed(now)
        if delay is None:
            self.say(
                f"{service.name} exited {len(service.crashes)} times in "
                f"{CRASH_WINDOW / 60:g} minutes; stopping (see {service.log})"
            )
            return False
        self.say(f"restarting {service.name} in {delay:g} s")
        return True

    def stop(self) -> None:
        # All at once: each child may take seconds to close its Kafka clients, and one after
        # another they added up past what Ctrl-C should take.
        stopping = [
            threading.Thread(target=service.child.stop, name=f"stop-{service.name}")
            for service in self.services
            if service.child is not None
        ]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        for service in self.services:
            service.child = None
        self.services.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.running is not None:
            self.running.release()

    def handle_signals(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            self.stopping.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)


def _check_vtp_ports(settings: Settings) -> None:
    host = settings.vtp_host or settings.host
    for variable, port in (
        ("SKYALERT_VTP_PORT", settings.vtp_port),
        ("SKYALERT_VTP_AUTHOR_PORT", settings.vtp_author_port),
    ):
        if not port_is_free(port, host):
            raise SkyalertError(
                f"port {port} on {host} (VTP) is in use; stop what runs there or choose "
                f"another with {variable}"
            )


def _environment(settings: Settings) -> dict[str, str]:
    """The settings the children must share with us, as SKYALERT_* variables."""
    return {
        "SKYALERT_VAR_DIR": str(settings.var_dir),
        "SKYALERT_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        # No password: the children read the var folder's (or inherit SKYALERT_KAFKA_PASSWORD).
        "SKYALERT_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "SKYALERT_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "SKYALERT_KAFKA_USERNAME": settings.kafka_username,
        "SKYALERT_HOST": settings.host,
        "SKYALERT_PORT": str(settings.port),
        "SKYALERT_WEB_WORKERS": str(settings.web_workers),
        "SKYALERT_LOCAL_BROKER": settings.local_broker,  # tansu: no ACL sync in the children
        **(
            {
                "SKYALERT_KAFKA_CLIENT_BOOTSTRAP": settings.kafka_client_bootstrap,
                "SKYALERT_KAFKA_CLIENT_SECURITY_PROTOCOL": settings.kafka_client_security_protocol,
            }
            if settings.kafka_client_bootstrap
            else {}
        ),
    }


def _shared_environment(settings: Settings) -> dict[str, str]:
    """What a second terminal's ``skyalert`` commands need to reach this stack: the
    ``SKYALERT_*`` variables it was started with and the addresses it chose."""
    given = {k: v for k, v in os.environ.items() if k.startswith("SKYALERT_")}
    shared = {**given, **_environment(settings)}
    shared.pop("SKYALERT_VAR_DIR")  # they found the file through it
    return shared


def run(settings: Settings, say: Say, scale: Scale | None = None) -> int:
    stack = Stack(settings, say, scale or Scale())
    try:
        started = stack.start()  # Ctrl-C here raises KeyboardInterrupt; finally cleans up
        stack.handle_signals()
        say("")
        say(f"  portal           {started.base_url}/")
        for replica in range(1, stack.scale.web):
            say(f"  web replica      http://{started.host}:{started.port + replica}/")
        say(f"  Kafka bootstrap  {started.kafka_bootstrap} (our services)")
        if started.kafka_client_bootstrap:
            say(
                f"  Kafka clients    {started.kafka_client_bootstrap} "
                f"({started.kafka_client_security_protocol}, OAUTHBEARER tokens from "
                f"{started.base_url}/oauth2/token)"
            )
        vtp_host = started.vtp_host or started.host
        say(f"  VTP subscribers  {vtp_host}:{started.vtp_port} (VOEvent Transport Protocol)")
        say(f"  VTP authors      {vtp_host}:{started.vtp_author_port}")
        if stack.admin is not None:
            email, password = stack.admin
            say(
                f"  admin login      {email} / {password} (shown once: change it at "
                f"{started.base_url}/account)"
                if password
                else f"  admin login      {email} (password as set before)"
            )
        if stack.broker is not None:
            pids = ", ".join(str(pid) for pid in stack.broker.pids)
            say(f"  {'broker':<16} pid {pids}, {stack.broker.description}")
        for child in stack.children:
            say(f"  {child.name:<16} pid {child.pid}, log {child.log}")
        say("")
        say("skyalert is up. Press Ctrl-C to stop.")
        code = stack.supervise()
    finally:
        say("stopping …")
        stack.stop()
        say("stopped")
    return code
