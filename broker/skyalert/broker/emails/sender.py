"""Sending what the ledger holds: passes over due deliveries, within the rate limits, on a few
SMTP connections (lanes) kept open between passes and used at once.

Each mail is claimed (``sending``, committed) before SMTP sees it, as the ledger requires, on a
connection of the sender's own whose commits do not wait for the disk (on PostgreSQL in one
statement). In each lane the next mail's claim is written in a second thread while SMTP takes the
current one, so the database and the mail server work at once; ``sent`` is recorded in batches.
A recipient's mails all go down one lane, in order.
"""

from __future__ import annotations

import logging
import smtplib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.db import unflushed_engine, utcnow
from skyalert.broker.core.errors import MailError
from skyalert.broker.core.mail import Mailer
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.limits import plan
from skyalert.broker.emails.render import MailContext, Target, digest_mail, wire

log = logging.getLogger(__name__)

MAX_BACKOFF = 600.0
#: Mails whose ``sent`` is written in one transaction.
RECORD_EVERY = 100


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


@dataclass(frozen=True)
class _Send:
    """One mail to make: a single delivery, or a digest of the held ones."""

    recipient: str
    deliveries: list[ledger.Due]
    digest: bool


@dataclass(frozen=True)
class _Claimed:
    mail_id: int
    send: _Send
    #: The deliveries this sender got (id -> rendered single mail).
    raws: dict[int, bytes | None]


@dataclass
class Sender:
    settings: Settings
    sessions: sessionmaker[Session]
    ctx: MailContext

    def __post_init__(self) -> None:
        self.per_recipient = self.settings.email_rate_recipient
        self.overall = self.settings.email_rate_global
        lanes = self._concurrency(self.sessions.kw["bind"])
        #: Claims and ``sent`` records do not wait for the disk (see :mod:`ledger`, point 3);
        #: each lane holds its claims' connection and takes another to record ``sent``.
        self.unflushed = unflushed_engine(self.sessions.kw["bind"], 2 * lanes)
        self._lanes = [_Lane(self) for _ in range(lanes)]
        self._pool = ThreadPoolExecutor(len(self._lanes), thread_name_prefix="email-lanes")

    def _concurrency(self, engine: Engine) -> int:
        """SMTP connections at once: one for the outbox, and on SQLite, which takes one writer
        at a time (the lanes' claims would only wait on each other)."""
        if self.settings.smtp_url is None or engine.dialect.name == "sqlite":
            return 1
        return self.settings.email_connections

    def backoff(self, attempts: int) -> float:
        return float(min(MAX_BACKOFF, self.settings.email_retry_delay * 2**attempts))

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()
        self._pool.shutdown()
        if self.unflushed is not self.sessions.kw["bind"]:
            self.unflushed.dispose()

    def run_once(self, now: datetime | None = None) -> int:
        """Send what is due now; returns the number of mails handed to SMTP."""
        now = now or utcnow()
        with self.sessions() as session:
            waiting = ledger.due(session, now)
            budget = self.overall.count - ledger.mails_since(
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
        if not by_recipient or budget <= 0:
            return 0
        sends = self._plan(by_recipient, now)[:budget]
        return self._send_in_lanes(sends) if sends else 0

    def _plan(self, by_recipient: dict[str, list[ledger.Due]], now: datetime) -> list[_Send]:
        """The mails of this pass, recipient by recipient, within each one's limit."""
        window = now - timedelta(seconds=self.per_recipient.period)
        with self.sessions() as session:
            used = ledger.mails_by_recipient(session, window, list(by_recipient))
        collect_until = now - timedelta(seconds=self.settings.email_digest_delay)
        sends: list[_Send] = []
        for recipient, deliveries in by_recipient.items():
            by_id = {d.id: d for d in deliveries}
            split = plan(list(by_id), self.per_recipient.count - used.get(recipient, 0))
            sends += [_Send(recipient, [by_id[i]], digest=False) for i in split.singles]
            held = [by_id[i] for i in split.held]
            # The last mail of the window waits a little to collect more.
            if held and min(d.queued_at for d in held) <= collect_until:
                sends.append(_Send(recipient, held, digest=len(held) > 1))
        return sends

    def _send_in_lanes(self, sends: list[_Send]) -> int:
        """Each recipient's mails go down one lane, in order; the lanes run at once."""
        shares: list[list[_Send]] = [[] for _ in self._lanes]
        lanes: dict[str, int] = {}
        for send in sends:
            lane = lanes.setdefault(send.recipient, len(lanes) % len(shares))
            shares[lane].append(send)
        busy = [(lane, share) for lane, share in zip(self._lanes, shares, strict=True) if share]
        running = [self._pool.submit(lane.run, share) for lane, share in busy]
        return sum(future.result() for future in running)

    def message(self, claimed: _Claimed) -> bytes:
        send = claimed.send
        if not send.digest:
            raw = claimed.raws[send.deliveries[0].id]
            assert raw is not None  # queued rows always carry their rendered mail
            return raw
        items = [
            (Target(d.subscription_id, d.name, d.recipient, d.format), d.summary)
            for d in send.deliveries
            if d.id in claimed.raws
        ]
        return wire(digest_mail(self.ctx, send.recipient, items, self.per_recipient.text))


class _Lane:
    """One SMTP connection kept open between passes, with a claim thread of its own whose
    database connection claims the next mail while SMTP takes the current one."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.settings = sender.settings
        self._outbox = self.settings.smtp_url is None
        self._accepted: list[int] = []
        self._mailer: Mailer | None = None
        #: A claim per mail is worth no pool check-out (and its ping) per mail; autocommit on
        #: PostgreSQL, where a claim is one statement.
        self._claiming: Connection | None = None
        self._claims = ThreadPoolExecutor(1, thread_name_prefix="email-claims")

    def close(self) -> None:
        self._disconnect()
        self._claims.submit(self._stop_claiming).result()
        self._claims.shutdown()

    def run(self, sends: list[_Send]) -> int:
        """Hand over ``sends`` on this lane's connection; the number SMTP took."""
        try:
            return self._send_all(self._connected(), sends)
        finally:
            self._record_sent()

    def _send_all(self, mailer: Mailer, sends: list[_Send]) -> int:
        """Hand over ``sends`` in order, the next one claimed while SMTP takes the current."""
        sent = 0
        ahead: Future[_Claimed | None] | None = self._claims.submit(self._claim, sends[0])
        try:
            for following in [*sends[1:], None]:
                assert ahead is not None
                claimed = ahead.result()
                ahead = None if following is None else self._claims.submit(self._claim, following)
                if claimed is not None:
                    sent += self._hand_over(mailer, claimed)
        except ConnectionLost:
            self._disconnect()
        finally:
            unsent = None if ahead is None else ahead.result()
            if unsent is not None:  # claimed, never handed over: it waits again
                with self.sender.sessions.begin() as session:
                    ledger.release(session, unsent.mail_id)
        return sent

    def _claim(self, send: _Send) -> _Claimed | None:
        """Claim one mail's deliveries; the claims' connection is dropped after any error, so
        the next claim starts on a fresh one."""
        if self._claiming is None:
            connection = self.sender.unflushed.connect()
            if connection.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            self._claiming = connection
        kind = "digest" if send.digest else "alert"
        ids = [d.id for d in send.deliveries]
        try:
            claimed = ledger.claim_mail(self._claiming, send.recipient, kind, ids)
        except Exception:
            self._stop_claiming()
            raise
        if claimed is None:  # another worker got them
            return None
        mail_id, raws = claimed
        return _Claimed(mail_id, send, raws)

    def _stop_claiming(self) -> None:
        if self._claiming is not None:
            self._claiming.close()
            self._claiming = None

    def _connected(self) -> Mailer:
        """The kept connection, opened again when the server dropped it (MailError when the
        server does not answer)."""
        if self._mailer is not None and not self._mailer.answers():
            self._disconnect()
        if self._mailer is None:
            self._mailer = Mailer(self.settings).__enter__()
        return self._mailer

    def _disconnect(self) -> None:
        if self._mailer is not None:
            self._mailer.close()
            self._mailer = None

    def _hand_over(self, mailer: Mailer, claimed: _Claimed) -> int:
        """SMTP, then the ledger; the ``sending`` rows are already committed."""
        mail_id, to = claimed.mail_id, claimed.send.recipient
        try:
            mailer.send_bytes(to, self.sender.message(claimed))
        except MailError as exc:
            self._refused(claimed, exc)
            return 0
        self._accepted.append(mail_id)
        if len(self._accepted) >= RECORD_EVERY:
            self._record_sent()
        return 1

    def _refused(self, claimed: _Claimed, exc: MailError) -> None:
        """Record a refusal: retried later, uncertain or failed; ConnectionLost when this
        connection is done for."""
        mail_id, to = claimed.mail_id, claimed.send.recipient
        result = outcome(exc, self._outbox)
        error = str(exc)
        log.warning("mail %s to %s: %s (%s)", mail_id, to, error, result)
        attempts = max(d.attempts for d in claimed.send.deliveries)
        with self.sender.sessions.begin() as session:
            if result == ledger.QUEUED:
                ledger.postpone(
                    session,
                    mail_id,
                    error,
                    self.sender.backoff(attempts),
                    self.settings.email_max_attempts,
                )
            elif result == ledger.UNCERTAIN:
                note = f"{error}; it may have arrived, so it is not sent again"
                ledger.finish(session, [mail_id], ledger.UNCERTAIN, note)
            else:
                ledger.finish(session, [mail_id], ledger.FAILED, error)
        if result == ledger.UNCERTAIN or self._outbox or _closing(exc):
            raise ConnectionLost from exc

    def _record_sent(self) -> None:
        """Write ``sent`` for the mails SMTP took. Batched: a crash before this leaves them
        ``sending``, which is never sent again, so the delay risks neither loss nor repeat."""
        if self._accepted:
            with Session(self.sender.unflushed) as session, session.begin():
                ledger.finish(session, self._accepted, ledger.SENT)
            self._accepted = []
