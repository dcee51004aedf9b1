"""Mails as rendered: parts, formats, headers, escaping; signed links; the digest split."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from voeventparse.fixtures import datapaths

from skyalert.broker.core.rates import Rate
from skyalert.broker.emails.errors import BadLink
from skyalert.broker.emails.limits import Plan, plan
from skyalert.broker.emails.links import read_unsubscribe_token, unsubscribe_token
from skyalert.broker.emails.render import (
    AlertMails,
    MailContext,
    Target,
    alert_mail,
    digest_mail,
    wire,
)
from skyalert.broker.emails.summary import Summary, sexagesimal, summarize
from skyalert.schemas.voevent import voevent_to_json
from support.email import html_of, text_of
from support.stream import GUANO

CTX = MailContext("https://alerts.example.org", "skyalert <noreply@example.org>", b"k" * 32)
ALERT_ID = "01JDX0000000000000000000AB"


def summary_of(alert: dict[str, Any], test: bool = False) -> Summary:
    return summarize("gcn.notices.swift.bat.guano", "Swift BAT-GUANO", ALERT_ID, alert, test)


def mail(fmt: str, alert: dict[str, Any] = GUANO, payload: bytes | None = None) -> EmailMessage:
    target = Target(7, "GRBs <b>", "ada@example.org", fmt)
    raw = payload if payload is not None else json.dumps(alert).encode()
    return alert_mail(CTX, target, summary_of(alert), raw, alert)


def test_sexagesimal() -> None:
    assert sexagesimal(212.443, -31.082) == "14h09m46.3s -31°04'55\""
    assert sexagesimal(0.0, 0.0) == "00h00m00.0s +00°00'00\""


def test_every_mail_has_both_parts_and_the_unsubscribe_headers() -> None:
    message = mail("text")
    url = f"https://alerts.example.org/email/unsubscribe?token={unsubscribe_token(CTX.secret, [7])}"
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == f"<{ALERT_ID}.7@alerts.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"] == "[skyalert] Swift BAT-GUANO at RA 336.260 Dec +25.139"
    text, html = text_of(message), html_of(message)
    for part in (text, html):
        assert ALERT_ID in part
        assert GUANO["trigger_time"] in part
        assert "22h25m02.4s" in part
        assert "Swift" in part
    assert url in text
    assert url.replace("&", "&amp;") in html
    assert list(message.iter_attachments()) == []


def test_json_inline_and_attached() -> None:
    message = mail("json")
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == f"alert-{ALERT_ID}.json"
    assert json.loads(attachment.get_content()) == GUANO
    assert '"rate_snr": 15.8' in text_of(message)


def test_voevent_attached_as_sent() -> None:
    raw = Path(datapaths.swift_bat_grb_pos_v2).read_bytes()
    message = mail("voevent", voevent_to_json(raw), raw)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/x-voevent+xml"
    assert attachment.get_content() == raw
    assert "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729" in text_of(message)
    assert "RA 74.7412°" in text_of(message)


def test_html_is_escaped() -> None:
    hostile = {**GUANO, "additional_info": "<script>alert(1)</script>"}
    html = html_of(mail("json", hostile))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "GRBs &lt;b&gt;" in html


def test_test_alerts_say_so() -> None:
    message = alert_mail(
        CTX, Target(7, "x", "a@b.c", "text"), summary_of(GUANO, test=True), b"{}", GUANO
    )
    assert str(message["Subject"]).startswith("[skyalert] [TEST] ")
    assert "TEST ALERT" in text_of(message)


def test_digest_lists_every_alert_and_stops_every_subscription() -> None:
    items = [
        (
            Target(3 + i % 2, f"sub {i % 2}", "ada@example.org", "json"),
            summarize("t.x", "T", f"01JDX00000000000000000{i:04d}", GUANO, False),
        )
        for i in range(30)
    ]
    message = digest_mail(CTX, "ada@example.org", items, "10/minute")
    assert message["Subject"] == "[skyalert] digest of 30 alerts"
    text = text_of(message)
    for _, summary in items:
        assert summary["alert_id"] in text
    token = str(message["List-Unsubscribe"]).split("token=")[1].rstrip(">")
    assert read_unsubscribe_token(CTX.secret, token) == [3, 4]
    assert "10/minute" in text


def test_unsubscribe_tokens() -> None:
    token = unsubscribe_token(b"secret", [5, 2, 5])
    assert token.startswith("2.5-")
    assert read_unsubscribe_token(b"secret", token) == [2, 5]
    for bad in (
        token[:-1] + ("0" if token[-1] != "0" else "1"),
        "2.6" + token[3:],
        token.replace("-", "."),
        "",
        "1-" + "0" * 32,
    ):
        with pytest.raises(BadLink, match="broken or was altered"):
            read_unsubscribe_token(b"secret", bad)
    with pytest.raises(BadLink):
        read_unsubscribe_token(b"another secret", token)


@pytest.mark.parametrize(
    ("waiting", "left", "expected"),
    [
        (5, 10, Plan([0, 1, 2, 3, 4], [])),
        (10, 10, Plan(list(range(9)), [9])),
        (200, 10, Plan(list(range(9)), list(range(9, 200)))),
        (3, 1, Plan([], [0, 1, 2])),
        (3, 0, Plan([], [])),
    ],
)
def test_plan(waiting: int, left: int, expected: Plan) -> None:
    assert plan(list(range(waiting)), left) == expected


def test_rate() -> None:
    assert Rate.parse("10/minute") == Rate(10, 60, "10/minute")
    assert Rate.parse("600/hour").period == 3600


# --- one alert, many subscribers: the template path gives the very mail alert_mail builds ----

FANOUT_TARGETS = [
    Target(7, "GRBs <b>", "ada@example.org", "text"),
    Target(8, "a=b & c", "bob+alerts@example.org", "json"),
    Target(9, "x" * 120, "carol@example.org", "voevent"),  # long footer lines: quoted-printable
    Target(10, "Ångström", "dave@example.org", "text"),  # not ASCII: built in full
    Target(123456, "plain", "erin@example.org", "json"),
]


def parsed(raw: bytes) -> dict[str, Any]:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    # The date and the MIME boundary differ from one build to the next.
    headers = {k: str(v) for k, v in message.items() if k not in ("Date", "Content-Type")}
    parts = [
        (p.get_content_type(), p.get_content()) for p in message.walk() if not p.is_multipart()
    ]
    return {"headers": headers, "parts": parts}


@pytest.mark.parametrize(
    "alert",
    [GUANO, GUANO | {"comment": "µ-ray " + "long line " * 150}],
    ids=["ascii", "long-non-ascii-line"],
)
def test_alert_mails_for_many_subscribers_equal_one_by_one_mails(alert: dict[str, Any]) -> None:
    raw = json.dumps(alert).encode()
    summary = summary_of(alert)
    mails = AlertMails(CTX, summary, raw, alert)
    for target in FANOUT_TARGETS:
        alone = wire(alert_mail(CTX, target, summary, raw, alert))
        assert parsed(mails.for_target(target)) == parsed(alone), target


def test_plain_alerts_are_built_once_per_format() -> None:
    mails = AlertMails(CTX, summary_of(GUANO), json.dumps(GUANO).encode(), GUANO)
    for target in FANOUT_TARGETS:
        mails.for_target(target)
    assert all(mails._template(fmt) is not None for fmt in ("text", "json", "voevent"))
