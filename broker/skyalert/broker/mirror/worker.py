"""``skyalert worker mirror``: take in an upstream broker's topics through our own pipeline.

Federation as GCN and SCiMMA practise it: each message of a configured upstream topic is
checked against the local data contract, archived, produced to its local topic (or
dead-lettered), and only then is the upstream offset committed, so a restart neither loses
nor doubles an alert. Repeats are dropped by an idempotency key made from the upstream alert
id (or, without one, the upstream position). Provenance (mirror, topic, partition, offset)
is the alert's sender, shown with it in the archive, the portal and the ``sender`` header.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import Consumer, Message
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Mirror, Settings
from skyalert.broker.ingest.inbox_worker import InboxWorker, IngestStats, message_headers
from skyalert.broker.ingest.pipeline import Submission
from skyalert.broker.kafka.inboxes import CONTENT_TYPE_HEADER
from skyalert.schemas.catalog import Catalog

log = logging.getLogger(__name__)

#: Headers of an upstream message that say which alert it is (skyalert's, then GCN's).
ID_HEADERS = ("alert-id", "id")


def upstream_config(mirror: Mirror) -> dict[str, Any]:
    """librdkafka settings for the upstream consumer (OIDC client credentials if configured)."""
    config: dict[str, Any] = {
        "bootstrap.servers": mirror.bootstrap,
        "security.protocol": mirror.security_protocol,
        "group.id": mirror.group_id or _default_group(mirror),
        "auto.offset.reset": mirror.start,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }
    if mirror.token_url is not None:
        if mirror.client_id is None or mirror.client_secret is None:
            raise ConfigError(
                f"SKYALERT_MIRRORS: mirror {mirror.name!r} has a token_url but no client_id "
                "and client_secret; give the credential made on the upstream broker"
            )
        config.update(
            {
                "sasl.mechanisms": "OAUTHBEARER",
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": mirror.client_id,
                "sasl.oauthbearer.client.secret": mirror.client_secret.get_secret_value(),
                "sasl.oauthbearer.token.endpoint.url": mirror.token_url,
            }
        )
    return {**config, **mirror.config}


def _default_group(mirror: Mirror) -> str:
    prefix = f"{mirror.client_id}." if mirror.client_id else ""
    return f"{prefix}skyalert-mirror-{mirror.name}"


class MirrorWorker(InboxWorker):
    """The ingest loop over one upstream broker's topics."""

    chores = False  # the ingest worker re-publishes; two re-publishers would send twice

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        catalog: Catalog,
        mirror: Mirror,
    ) -> None:
        unknown = sorted(set(mirror.topics.values()) - {t.name for t in catalog.alert_topics})
        if unknown:
            raise ConfigError(
                f"SKYALERT_MIRRORS: mirror {mirror.name!r} maps to {', '.join(unknown)}, which "
                "are not alert topics of this catalog; map each upstream topic to one of "
                "GET /api/v1/topics"
            )
        self.mirror = mirror
        super().__init__(
            settings,
            sessions,
            catalog,
            consumer=Consumer(upstream_config(mirror)),
            topics=sorted(mirror.topics),
        )

    def submission(self, message: Message) -> Submission:
        headers = message_headers(message)
        topic, partition, offset = message.topic() or "", message.partition(), message.offset()
        upstream_id = next((headers[h] for h in ID_HEADERS if headers.get(h)), None)
        position = f"{topic}[{partition}]@{offset}"
        return Submission(
            topic=self.mirror.topics.get(topic, ""),
            payload=message.value() or b"",
            sender=sender_prefix(self.mirror) + position,
            source="mirror",
            content_type=headers.get(CONTENT_TYPE_HEADER),
            idempotency_key=_key(self.mirror.name, upstream_id or position),
        )

    def ambiguity(self, message: Message) -> str | None:
        return None  # upstream headers are the upstream's business; the topic map routes


def sender_prefix(mirror: Mirror) -> str:
    """How the sender of every alert of ``mirror`` starts (the upstream position follows)."""
    return f"mirror:{mirror.name} "


def _key(mirror: str, upstream: str) -> str:
    """An idempotency key (printable ASCII, no spaces, at most 200) naming the upstream alert."""
    cleaned = "".join(c if 33 <= ord(c) < 127 else "_" for c in upstream)
    return f"mirror:{mirror}:{cleaned}"[:200]


def run_mirrors(
    settings: Settings,
    sessions: sessionmaker[Session],
    catalog: Catalog,
    stop: threading.Event,
    liveness: Liveness | None = None,
) -> list[IngestStats]:
    """Every configured mirror in a thread of its own, until ``stop``."""
    if not settings.mirrors:
        raise ConfigError(
            "no mirrors configured: set SKYALERT_MIRRORS (see ops/settings.md) to the "
            "upstream brokers and topics to take in"
        )
    workers = [MirrorWorker(settings, sessions, catalog, m) for m in settings.mirrors]
    threads = [
        threading.Thread(target=w.run, args=(stop,), name=f"mirror-{w.mirror.name}", daemon=True)
        for w in workers
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(5.0):
        if liveness is not None:
            liveness.beat("; ".join(f"{w.mirror.name}: {w.stats}" for w in workers))
        if not all(t.is_alive() for t in threads):
            stop.set()
            raise ConfigError("a mirror stopped on its own; see its log lines above")
    for thread in threads:
        thread.join(30)
    if liveness is not None:
        liveness.gone()
    return [w.stats for w in workers]
