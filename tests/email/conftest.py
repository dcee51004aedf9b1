"""Fixtures of the email tests: one loopback mailbox and a web app that mails to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from conftest import serving
from skyalert.auth.models import User
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails.sender import Sender
from skyalert.broker.emails.worker import mail_context
from support.auth import get_token, make_credential
from support.email import Api, ApiFor, Mailbox, SenderFor
from support.stream import ensure_topics, token


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    server = Mailbox()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def senders() -> Iterator[SenderFor]:
    """Senders keep their SMTP connection open: each is closed when the test ends."""
    made: list[Sender] = []

    def make(settings: Settings, sessions: sessionmaker[Session]) -> Sender:
        made.append(Sender(settings, sessions, mail_context(settings)))
        return made[-1]

    yield make
    for sender in made:
        sender.close()


@pytest.fixture(autouse=True)
def _no_hook(mailbox: Mailbox) -> Iterator[None]:
    yield
    mailbox.hook = None


@pytest.fixture(scope="session")
def mail_app(settings: Settings, mailbox: Mailbox) -> Iterator[str]:
    """The real app, sending its mails (confirmations, test messages) to ``mailbox``."""
    ensure_topics(settings)
    with serving(settings.model_copy(update={"smtp_url": mailbox.url})) as url:
        yield url


@pytest.fixture(scope="session")
def publisher(settings: Settings, mail_app: str) -> Iterator[Api]:
    api = Api(mail_app, token(settings, mail_app, groups=["producers.gcn"]))
    yield api
    api.close()


@pytest.fixture
def api_for(settings: Settings, mail_app: str) -> Iterator[ApiFor]:
    """``api_for(user, scopes)``: the API with a token of a new credential of ``user``."""
    made: list[Api] = []

    def make(user: User, scopes: Iterable[str] | Literal["all"] = "all") -> Api:
        made.append(Api(mail_app, get_token(mail_app, *make_credential(settings, user, scopes))))
        return made[-1]

    yield make
    for api in made:
        api.close()
