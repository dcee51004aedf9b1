"""Sending mail: SMTP from ``SKYALERT_SMTP_URL``, or ``.eml`` files in the outbox folder.

``smtp://[user:password@]host[:port]`` upgrades with STARTTLS when the server offers it;
``smtps://…`` speaks TLS from the start. Unset, mails land in ``<var>/outbox`` so a local
stack works without a mail server (open the files with any mail program).
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from skyalert.broker.core.errors import MailError
from skyalert.broker.core.settings import Settings

TIMEOUT = 20.0


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_domain(settings.mail_from))
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip(" >") or "localhost"


def outbox(settings: Settings) -> Path:
    return settings.var_dir.resolve() / "outbox"


class Mailer:
    """One SMTP connection (or the outbox) for a batch of mails; use it as a context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._where = "the outbox"

    def __enter__(self) -> Mailer:
        url = self.settings.smtp_url
        if url is None:
            return self
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self._where = f"{host}:{port}"
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if parts.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None:
                smtp.close()
            raise MailError(
                f"cannot talk to the mail server at {self._where}: {exc}. Check SKYALERT_SMTP_URL."
            ) from exc
        self._smtp = smtp
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def answers(self) -> bool:
        """True when the server still answers on this connection (or mails go to the outbox);
        an idle connection may have been closed by the server meanwhile."""
        if self._smtp is None:
            return True
        try:
            return self._smtp.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def close(self) -> None:
        self.__exit__(None, None, None)

    def send(self, mail: Mail) -> None:
        self.send_message(build_message(self.settings, mail))

    def send_message(self, message: EmailMessage) -> None:
        """Hand over a ready message (own headers, attachments); the cause of a MailError is
        smtplib's exception, whose reply code tells a temporary refusal from a final one."""
        if self._smtp is None:
            self._to_outbox(message)
            return
        try:
            self._smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"the mail server at {self._where} refused a mail: {exc}") from exc

    def send_bytes(self, to: str, raw: bytes) -> None:
        """Hand over a message already rendered to bytes, as is (parsing it again is slow)."""
        if self._smtp is None:
            self._write_outbox(raw)
            return
        try:
            self._smtp.sendmail(parseaddr(self.settings.mail_from)[1], [to], raw)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"the mail server at {self._where} refused a mail: {exc}") from exc

    def _to_outbox(self, message: EmailMessage) -> None:
        self._write_outbox(message.as_bytes())

    def _write_outbox(self, raw: bytes) -> None:
        folder = outbox(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        staging = path.with_suffix(".tmp")
        try:
            staging.write_bytes(raw)
            staging.replace(path)
        except OSError as exc:
            raise MailError(f"cannot write a mail to {folder}: {exc}") from exc


def send_mail(settings: Settings, mail: Mail) -> None:
    send_mails(settings, [mail])


def send_mails(settings: Settings, mails: Iterable[Mail]) -> None:
    with Mailer(settings) as mailer:
        for mail in mails:
            mailer.send(mail)
