"""The email matcher reads every format's alerts into the JSON form its filters see."""

from __future__ import annotations

from pathlib import Path

import pytest
from voeventparse.fixtures import datapaths

from skyalert.broker.emails.matcher import decode
from skyalert.schemas.formats import ContentType
from support.classic import PACKET_TIME, TEXT_RA, bat_packet, text_notice


@pytest.mark.parametrize(
    ("content_type", "raw", "ra"),
    [
        (ContentType.JSON, b'{"ra": 1.5}', 1.5),
        (ContentType.VOEVENT, Path(datapaths.swift_bat_grb_pos_v2).read_bytes(), 74.7412),
        (ContentType.TEXT, text_notice(), TEXT_RA),
        (ContentType.BINARY, bat_packet(), 336.6645),
    ],
)
def test_each_format_decodes(content_type: ContentType, raw: bytes, ra: float) -> None:
    alert = decode(content_type, raw)
    assert alert is not None
    assert alert["ra"] == ra


def test_the_packets_time_is_in_its_json_form() -> None:
    alert = decode(ContentType.BINARY, bat_packet())
    assert alert is not None
    assert alert["event_time"] == PACKET_TIME


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        (ContentType.JSON, b"[1, 2]"),
        (ContentType.VOEVENT, b"<not/>"),
        (ContentType.TEXT, b"\x00garbage"),
        (ContentType.BINARY, b"short"),
    ],
)
def test_unreadable_alerts_are_skipped(content_type: ContentType, raw: bytes) -> None:
    assert decode(content_type, raw) is None
