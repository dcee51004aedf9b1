"""Two email workers share the group; the one holding the partition is killed with SIGKILL
mid-burst to 50 subscribers: nobody gets a mail twice, and any mail not sent is counted (at
most two per SMTP connection of the killed worker: the one SMTP held and the one claimed next)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import admin_config
from support.auth import make_user
from support.email import Api, ApiFor, Mailbox, email_worker, wait_consumed
from support.ingest import GUANO_TOPIC, find_messages, has_header
from support.stream import guano, mine

pytestmark = pytest.mark.slow

SUBSCRIBERS = 50
ALERTS = 10
#: librdkafka's default (45 s) would hold the dead worker's partition that long.
FAST_TAKEOVER = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
CONNECTIONS = 2
#: The ledger's crash window: per SMTP connection, the mail SMTP held and the one claimed next.
MAY_BE_LOST = 2 * CONNECTIONS


def _holder(settings: Settings, group: str) -> str | None:
    """The client id of the group member that holds a partition now."""
    admin = AdminClient(admin_config(settings))
    (description,) = admin.describe_consumer_groups([group]).values()
    try:
        members = description.result().members
    except KafkaException:  # the group is not formed yet
        return None
    for member in members:
        if member.assignment.topic_partitions:
            return str(member.client_id)
    return None


def test_killing_one_of_two_email_workers_sends_no_duplicate(
    settings: Settings, mailbox: Mailbox, publisher: Api, api_for: ApiFor, tmp_path: Path
) -> None:
    marker = f"kill2-{uuid.uuid4().hex[:8]}"
    users = [make_user(settings) for _ in range(SUBSCRIBERS)]
    for user in users:
        answer = api_for(user).post(
            "/subscriptions", {"topics": [GUANO_TOPIC], "format": "text", "filter": mine(marker)}
        )
        assert answer.status_code == 201, answer.text
    addresses = {user.email for user in users}
    group = f"test-email-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        workers = {
            name: stack.enter_context(
                email_worker(
                    settings,
                    mailbox.url,
                    tmp_path / f"{name}.log",
                    group,
                    kafka_config=json.dumps({**FAST_TAKEOVER, "client.id": name}),
                    email_rate_recipient="1000/minute",
                    email_rate_global="100000/minute",
                    email_connections=str(CONNECTIONS),
                )
            )
            for name in ("email-a", "email-b")
        }
        deadline = time.monotonic() + 60
        while (holder := _holder(settings, group)) is None:
            assert time.monotonic() < deadline, "no worker took the partition"
            time.sleep(0.2)
        victim = workers[holder]
        sent_before_kill = SUBSCRIBERS * ALERTS // 3

        start = len(mailbox.messages)

        def kill_midway(envelope: Envelope) -> None:
            if len(mailbox.messages) - start >= sent_before_kill:
                os.kill(victim.pid, signal.SIGKILL)
                mailbox.hook = None

        mailbox.hook = kill_midway
        published = [
            publisher.post(f"/topics/{GUANO_TOPIC}/alerts", guano(marker)).json()["id"]
            for n in range(ALERTS)
        ]
        assert victim.wait(60) == -signal.SIGKILL
        expected = SUBSCRIBERS * ALERTS
        # Wait for all but the mails that may be lost in the kill ('uncertain' in the ledger).
        mailbox.wait_for(start + expected - MAY_BE_LOST, 90)
        (last,) = find_messages(
            settings, GUANO_TOPIC, has_header("alert-id", published[-1].encode())
        )
        wait_consumed(settings, group, last)  # the survivor is done: nothing more will come
        mails = mailbox.messages[start:]
    pairs = Counter(
        (rcpt, str(m.message["X-Skyalert-Alert-Id"]))
        for m in mails
        for rcpt in m.recipients
        if rcpt in addresses and str(m.message["X-Skyalert-Alert-Id"]) in published
    )
    duplicated = {pair: n for pair, n in pairs.items() if n > 1}
    missing = expected - len(pairs)
    print(
        f"mails expected {expected}, delivered {len(pairs)}, missing {missing}, "
        f"duplicated {len(duplicated)}"
    )
    assert not duplicated
    assert missing <= MAY_BE_LOST  # the mails in flight when the worker died ('uncertain')
