"""skyalert.broker.core.mail: SMTP (STARTTLS when offered), or the outbox folder when unset."""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from skyalert.broker.core.errors import MailError
from skyalert.broker.core.mail import Mail, send_mail, send_mails
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.email import html_of, text_of
from support.smtp import SMTPServer
from support.tls import self_signed

MAIL = Mail(to="someone@example.org", subject="Über alerts", text="Hello ✓\n", html="<p>Hi</p>")


def test_without_smtp_mails_go_to_the_outbox(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    send_mails(settings, [MAIL, MAIL])
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "someone@example.org"
    assert message["Subject"] == "Über alerts"
    assert message["Message-ID"]
    assert text_of(message) == "Hello ✓\n"
    assert html_of(message).strip() == "<p>Hi</p>"


def test_smtp_delivers(tmp_path: Path, smtp_server: SMTPServer) -> None:
    send_mail(
        Settings(var_dir=tmp_path, smtp_url=smtp_server.url, mail_from="Sky <alerts@example.org>"),
        MAIL,
    )
    (received,) = smtp_server.wait_for(1)
    assert received.sender == "alerts@example.org"
    assert received.recipients == ["someone@example.org"]
    assert not (tmp_path / "outbox").exists()


def test_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(var_dir=tmp_path, smtp_url=f"smtp://mailer:hunter2secret@127.0.0.1:{port}")
    with pytest.raises(MailError, match=f"127.0.0.1:{port}") as caught:
        send_mail(settings, MAIL)
    assert "hunter2secret" not in str(caught.value)
    assert "SKYALERT_SMTP_URL" in str(caught.value)


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[int]:
    """An SMTP server offering STARTTLS with a self-signed certificate."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    port = free_port()
    controller = Controller(SMTPServer(), hostname="127.0.0.1", port=port, tls_context=context)
    controller.start()
    yield port
    controller.stop()


def test_starttls_is_used_when_offered_and_certificates_are_checked(
    tmp_path: Path, starttls_server: int
) -> None:
    settings = Settings(var_dir=tmp_path, smtp_url=f"smtp://127.0.0.1:{starttls_server}")
    with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        send_mail(settings, MAIL)
