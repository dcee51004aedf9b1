"""Mails from Jinja2 templates: a text and an HTML part, the payload inline or attached.

Every alert and digest mail carries ``List-Unsubscribe`` with ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 8058) and the same signed link in its footer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from skyalert.broker.emails.links import unsubscribe_url
from skyalert.broker.emails.summary import Summary

FORMATS = ("text", "json", "voevent")


@dataclass(frozen=True)
class MailContext:
    """What every mail needs from the deployment."""

    base_url: str
    mail_from: str
    secret: bytes

    @property
    def domain(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"


@dataclass(frozen=True)
class Target:
    """The subscription a mail is for."""

    id: int
    name: str
    recipient: str
    format: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def _base(ctx: MailContext, to: str, subject: str, message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = ctx.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id or make_msgid(domain=ctx.domain)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _list_headers(message: EmailMessage, ctx: MailContext, ids: list[int]) -> str:
    url = unsubscribe_url(ctx.base_url, ctx.secret, ids)
    tag = "-".join(map(str, ids))
    message["List-Id"] = f"skyalert alerts <subscription-{tag}.{ctx.domain}>"
    message["List-Unsubscribe"] = f"<{url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return url


def wire(message: EmailMessage) -> bytes:
    """The message as SMTP carries it (CRLF line ends): what the ledger stores and sends."""
    return message.as_bytes(policy=SMTP)


def subject_of(summary: Summary) -> str:
    where = f" at RA {summary['ra']:.3f} Dec {summary['dec']:+.3f}" if summary["position"] else ""
    test = "[TEST] " if summary["test"] else ""
    return f"{test}{summary['title']}{where}"[:200]


def alert_mail(
    ctx: MailContext, target: Target, summary: Summary, payload: bytes, alert: dict[str, Any]
) -> EmailMessage:
    """One alert for one subscription, in the subscription's format."""
    subject = f"[skyalert] {subject_of(summary)}"
    message = _base(
        ctx,
        target.recipient,
        subject,
        message_id=f"<{summary['alert_id']}.{target.id}@{ctx.domain}>",
    )
    message["X-Skyalert-Topic"] = summary["topic"]
    message["X-Skyalert-Alert-Id"] = summary["alert_id"]
    url = _list_headers(message, ctx, [target.id])
    shown = ""
    filename = ""
    if target.format == "json":
        shown = json.dumps(alert, indent=2, ensure_ascii=False)
        filename = f"alert-{summary['alert_id']}.json"
    elif target.format == "voevent":
        filename = f"alert-{summary['alert_id']}.xml"
    context = {
        "s": summary,
        "format": target.format,
        "payload": shown,
        "filename": filename,
        "subject": subject,
        "base_url": ctx.base_url,
        "names": f'"{target.name}"',
        "recipient": target.recipient,
        "unsubscribe_url": url,
    }
    message.set_content(_render("alert.txt", **context))
    message.add_alternative(_render("alert.html", **context), subtype="html")
    if target.format == "json":
        message.add_attachment(
            (shown + "\n").encode(), maintype="application", subtype="json", filename=filename
        )
    elif target.format == "voevent":
        message.add_attachment(
            payload, maintype="application", subtype="x-voevent+xml", filename=filename
        )
    return message


def digest_mail(
    ctx: MailContext, recipient: str, items: list[tuple[Target, Summary]], limit: str
) -> EmailMessage:
    """Alerts beyond a recipient's rate limit, listed in one mail."""
    targets = {target.id: target for target, _ in items}
    subject = f"[skyalert] digest of {len(items)} alerts"
    message = _base(ctx, recipient, subject)
    url = _list_headers(message, ctx, sorted(targets))
    context = {
        "items": [summary for _, summary in items],
        "count": len(items),
        "limit": limit,
        "subject": subject,
        "base_url": ctx.base_url,
        "names": ", ".join(f'"{t.name}"' for t in targets.values()),
        "recipient": recipient,
        "unsubscribe_url": url,
    }
    message.set_content(_render("digest.txt", **context))
    message.add_alternative(_render("digest.html", **context), subtype="html")
    return message


def confirm_mail(
    ctx: MailContext, address: str, account: str, url: str, hours: int
) -> EmailMessage:
    """Asks the owner of ``address`` to confirm they want alert mails there."""
    message = _base(ctx, address, "[skyalert] confirm that alerts may be sent to this address")
    context = {"address": address, "account": account, "url": url, "hours": hours}
    message.set_content(_render("confirm.txt", **context))
    message.add_alternative(_render("confirm.html", **context), subtype="html")
    return message
