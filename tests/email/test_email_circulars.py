"""GCN Circulars by mail: a subscription to gcn.circulars gets each new circular exactly once,
through the same ledger as alerts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from skyalert.broker.core.settings import Settings
from support.auth import make_user
from support.email import ApiFor, Mailbox, email_worker, text_of, wait_consumed
from support.ingest import find_messages
from support.stream import ensure_topics


def test_new_circular_is_mailed_once(
    settings: Settings, mail_app: str, mailbox: Mailbox, api_for: ApiFor, tmp_path: Path
) -> None:
    ensure_topics(settings)
    reader = make_user(settings)
    subject = f"GRB 251210A: optical afterglow {uuid.uuid4().hex[:8]}"
    created = api_for(reader).post(
        "/subscriptions",
        {
            "name": "Circulars",
            "recipient": reader.email,
            "topics": ["gcn.circulars"],
            "format": "text",
            "filter": {"field": "subject", "op": "eq", "value": subject},
        },
    )
    assert created.status_code == 201, created.text
    author = make_user(settings, groups=["circular-submitter"])
    group = f"test-email-{uuid.uuid4().hex[:8]}"
    with email_worker(settings, mailbox.url, tmp_path / "worker.log", group, public_url=mail_app):
        posted = api_for(author).post("/circulars", {"subject": subject, "body": "Seen at 18 mag."})
        assert posted.status_code == 201, posted.text
        number = posted.json()["circularId"]
        (mail,) = mailbox.wait_until(lambda mails: len(mails) == 1, reader.email)
        (message,) = find_messages(
            settings,
            "gcn.circulars",
            lambda m: json.loads(m.value() or b"{}").get("circularId") == number,
        )
        wait_consumed(settings, group, message)
        assert len(mailbox.to(reader.email)) == 1
    text = text_of(mail.message)
    assert subject in text
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
