"""The one worker registry: every background worker the CLI offers and ``skyalert up`` runs.

The web app's status page gets the names handed in (``create_app(…, workers=NAMES)``), so a new
worker is one entry here and shows up in ``skyalert worker``, the supervisor and ``/status``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog

Sessions = sessionmaker[Session]
#: Runs until ``stop`` is set; returns one line saying what it did.
Run = Callable[[Settings, Sessions, threading.Event, Liveness], str]


@dataclass(frozen=True)
class Worker:
    name: str
    help: str
    run: Run
    #: Several may run at once (they share a Kafka consumer group): ``skyalert up --NAME N``.
    scalable: bool = False
    #: Whether ``skyalert up`` starts it with these settings (a mirror needs mirrors).
    wanted: Callable[[Settings], bool] = lambda _settings: True


def wanted(settings: Settings) -> tuple[str, ...]:
    """The workers ``skyalert up`` starts, and the status page expects, with these settings."""
    return tuple(name for name, worker in WORKERS.items() if worker.wanted(settings))


def _heartbeat(
    settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness
) -> str:
    from skyalert.broker.ingest.heartbeat import run_heartbeat

    sent = run_heartbeat(settings, load_catalog().heartbeat, stop, live)
    return f"heartbeat stopped after {sent} messages"


def _ingest(settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness) -> str:
    from skyalert.broker.ingest.inbox_worker import InboxWorker

    worker = InboxWorker(settings, sessions, load_catalog())
    return f"ingest stopped: {worker.run(stop, live)}"


def _email(settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness) -> str:
    from skyalert.broker.emails.worker import EmailWorker

    mailer = EmailWorker(settings, sessions, load_catalog(), live)
    mailer.run(stop)
    return f"email worker stopped: {mailer.queued} mails queued, {mailer.sent} sent"


def _maintenance(
    settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness
) -> str:
    from skyalert.auth.context import AuthContext
    from skyalert.auth.maintenance import run_maintenance

    run_maintenance(AuthContext.build(settings, sessions, load_catalog()), stop, live)
    return "maintenance stopped"


def _vtp(settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness) -> str:
    from skyalert.broker.vtp.worker import run_vtp

    served = run_vtp(settings, sessions, load_catalog(), stop, live=live)
    return f"VTP worker stopped after serving {served} subscribers"


def _mirror(settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness) -> str:
    from skyalert.broker.mirror.worker import run_mirrors

    stats = run_mirrors(settings, sessions, load_catalog(), stop, live)
    return "mirror stopped: " + "; ".join(str(s) for s in stats)


def _stream(settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness) -> str:
    import asyncio

    from skyalert.web.api.stream import FeedOnly, serve_dedicated

    asyncio.run(serve_dedicated(FeedOnly.build(settings), stop, live))
    return f"live-feed server on port {settings.stream_port} stopped"


def _circulars_mail(
    settings: Settings, sessions: Sessions, stop: threading.Event, live: Liveness
) -> str:
    from skyalert.broker.circulars.mailin import serve
    from skyalert.broker.circulars.service import Circulars
    from skyalert.broker.ingest.pipeline import IngestPipeline

    pipeline = IngestPipeline.build(settings, sessions, load_catalog())
    try:
        return serve(Circulars(pipeline), stop, live)
    finally:
        pipeline.close()


WORKERS: dict[str, Worker] = {
    w.name: w
    for w in (
        Worker("heartbeat", "publish the heartbeat once a second", _heartbeat),
        Worker(
            "ingest",
            "ingest alerts from the Kafka inboxes; re-send unacknowledged",
            _ingest,
            scalable=True,
        ),
        Worker("email", "mail alerts to email subscriptions", _email, scalable=True),
        Worker("maintenance", "idle-credential warnings and expiry, Kafka ACL sync", _maintenance),
        Worker("vtp", "VOEvent Transport Protocol ports for subscribers and authors", _vtp),
        Worker("circulars-mail", "take GCN Circulars by email (SMTP) and answer", _circulars_mail),
        Worker(
            "stream",
            "the live feed's own WebSocket server on SKYALERT_STREAM_PORT (SO_REUSEPORT)",
            _stream,
            scalable=True,
            wanted=lambda settings: settings.stream_port is not None,
        ),
        Worker(
            "mirror",
            "take in upstream brokers' topics (SKYALERT_MIRRORS) through the pipeline",
            _mirror,
            wanted=lambda settings: bool(settings.mirrors),
        ),
    )
}
NAMES: tuple[str, ...] = tuple(WORKERS)

__all__ = ["NAMES", "WORKERS", "Worker", "wanted"]
