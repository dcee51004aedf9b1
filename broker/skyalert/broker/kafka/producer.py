"""A shared Kafka producer whose sends return futures, served by one background poll thread.

Many threads (HTTP requests, the inbox worker) may send at once; each waits on its own future
for the broker's acknowledgement (``acks=all``, idempotent: see ``producer_config``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

Headers = Sequence[tuple[str, bytes]]


class DeliveryFailed(KafkaException):
    """Kafka did not acknowledge a message; ``args[0]`` is the :class:`KafkaError`."""


class KafkaSender:
    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()
    ) -> Future[Message]:
        """Queue a message; the future resolves when Kafka acknowledged it (or failed)."""
        future: Future[Message] = Future()
        # Running: a caller that stops waiting (asyncio.wait_for) cannot cancel it, which would
        # make the delivery callback raise and end the poll thread for every later message.
        future.set_running_or_notify_cancel()

        def _done(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                future.set_exception(DeliveryFailed(error))
            else:
                future.set_result(message)

        try:
            self._producer.produce(topic, value, key=key, headers=list(headers), on_delivery=_done)
        except BufferError:
            # The local queue is full: let the poll thread drain it, then try once more.
            self._producer.flush(1.0)
            self._producer.produce(topic, value, key=key, headers=list(headers), on_delivery=_done)
        except KafkaException as exc:
            future.set_exception(DeliveryFailed(exc.args[0]))
        return future

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then release the producer."""
        self._producer.flush(timeout)
        self._closed.set()
        self._poller.join(timeout)
        self._producer.close()
