"""Circulars by email: an inbound SMTP endpoint (aiosmtpd) that submits mail from submitters.

Each mail is taken (``250``) and answered by mail: the assigned number, or why it was refused
(a stranger's address, a reply subject, an empty or HTML-only body, the rate limit). The header
From must be the envelope sender; proving that the sender owns the address (SPF/DKIM/DMARC) is
the job of the MTA in front of this endpoint. Automatic mail (``Auto-Submitted``, bounces) is
dropped without an answer, so two robots never mail each other forever.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import threading
from email.message import EmailMessage
from email.utils import parseaddr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from skyalert.auth.users import find_user
from skyalert.broker.circulars.errors import NotASubmitter
from skyalert.broker.circulars.service import Circulars
from skyalert.broker.circulars.submission import Draft
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.mail import Mail, send_mail
from skyalert.broker.kafka.kafka_node import free_port

log = logging.getLogger(__name__)
BEAT_EVERY = 10.0


def _address(value: str) -> str:
    return parseaddr(value)[1].strip().lower()


def automatic(message: EmailMessage, sender: str) -> bool:
    """Bounces and robots' mail, which must never be answered."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    return not sender or auto != "no" or bool(message.get("X-Autoreply"))


class CircularMailHandler:
    """aiosmtpd handler: one mail in, one circular (or refusal) and one answer out."""

    def __init__(self, circulars: Circulars) -> None:
        self.circulars = circulars
        self.settings = circulars.pipeline.settings

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = _address(str(envelope.mail_from or ""))
        await asyncio.get_running_loop().run_in_executor(None, self.process, raw, sender)
        return "250 OK: the answer comes by mail"

    def process(self, raw: bytes, sender: str) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if automatic(message, sender):
            log.info("dropped automatic mail from %r", sender)
            return
        subject = str(message.get("Subject", ""))
        try:
            number = self.submit(message, sender, subject)
        except SkyalertError as exc:
            log.info("refused a circular by mail from %s: %s", sender, exc)
            self.answer(sender, f"Refused: {subject}", f"Your circular was not accepted: {exc}\n")
            return
        url = f"{self.settings.base_url}/circulars/{number}"
        self.answer(
            sender,
            f"GCN Circular {number}: {subject}",
            f"Your circular was accepted as GCN Circular {number}:\n\n  {url}\n",
        )

    def submit(self, message: EmailMessage, sender: str, subject: str) -> int:
        author = _address(str(message.get("From", "")))
        if author != sender:
            raise NotASubmitter(
                f"the From header ({author or 'none'}) is not the sending address ({sender}); "
                "send from the address of your skyalert account"
            )
        part = message.get_body(preferencelist=("plain",))
        body = part.get_content() if isinstance(part, EmailMessage) else ""
        if not isinstance(body, str) or not body.strip():
            raise NotASubmitter("the mail has no plain-text body; send the circular as plain text")
        with self.circulars.pipeline.sessions() as session:
            user = find_user(session, sender)
        if user is None:
            raise NotASubmitter(
                f"{sender} is not the address of a circular submitter; sign up at "
                f"{self.settings.base_url}/account/signup and ask a submitter to endorse you"
            )
        return self.circulars.submit(user.id, Draft(subject, body), "email").number

    def answer(self, to: str, subject: str, text: str) -> None:
        try:
            send_mail(
                self.settings,
                Mail(
                    to=to,
                    subject=subject[:200],
                    text=text,
                    headers={"Auto-Submitted": "auto-replied"},
                ),
            )
        except SkyalertError:
            log.exception("could not answer %s", to)


def serve(circulars: Circulars, stop: threading.Event, live: Liveness) -> str:
    """Run the endpoint until ``stop``; returns what it did."""
    settings = circulars.pipeline.settings
    handler = CircularMailHandler(circulars)
    limit = settings.ingest_max_bytes + 64 * 1024  # a larger mail is refused in SMTP (552)
    host = settings.circulars_mail_host
    # aiosmtpd checks the server by connecting to the port it was given: 0 must be resolved first.
    port = settings.circulars_mail_port or free_port(host)
    controller = Controller(handler, hostname=host, port=port, data_size_limit=limit)
    controller.start()
    log.info("circulars mail endpoint on %s:%d", host, port)
    try:
        live.beat(f"smtp on port {port}")
        while not stop.wait(BEAT_EVERY):
            live.beat(f"smtp on port {port}")
    finally:
        controller.stop()
    return f"circulars mail endpoint on port {port} stopped"
