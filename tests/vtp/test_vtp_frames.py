"""The sans-I/O core: frames cut from any chunking, Transport messages, hostile XML refused."""

from __future__ import annotations

import struct

import pytest
from lxml import etree

from skyalert.broker.vtp import frames
from skyalert.broker.vtp.errors import FrameError
from support.ingest import BILLION_LAUGHS, EXTERNAL_DTD, EXTERNAL_ENTITY, ivorn_of, packet


def test_frames_are_cut_from_any_chunking() -> None:
    bat, gaia = packet("swift_bat"), packet("gaia")
    stream = frames.frame(bat) + frames.frame(gaia)
    for size in (1, 3, 4, 5, 1000, len(stream)):
        reader = frames.FrameReader(max_bytes=1 << 20)
        got = []
        for at in range(0, len(stream), size):
            got += reader.feed(stream[at : at + size])
        reader.finish()
        assert got == [bat, gaia]


def test_a_length_over_the_limit_is_refused_before_its_bytes_arrive() -> None:
    reader = frames.FrameReader(max_bytes=1024)
    with pytest.raises(FrameError, match="1025 bytes is over the limit of 1024"):
        reader.feed(struct.pack("!I", 1025))


def test_a_frame_cut_short_is_refused_at_the_end() -> None:
    reader = frames.FrameReader(max_bytes=1024)
    assert reader.feed(frames.frame(b"<a/>")[:-1]) == []
    with pytest.raises(FrameError, match="ended inside a frame"):
        reader.finish()


def test_a_real_voevent_is_an_event_with_its_ivorn_and_bytes() -> None:
    raw = packet("swift_bat")
    event = frames.parse(raw)
    assert event == frames.Event(ivorn_of(raw), raw)


@pytest.mark.parametrize(
    "payload",
    [b"", b"not xml at all", b"<voe:VOEvent", BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD],
    ids=["empty", "text", "truncated", "billion-laughs", "external-entity", "external-dtd"],
)
def test_hostile_or_broken_xml_is_refused(payload: bytes) -> None:
    with pytest.raises(FrameError, match="XML"):
        frames.parse(payload)


def test_other_documents_are_refused() -> None:
    with pytest.raises(FrameError, match="neither a VOEvent nor"):
        frames.parse(b'<html xmlns="http://www.w3.org/1999/xhtml"/>')


@pytest.mark.parametrize(
    "namespace",
    [
        "http://www.telescope-networks.org/xml/Transport/v1.1",
        "http://telescope-networks.org/xml/Transport/v1.1",
        "http://telescope-networks.org/schema/Transport/v1.1",
    ],
)
def test_every_transport_spelling_in_use_is_read(namespace: str) -> None:
    payload = (
        f'<t:Transport xmlns:t="{namespace}" role="ack" version="1.0">'
        "<Origin>ivo://a/b#1</Origin><Response>ivo://me</Response></t:Transport>"
    ).encode()
    assert frames.parse(payload) == frames.Transport("ack", "ivo://a/b#1", "ivo://me")


def test_our_messages_are_transport_documents_pygcn_and_comet_read() -> None:
    alive = etree.fromstring(frames.iamalive("ivo://skyalert/vtp"))
    assert alive.tag == "{http://www.telescope-networks.org/xml/Transport/v1.1}Transport"
    assert (alive.get("role"), alive.findtext("Origin")) == ("iamalive", "ivo://skyalert/vtp")
    assert alive.findtext("TimeStamp")
    ack = frames.parse(frames.ack("ivo://skyalert/vtp", "ivo://x/y#1"))
    assert ack == frames.Transport("ack", "ivo://x/y#1", "ivo://skyalert/vtp")


def test_a_nak_carries_the_reason_for_machines_and_people() -> None:
    raw = frames.nak("ivo://skyalert/vtp", "ivo://x/y#1", "invalid_voevent", "line 3: <bad> & co")
    root = etree.fromstring(raw)
    assert root.get("role") == "nak"
    assert root.findtext("Meta/Result") == "invalid_voevent: line 3: <bad> & co"
    assert root.find("Meta/Param[@name='reason']").get("value") == "invalid_voevent"
