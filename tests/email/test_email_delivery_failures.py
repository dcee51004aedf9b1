"""SMTP refusals: temporary ones are retried with backoff, final ones recorded and shown; a
server that does not answer leaves the mails waiting; a stopped subscription sends nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.errors import MailError
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.render import Target, alert_mail, wire
from skyalert.broker.emails.summary import summarize
from skyalert.broker.emails.worker import mail_context
from skyalert.broker.kafka.kafka_node import free_port
from support.auth import make_user
from support.email import Api, ApiFor, Mailbox, SenderFor, never
from support.ingest import GUANO_TOPIC
from support.stream import guano


@pytest.fixture(scope="module")
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sending(settings: Settings, mailbox: Mailbox) -> Settings:
    return settings.model_copy(
        update={"smtp_url": mailbox.url, "email_retry_delay": 0.2, "email_max_attempts": 3}
    )


def subscribe(settings: Settings, api_for: ApiFor) -> tuple[Api, dict[str, Any]]:
    api = api_for(make_user(settings))
    wanted = {"name": "failing", "topics": [GUANO_TOPIC], "filter": never()}
    created = api.post("/subscriptions", wanted)
    assert created.status_code == 201, created.text
    return api, created.json()


def queue_alert(settings: Settings, sessions: sessionmaker[Session], sub: dict[str, Any]) -> str:
    """A rendered mail in the ledger, as the worker queues it."""
    alert = guano(uuid.uuid4().hex)
    alert_id = f"01TEST{uuid.uuid4().hex[:20].upper()}"
    summary = summarize(GUANO_TOPIC, "Swift BAT-GUANO", alert_id, alert, test=False)
    target = Target(sub["id"], sub["name"], sub["recipient"], sub["format"])
    message = alert_mail(mail_context(settings), target, summary, json.dumps(alert).encode(), alert)
    now = utcnow()
    with sessions.begin() as session:
        queued = ledger.queue(
            session,
            [
                {
                    "subscription_id": sub["id"],
                    "alert_id": alert_id,
                    "topic": GUANO_TOPIC,
                    "status": ledger.QUEUED,
                    "message": wire(message),
                    "summary": json.dumps(summary),
                    "queued_at": now,
                    "next_attempt_at": now,
                    "attempts": 0,
                    "error": "",
                }
            ],
        )
        assert queued == 1
        again = ledger.queue(
            session,
            [
                {
                    "subscription_id": sub["id"],
                    "alert_id": alert_id,
                    "topic": GUANO_TOPIC,
                    "status": ledger.QUEUED,
                    "message": b"",
                    "summary": "{}",
                    "queued_at": now,
                    "next_attempt_at": now,
                    "attempts": 0,
                    "error": "",
                }
            ],
        )
        assert again == 0  # the ledger's key: one row per (subscription, alert)
    return alert_id


def refuse_for(address: str, reply: str, times: int) -> Any:
    left = [times]

    def hook(envelope: Envelope) -> str | None:
        if address in envelope.rcpt_tos and left[0] > 0:
            left[0] -= 1
            return reply
        return None

    return hook


def test_permanent_refusal_is_recorded_and_shown(
    sending: Settings,
    sessions: sessionmaker[Session],
    api_for: ApiFor,
    mailbox: Mailbox,
    senders: SenderFor,
) -> None:
    api, sub = subscribe(sending, api_for)
    alert_id = queue_alert(sending, sessions, sub)
    mailbox.hook = refuse_for(sub["recipient"], "550 5.1.1 mailbox unavailable", 1)
    senders(sending, sessions).run_once()
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["failed"] == 1
    failure = shown["last_failure"]
    assert failure["alert_id"] == alert_id
    assert failure["status"] == "failed"
    assert "550" in failure["error"]
    assert "mailbox unavailable" in failure["error"]
    assert mailbox.to(sub["recipient"]) == []


def test_temporary_refusal_is_retried_with_backoff(
    sending: Settings,
    sessions: sessionmaker[Session],
    api_for: ApiFor,
    mailbox: Mailbox,
    senders: SenderFor,
) -> None:
    api, sub = subscribe(sending, api_for)
    alert_id = queue_alert(sending, sessions, sub)
    mailbox.hook = refuse_for(sub["recipient"], "451 4.3.0 try again later", 2)
    sender = senders(sending, sessions)
    sender.run_once()
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["queued"] == 1  # waiting for its next attempt
    assert sender.run_once() == 0  # not due yet: the backoff holds it
    deadline = time.monotonic() + 10
    while not mailbox.to(sub["recipient"]):
        assert time.monotonic() < deadline, "the mail was not retried"
        sender.run_once()
        time.sleep(0.05)
    (mail,) = mailbox.to(sub["recipient"])
    assert mail.message["X-Skyalert-Alert-Id"] == alert_id
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["sent"] == 1


def test_gives_up_after_the_last_attempt(
    sending: Settings,
    sessions: sessionmaker[Session],
    api_for: ApiFor,
    mailbox: Mailbox,
    senders: SenderFor,
) -> None:
    api, sub = subscribe(sending, api_for)
    queue_alert(sending, sessions, sub)
    mailbox.hook = refuse_for(sub["recipient"], "452 4.2.2 mailbox full", 100)
    sender = senders(sending, sessions)
    deadline = time.monotonic() + 10
    while api.get(f"/subscriptions/{sub['id']}").json()["deliveries"]["failed"] == 0:
        assert time.monotonic() < deadline, "never gave up"
        sender.run_once()
        time.sleep(0.05)
    failure = api.get(f"/subscriptions/{sub['id']}").json()["last_failure"]
    assert "gave up after 3 attempts" in failure["error"]
    assert "mailbox full" in failure["error"]


def test_unreachable_server_keeps_mails_waiting(
    settings: Settings, sessions: sessionmaker[Session], api_for: ApiFor, senders: SenderFor
) -> None:
    api, sub = subscribe(settings, api_for)
    queue_alert(settings, sessions, sub)
    down = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    with pytest.raises(MailError, match="cannot talk to the mail server"):
        senders(down, sessions).run_once()
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["queued"] == 1
    api.delete(f"/subscriptions/{sub['id']}")


def test_stopped_subscription_sends_nothing_queued(
    sending: Settings,
    sessions: sessionmaker[Session],
    api_for: ApiFor,
    mailbox: Mailbox,
    senders: SenderFor,
) -> None:
    api, sub = subscribe(sending, api_for)
    queue_alert(sending, sessions, sub)
    assert api.patch(f"/subscriptions/{sub['id']}", {"active": False}).status_code == 200
    senders(sending, sessions).run_once()
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["skipped"] == 1
    assert mailbox.to(sub["recipient"]) == []
    resumed = api.patch(f"/subscriptions/{sub['id']}", {"active": True}).json()
    assert resumed["active"] is True
    assert resumed["unsubscribed_at"] is None


def test_server_closing_the_kept_connection_is_met_with_a_new_one(
    sending: Settings,
    sessions: sessionmaker[Session],
    api_for: ApiFor,
    mailbox: Mailbox,
    senders: SenderFor,
) -> None:
    """421 (the server closes the connection, RFC 5321 4.2.2): the mail waits for its retry,
    and the sender, which keeps its connection between passes, opens a new one for it."""
    api, sub = subscribe(sending, api_for)
    alert_id = queue_alert(sending, sessions, sub)
    mailbox.hook = refuse_for(sub["recipient"], "421 4.3.2 service shutting down", 1)
    sender = senders(sending, sessions)
    assert sender.run_once() == 0
    assert api.get(f"/subscriptions/{sub['id']}").json()["deliveries"]["queued"] == 1
    deadline = time.monotonic() + 10
    while not mailbox.to(sub["recipient"]):
        assert time.monotonic() < deadline, "the mail was not retried on a new connection"
        sender.run_once()
        time.sleep(0.05)
    (mail,) = mailbox.to(sub["recipient"])
    assert mail.message["X-Skyalert-Alert-Id"] == alert_id
    assert api.get(f"/subscriptions/{sub['id']}").json()["deliveries"]["sent"] == 1


def test_mail_claimed_ahead_of_a_broken_connection_waits_again(
    sending: Settings,
    sessions: sessionmaker[Session],
    api_for: ApiFor,
    mailbox: Mailbox,
    senders: SenderFor,
) -> None:
    """The sender claims the next mail while SMTP takes the current one: when the connection
    breaks (421) on the first, the second was never handed over, so it is queued again (not
    left ``sending``, which would never be sent) and goes out on the next pass."""
    api, sub = subscribe(sending, api_for)
    first, second = queue_alert(sending, sessions, sub), queue_alert(sending, sessions, sub)
    mailbox.hook = refuse_for(sub["recipient"], "421 4.3.2 service shutting down", 1)
    sender = senders(sending, sessions)
    assert sender.run_once() == 0
    deliveries = api.get(f"/subscriptions/{sub['id']}").json()["deliveries"]
    assert (deliveries["queued"], deliveries["sending"]) == (2, 0)
    deadline = time.monotonic() + 10
    while len(mailbox.to(sub["recipient"])) < 2:
        assert time.monotonic() < deadline, "the mails were not sent on a new connection"
        sender.run_once()
        time.sleep(0.05)
    got = sorted(str(m.message["X-Skyalert-Alert-Id"]) for m in mailbox.to(sub["recipient"]))
    assert got == sorted([first, second])
    assert api.get(f"/subscriptions/{sub['id']}").json()["deliveries"]["sent"] == 2
