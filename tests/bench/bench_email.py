"""Benchmark: alert mails per second from the email worker's sender to a loopback SMTP server,
beside a bare smtplib loop sending the very same messages in the same run.

    python tests/bench/bench_email.py [--mails 500] [--rounds 3] [--recipients 50]
                                      [--database-url postgresql+psycopg://…] [--json]

Both send the same rendered bytes, spread over ``--recipients`` subscribers; the bare loop over
one reused connection, the sender over its lanes (``SKYALERT_EMAIL_CONNECTIONS``). The
sender's extra cost is the ledger: each mail is claimed (``sending``, committed) before SMTP
sees it, the next claim written while SMTP takes the current mail, and ``sent`` recorded in
batches. Bare and sender runs alternate for ``--rounds`` rounds (the machine may be shared);
the ratio is the median of the rounds'. Rendering (Jinja2 and MIME, done when an alert is
queued) is timed on its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import smtplib
import statistics
import sys
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from skyalert.auth.users import create_user
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.models import EmailSubscription
from skyalert.broker.emails.render import AlertMails, Target, alert_mail, wire
from skyalert.broker.emails.sender import Sender
from skyalert.broker.emails.summary import summarize
from skyalert.broker.emails.worker import mail_context
from skyalert.broker.kafka.kafka_node import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.gcn_examples import guano_document


class Counter:
    """Counts the mails the sink took, across processes."""

    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def sink(port: int, count: Synchronized[int], ready: EventType, stop: EventType) -> None:
    """The loopback SMTP server, in a process of its own as a real mail server would be (in
    the bench's process it would share the interpreter lock with the sender's threads)."""
    controller = Controller(Counter(count), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def render(
    settings: Settings, subscribers: list[tuple[int, str]], count: int
) -> list[dict[str, Any]]:
    alert = guano_document()
    ctx = mail_context(settings)
    rows = []
    now = utcnow()
    for i in range(count):
        sub_id, recipient = subscribers[i % len(subscribers)]
        target = Target(sub_id, "bench", recipient, "json")
        alert_id = f"01BENCH{i:019d}"
        summary = summarize(
            "gcn.notices.swift.bat.guano", "Swift BAT-GUANO", alert_id, alert, test=False
        )
        message = alert_mail(ctx, target, summary, json.dumps(alert).encode(), alert)
        rows.append(
            {
                "subscription_id": sub_id,
                "alert_id": alert_id,
                "topic": summary["topic"],
                "status": ledger.QUEUED,
                "message": wire(message),
                "summary": json.dumps(summary),
                "queued_at": now,
                "next_attempt_at": now,
                "attempts": 0,
                "error": "",
            }
        )
    return rows


def bare(host: str, port: int, sender: str, mails: list[tuple[str, bytes]]) -> float:
    """The floor: one connection, ``sendmail`` of the rendered bytes, nothing else."""
    started = time.perf_counter()
    with smtplib.SMTP(host, port) as smtp:
        for recipient, message in mails:
            smtp.sendmail(sender, [recipient], message)
    return time.perf_counter() - started


def subscribe(sessions: Any, i: int) -> tuple[int, str]:
    """A verified user subscribed to the GUANO topic: (subscription id, address)."""
    with sessions.begin() as session:
        address = f"bench-{time.time_ns()}-{i}@example.org"
        user = create_user(session, address, None, verified=True)
        topics = '["gcn.notices.swift.bat.guano"]'
        sub = EmailSubscription(
            user_id=user.id, name="bench", recipient=user.email, topics=topics, format="json"
        )
        session.add(sub)
        session.flush()
        return sub.id, user.email


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=50, help="subscribers sharing the mails")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    count: Synchronized[int] = multiprocessing.Value("i", 0)
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    port = free_port()
    server = multiprocessing.Process(target=sink, args=(port, count, ready, stop), daemon=True)
    server.start()
    assert ready.wait(30), "the SMTP sink did not start"
    with tempfile.TemporaryDirectory() as var:
        settings = Settings(
            var_dir=Path(var),
            database_url=args.database_url,
            smtp_url=f"smtp://127.0.0.1:{port}",
            email_rate_recipient="1000000/minute",
            email_rate_global="1000000/minute",
        )
        engine = make_engine(settings)
        migrate.upgrade(engine)
        sessions = make_sessionmaker(engine)
        subscribers = [subscribe(sessions, i) for i in range(args.recipients)]
        started = time.perf_counter()
        rows = render(settings, subscribers, args.mails)
        rendering = time.perf_counter() - started
        recipient_of = dict(subscribers)
        mails = [(recipient_of[row["subscription_id"]], row["message"]) for row in rows]

        sender = Sender(settings, sessions, mail_context(settings))
        bares, ours = [], []
        for round_ in range(args.rounds):
            bares.append(bare("127.0.0.1", port, "noreply@localhost", mails))
            again = [row | {"alert_id": f"{row['alert_id']}-{round_}"} for row in rows]
            with sessions.begin() as session:
                ledger.queue(session, again)
            started = time.perf_counter()
            sent = 0
            while sent < args.mails:
                sent += sender.run_once()
            ours.append(time.perf_counter() - started)
        sender.close()
        engine.dispose()
    stop.set()
    server.join(10)
    assert count.value == 2 * args.mails * args.rounds, count.value

    ratio = statistics.median(b / o for b, o in zip(bares, ours, strict=True))
    size = sum(len(row["message"]) for row in rows) / len(rows)
    print(f"{args.mails} mails of {size / 1024:.1f} KiB, database {engine.url.get_backend_name()}")
    print(f"  render (Jinja2, text+HTML+JSON): {args.mails / rendering:8.0f} mails/s")
    for baseline, mine in zip(bares, ours, strict=True):
        print(f"  bare smtplib loop:               {args.mails / baseline:8.0f} mails/s")
        print(f"  skyalert sender (with ledger):   {args.mails / mine:8.0f} mails/s")
    print(f"  ratio sender / bare (median):    {ratio:8.2f}")
    fan_out(mail_context(settings), args.mails)
    if args.json:
        print(json.dumps({"send_ratio": round(ratio, 3)}))


def fan_out(ctx: Any, subscribers: int) -> None:
    """One alert for many subscriptions (text, JSON and VOEvent formats by turns): each mail
    built alone, as before, beside ``AlertMails`` (each format built once, then filled in)."""
    alert = guano_document()
    raw = json.dumps(alert).encode()
    summary = summarize(
        "gcn.notices.swift.bat.guano", "Swift BAT-GUANO", "01BENCHFANOUT0000", alert, test=False
    )
    targets = [
        Target(i, f"sub {i}", f"user{i}@example.org", ("text", "json", "voevent")[i % 3])
        for i in range(1, subscribers + 1)
    ]
    started = time.perf_counter()
    alone = [wire(alert_mail(ctx, t, summary, raw, alert)) for t in targets]
    one_by_one = time.perf_counter() - started
    started = time.perf_counter()
    mails = AlertMails(ctx, summary, raw, alert)
    shared = [mails.for_target(t) for t in targets]
    templated = time.perf_counter() - started
    assert len(alone) == len(shared)
    print(f"one alert for {subscribers} subscriptions")
    print(f"  each mail built alone:           {subscribers / one_by_one:8.0f} mails/s")
    print(f"  AlertMails (built once a format):{subscribers / templated:8.0f} mails/s")
    print(f"  speed-up:                        {one_by_one / templated:8.1f}")


if __name__ == "__main__":
    main()
