"""The sender on the local defaults of ``skyalert up``: SQLite, and no SMTP server (mails land
in the outbox folder); the deployment-wide rate limit; and claims that race between workers."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.users import create_user
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.mail import outbox
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.models import EmailDelivery, EmailMail, EmailSubscription
from skyalert.broker.emails.render import Target, alert_mail, wire
from skyalert.broker.emails.summary import summarize
from skyalert.broker.emails.worker import mail_context
from support.email import SenderFor
from support.ingest import GUANO_TOPIC
from support.stream import GUANO


def local(tmp_path: Path, **overrides: Any) -> tuple[Settings, sessionmaker[Session]]:
    settings = Settings(var_dir=tmp_path, **overrides)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    return settings, make_sessionmaker(engine)


def queue(settings: Settings, sessions: sessionmaker[Session], address: str, count: int) -> None:
    with sessions.begin() as session:
        user = create_user(session, address, None, verified=True)
        sub = EmailSubscription(
            user_id=user.id,
            name="local",
            recipient=address,
            topics=json.dumps([GUANO_TOPIC]),
            format="json",
        )
        session.add(sub)
        session.flush()
        target = Target(sub.id, sub.name, address, "json")
        now = utcnow()
        rows = []
        for i in range(count):
            alert_id = f"01LOCAL{address[:4].upper()}{i:015d}"
            summary = summarize(GUANO_TOPIC, "Swift BAT-GUANO", alert_id, GUANO, test=False)
            message = alert_mail(mail_context(settings), target, summary, b"{}", GUANO)
            rows.append(
                {
                    "subscription_id": sub.id,
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
            )
        assert ledger.queue(session, rows) == count


def test_outbox_on_sqlite(tmp_path: Path, senders: SenderFor) -> None:
    settings, sessions = local(tmp_path)
    queue(settings, sessions, "ada@example.org", 3)
    assert senders(settings, sessions).run_once() == 3
    files = sorted(outbox(settings).glob("*.eml"))
    assert len(files) == 3
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "ada@example.org"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert senders(settings, sessions).run_once() == 0  # once only


def test_global_limit_holds_the_rest(tmp_path: Path, senders: SenderFor) -> None:
    settings, sessions = local(tmp_path, email_rate_global="4/minute")
    for name in ("ada", "bob", "cyd"):
        queue(settings, sessions, f"{name}@example.org", 2)
    sender = senders(settings, sessions)
    assert sender.run_once() == 4
    assert sender.run_once() == 0  # the deployment's quota for this minute is spent
    assert len(list(outbox(settings).glob("*.eml"))) == 4
    with sessions() as session:
        assert len(ledger.due(session, utcnow())) == 2  # waiting, not dropped


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_claim_lost_to_another_worker_leaves_no_mail(
    tmp_path: Path, postgres_url: str, database: str
) -> None:
    """Two claims of one delivery: the first gets it, the second gets nothing and leaves no
    ``sending`` mail behind to count against the recipient's limit."""
    url = postgres_url if database == "postgresql" else f"sqlite:///{tmp_path / 'c.db'}"
    settings, sessions = local(tmp_path, database_url=url)
    address = f"claim-{uuid.uuid4().hex[:8]}@example.org"
    queue(settings, sessions, address, 1)
    with sessions() as session:
        (due,) = [d for d in ledger.due(session, utcnow()) if d.recipient == address]
    engine = sessions.kw["bind"]

    def claim() -> tuple[int, dict[int, bytes | None]] | None:
        # The sender claims in autocommit on PostgreSQL.
        options = {"isolation_level": "AUTOCOMMIT"} if database == "postgresql" else {}
        with engine.connect() as connection:
            return ledger.claim_mail(
                connection.execution_options(**options), address, "alert", [due.id]
            )

    first, second = claim(), claim()
    assert first is not None
    mail_id, raws = first
    assert list(raws) == [due.id]
    assert raws[due.id] is not None
    assert second is None
    with sessions() as session:
        assert ledger.mails_by_recipient(session, utcnow() - timedelta(hours=1), [address]) == {
            address: 1
        }
        assert session.get(EmailMail, mail_id) is not None
    # The PostgreSQL database is the whole run's: an active subscription to every alert would
    # get mail from the workers of later tests.
    with sessions.begin() as session:
        session.execute(delete(EmailDelivery).where(EmailDelivery.id == due.id))
        session.execute(delete(EmailMail).where(EmailMail.recipient == address))
        session.execute(delete(EmailSubscription).where(EmailSubscription.recipient == address))
    engine.dispose()
