"""The VTP author endpoint: VOEvents from bound address ranges go through the ingest pipeline.

Each VOEvent is answered ``ack`` once archived (Kafka follows, re-sent if need be), or ``nak``
with the refusal reason; content refusals are dead-lettered as over HTTP, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.scopes import may_publish
from skyalert.broker.ingest.pipeline import Accepted, IngestPipeline, Submission
from skyalert.broker.ingest.reasons import Rejected
from skyalert.broker.vtp import frames
from skyalert.broker.vtp.access import author_scopes, most_specific, peer_address, topic_for
from skyalert.broker.vtp.errors import FrameError
from skyalert.schemas.formats import ContentType

log = logging.getLogger(__name__)

SOURCE = "vtp"
READ_CHUNK = 65_536
#: Seconds to wait for a dead letter's acknowledgement before answering nak anyway.
DEAD_LETTER_WAIT = 10.0


@dataclass
class AuthorServer:
    pipeline: IngestPipeline
    sessions: sessionmaker[Session]
    #: Address range -> producer credential client id (SKYALERT_VTP_AUTHORS).
    authors: dict[str, str]
    #: IVORN prefix -> topic (SKYALERT_VTP_AUTHOR_TOPICS).
    topics: dict[str, str]
    ivorn: str
    max_frame_bytes: int

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        client_id = most_specific(peer_address(host), self.authors)
        frame_reader = frames.FrameReader(self.max_frame_bytes)
        try:
            while data := await reader.read(READ_CHUNK):
                for payload in frame_reader.feed(data):
                    message = frames.parse(payload)
                    if isinstance(message, frames.Transport):
                        log.info("VTP author %s sent a Transport %r; ignored", peer, message.role)
                        continue
                    answer = await asyncio.to_thread(self.submit, message, client_id, peer)
                    writer.write(frames.frame(answer))
                    await writer.drain()
            frame_reader.finish()
        except FrameError as exc:
            log.info("VTP author %s: %s; connection closed", peer, exc)
        except (ConnectionError, OSError) as exc:
            log.info("VTP author %s: connection lost (%s)", peer, exc)
        finally:
            writer.transport.abort()

    def submit(self, event: frames.Event, client_id: str | None, peer: str) -> bytes:
        """Publish one VOEvent; the ack or nak to send back. Blocking (database, Kafka)."""
        ivorn = event.ivorn or ""
        if client_id is None:
            log.info("VTP author %s refused: address not in SKYALERT_VTP_AUTHORS", peer)
            return self._nak(
                ivorn,
                Rejected(
                    "unauthorized",
                    f"{peer} is not an author here; ask the operators to bind your address "
                    "range to your producer credential (SKYALERT_VTP_AUTHORS)",
                ),
            )
        submission = Submission(
            # Unmapped: the dead letter names the IVORN, all there is to say where it was meant.
            topic=topic_for(ivorn, self.topics) or ivorn or "(no IVORN)",
            payload=event.payload,
            sender=client_id,
            source=SOURCE,
            content_type=ContentType.VOEVENT.value,
        )
        refusal = self._refusal(submission, ivorn)
        if refusal is not None:
            return refusal
        outcome = self.pipeline.publish(submission)
        if isinstance(outcome, Accepted):
            log.info("VTP author %s: %s accepted as %s", peer, ivorn, outcome.alert_id)
            return frames.ack(self.ivorn, ivorn)
        try:
            outcome.dead_letter.result(DEAD_LETTER_WAIT)
        except Exception:  # the refusal is recorded in the database either way
            log.exception("the dead letter of %s from %s was not acknowledged", ivorn, peer)
        return self._nak(ivorn, outcome.rejected)

    def _nak(self, ivorn: str, rejected: Rejected) -> bytes:
        return frames.nak(self.ivorn, ivorn, rejected.reason, rejected.detail)

    def _refusal(self, submission: Submission, ivorn: str) -> bytes | None:
        """A nak before the pipeline: no topic for the IVORN, or not this credential's."""
        catalog = self.pipeline.catalog
        topic = catalog.get(submission.topic)
        if topic is None:
            rejected = Rejected(
                "unknown_topic",
                f"no topic is mapped to the IVORN {ivorn!r}; the operators map IVORN prefixes "
                "to topics with SKYALERT_VTP_AUTHOR_TOPICS",
            )
            self.pipeline.refuse(submission, rejected)  # kept in the dead-letter topic
            return self._nak(ivorn, rejected)
        with self.sessions() as session:
            scopes = author_scopes(session, submission.sender, catalog)
        if may_publish(scopes, topic):
            return None
        return self._nak(
            ivorn,
            Rejected(
                "forbidden_topic",
                f"the credential {submission.sender} bound to your address may not publish to "
                f"{topic.name}; it needs publish:{topic.namespace} (group {topic.producer_group})",
            ),
        )
