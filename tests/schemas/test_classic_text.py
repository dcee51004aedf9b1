"""GCN Classic text notices: a real one read into JSON, and what is refused, with the reason."""

from __future__ import annotations

import pytest

from skyalert.schemas.classic.text import text_to_json
from skyalert.schemas.errors import FormatRejected
from support.classic import SWIFT_TEXT as REAL


def refused(raw: bytes) -> FormatRejected:
    with pytest.raises(FormatRejected) as caught:
        text_to_json(raw)
    return caught.value


def test_a_real_swift_bat_notice() -> None:
    alert = text_to_json(REAL)
    assert alert["title"] == "GCN/SWIFT NOTICE"
    assert alert["notice_type"] == "Swift-BAT GRB Position"
    # J2000 values; GRB_ERROR is "3.00 [arcmin radius, statistical only]".
    assert (alert["ra"], alert["dec"]) == (76.962, -32.825)
    assert alert["ra_dec_error"] == pytest.approx(3 / 60)
    assert alert["position"]["unit"] == "deg"
    # GRB_DATE: 19043 TJD; 195 DOY; 20/07/13 and GRB_TIME: 42174.72 SOD {11:42:54.72} UT
    assert alert["event_time"] == "2020-07-13T11:42:54.720Z"
    fields = alert["fields"]
    assert fields["TRIGGER_NUM"] == "982201, Seg_Num: 0"
    assert fields["GRB_RA"].startswith("76.962d {+05h 07m 51s} (J2000), 77.153d")
    assert fields["GRB_RA"].endswith("(1950)")
    assert len(fields["COMMENTS"]) == 9
    assert fields["COMMENTS"][-1].startswith("This trigger occurred at longitude,latitude")


def test_the_j2000_position_wins_over_the_others() -> None:
    raw = REAL.replace(b"76.962d {+05h 07m 51s} (J2000),", b"76.962d {+05h 07m 51s} (1950),")
    raw = raw.replace(b"76.496d {+05h 05m 59s} (1950)", b"76.496d {+05h 05m 59s} (J2000)")
    assert text_to_json(raw)["ra"] == 76.496


def test_an_error_in_degrees_and_no_time() -> None:
    raw = b"TITLE: GCN/FERMI NOTICE\nNOTICE_TYPE: Fermi-GBM Flight Position\n"
    raw += b"GRB_RA: 10.5d {+00h 42m 00s} (J2000)\nGRB_DEC: +41.25d {+41d 15' 00\"} (J2000)\n"
    raw += b"GRB_ERROR: 6.40 [deg radius, statistical plus systematic]\n"
    alert = text_to_json(raw)
    assert (alert["ra"], alert["dec"], alert["ra_dec_error"]) == (10.5, 41.25, 6.4)
    assert alert["event_time"] is None


def test_a_notice_without_a_position() -> None:
    raw = b"TITLE: GCN/FERMI NOTICE\nNOTICE_TYPE: Fermi-GBM Alert\nTRIGGER_NUM: 1\n"
    alert = text_to_json(raw)
    assert alert["position"] is None
    assert "ra" not in alert


@pytest.mark.parametrize(
    ("raw", "reason", "says"),
    [
        (b"", "malformed_text", "the notice is empty"),
        (b"\n\n  \n", "malformed_text", "the notice is empty"),
        (b"hello world\nTITLE: x\n", "malformed_text", "line 1 is not a KEY: value line"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "malformed_text", "not ASCII or UTF-8 text"),
        (b"TITLE: GCN/SWIFT NOTICE\nGRB_RA: 1d\n", "invalid_text", "no NOTICE_TYPE"),
        (b"NOTICE_TYPE: x\n", "invalid_text", "this one has no TITLE"),
    ],
)
def test_garbage_is_refused_with_the_reason(raw: bytes, reason: str, says: str) -> None:
    error = refused(raw)
    assert error.reason == reason
    assert says in error.detail


def test_a_position_off_the_sky_is_refused_with_its_line() -> None:
    error = refused(REAL.replace(b"-32.825d {-32d 49' 30\"} (J2000)", b"-132.825d (J2000)"))
    assert error.reason == "invalid_text"
    assert "GRB_DEC" in error.detail
    assert error.errors[0].line == 8
