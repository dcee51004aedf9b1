"""The formats registry: one entry per format, the client's copies of it, and real packets."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import voeventparse
from voeventparse.fixtures import datapaths

from skyalert.client import alert as client_alert
from skyalert.schemas.catalog import load_catalog
from skyalert.schemas.errors import FormatRejected
from skyalert.schemas.formats import (
    FORMATS,
    ContentType,
    format_for_media_type,
    format_named,
    format_of,
    sniff,
)
from support.classic import SWIFT_TEXT, bat_packet

TEXT = SWIFT_TEXT
PACKET = bat_packet()


def test_the_clients_media_types_are_the_registrys() -> None:
    """The client is installed alone, so it keeps copies; they must not drift."""
    copies = [client_alert.JSON, client_alert.VOEVENT, client_alert.TEXT, client_alert.BINARY]
    assert copies == [c.value for c in ContentType]


def test_one_format_per_content_type() -> None:
    assert [f.content_type for f in FORMATS] == list(ContentType)
    assert len({f.name for f in FORMATS}) == len({f.suffix for f in FORMATS}) == len(FORMATS)
    for topic in load_catalog().topics:
        assert format_of(topic.content_type).content_type is topic.content_type


@pytest.mark.parametrize(
    ("media_type", "name"),
    [
        ("application/json", "json"),
        ("application/x-voevent+xml", "voevent"),
        ("application/xml", "voevent"),
        ("text/xml", "voevent"),
        ("text/plain", "text"),
        ("application/octet-stream", "binary"),
        ("image/png", None),
    ],
)
def test_media_types_and_aliases(media_type: str, name: str | None) -> None:
    found = format_for_media_type(media_type)
    assert (found.name if found else None) == name


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        (b'  <?xml version="1.0"?><voe:VOEvent/>', "voevent"),
        (b'{"a": 1}', "json"),
        (b"", "json"),
        (TEXT, "text"),
        (PACKET, "binary"),
    ],
)
def test_sniffing_a_payload(payload: bytes, name: str) -> None:
    assert sniff(payload).name == name


def test_every_reader_returns_the_json_form_or_refuses() -> None:
    assert format_named("json").to_json(b'{"a": 1}') == {"a": 1}
    assert format_named("text").to_json(TEXT)["notice_type"] == "Swift-BAT GRB Position"
    assert format_named("binary").to_json(PACKET)["notice_type"]["number"] == 61
    for form, bad in [("json", b"[1]"), ("voevent", b"<a>"), ("text", b""), ("binary", TEXT)]:
        with pytest.raises(FormatRejected):
            format_named(form).to_json(bad)


def test_a_real_voevent_normalises_as_voeventparse_reads_it() -> None:
    """voevent-parse's Swift BAT GRB position packet (VOEvent 2.0, as GCN sends it)."""
    raw = Path(datapaths.swift_bat_grb_pos_v2).read_bytes()
    alert = format_of(ContentType.VOEVENT).to_json(raw)
    packet = voeventparse.loads(raw)
    position = voeventparse.get_event_position(packet)
    assert position.units == "deg"
    assert (alert["ra"], alert["dec"], alert["ra_dec_error"]) == (
        position.ra,
        position.dec,
        position.err,
    )
    when = voeventparse.get_event_time_as_utc(packet)
    assert alert["event_time"] == when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_pygcns_fermi_packet_is_voevent_1_1_and_refused_with_the_reason() -> None:
    """pygcn ships GCN's Fermi GBM flight position notice in the retired VOEvent 1.1."""
    raw = resources.files("gcn.tests.data").joinpath("gbm_flt_pos.xml").read_bytes()
    with pytest.raises(FormatRejected) as caught:
        format_of(ContentType.VOEVENT).to_json(raw)
    assert caught.value.reason == "invalid_voevent"
    assert "VOEvent 1.1 is not accepted" in caught.value.detail
