"""VTP peers for tests, written from the wire format alone (not with skyalert's own codec):
an asyncio subscriber that answers like pygcn, and a raw-socket author."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field

from lxml import etree

#: How a VTP frame starts: the payload's length, 4 bytes, big-endian.
LENGTH = struct.Struct("!I")
TRANSPORT = "{http://www.telescope-networks.org/xml/Transport/v1.1}Transport"
VOEVENT = "{http://www.ivoa.net/xml/VOEvent/v2.0}VOEvent"
#: Seconds to wait for an expected message before the test fails.
WAIT = 20.0


def framed(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


def answer(role: str, origin: str) -> bytes:
    """A subscriber's ``ack``/``iamalive`` as pygcn 1.1.3 forms them."""
    return framed(
        (
            '<?xml version="1.0" encoding="UTF-8"?><trn:Transport role="' + role + '" '
            'version="1.0" xmlns:trn="http://telescope-networks.org/schema/Transport/v1.1">'
            f"<Origin>{origin}</Origin><Response>ivo://test/subscriber</Response>"
            "<TimeStamp>2026-01-01T00:00:00</TimeStamp></trn:Transport>"
        ).encode()
    )


def root_of(payload: bytes) -> etree._Element:
    return etree.fromstring(payload, etree.XMLParser(resolve_entities=False, no_network=True))


@dataclass
class Subscriber:
    """A VTP subscriber connection: collects VOEvents, answers iamalive and acks each event."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    events: list[bytes] = field(default_factory=list)
    iamalives: int = 0

    @classmethod
    async def connect(cls, port: int, source: str = "127.0.0.1") -> Subscriber:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0), limit=4 * 2**20
        )
        return cls(reader, writer)

    async def next_frame(self, timeout: float = WAIT) -> bytes | None:
        """The next payload (answered as pygcn answers it); None once the server closed."""
        try:
            header = await asyncio.wait_for(self.reader.readexactly(LENGTH.size), timeout)
            (size,) = LENGTH.unpack(header)
            payload = await asyncio.wait_for(self.reader.readexactly(size), timeout)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        root = root_of(payload)
        if root.tag == TRANSPORT and root.get("role") == "iamalive":
            self.iamalives += 1
            self.writer.write(answer("iamalive", root.findtext("Origin") or ""))
        elif root.tag == VOEVENT:
            self.events.append(payload)
            self.writer.write(answer("ack", root.get("ivorn") or ""))
        return payload

    async def ready(self) -> None:
        """Wait for the first iamalive: from then on the server routes alerts to us."""
        while self.iamalives == 0:
            assert await self.next_frame() is not None, "closed before the first iamalive"

    async def until(self, ivorns: set[str], timeout: float = WAIT) -> list[bytes]:
        """Read until a VOEvent of each IVORN came; the VOEvents among those."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ivorns <= {root_of(e).get("ivorn") for e in self.events}:
            left = deadline - loop.time()
            assert left > 0, f"got {len(self.events)} VOEvents, not all of {sorted(ivorns)}"
            assert await self.next_frame(left) is not None, "the server closed the connection"
        return [e for e in self.events if root_of(e).get("ivorn") in ivorns]

    async def closed(self, timeout: float = WAIT) -> None:
        """Read (and answer) until the server closes the connection."""
        while await self.next_frame(timeout) is not None:
            pass

    def close(self) -> None:
        self.writer.transport.abort()


def author_send(port: int, *payloads: bytes, source: str = "127.0.0.1") -> list[bytes]:
    """A raw-socket VTP author: send each frame, read one answer for each."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=(source, 0)
    ) as sock:
        answers = []
        for payload in payloads:
            sock.sendall(framed(payload))
            answers.append(_read_frame(sock))
        return answers


def _read_frame(sock: socket.socket) -> bytes:
    (size,) = LENGTH.unpack(_exactly(sock, LENGTH.size))
    return _exactly(sock, size)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the server closed the connection before answering"
        data += chunk
    return data


def send_raw(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    """Send bytes as they are, half-close, and return whatever comes back until the server
    closes (it must close: a test waits for that)."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=(source, 0)
    ) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received
