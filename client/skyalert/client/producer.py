"""``Producer``: confluent-kafka's producer, configured from the server's discovery document.

For publishers who write to Kafka (their namespace's inbox topic) rather than over HTTP.
Defaults: zstd compression and idempotent, fully acknowledged writes; every librdkafka option
stays open. Without your own ``on_delivery``, a refused write raises from ``poll``/``flush``
(naming the scope it needs) instead of vanishing.
"""

from __future__ import annotations

__all__ = ["Producer"]

import logging
from collections.abc import Mapping
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, Message

from skyalert.client.catalog import Catalog, fetch_catalog
from skyalert.client.config import resolve
from skyalert.client.discovery import Discovery
from skyalert.client.errors import KafkaClientError, ServerUnreachable
from skyalert.client.kafka_errors import FailureLatch, Reporter, failure_of, refused_config
from skyalert.client.shutdown import at_exit

log = logging.getLogger(__name__)

#: How long the producer may take at exit to deliver what it still holds.
EXIT_FLUSH_SECONDS = 10.0


class Producer(confluent_kafka.Producer):
    """A Kafka producer for a skyalert server; needs only the server URL and a credential."""

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
            "producer",
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
        self._config = resolved.config
        self._catalog: Catalog | None = None
        self._latch = FailureLatch()
        self._reporter = Reporter(log)
        try:
            super().__init__(self._config)
        except KafkaException as exc:
            raise refused_config(exc) from exc
        # Alerts still queued when the program ends would be dropped without a word.
        at_exit(self, Producer._deliver_at_exit)

    def _deliver_at_exit(self) -> None:
        left = confluent_kafka.Producer.flush(self, EXIT_FLUSH_SECONDS)
        if left:
            log.error("%d alert(s) were not delivered before the program ended", left)

    def produce(self, *args: Any, **kwargs: Any) -> None:
        """As confluent-kafka's ``produce``; failed deliveries raise unless you handle them."""
        if kwargs.get("on_delivery") is None and kwargs.get("callback") is None:
            kwargs.pop("callback", None)
            kwargs["on_delivery"] = self._delivered
        super().produce(*args, **kwargs)

    def poll(self, timeout: float = -1) -> int:
        """As confluent-kafka's ``poll``; refused deliveries and credential errors raise here."""
        served = super().poll(timeout)
        self._latch.raise_recorded()
        return served

    def flush(self, timeout: float = -1) -> int:
        """As confluent-kafka's ``flush``; refused deliveries and credential errors raise here."""
        remaining = super().flush(timeout)
        self._latch.raise_recorded()
        return remaining

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        topic = message.topic()
        failure = failure_of(error, topic, self._known_topics(), action="publish")
        self._latch.record(
            failure
            or KafkaClientError(
                f"an alert for {topic} was not delivered: {error.str()}", error.name()
            )
        )

    def _known_topics(self) -> Catalog | None:
        """The catalog, to name the missing scope; None when the server cannot be asked."""
        if self._catalog is None:
            try:
                self._catalog = fetch_catalog(self.discovery)
            except ServerUnreachable:
                return None
        return self._catalog

    def _on_error(self, error: KafkaError) -> None:
        failure = failure_of(error, None, self._catalog, action="publish")
        if failure is None and error.fatal():
            failure = KafkaClientError(f"Kafka reported a fatal error: {error.str()}", error.name())
        if failure is not None:
            self._latch.record(failure)
            return
        self._reporter.report(error)
