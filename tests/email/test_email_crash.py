"""Acceptance: the worker is killed (SIGKILL) after SMTP took a mail and before the ledger
recorded it; started again, even on a fresh consumer group that reads every alert again, it
sends no second mail."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

from aiosmtpd.smtp import Envelope

from skyalert.broker.core.settings import Settings
from support.auth import make_user
from support.email import WAIT, Api, ApiFor, Mailbox, email_worker, wait_consumed
from support.ingest import GUANO_TOPIC, find_messages, has_header
from support.stream import guano, mine


def test_killed_between_send_and_commit_sends_no_second_mail(
    settings: Settings, mailbox: Mailbox, publisher: Api, api_for: ApiFor, tmp_path: Path
) -> None:
    user = make_user(settings)
    api = api_for(user)
    marker = f"crash-{uuid.uuid4().hex[:8]}"
    sub = api.post(
        "/subscriptions", {"topics": [GUANO_TOPIC], "format": "text", "filter": mine(marker)}
    ).json()
    log = tmp_path / "worker.log"

    with email_worker(settings, mailbox.url, log) as first:
        victim: subprocess.Popen[bytes] = first

        def kill_sender(envelope: Envelope) -> None:
            # SMTP has the whole message: the worker dies before it reads "250" or writes "sent".
            if user.email in envelope.rcpt_tos:
                os.kill(victim.pid, signal.SIGKILL)
                mailbox.hook = None

        mailbox.hook = kill_sender
        first_id = publisher.post(f"/topics/{GUANO_TOPIC}/alerts", guano(marker)).json()["id"]
        assert first.wait(WAIT) == -signal.SIGKILL
    mailbox.wait_until(lambda mails: len(mails) == 1, user.email)
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["sending"] == 1  # taken by SMTP, never recorded as sent
    assert shown["deliveries"]["sent"] == 0

    group = f"test-email-{uuid.uuid4().hex[:8]}"  # a new group: every alert is read again
    with email_worker(settings, mailbox.url, log, group):
        second_id = publisher.post(f"/topics/{GUANO_TOPIC}/alerts", guano(marker)).json()["id"]
        mails = mailbox.wait_until(lambda mails: len(mails) == 2, user.email)
        (first_message,) = find_messages(
            settings, GUANO_TOPIC, has_header("alert-id", first_id.encode())
        )
        wait_consumed(settings, group, first_message)
    assert [str(m.message["X-Skyalert-Alert-Id"]) for m in mailbox.to(user.email)] == [
        first_id,
        second_id,
    ]
    assert len(mails) == 2
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["deliveries"]["sent"] == 1
    assert shown["deliveries"]["sending"] == 1
