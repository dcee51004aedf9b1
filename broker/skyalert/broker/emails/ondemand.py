"""Mails sent at a user's request, at once: "send a test message now" and address confirmation."""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any

import voeventparse.fixtures.datapaths
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import MailError
from skyalert.broker.core.mail import Mailer
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.errors import SendFailed, TooManyMails
from skyalert.broker.emails.links import confirm_url
from skyalert.broker.emails.models import EmailSubscription
from skyalert.broker.emails.recipients import CONFIRM_HOURS
from skyalert.broker.emails.render import MailContext, Target, alert_mail, confirm_mail
from skyalert.broker.emails.summary import summarize
from skyalert.schemas.catalog import Catalog, Topic
from skyalert.schemas.formats import ContentType
from skyalert.schemas.voevent import voevent_to_json

SAMPLE_POSITION = {"ra": 212.443, "dec": -31.082, "ra_dec_error": 0.0717}


def sample(topic: Topic) -> tuple[bytes, dict[str, Any]]:
    """An example alert of ``topic`` (its schema's example, or a VOEvent from voevent-parse)."""
    if topic.content_type is ContentType.VOEVENT:
        raw = Path(voeventparse.fixtures.datapaths.swift_bat_grb_pos_v2).read_bytes()
        return raw, voevent_to_json(raw)
    example = resources.files("skyalert.schemas").joinpath(
        "json", "examples", f"{topic.name}.example.json"
    )
    if example.is_file():
        alert = json.loads(example.read_text("utf-8"))
    else:
        alert = {"mission": topic.mission, **SAMPLE_POSITION}
    alert["alert_tense"] = "test"
    return json.dumps(alert).encode(), alert


def _check_rate(settings: Settings, session: Session, recipient: str) -> None:
    rate = settings.email_rate_recipient
    used = ledger.mails_since(session, utcnow() - timedelta(seconds=rate.period), recipient)
    if used >= rate.count:
        raise TooManyMails(
            f"{recipient} already got {used} mails in the last {rate.text.split('/')[1]} "
            f"(the limit is {rate.text}); try again later",
            retry_after=int(rate.period),
        )


def _send(
    settings: Settings, sessions: sessionmaker[Session], message: EmailMessage, kind: str
) -> str:
    """Hand ``message`` to SMTP now, logged in the send log (and counted by the limits)."""
    recipient = str(message["To"])
    with sessions.begin() as session:
        _check_rate(settings, session, recipient)
        mail_id = ledger.start_mail(session, recipient, kind)
    try:
        with Mailer(settings) as mailer:
            mailer.send_message(message)
    except MailError as exc:
        with sessions.begin() as session:
            ledger.finish(session, [mail_id], ledger.FAILED, str(exc))
        raise SendFailed(f"the mail to {recipient} was not accepted: {exc}") from exc
    with sessions.begin() as session:
        ledger.finish(session, [mail_id], ledger.SENT)
    return str(message["Message-ID"])


def send_confirmation(
    settings: Settings,
    sessions: sessionmaker[Session],
    ctx: MailContext,
    *,
    address: str,
    account: str,
    secret: str,
) -> str:
    # Someone else's address: only a few confirmation mails, whoever asks for them.
    rate = settings.email_rate_confirm
    with sessions() as session:
        since = utcnow() - timedelta(seconds=rate.period)
        if ledger.mails_since(session, since, address, kind="confirm") >= rate.count:
            raise TooManyMails(
                f"too many confirmation mails to {address} ({rate.text}); open the link in one "
                "of those already sent, or try again later",
                retry_after=int(rate.period),
            )
    url = confirm_url(ctx.base_url, secret)
    return _send(
        settings, sessions, confirm_mail(ctx, address, account, url, CONFIRM_HOURS), "confirm"
    )


def send_test(
    settings: Settings,
    sessions: sessionmaker[Session],
    ctx: MailContext,
    catalog: Catalog,
    sub: EmailSubscription,
) -> str:
    """Send it; returns the Message-ID. Counts against the recipient's rate limit."""
    topic = catalog.get(json.loads(sub.topics)[0])
    assert topic is not None  # subscriptions are checked against the catalog
    raw, alert = sample(topic)
    summary = summarize(topic.name, topic.title, new_alert_id(), alert, test=True)
    target = Target(sub.id, sub.name, sub.recipient, sub.format)
    return _send(settings, sessions, alert_mail(ctx, target, summary, raw, alert), "test")
