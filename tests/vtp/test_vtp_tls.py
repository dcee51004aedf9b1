"""Optional TLS: with a certificate set, both VTP ports speak TLS and plain TCP gets nothing."""

from __future__ import annotations

import ssl
from pathlib import Path

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.ingest import unique_bat
from support.stream import own_loop
from support.tls import self_signed
from support.vtp import Subscriber, author_send, framed, root_of, running, send_raw


@own_loop
async def test_both_ports_speak_tls_when_a_certificate_is_set(
    settings: Settings, tmp_path: Path, vtp_topics: None
) -> None:
    cert, key = self_signed(tmp_path)
    configured = settings.model_copy(
        update={
            "vtp_port": free_port(),
            "vtp_author_port": free_port(),
            "vtp_iamalive_interval": 0.3,
            "vtp_tls_cert": cert,
            "vtp_tls_key": key,
        }
    )
    trust = ssl.create_default_context(cafile=cert)
    with running(configured) as ports:
        subscriber = await Subscriber.connect(ports.subscribers, tls=trust)
        try:
            await subscriber.ready()
        finally:
            subscriber.close()
        (answer,) = author_send(ports.authors, unique_bat(), tls=trust)
        assert root_of(answer).get("role") == "nak"  # no author is bound in these settings
        for port in (ports.subscribers, ports.authors):  # plain TCP: a failed TLS handshake
            assert b"Transport" not in send_raw(port, framed(unique_bat()))
