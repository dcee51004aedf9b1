"""The HTTP baseline of bench_ingest: a bare FastAPI endpoint that only produces the body.

``POST /produce/{topic}`` hands the request body to one shared confluent-kafka producer
(our services' producer settings, ``acks=all``, idempotent) and answers 201 once Kafka
acknowledged it, as skyalert's publish answers only after the produce is acknowledged.
Served by uvicorn exactly like ``skyalert serve`` (``uvicorn --factory
bare_produce_app:create``), with the settings read from the same ``SKYALERT_*`` environment.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from confluent_kafka import KafkaError, Message, Producer
from fastapi import FastAPI, Request, Response

from skyalert.broker.core.settings import load_settings
from skyalert.broker.kafka.config import producer_config


def create() -> FastAPI:
    producer = Producer(producer_config(load_settings()))
    stop = threading.Event()

    def serve_callbacks() -> None:
        while not stop.is_set():
            producer.poll(0.05)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        poller = threading.Thread(target=serve_callbacks, daemon=True)
        poller.start()
        yield
        stop.set()
        poller.join(5)
        producer.flush(10)

    app = FastAPI(lifespan=lifespan)

    @app.post("/produce/{topic}", status_code=201)
    async def produce(topic: str, request: Request) -> Response:
        body = await request.body()
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            outcome = RuntimeError(str(error)) if error is not None else None
            loop.call_soon_threadsafe(_settle, acked, outcome)

        key = uuid.uuid4().hex
        producer.produce(topic, body, key=key.encode(), on_delivery=delivered)
        await acked
        return Response(key, status_code=201, media_type="text/plain")

    return app


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
