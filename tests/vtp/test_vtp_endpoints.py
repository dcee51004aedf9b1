"""Both VTP ports against real Kafka and PostgreSQL: subscribers get the original bytes of what
is published over HTTP, authors get ack or nak, and bad peers only ever lose their own socket."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer

from skyalert.broker.kafka.config import base_config
from skyalert.schemas.catalog import load_catalog
from support.ingest import (
    BAT_TOPIC,
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    find_messages,
    header,
    ivorn_of,
    unique_bat,
    with_ivorn,
)
from support.stream import Publisher, own_loop
from support.vtp import WAIT, Subscriber, Vtp, author_send, dropped, framed, root_of, send_raw

DEAD_LETTER = load_catalog().dead_letter.name


def reason_of(answer: bytes) -> tuple[str | None, str | None]:
    root = root_of(answer)
    param = root.find("Meta/Param[@name='reason']")
    return root.get("role"), None if param is None else param.get("value")


@own_loop
async def test_a_subscriber_gets_what_is_published_over_http_byte_for_byte(
    vtp: Vtp, publisher: Publisher
) -> None:
    subscriber = await Subscriber.connect(vtp.ports.subscribers)
    try:
        await subscriber.ready()
        raw = unique_bat()
        await publisher.voevent(raw, BAT_TOPIC)
        assert await subscriber.until({ivorn_of(raw)}) == [raw]
        assert subscriber.iamalives >= 1
    finally:
        subscriber.close()


@own_loop
async def test_repeats_of_an_ivorn_aredropped_per_connection(vtp: Vtp) -> None:
    """Kafka may carry an alert twice (a re-publish after a crash); a subscriber sees it once."""
    subscriber = await Subscriber.connect(vtp.ports.subscribers)
    try:
        await subscriber.ready()
        twice, after = unique_bat(), unique_bat()
        producer = Producer(base_config(vtp.settings))
        for value in (twice, twice, after):
            producer.produce(BAT_TOPIC, value, headers={"alert-id": uuid.uuid4().hex})
        assert producer.flush(WAIT) == 0
        await subscriber.until({ivorn_of(twice), ivorn_of(after)})
        assert subscriber.events == [twice, after]
    finally:
        subscriber.close()


@own_loop
async def test_an_address_in_no_range_is_refused(vtp: Vtp) -> None:
    outsider = await Subscriber.connect(vtp.ports.subscribers, source="127.0.0.3")
    try:
        await outsider.closed()
        assert outsider.events == []
    finally:
        outsider.close()


@own_loop
async def test_an_author_gets_ack_and_the_alert_is_archived_and_streamed(
    vtp: Vtp, app_url: str
) -> None:
    subscriber = await Subscriber.connect(vtp.ports.subscribers)
    try:
        await subscriber.ready()
        raw = unique_bat()
        (answer,) = await asyncio.to_thread(author_send, vtp.ports.authors, raw)
        root = root_of(answer)
        assert (root.get("role"), root.findtext("Origin")) == ("ack", ivorn_of(raw))
        assert await subscriber.until({ivorn_of(raw)}) == [raw]
    finally:
        subscriber.close()
    (message,) = find_messages(vtp.settings, BAT_TOPIC, lambda m: m.value() == raw)
    assert header(message, "sender") == vtp.author.encode()
    alert_id = (header(message, "alert-id") or b"").decode()
    archived = httpx.get(
        f"{app_url}/api/v1/alerts/{alert_id}", headers={"Accept": "application/x-voevent+xml"}
    )
    assert archived.content == raw


def test_a_schema_violating_voevent_gets_nak_with_the_reason_and_is_dead_lettered(
    vtp: Vtp,
) -> None:
    raw = unique_bat().replace(b"<Who>", b"<Whom>").replace(b"</Who>", b"</Whom>")
    (answer,) = author_send(vtp.ports.authors, raw)
    assert reason_of(answer) == ("nak", "invalid_voevent")
    assert "Whom" in (root_of(answer).findtext("Meta/Result") or "")
    digest = hashlib.sha256(raw).hexdigest()
    (letter,) = find_messages(
        vtp.settings,
        DEAD_LETTER,
        lambda m: json.loads(m.value() or b"{}").get("original_sha256") == digest,
    )
    envelope = json.loads(letter.value() or b"")
    assert (envelope["reason"], envelope["source"], envelope["producer"]) == (
        "invalid_voevent",
        "vtp",
        vtp.author,
    )


def test_unmapped_ivorns_unbound_addresses_and_other_namespaces_get_nak(vtp: Vtp) -> None:
    unmapped = with_ivorn(unique_bat(), f"ivo://elsewhere.example/x#{uuid.uuid4().hex}")
    (answer,) = author_send(vtp.ports.authors, unmapped)
    assert reason_of(answer) == ("nak", "unknown_topic")
    assert "SKYALERT_VTP_AUTHOR_TOPICS" in (root_of(answer).findtext("Meta/Result") or "")
    digest = hashlib.sha256(unmapped).hexdigest()
    (letter,) = find_messages(
        vtp.settings,
        DEAD_LETTER,
        lambda m: json.loads(m.value() or b"{}").get("original_sha256") == digest,
    )
    assert json.loads(letter.value() or b"")["topic"] == ivorn_of(unmapped)
    (answer,) = author_send(vtp.ports.authors, unique_bat(), source="127.0.0.2")
    assert reason_of(answer) == ("nak", "unauthorized")
    (answer,) = author_send(vtp.ports.authors, unique_bat(), source="127.0.0.4")
    assert reason_of(answer) == ("nak", "forbidden_topic")
    assert "publish:gcn" in (root_of(answer).findtext("Meta/Result") or "")


def test_the_comet_broker_s_author_tool_gets_ack(vtp: Vtp, tmp_path: Path) -> None:
    raw = unique_bat()
    event = tmp_path / "event.xml"
    event.write_bytes(raw)
    sendvo = Path(sys.executable).with_name("comet-sendvo")
    result = subprocess.run(
        [str(sendvo), "-h", "127.0.0.1", "-p", str(vtp.ports.authors), "-f", str(event)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Event was sent successfully" in result.stdout + result.stderr, result
    find_messages(vtp.settings, BAT_TOPIC, lambda m: m.value() == raw)


BAD_INPUTS = {
    "over the limit": struct.pack("!I", 2**31),
    "truncated": framed(unique_bat())[:-10],
    "not XML": framed(b"GET / HTTP/1.1\r\n\r\n"),
    "billion laughs": framed(BILLION_LAUGHS),
    "external entity": framed(EXTERNAL_ENTITY),
}


@pytest.mark.parametrize("port", ["subscribers", "authors"])
@own_loop
async def test_malformed_frames_close_only_their_own_connection(
    vtp: Vtp, publisher: Publisher, port: str, caplog: pytest.LogCaptureFixture
) -> None:
    subscriber = await Subscriber.connect(vtp.ports.subscribers)
    try:
        await subscriber.ready()
        caplog.set_level(logging.INFO, logger="skyalert.broker.vtp")
        for name, data in BAD_INPUTS.items():
            # The server must close on its own: send_raw reads until it does.
            answer = await asyncio.to_thread(send_raw, getattr(vtp.ports, port), data)
            assert b"ack" not in answer, name
        for words in ("over the limit", "ended inside a frame", "not well-formed", "DTDForbidden"):
            assert words in caplog.text
        raw = unique_bat()
        await publisher.voevent(raw, BAT_TOPIC)
        assert await subscriber.until({ivorn_of(raw)}) == [raw]
    finally:
        subscriber.close()


@own_loop
async def test_a_subscriber_that_never_reads_isdropped_and_holds_nobody_up(
    vtp: Vtp, publisher: Publisher
) -> None:
    silent = socket.create_connection(("127.0.0.1", vtp.ports.subscribers))
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    others = [await Subscriber.connect(vtp.ports.subscribers) for _ in range(10)]
    try:
        await asyncio.gather(*(s.ready() for s in others))
        burst = [unique_bat() for _ in range(20)]
        await asyncio.gather(*(publisher.voevent(raw, BAT_TOPIC) for raw in burst))
        ivorns = {ivorn_of(raw) for raw in burst}
        for got in await asyncio.gather(*(s.until(ivorns) for s in others)):
            assert sorted(got) == sorted(burst)
        assert await asyncio.to_thread(dropped, silent)
    finally:
        silent.close()
        for subscriber in others:
            subscriber.close()
