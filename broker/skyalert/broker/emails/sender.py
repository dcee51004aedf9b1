"""Sending what the ledger holds: one pass over due deliveries, within the rate limits."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import MailError
from skyalert.broker.core.mail import Mailer
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.limits import plan
from skyalert.broker.emails.render import MailContext, Target, digest_mail, wire

log = logging.getLogger(__name__)

MAX_BACKOFF = 600.0
#: Mails whose ``sent`` is written in one transaction.
RECORD_EVERY = 20


class ConnectionLost(Exception):
    """The SMTP connection is unusable: end this pass, try again later."""


def outcome(exc: MailError, outbox: bool) -> str:
    """``queued`` (try again later), ``failed`` (refused for good) or ``uncertain``."""
    cause = exc.__cause__
    if outbox or cause is None:
        return ledger.QUEUED
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in cause.recipients.values()]
        return ledger.FAILED if codes and min(codes) >= 500 else ledger.QUEUED
    if isinstance(cause, smtplib.SMTPResponseException):
        return ledger.FAILED if cause.smtp_code >= 500 else ledger.QUEUED
    # The connection broke while the message was handed over: it may have arrived.
    return ledger.UNCERTAIN


def _closing(exc: MailError) -> bool:
    """421: the server closes the connection (RFC 5321 4.2.2)."""
    cause = exc.__cause__
    return isinstance(cause, smtplib.SMTPResponseException) and cause.smtp_code == 421


@dataclass
class Sender:
    settings: Settings
    sessions: sessionmaker[Session]
    ctx: MailContext

    def __post_init__(self) -> None:
        self.per_recipient = self.settings.email_rate_recipient
        self.overall = self.settings.email_rate_global
        self._outbox = self.settings.smtp_url is None
        self._global_left = 0
        self._accepted: list[int] = []

    def backoff(self, attempts: int) -> float:
        return float(min(MAX_BACKOFF, self.settings.email_retry_delay * 2**attempts))

    def run_once(self, now: datetime | None = None) -> int:
        """Send what is due now; returns the number of mails handed to SMTP."""
        now = now or utcnow()
        with self.sessions() as session:
            waiting = ledger.due(session, now)
            self._global_left = self.overall.count - ledger.mails_since(
                session, now - timedelta(seconds=self.overall.period)
            )
        stopped = [d.id for d in waiting if not d.active]
        if stopped:
            with self.sessions.begin() as session:
                ledger.skip(session, stopped)
        by_recipient: dict[str, list[ledger.Due]] = {}
        for delivery in waiting:
            if delivery.active:
                by_recipient.setdefault(delivery.recipient, []).append(delivery)
        if not by_recipient or self._global_left <= 0:
            return 0
        sent = 0
        try:
            with Mailer(self.settings) as mailer:
                for recipient, deliveries in by_recipient.items():
                    try:
                        sent += self._recipient(mailer, recipient, deliveries, now)
                    except ConnectionLost:
                        break
                    if self._global_left <= 0:
                        break
        finally:
            self._record_sent()
        return sent

    def _recipient(
        self, mailer: Mailer, recipient: str, deliveries: list[ledger.Due], now: datetime
    ) -> int:
        window = now - timedelta(seconds=self.per_recipient.period)
        with self.sessions() as session:
            left = self.per_recipient.count - ledger.mails_since(session, window, recipient)
        by_id = {d.id: d for d in deliveries}
        split = plan([d.id for d in deliveries], left)
        sent = 0
        for delivery_id in split.singles:
            if self._global_left <= 0:
                return sent
            sent += self._single(mailer, by_id[delivery_id])
        if not split.held or self._global_left <= 0:
            return sent
        held = [by_id[i] for i in split.held]
        if min(d.queued_at for d in held) > now - timedelta(
            seconds=self.settings.email_digest_delay
        ):
            return sent  # the last mail of the window waits a little to collect more
        if len(held) == 1:
            return sent + self._single(mailer, held[0])
        return sent + self._digest(mailer, recipient, held)

    def _single(self, mailer: Mailer, delivery: ledger.Due) -> int:
        with self.sessions.begin() as session:
            mail = ledger.start_mail(session, delivery.recipient, "alert")
            claimed = ledger.claim(session, [delivery.id], mail.id)
            if not claimed:
                session.rollback()
                return 0
            raw = claimed[delivery.id]
            mail_id = mail.id
        assert raw is not None  # queued rows always carry their rendered mail
        return self._hand_over(mailer, mail_id, delivery.recipient, raw, delivery.attempts)

    def _digest(self, mailer: Mailer, recipient: str, held: list[ledger.Due]) -> int:
        with self.sessions.begin() as session:
            mail = ledger.start_mail(session, recipient, "digest")
            claimed = ledger.claim(session, [d.id for d in held], mail.id).keys()
            if not claimed:
                session.rollback()
                return 0
            mail_id = mail.id
        items = [
            (Target(d.subscription_id, d.name, d.recipient, d.format), d.summary)
            for d in held
            if d.id in claimed
        ]
        message = digest_mail(self.ctx, recipient, items, self.per_recipient.text)
        attempts = max(d.attempts for d in held)
        return self._hand_over(mailer, mail_id, recipient, wire(message), attempts)

    def _hand_over(self, mailer: Mailer, mail_id: int, to: str, raw: bytes, attempts: int) -> int:
        """SMTP, then the ledger; the ``sending`` rows are already committed."""
        self._global_left -= 1
        try:
            mailer.send_bytes(to, raw)
        except MailError as exc:
            result = outcome(exc, self._outbox)
            error = str(exc)
            log.warning("mail %s to %s: %s (%s)", mail_id, to, error, result)
            with self.sessions.begin() as session:
                if result == ledger.QUEUED:
                    ledger.postpone(
                        session,
                        mail_id,
                        error,
                        self.backoff(attempts),
                        self.settings.email_max_attempts,
                    )
                elif result == ledger.UNCERTAIN:
                    note = f"{error}; it may have arrived, so it is not sent again"
                    ledger.finish(session, [mail_id], ledger.UNCERTAIN, note)
                else:
                    ledger.finish(session, [mail_id], ledger.FAILED, error)
            if result == ledger.UNCERTAIN or self._outbox or _closing(exc):
                raise ConnectionLost from exc
            return 0
        self._accepted.append(mail_id)
        if len(self._accepted) >= RECORD_EVERY:
            self._record_sent()
        return 1

    def _record_sent(self) -> None:
        """Write ``sent`` for the mails SMTP took. Batched: a crash before this leaves them
        ``sending``, which is never sent again, so the delay risks neither loss nor repeat."""
        if self._accepted:
            with self.sessions.begin() as session:
                ledger.finish(session, self._accepted, ledger.SENT)
            self._accepted = []
