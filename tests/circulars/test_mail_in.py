"""Circulars by email: a real SMTP client against the circulars-mail worker's endpoint."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from circulars.conftest import Author, author
from skyalert.broker.circulars.models import Circular
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.broker.run.workers import WORKERS
from support.smtp import SMTPServer

pytestmark = pytest.mark.usefixtures("topics")


class Ready(Liveness):
    """The worker's liveness, which also tells the test when the endpoint listens."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions, "circulars-mail")
        self.up = threading.Event()

    def beat(self, detail: str = "") -> None:
        super().beat(detail)
        self.up.set()


@pytest.fixture
def endpoint(
    settings: Settings, sessions: sessionmaker[Session], smtp_server: SMTPServer
) -> Iterator[int]:
    port = free_port()
    config = settings.model_copy(update={"smtp_url": smtp_server.url, "circulars_mail_port": port})
    stop, live = threading.Event(), Ready(sessions)
    done: list[str] = []
    thread = threading.Thread(
        target=lambda: done.append(WORKERS["circulars-mail"].run(config, sessions, stop, live))
    )
    thread.start()
    assert live.up.wait(30), "the circulars mail endpoint did not start"
    yield port
    stop.set()
    thread.join(30)
    assert done == [f"circulars mail endpoint on port {port} stopped"]


def mail(sender: str, subject: str, body: str, header_from: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = header_from or f"Someone <{sender}>"
    message["To"] = "circulars@skyalert.example"
    message["Subject"] = subject
    message.set_content(body)
    return message


def send(port: int, sender: str, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message, from_addr=sender, to_addrs=["circulars@skyalert.example"])


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Circular)) or 0


def test_submitter_gets_a_number_strangers_and_forgers_a_reason(
    settings: Settings,
    app_url: str,
    sessions: sessionmaker[Session],
    smtp_server: SMTPServer,
    endpoint: int,
) -> None:
    ada: Author = author(settings, app_url)
    send(endpoint, ada.email, mail(ada.email, "GRB 251209A: MASTER optical limits", "No source."))
    [reply] = smtp_server.wait_for(1)
    assert reply.recipients == [ada.email]
    subject = str(reply.message["Subject"])
    assert subject.startswith("GCN Circular ")
    number = int(subject.split()[2].rstrip(":"))
    with sessions() as session:
        circular = session.get(Circular, number)
        assert circular is not None
        assert circular.submitted_how == "email"
        assert circular.body == "No source."
        assert circular.submitter == f"Ada Observer at Example Observatory <{ada.email}>"

    before = count(sessions)
    stranger = "stranger@example.net"
    send(endpoint, stranger, mail(stranger, "GRB 251209A: fake", "Spam."))
    send(endpoint, stranger, mail(stranger, "GRB 251209A: forged", "Spam.", f"<{ada.email}>"))
    send(endpoint, ada.email, mail(ada.email, "Re: GRB 251209A: MASTER optical limits", "Thx"))
    automatic = mail(ada.email, "Out of office", "Away.")
    automatic["Auto-Submitted"] = "auto-replied"
    send(endpoint, ada.email, automatic)
    replies = smtp_server.wait_for(4)[1:]
    assert [r.recipients for r in replies] == [[stranger], [stranger], [ada.email]]
    texts = [r.message.get_content() for r in replies]
    assert "is not the address of a circular submitter" in texts[0]
    assert "is not the sending address" in texts[1]
    assert "looks like a reply" in texts[2]
    assert all(str(r.message["Subject"]).startswith("Refused: ") for r in replies)
    assert all(r.message["Auto-Submitted"] == "auto-replied" for r in replies)
    assert count(sessions) == before
    assert len(smtp_server.messages) == 4  # the automatic mail got no answer


def test_oversized_mail_is_refused_in_smtp(
    settings: Settings, app_url: str, sessions: sessionmaker[Session], endpoint: int
) -> None:
    ada = author(settings, app_url)
    before = count(sessions)
    huge = mail(ada.email, "GRB 251209B: huge", "x" * (settings.ingest_max_bytes + 100_000))
    with pytest.raises(smtplib.SMTPException) as refused:
        send(endpoint, ada.email, huge)
    assert "552" in str(refused.value) or "too" in str(refused.value).lower()
    assert count(sessions) == before
