"""VTP frames and Transport messages, sans I/O: bytes in, messages out, and back.

VTP 2.0 (IVOA Recommendation 2017-03-20) sends each message as a 4-byte big-endian length and
an XML document: a VOEvent or a ``Transport`` message whose ``role`` is ``iamalive``, ``ack``
or ``nak`` (as pygcn 1.1.3 ``gcn/voeventclient.py`` and Comet 3.1 ``comet/protocol`` do).
Untrusted documents are parsed by defusedxml with DTDs and entities forbidden.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from skyalert.broker.vtp.errors import FrameError

HEADER = struct.Struct("!I")
#: What we send: Comet 3.1's namespace (``comet/protocol/messages.py``), which pygcn accepts.
TRANSPORT = "http://www.telescope-networks.org/xml/Transport/v1.1"
#: What we accept: the spellings pygcn 1.1.3 lists in ``_valid_vtp_root_tags``.
TRANSPORTS = frozenset(
    {
        TRANSPORT,
        "http://telescope-networks.org/xml/Transport/v1.1",
        "http://telescope-networks.org/schema/Transport/v1.1",
    }
)
VOEVENTS = frozenset(
    {"http://www.ivoa.net/xml/VOEvent/v2.0", "http://www.ivoa.net/xml/VOEvent/v1.1"}
)
SCHEMA_LOCATION = (
    "http://telescope-networks.org/schema/Transport/v1.1 "
    "http://www.telescope-networks.org/schema/Transport-v1.1.xsd"
)


class FrameReader:
    """Cuts a byte stream into frame payloads; refuses a length over ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by ``data`` (none while a frame is still arriving)."""
        self._buffer += data
        payloads = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.max_bytes:
                raise FrameError(f"a frame of {length} bytes is over the limit of {self.max_bytes}")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            payloads.append(bytes(self._buffer[HEADER.size : end]))
            del self._buffer[:end]
        return payloads

    def finish(self) -> None:
        """The peer closed the stream: refuse a frame cut short."""
        if self._buffer:
            raise FrameError(f"the connection ended inside a frame ({len(self._buffer)} bytes)")


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


@dataclass(frozen=True)
class Transport:
    role: str
    origin: str | None
    response: str | None
    #: A ``nak``'s reason (``Meta/Result``).
    result: str | None = None


@dataclass(frozen=True)
class Event:
    """A VOEvent as sent: its IVORN (None if it has none) and the original bytes."""

    ivorn: str | None
    payload: bytes


def parse(payload: bytes) -> Transport | Event:
    """Tell a Transport message from a VOEvent; refuse anything else, and hostile XML."""
    try:
        root = SafeElementTree.fromstring(
            payload, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise FrameError(
            f"refused XML ({type(exc).__name__}: DTDs and entities are not allowed)"
        ) from None
    except ParseError as exc:
        raise FrameError(f"not well-formed XML: {exc}") from None
    namespace, _, name = root.tag.removeprefix("{").rpartition("}")
    if namespace in TRANSPORTS and name == "Transport":
        return Transport(
            role=root.get("role", ""),
            origin=root.findtext("Origin"),
            response=root.findtext("Response"),
            result=root.findtext("Meta/Result"),
        )
    if namespace in VOEVENTS and name == "VOEvent":
        return Event(root.get("ivorn"), payload)
    raise FrameError(f"neither a VOEvent nor a VTP Transport message: <{root.tag}>")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(role: str, origin: str, response: str | None) -> Element:
    # Spelled out, not registered: ElementTree's prefix registry is process-wide.
    root = Element(
        "trn:Transport",
        {
            "xmlns:trn": TRANSPORT,
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "version": "1.0",
            "role": role,
            "xsi:schemaLocation": SCHEMA_LOCATION,
        },
    )
    SubElement(root, "Origin").text = origin
    if response is not None:
        SubElement(root, "Response").text = response
    SubElement(root, "TimeStamp").text = _now()
    return root


def _bytes(root: Element) -> bytes:
    text: bytes = tostring(root, encoding="UTF-8", xml_declaration=True)
    return text


def iamalive(local: str) -> bytes:
    """The broker's keep-alive: Origin is us; the subscriber answers with its own iamalive."""
    return _bytes(_message("iamalive", local, None))


def ack(local: str, ivorn: str) -> bytes:
    """Receipt of the VOEvent ``ivorn`` (Origin), from us (Response)."""
    return _bytes(_message("ack", ivorn, local))


def nak(local: str, ivorn: str, reason: str, detail: str) -> bytes:
    """Refusal of ``ivorn``: ``Meta/Result`` is ``reason: detail`` (Comet logs it), and a
    ``Param`` named ``reason`` carries the machine-readable code alone."""
    root = _message("nak", ivorn, local)
    meta = SubElement(root, "Meta")
    SubElement(meta, "Result").text = f"{reason}: {detail}"
    SubElement(meta, "Param", {"name": "reason", "value": reason})
    return _bytes(root)
