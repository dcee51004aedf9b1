"""Two `skyalert up` stacks on one machine: B mirrors A's Swift GUANO topic with a credential
made on A, and holds every alert once: in its archive, on its Kafka, in its live feed and
mail, through a kill -9 of its mirror worker mid-burst."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Message
from sqlalchemy import select

from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.client import stream
from skyalert.schemas.catalog import load_catalog
from support.auth import get_token, make_credential, make_user
from support.email import Api, Mailbox
from support.ingest import (
    BAT_TOPIC,
    GUANO_TOPIC,
    find_messages,
    header,
    messages_now,
    unique_bat,
)
from support.stack import Up, UpStack, up_stack, var_with_jars
from support.stream import guano, mine, post_json, post_voevent

pytestmark = pytest.mark.slow

BURST = 200


def _mirror_of(a: Up, portal: str, credential: tuple[str, str]) -> str:
    """SKYALERT_MIRRORS for B: A's client listener, logged in with A's OIDC token endpoint."""
    clients = re.search(r"Kafka clients\s+(\S+) \((\S+),", "\n".join(a.output))
    assert clients is not None
    mirror = {
        "name": "a",
        "bootstrap": clients.group(1),
        "security_protocol": clients.group(2),
        "token_url": f"{portal}/oauth2/token",
        "client_id": credential[0],
        "client_secret": credential[1],
        # A's Swift BAT VOEvents are no GUANO notices: B's contract refuses them.
        "topics": {GUANO_TOPIC: GUANO_TOPIC, BAT_TOPIC: GUANO_TOPIC},
        "start": "earliest",
    }
    return json.dumps([mirror])


def _marker(message: Message, prefix: str) -> str | None:
    found = re.search(rf'"({re.escape(prefix)}[\w-]*)"', (message.value() or b"").decode())
    return found.group(1) if found else None


def _archived(settings: Settings, prefix: str) -> Counter[str]:
    """How often B's archive holds each marker starting with ``prefix`` (senders from A)."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.scalars(select(Alert).where(Alert.sender.like("mirror:a %")))
            found = (
                re.search(rf'"({re.escape(prefix)}[\w-]*)"', r.original.decode()) for r in rows
            )
            return Counter(match.group(1) for match in found if match)
    finally:
        engine.dispose()


async def _first_streamed(portal: str, credential: tuple[str, str], marker: str) -> str:
    async with stream(
        portal, *credential, GUANO_TOPIC, mine(marker), since=timedelta(hours=1)
    ) as feed:
        async for alert in feed:
            return alert.id
    raise AssertionError("the live feed ended")


def test_stack_b_mirrors_a_once_each_through_a_kill_of_its_mirror(
    stack: UpStack, tmp_path: Path, kafka_classpath_str: str
) -> None:
    a, portal_a, settings_a = stack.up, stack.url, stack.settings
    publisher = make_credential(settings_a, make_user(settings_a, groups=["producers.gcn"]))
    mirror = _mirror_of(a, portal_a, make_credential(settings_a, make_user(settings_a)))
    mailbox = Mailbox()
    mailbox.start()
    b_env = {
        "SKYALERT_MIRRORS": mirror,
        "SKYALERT_SMTP_URL": mailbox.url,
        "SKYALERT_INGEST_REPUBLISH_AFTER": "2",
    }
    try:
        with up_stack(var_with_jars(tmp_path, kafka_classpath_str), **b_env) as stack_b:
            b, portal_b, settings_b = stack_b.up, stack_b.url, stack_b.settings
            reader_b = make_user(settings_b)
            reading_b = make_credential(settings_b, reader_b)
            marker = f"fed-{uuid.uuid4().hex[:8]}"
            with Api(portal_b, get_token(portal_b, *reading_b)) as api_b:
                subscribed = api_b.post(
                    "/subscriptions",
                    {"topics": [GUANO_TOPIC], "format": "text", "filter": mine(marker)},
                )
                assert subscribed.status_code == 201, subscribed.text

            with httpx.Client(base_url=portal_a, timeout=30) as http_a:
                http_a.headers["Authorization"] = f"Bearer {get_token(portal_a, *publisher)}"
                post_json(http_a, guano(marker))
                (on_b,) = find_messages(
                    settings_b, GUANO_TOPIC, lambda m: _marker(m, marker) is not None, timeout=90
                )
                alert_id = (header(on_b, "alert-id") or b"").decode()
                sender = (header(on_b, "sender") or b"").decode()
                assert sender.startswith(f"mirror:a {GUANO_TOPIC}[0]@"), sender
                streamed = asyncio.run(
                    asyncio.wait_for(_first_streamed(portal_b, reading_b, marker), 60)
                )
                assert streamed == alert_id
                (mail,) = mailbox.wait_until(lambda mails: len(mails) >= 1, reader_b.email, 60)
                assert mail.message["X-Skyalert-Alert-Id"] == alert_id
                page = httpx.get(f"{portal_b}/alerts/{alert_id}", timeout=20)
                assert page.status_code == 200
                assert sender in page.text  # provenance: mirror, upstream topic, partition, offset

                refused = unique_bat()
                post_voevent(http_a, refused, BAT_TOPIC)
                (dead,) = find_messages(
                    settings_b,
                    load_catalog().dead_letter.name,
                    lambda m: (header(m, "producer") or b"").startswith(
                        f"mirror:a {BAT_TOPIC}".encode()
                    ),
                    1,
                    90,
                )
                letter = json.loads(dead.value() or b"{}")
                assert letter["original_sha256"] == hashlib.sha256(refused).hexdigest(), letter
                assert letter["reason"] == (header(dead, "reason") or b"").decode(), letter
                assert letter["detail"], letter

                burst = f"burst-{uuid.uuid4().hex[:8]}"
                wanted = {f"{burst}-{n}" for n in range(BURST)}
                with ThreadPoolExecutor(8) as pool:
                    sent = pool.map(lambda m: post_json(http_a, guano(m)), sorted(wanted))
                    find_messages(
                        settings_b, GUANO_TOPIC, lambda m: _marker(m, burst) is not None, 20, 120
                    )
                    os.kill(b.pid_of("mirror"), signal.SIGKILL)
                    assert len(list(sent)) == BURST
                b.wait_for(r"mirror restarted, pid \d+", timeout=60)
                arrived = find_messages(
                    settings_b, GUANO_TOPIC, lambda m: _marker(m, burst) is not None, BURST, 180
                )
            assert {_marker(m, burst) for m in arrived} == wanted
            # Exactly once in B's archive and on B's topic (read to its end).
            assert _archived(settings_b, burst) == Counter(wanted)
            on_topic = Counter(_marker(m, burst) for m in messages_now(settings_b, GUANO_TOPIC))
            del on_topic[None]
            assert on_topic == Counter(wanted)
            assert len(mailbox.to(reader_b.email)) == 1
    finally:
        mailbox.stop()
