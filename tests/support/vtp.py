"""VTP peers for tests, written from the wire format alone (not with skyalert's own codec):
an asyncio subscriber that answers like pygcn, and a raw-socket author."""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from lxml import etree

from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.vtp.worker import Ports, run_vtp
from skyalert.schemas.catalog import load_catalog

#: How a VTP frame starts: the payload's length, 4 bytes, big-endian.
LENGTH = struct.Struct("!I")
TRANSPORT = "{http://www.telescope-networks.org/xml/Transport/v1.1}Transport"
VOEVENT = "{http://www.ivoa.net/xml/VOEvent/v2.0}VOEvent"
#: Seconds to wait for an expected message before the test fails.
WAIT = 20.0


@dataclass(frozen=True)
class Vtp:
    """A running VTP worker: its ports, its settings and the author credential bound to it."""

    ports: Ports
    settings: Settings
    author: str


@contextmanager
def running(settings: Settings) -> Iterator[Ports]:
    """``skyalert worker vtp``'s code in a thread, as the registry runs it; its ports."""
    engine = make_engine(settings)
    stop = threading.Event()
    started: queue.Queue[Ports] = queue.Queue()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            run_vtp(settings, make_sessionmaker(engine), load_catalog(), stop, ready=started.put)
        except BaseException as exc:
            failure.append(exc)
            raise

    thread = threading.Thread(target=serve, name="vtp-worker", daemon=True)
    thread.start()
    try:
        yield started.get(timeout=60)
    except queue.Empty:
        pytest.fail(f"the VTP worker did not start: {failure}")
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()
    assert not thread.is_alive()
    assert not failure, failure


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


class Subscriber:
    """A VTP subscriber connection that reads all the time, as pygcn does: answers iamalive,
    acks and collects each VOEvent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.events: list[bytes] = []
        self.iamalives = 0
        self.ended = False
        self._news = asyncio.Event()
        self._task = asyncio.create_task(self._read_forever())

    @classmethod
    async def connect(
        cls, port: int, source: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> Subscriber:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0), limit=4 * 2**20, ssl=tls
        )
        return cls(reader, writer)

    async def _read_forever(self) -> None:
        try:
            while True:
                (size,) = LENGTH.unpack(await self.reader.readexactly(LENGTH.size))
                self._handle(await self.reader.readexactly(size))
                self._news.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.ended = True
            self._news.set()

    def _handle(self, payload: bytes) -> None:
        root = root_of(payload)
        if root.tag == TRANSPORT and root.get("role") == "iamalive":
            self.iamalives += 1
            self.writer.write(answer("iamalive", root.findtext("Origin") or ""))
        elif root.tag == VOEVENT:
            self.events.append(payload)
            self.writer.write(answer("ack", root.get("ivorn") or ""))

    async def _wait(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            assert not self.ended, f"the server closed the connection before {what}"
            left = deadline - loop.time()
            assert left > 0, f"no {what} within {timeout} s ({len(self.events)} VOEvents)"
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), left)
            except TimeoutError:
                continue

    async def ready(self, timeout: float = WAIT) -> None:
        """Wait for the first iamalive: from then on the server routes alerts to us."""
        await self._wait(lambda: self.iamalives > 0, "the first iamalive", timeout)

    async def until(self, ivorns: set[str], timeout: float = WAIT) -> list[bytes]:
        """Wait until a VOEvent of each IVORN came; the VOEvents among those."""

        def mine() -> list[bytes]:
            return [e for e in self.events if root_of(e).get("ivorn") in ivorns]

        await self._wait(
            lambda: {root_of(e).get("ivorn") for e in mine()} == ivorns, "all VOEvents", timeout
        )
        return mine()

    async def closed(self, timeout: float = WAIT) -> None:
        """Wait until the server closes the connection."""
        await self._wait(lambda: self.ended, "closing the connection", timeout)

    def close(self) -> None:
        self._task.cancel()
        self.writer.transport.abort()


def author_send(
    port: int, *payloads: bytes, source: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> list[bytes]:
    """A raw-socket VTP author: send each frame, read one answer for each."""
    plain = socket.create_connection(("127.0.0.1", port), timeout=WAIT, source_address=(source, 0))
    # A wrapped socket takes over the plain one's descriptor: close the wrapper.
    with tls.wrap_socket(plain, server_hostname="127.0.0.1") if tls else plain as sock:
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


def dropped(sock: socket.socket) -> bool:
    """Read what the server wrote until it closes (fails after WAIT s of silence)."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True
