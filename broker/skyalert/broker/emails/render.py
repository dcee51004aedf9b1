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
from markupsafe import escape

from skyalert.broker.emails.links import unsubscribe_url
from skyalert.broker.emails.summary import Summary
from skyalert.schemas.formats import ContentType

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


def _list_headers(message: EmailMessage, ctx: MailContext, tag: str, url: str) -> None:
    message["List-Id"] = f"skyalert alerts <subscription-{tag}.{ctx.domain}>"
    message["List-Unsubscribe"] = f"<{url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


def wire(message: EmailMessage) -> bytes:
    """The message as SMTP carries it (CRLF line ends): what the ledger stores and sends."""
    return message.as_bytes(policy=SMTP)


def subject_of(summary: Summary) -> str:
    where = f" at RA {summary['ra']:.3f} Dec {summary['dec']:+.3f}" if summary["position"] else ""
    test = "[TEST] " if summary["test"] else ""
    return f"{test}{summary['title']}{where}"[:200]


@dataclass(frozen=True)
class _Fields:
    """What differs between the subscribers of one alert."""

    recipient: str
    tag: str
    url: str
    names: str

    @classmethod
    def of(cls, ctx: MailContext, target: Target) -> _Fields:
        url = unsubscribe_url(ctx.base_url, ctx.secret, [target.id])
        return cls(target.recipient, str(target.id), url, f'"{target.name}"')

    def values(self) -> tuple[str, str, str, str]:
        return (self.recipient, self.tag, self.url, self.names)

    def escaped(self) -> _Fields:
        """As the HTML part shows them (Jinja2's autoescape)."""
        return _Fields(*(str(escape(value)) for value in self.values()))


def alert_mail(
    ctx: MailContext, target: Target, summary: Summary, payload: bytes, alert: dict[str, Any]
) -> EmailMessage:
    """One alert for one subscription, in the subscription's format."""
    fields = _Fields.of(ctx, target)
    return _alert_message(
        ctx, target.format, summary, payload, alert, head=fields, text=fields, html=fields
    )


def _alert_message(
    ctx: MailContext,
    format: str,
    summary: Summary,
    payload: bytes,
    alert: dict[str, Any],
    *,
    head: _Fields,
    text: _Fields,
    html: _Fields,
) -> EmailMessage:
    """``head`` fills the headers, ``text`` the text part, ``html`` the HTML part."""
    subject = f"[skyalert] {subject_of(summary)}"
    message = _base(
        ctx, head.recipient, subject, message_id=f"<{summary['alert_id']}.{head.tag}@{ctx.domain}>"
    )
    message["X-Skyalert-Topic"] = summary["topic"]
    message["X-Skyalert-Alert-Id"] = summary["alert_id"]
    _list_headers(message, ctx, head.tag, head.url)
    shown = ""
    filename = ""
    if format == "json":
        shown = json.dumps(alert, indent=2, ensure_ascii=False)
        filename = f"alert-{summary['alert_id']}.json"
    elif format == "voevent":
        filename = f"alert-{summary['alert_id']}.xml"
    context = {
        "s": summary,
        "format": format,
        "payload": shown,
        "filename": filename,
        "subject": subject,
        "base_url": ctx.base_url,
    }

    def per(fields: _Fields) -> dict[str, Any]:
        return {"names": fields.names, "recipient": fields.recipient, "unsubscribe_url": fields.url}

    message.set_content(_render("alert.txt", **context, **per(text)))
    message.add_alternative(_render("alert.html", **context, **per(html)), subtype="html")
    if format == "json":
        message.add_attachment(
            (shown + "\n").encode(), maintype="application", subtype="json", filename=filename
        )
    elif format == "voevent":
        maintype, _, subtype = ContentType.VOEVENT.value.partition("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return message


#: Stand-ins for the per-subscriber fields while an alert's mail is built once per format:
#: letters only, so that neither header folding nor quoted-printable cuts or changes them.
_HEAD, _TEXT, _HTML = (
    _Fields(*(f"skyalertZ{field}Z{where}" for field in ("recipient", "tag", "url", "names")))
    for where in ("head", "text", "html")
)
_PARTS = (("text/plain", _TEXT), ("text/html", _HTML))


@dataclass(frozen=True)
class _Template:
    """One alert's mail in one format with stand-ins; ``quoted`` holds the stand-ins of parts
    sent quoted-printable (a value put there has its ``=`` encoded)."""

    raw: bytes
    quoted: frozenset[str]

    def fill(self, fields: _Fields) -> bytes:
        raw = self.raw
        for stand_in, values in ((_HEAD, fields), (_TEXT, fields), (_HTML, fields.escaped())):
            for token, value in zip(stand_in.values(), values.values(), strict=True):
                put = value.replace("=", "=3D") if token in self.quoted else value
                raw = raw.replace(token.encode(), put.encode("ascii"))
        return raw


class AlertMails:
    """The mails of one alert for many subscriptions, each format built once.

    Building a MIME message costs milliseconds (the standard library's header and body
    encoding); a subscriber's mail is then the template with their address, subscription and
    unsubscribe link put in. Values that are not plain ASCII, and templates whose stand-ins
    did not survive encoding (base64 bodies), fall back to building the whole mail.
    """

    def __init__(
        self, ctx: MailContext, summary: Summary, payload: bytes, alert: dict[str, Any]
    ) -> None:
        self.ctx = ctx
        self.summary = summary
        self.payload = payload
        self.alert = alert
        self._templates: dict[str, _Template | None] = {}

    def for_target(self, target: Target) -> bytes:
        """The mail for ``target``, as SMTP carries it."""
        fields = _Fields.of(self.ctx, target)
        template = self._template(target.format)
        if template is None or not all(map(_plain, fields.values())):
            return wire(alert_mail(self.ctx, target, self.summary, self.payload, self.alert))
        return template.fill(fields)

    def _template(self, format: str) -> _Template | None:
        if format not in self._templates:
            self._templates[format] = self._build(format)
        return self._templates[format]

    def _build(self, format: str) -> _Template | None:
        message = _alert_message(
            self.ctx,
            format,
            self.summary,
            self.payload,
            self.alert,
            head=_HEAD,
            text=_TEXT,
            html=_HTML,
        )
        raw = wire(message)
        quoted: set[str] = set()
        for part, fields in _PARTS:
            body = next(p for p in message.walk() if p.get_content_type() == part)
            rendered = body.get_content()
            tokens = fields.values()
            if any(raw.count(t.encode()) != rendered.count(t) for t in tokens):
                return None  # encoded out of sight (base64) or cut (quoted-printable)
            if body["Content-Transfer-Encoding"] == "quoted-printable":
                quoted.update(tokens)
        return _Template(raw, frozenset(quoted))


def _plain(value: str) -> bool:
    """Printable ASCII: safe in a header, a 7-bit body and a quoted-printable one."""
    return value.isascii() and value.isprintable()


def digest_mail(
    ctx: MailContext, recipient: str, items: list[tuple[Target, Summary]], limit: str
) -> EmailMessage:
    """Alerts beyond a recipient's rate limit, listed in one mail."""
    targets = {target.id: target for target, _ in items}
    subject = f"[skyalert] digest of {len(items)} alerts"
    message = _base(ctx, recipient, subject)
    ids = sorted(targets)
    url = unsubscribe_url(ctx.base_url, ctx.secret, ids)
    _list_headers(message, ctx, "-".join(map(str, ids)), url)
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
