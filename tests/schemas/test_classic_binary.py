"""GCN Classic binary notices: 160-byte packets built to the published layout, and bad ones."""

from __future__ import annotations

import pytest

from skyalert.schemas.classic.binary import packet_to_json
from skyalert.schemas.errors import FormatRejected
from support.classic import ERROR, PACKET_TIME, RA, bat_packet


def refused(raw: bytes) -> FormatRejected:
    with pytest.raises(FormatRejected) as caught:
        packet_to_json(raw)
    return caught.value


def test_a_swift_bat_position_bat_packet() -> None:
    alert = packet_to_json(bat_packet())
    assert alert["notice_type"] == {"number": 61, "name": "SWIFT_BAT_GRB_POS_ACK"}
    assert (alert["ra"], alert["dec"], alert["ra_dec_error"]) == (336.6645, 8.5135, 0.05)
    assert alert["event_time"] == PACKET_TIME
    fields = alert["packet"]
    assert fields["pkt_sernum"] == {"value": 7, "unit": "integer"}
    assert fields["pkt_sod"] == {"value": 6522000, "unit": "centi-sec"}
    assert fields["burst_ra"] == {"value": RA, "unit": "0.0001-deg"}
    assert fields["burst_error"]["value"] == ERROR
    assert len(alert["words"]) == 40


def test_other_types_get_the_common_header_and_every_word() -> None:
    alert = packet_to_json(bat_packet(110))  # FERMI_GBM_ALERT: no position in words 7, 8, 11
    assert alert["notice_type"]["name"] == "FERMI_GBM_ALERT"
    assert set(alert["packet"]) == {
        "pkt_type",
        "pkt_sernum",
        "pkt_hop_cnt",
        "pkt_sod",
        "trig_obs_num",
    }
    assert alert["position"] is None
    assert "ra" not in alert
    assert alert["words"][7] == RA


def test_negative_words_are_signed() -> None:
    assert packet_to_json(bat_packet(w8=-85135))["dec"] == -8.5135


@pytest.mark.parametrize("size", [0, 4, 159, 161, 320])
def test_a_packet_of_the_wrong_length_is_refused(size: int) -> None:
    error = refused((bat_packet() * 2)[:size])
    assert error.reason == "invalid_packet"
    assert f"this one has {size} bytes" in error.detail


@pytest.mark.parametrize("pkt_type", [0, 3, 5000, -61])
def test_an_unknown_packet_type_is_refused(pkt_type: int) -> None:
    """IM_ALIVE (3) is GCN's heartbeat, never a notice; 5000 is nothing."""
    error = refused(bat_packet(pkt_type))
    assert error.reason == "unknown_packet_type"
    assert f"packet type {pkt_type} (word 0)" in error.detail


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ({"w7": 3600000}, "burst_ra (word 7)"),
        ({"w8": 900001}, "burst_dec"),
        ({"w11": -1}, "burst_error"),
    ],
)
def test_a_position_off_the_sky_is_refused(words: dict[str, int], says: str) -> None:
    error = refused(bat_packet(**words))
    assert error.reason == "invalid_packet"
    assert says in error.detail
