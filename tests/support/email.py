"""Helpers for the email tests: a mailbox that can refuse or crash the sender, the worker as a
real process, and waits on Kafka consumer-group progress."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from confluent_kafka import Consumer, Message, TopicPartition
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import sessionmaker

from skyalert.broker.core.mail import outbox
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails.sender import Sender
from skyalert.broker.kafka.config import consumer_config
from support.services import skyalert
from support.smtp import Received, SMTPServer

ULID = re.compile(r"\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b")
#: Generous: a worker starts, joins its group and reads the topic from the start, on a busy CI.
WAIT = 60.0

#: Makes a sender for these settings and sessions, closed when the test ends.
SenderFor = Callable[[Settings, sessionmaker[DBSession]], Sender]
#: Called with each incoming envelope; a returned SMTP reply refuses the mail instead.
Hook = Callable[[Envelope], str | None]


@dataclass
class Mailbox(SMTPServer):
    """The loopback SMTP server, plus a per-test hook and waits on what arrived."""

    hook: Hook | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hook is not None:
            refusal = self.hook(envelope)
            if refusal is not None:
                return refusal
        return await super().handle_DATA(server, session, envelope)

    def to(self, address: str) -> list[Received]:
        with self._arrived:
            return [m for m in self.messages if address in m.recipients]

    def wait_until(
        self, check: Callable[[list[Received]], bool], address: str, timeout: float = WAIT
    ) -> list[Received]:
        """Block until ``check(mails to address)`` holds; fail after ``timeout`` seconds."""
        with self._arrived:
            done = self._arrived.wait_for(lambda: check(self.to(address)), timeout)
            if not done:
                raise AssertionError(
                    f"mails to {address} within {timeout} s: {describe(self.to(address))}"
                )
            return self.to(address)


def describe(mails: list[Received]) -> str:
    return "; ".join(str(m.message["Subject"]) for m in mails) or "none"


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def alert_ids(mails: list[Received]) -> list[str]:
    """Alert ids the mails carry: one per single mail, each listed one in a digest."""
    found: list[str] = []
    for mail in mails:
        single = mail.message["X-Skyalert-Alert-Id"]
        if single:
            found.append(str(single))
        else:
            found += sorted(set(ULID.findall(text_of(mail.message))))
    return found


def link_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def link_in(text: str, path: str) -> str:
    found = re.search(r"https?://\S+" + re.escape(path) + r"\?token=\S+", text)
    assert found is not None, text
    return link_path(found.group(0))


def worker_env(settings: Settings, smtp_url: str, group: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYALERT_")}
    env.update(
        SKYALERT_DATABASE_URL=str(settings.database_url),
        SKYALERT_KAFKA_BOOTSTRAP=str(settings.kafka_bootstrap),
        SKYALERT_VAR_DIR=str(settings.var_dir),  # the same server secret as the web app
        SKYALERT_SMTP_URL=smtp_url,
        SKYALERT_EMAIL_GROUP=group,
        SKYALERT_LOG_LEVEL="INFO",
    )
    env.update({f"SKYALERT_{k.upper()}": v for k, v in extra.items()})
    return env


@contextmanager
def email_worker(
    settings: Settings, smtp_url: str, log: Path, group: str | None = None, **extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``skyalert worker email`` as a real process; stopped with SIGTERM at the end."""
    env = worker_env(settings, smtp_url, group or f"test-email-{uuid.uuid4().hex[:8]}", **extra)
    with skyalert(["worker", "email"], env, log) as process:
        yield process


def wait_consumed(settings: Settings, group: str, message: Message, timeout: float = WAIT) -> None:
    """Block until ``group`` committed an offset past ``message`` (the worker handled it)."""
    consumer = Consumer(consumer_config(settings, group))
    partition = TopicPartition(message.topic() or "", message.partition() or 0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            (committed,) = consumer.committed([partition], timeout=10)
            if committed.offset > (message.offset() or 0):
                return
            assert time.monotonic() < deadline, f"{group} did not get past {message.offset()}"
            time.sleep(0.1)
    finally:
        consumer.close()


class Api:
    """The HTTP API with a bearer token."""

    def __init__(self, app_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=app_url, timeout=20, headers={"Authorization": f"Bearer {token}"}
        )

    def post(self, path: str, body: object) -> httpx.Response:
        return self.http.post(f"/api/v1{path}", json=body)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(f"/api/v1{path}")

    def patch(self, path: str, body: object) -> httpx.Response:
        return self.http.patch(f"/api/v1{path}", json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(f"/api/v1{path}")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The ``api_for`` fixture: ``api_for(user, scopes="all")`` gives an :class:`Api` for ``user``.
ApiFor = Callable[..., Api]


def never() -> dict[str, str]:
    """A filter no real alert passes: keeps a test's subscription out of other tests' way."""
    return {"field": "id", "op": "eq", "value": f"never-{uuid.uuid4().hex}"}


def mailed_link(settings: Settings, to: str, path: str, timeout: float = 20) -> str:
    """The link to ``path`` in the newest mail to ``to`` in the outbox."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(rf"https?://\S+{re.escape(path)}\?token=[\w\-.~%]+")
    while time.monotonic() < deadline:
        for mail in sorted(outbox(settings).glob("*.eml"), reverse=True):
            message = message_from_bytes(mail.read_bytes(), policy=default)
            if message["To"] != to:
                continue
            found = pattern.search(text_of(message))
            if found:
                return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} with a {path} link")
