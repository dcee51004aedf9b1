"""The sender on the local defaults of ``skyalert up``: SQLite, and no SMTP server (mails land
in the outbox folder); and the deployment-wide rate limit."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.users import create_user
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.mail import outbox
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.models import EmailSubscription
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
