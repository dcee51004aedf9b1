"""``Consumer``: confluent-kafka's consumer, configured from the server's discovery document.

Everything confluent-kafka offers still works (``subscribe``, ``poll``, ``consume``, …);
:meth:`Consumer.alerts` adds the loop most people write by hand, done carefully: decoded alerts,
test alerts and a filter applied, offsets committed once your code has handled each alert,
quiet topics tolerated, stalls and credential problems raised instead of waited out.
"""

from __future__ import annotations

__all__ = ["STALL_TIMEOUT", "Consumer", "Format", "OnStall"]

import atexit
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import confluent_kafka
from confluent_kafka import OFFSET_END, KafkaError, KafkaException, Message, TopicPartition

from skyalert.client.alert import JSON, Alert, UndecodableAlert, decode_message
from skyalert.client.archive import Archive
from skyalert.client.catalog import Catalog, check_topics, fetch_catalog
from skyalert.client.config import resolve
from skyalert.client.discovery import Discovery
from skyalert.client.errors import (
    AuthenticationError,
    ConfigurationError,
    KafkaClientError,
    SkyalertClientError,
    StallError,
)
from skyalert.client.filters import Filter, compile_filter
from skyalert.client.groups import warn_if_shared
from skyalert.client.kafka_errors import (
    FailureLatch,
    Reporter,
    failure_of,
    is_quiet_topic,
    refused_config,
)
from skyalert.client.shutdown import at_exit

log = logging.getLogger(__name__)

Format = Literal["json", "voevent"]
OnStall = Literal["raise", "reconnect"]

#: Seconds one poll waits; also how often stalls and errors are checked.
POLL_SECONDS = 0.5
#: Offsets of skipped messages (tests, filtered out) are committed at least this often.
COMMIT_EVERY = 5.0
#: Default for ``stall_timeout``: the server's heartbeat arrives every second.
STALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class _Plan:
    topics: tuple[str, ...]
    format: Format
    include_tests: bool
    filter: Filter
    stall_timeout: float | None
    on_stall: OnStall
    #: The heartbeat topic when it is watched only for liveness (not asked for by the user).
    heartbeat: str | None
    #: VOEvent alerts need their JSON form (asked for, or a filter reads it).
    needs_json: bool


class Consumer(confluent_kafka.Consumer):
    """A Kafka consumer for a skyalert server; needs only the server URL and a credential.

    ``config`` holds librdkafka options (and may hold ``client_id``, ``client_secret`` and
    ``server``, as :func:`config_from_env` returns); keyword arguments are librdkafka options
    too, with ``_`` for ``.`` (``group_id="…"``). Both win over the defaults: a stable group id
    (your client id), ``auto.offset.reset=earliest``, no auto-commit.
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        server: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        discovery: Discovery | None = None,
        **kwargs: Any,
    ) -> None:
        resolved = resolve(
            "consumer",
            client_id=client_id,
            client_secret=client_secret,
            server=server,
            config=config,
            discovery=discovery,
            kwargs=kwargs,
            error_cb=self._on_error,
        )
        self.discovery = resolved.discovery
        self.client_id: str | None = resolved.client_id
        self._secret = resolved.client_secret
        self._config = resolved.config
        self._catalog: Catalog | None = None
        self._pending: dict[tuple[str, int], int] = {}
        #: The next offset committed per partition (so an alert is committed once).
        self._committed: dict[tuple[str, int], int] = {}
        self._plan: _Plan | None = None
        self._last_error: KafkaError | None = None
        self._auth_failing_since: float | None = None
        self._told_quiet: set[str] = set()
        self._archive: Archive | None = None
        self._latch = FailureLatch()
        self._reporter = Reporter(log)
        self._start()

    def _start(self) -> None:
        try:
            super().__init__(self._config)
        except KafkaException as exc:
            raise refused_config(exc) from exc
        # A consumer never closed stays in its group until Kafka gives up on it (45 s): the
        # next start of the program would wait that long. Leave at exit instead.
        self._exit_hook = at_exit(self, Consumer.close)

    @property
    def group_id(self) -> str:
        return str(self._config["group.id"])

    def catalog(self, refresh: bool = False) -> Catalog:
        """The server's topic catalog (cached for a few minutes)."""
        if self._catalog is None or refresh:
            self._catalog = fetch_catalog(self.discovery, refresh=refresh)
        return self._catalog

    # --- the alert iterator -------------------------------------------------------------------

    def alerts(
        self,
        topics: str | Iterable[str],
        format: Format = "json",
        include_tests: bool = False,
        filter: Filter | Mapping[str, Any] | None = None,
        *,
        stall_timeout: float | None = STALL_TIMEOUT,
        on_stall: OnStall = "raise",
    ) -> Iterator[Alert]:
        """Subscribe to ``topics`` and yield their alerts, oldest unread first, forever.

        Each alert is committed when your loop asks for the next one, so a restart resumes
        after the last alert your code finished (an alert your loop broke out of, or raised
        on, comes again). Test alerts are skipped unless ``include_tests``; ``filter`` (the
        shared filter language) is applied here, on your machine. ``format="json"`` makes
        ``payload`` the JSON form of every alert (VOEvent ones fetched from the server's
        archive); ``"voevent"`` leaves VOEvent alerts as XML (``alert.xml``), with ``payload``
        filled only when a filter needs it.

        If nothing at all arrives for ``stall_timeout`` seconds (the server's heartbeat topic is
        watched too), raises :class:`StallError`, or reconnects when ``on_stall="reconnect"``;
        ``None`` turns the watch off. Unknown topic names are refused before connecting.
        """
        names = (topics,) if isinstance(topics, str) else tuple(topics)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ConfigurationError("alerts() needs one or more topic names")
        if format not in ("json", "voevent"):
            raise ConfigurationError(f"format must be 'json' or 'voevent', not {format!r}")
        if on_stall not in ("raise", "reconnect"):
            raise ConfigurationError(f"on_stall must be 'raise' or 'reconnect', not {on_stall!r}")
        if stall_timeout is not None and stall_timeout <= 0:
            raise ConfigurationError("stall_timeout must be a positive number of seconds or None")
        matcher = compile_filter(filter)
        self._catalog = check_topics(self.discovery, names)
        heartbeat = self.discovery.heartbeat_topic
        watch = heartbeat if stall_timeout is not None and heartbeat not in names else None
        needs_json = format == "json" or matcher.to_json() is not None
        plan = _Plan(
            names, format, include_tests, matcher, stall_timeout, on_stall, watch, needs_json
        )
        return self._iterate(plan)

    def _iterate(self, plan: _Plan) -> Iterator[Alert]:
        self._plan = plan
        warn_if_shared(self._config, self.group_id)
        self._subscribe(plan)
        last_commit = quiet_since = time.monotonic()
        try:
            while True:
                message = self.poll(POLL_SECONDS)
                now = time.monotonic()
                self._check_auth_failures(now)
                error = message.error() if message is not None else None
                if error is not None and message is not None:
                    self._message_error(error, message.topic())
                if message is None or error is not None:  # errors are no sign of life
                    if plan.stall_timeout is not None and now - quiet_since > plan.stall_timeout:
                        self._stalled(plan, now - quiet_since)
                        quiet_since = time.monotonic()
                    continue
                quiet_since = now
                self._auth_failing_since = None
                topic = message.topic() or ""
                if topic == plan.heartbeat:
                    continue
                alert = self._accept(message, plan)
                if alert is not None:
                    yield alert
                    quiet_since = time.monotonic()  # the loop body's time is no stall
                key, after = (topic, message.partition() or 0), (message.offset() or 0) + 1
                if self._committed.get(key, -1) < after:  # not yet done by commit_alert
                    self._pending[key] = after
                due = alert is not None or time.monotonic() - last_commit > COMMIT_EVERY
                if self._pending and due:
                    self._commit_pending(asynchronous=alert is None)
                    last_commit = time.monotonic()
        finally:
            self._commit_pending(asynchronous=False, quiet=True)
            self._plan = None

    def _accept(self, message: Message, plan: _Plan) -> Alert | None:
        """The alert to hand out, or None when it is skipped (test, filtered, undecodable)."""
        try:
            alert = decode_message(message)
        except UndecodableAlert as exc:
            log.error(
                "skipping message %s/%s@%s: %s",
                message.topic(),
                message.partition(),
                message.offset(),
                exc,
            )
            return None
        if alert.test and not plan.include_tests:
            return None
        if alert.content_type != JSON and plan.needs_json:
            alert = self._with_json_form(alert)
        if not plan.filter.matches(alert.payload):
            return None
        return alert

    def _with_json_form(self, alert: Alert) -> Alert:
        if self._archive is None:
            self._archive = Archive(self.discovery, self.client_id, self._secret)
        return self._archive.with_json_form(alert)

    def commit_alert(self, alert: Alert) -> None:
        """Record now that ``alert`` is handled (the iterator does this when you ask for the
        next alert; call it before you ``break`` out of the loop to keep that alert done)."""
        key = (alert.topic, alert.partition)
        self._pending[key] = max(self._pending.get(key, 0), alert.offset + 1)
        self._commit_pending(asynchronous=False)

    def close(self) -> None:
        """As confluent-kafka's ``close``; first commits what ``alerts()`` skipped past.

        Done for you at exit if you do not: the group is left at once, so a restarted program
        continues without waiting for Kafka to notice this one has gone.
        """
        atexit.unregister(self._exit_hook)
        self._commit_pending(asynchronous=False, quiet=True)
        super().close()

    # --- Kafka plumbing -----------------------------------------------------------------------

    def _subscribe(self, plan: _Plan) -> None:
        topics = [*plan.topics, *([plan.heartbeat] if plan.heartbeat else [])]
        self.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(
        self, consumer: confluent_kafka.Consumer, partitions: list[TopicPartition]
    ) -> None:
        # Heartbeats matter only from now on: start them at the end, never commit them.
        heartbeat = self._plan.heartbeat if self._plan else None
        for partition in partitions:
            if partition.topic == heartbeat:
                partition.offset = OFFSET_END
        if self._cooperative():
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def _on_revoke(
        self, _consumer: confluent_kafka.Consumer, _partitions: list[TopicPartition]
    ) -> None:
        # Commit what was handled before another member takes these partitions over;
        # confluent-kafka unassigns them after this returns.
        self._commit_pending(asynchronous=False, quiet=True)

    def _cooperative(self) -> bool:
        strategy = str(self._config.get("partition.assignment.strategy", ""))
        protocol = str(self._config.get("group.protocol", "classic"))
        return "cooperative" in strategy or protocol == "consumer"

    def _commit_pending(self, *, asynchronous: bool, quiet: bool = False) -> None:
        if not self._pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        done, self._pending = self._pending, {}
        try:
            if asynchronous:
                self.commit(offsets=offsets, asynchronous=True)
            else:
                self.commit(offsets=offsets, asynchronous=False)
            self._committed |= done
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            failure = (
                failure_of(error, None, self._catalog, group_id=self.group_id) if error else None
            )
            if failure is not None and not quiet:
                raise failure from None
            # At least once: an uncommitted alert comes again after a restart or rebalance.
            log.warning("could not commit offsets (they will be read again): %s", exc)

    def _message_error(self, error: KafkaError, topic: str | None) -> None:
        self._last_error = error
        if topic and is_quiet_topic(error):
            if topic not in self._told_quiet:
                self._told_quiet.add(topic)
                log.info("%s has no alerts yet; waiting for its first one", topic)
            return
        if error.code() == KafkaError._PARTITION_EOF:
            return
        failure = failure_of(
            error, topic, self._catalog, group_id=self.group_id, heartbeat=self._plan_heartbeat()
        )
        if failure is not None:
            raise failure
        if error.fatal():
            raise KafkaClientError(f"Kafka reported a fatal error: {error.str()}", error.name())
        self._reporter.report(error)

    def _plan_heartbeat(self) -> str | None:
        return self._plan.heartbeat if self._plan else None

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's error callback: credential problems raise from the next ``poll``."""
        self._last_error = error
        failure = failure_of(error, None, self._catalog, group_id=self.group_id)
        if failure is None and error.fatal():
            failure = KafkaClientError(f"Kafka reported a fatal error: {error.str()}", error.name())
        if failure is not None:
            self._latch.record(failure)
            return
        if error.code() == KafkaError._AUTHENTICATION:
            # The token endpoint could not be reached: librdkafka retries; give it a while.
            self._auth_failing_since = self._auth_failing_since or time.monotonic()
        self._reporter.report(error)

    def poll(self, timeout: float = -1) -> Message | None:
        """As confluent-kafka's ``poll``; credential and fatal errors raise here."""
        message = super().poll(timeout)
        self._latch.raise_recorded()
        return message

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        """As confluent-kafka's ``consume``; credential and fatal errors raise here."""
        messages = super().consume(num_messages, timeout)
        self._latch.raise_recorded()
        return messages

    def _check_auth_failures(self, now: float) -> None:
        since = self._auth_failing_since
        grace = (self._plan.stall_timeout if self._plan else None) or STALL_TIMEOUT
        if since is not None and now - since > grace:
            detail = self._last_error.str() if self._last_error else "no detail"
            raise AuthenticationError(
                f"no access token for {now - since:.0f} s from "
                f"{self.discovery.token_endpoint}: {detail}"
            )

    def _stalled(self, plan: _Plan, quiet: float) -> None:
        watched = (
            f", not even the server's heartbeat on {plan.heartbeat}," if plan.heartbeat else ""
        )
        last = f" Last Kafka error: {self._last_error.str()}." if self._last_error else ""
        text = (
            f"nothing arrived from Kafka at {self._config['bootstrap.servers']} for "
            f"{quiet:.0f} s{watched} so the connection has stalled.{last} Check your network "
            "and credential; pass on_stall='reconnect' to reconnect by itself, or "
            "stall_timeout=None to turn this check off."
        )
        if plan.on_stall == "raise":
            raise StallError(text)
        log.warning("%s Reconnecting.", text.split(" Check ", maxsplit=1)[0])
        self._reconnect(plan)

    def _reconnect(self, plan: _Plan) -> None:
        """A fresh librdkafka client on the same object: new connections, new token."""
        self._commit_pending(asynchronous=False, quiet=True)
        try:
            self.close()
        except (KafkaException, RuntimeError, SkyalertClientError) as exc:
            log.warning("closing the stalled connection failed: %s", exc)
        self._start()
        self._subscribe(plan)
