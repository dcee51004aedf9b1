"""VOEvent handling: real packets normalise correctly; hostile or broken XML is refused clearly."""

from __future__ import annotations

import json

import pytest

from skyalert.schemas.errors import LineError
from skyalert.schemas.voevent import VOEventRejected, check_voevent, voevent_to_json
from support.ingest import (
    BAT_DEC,
    BAT_ERROR,
    BAT_RA,
    BAT_TIME,
    BILLION_LAUGHS,
    EXTERNAL_DTD,
    EXTERNAL_ENTITY,
    packet,
    with_ivorn,
    xrt_as_v2,
)

NS = b'xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"'
MINIMAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<voe:VOEvent " + NS + b' version="2.0" role="observation"\n'
    b'    ivorn="ivo://example.org/test#1">\n'
    b"  <Who><AuthorIVORN>ivo://example.org</AuthorIVORN></Who>\n"
    b"</voe:VOEvent>\n"
)


def rejected(raw: bytes) -> VOEventRejected:
    with pytest.raises(VOEventRejected) as caught:
        voevent_to_json(raw)
    return caught.value


def test_swift_bat_position_packet() -> None:
    alert = voevent_to_json(packet("swift_bat"))
    assert alert["ivorn"] == "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729"
    assert alert["role"] == "observation"
    assert alert["alert_tense"] == "current"
    assert alert["event_time"] == BAT_TIME
    assert alert["position"] == {
        "ra": BAT_RA,
        "dec": BAT_DEC,
        "error_radius": BAT_ERROR,
        "frame": "FK5",
        "unit": "deg",
        "coord_system": "UTC-FK5-GEO",
    }
    assert (alert["ra"], alert["dec"], alert["ra_dec_error"]) == (BAT_RA, BAT_DEC, BAT_ERROR)
    assert alert["author"] == {
        "ivorn": "ivo://nasa.gsfc.tan/gcn",
        "date": "2012-09-07T00:24:36",
        "short_name": "VO-GCN",
        "contact_name": "Scott Barthelmy",
        "contact_email": "scott.barthelmy@nasa.gov",
    }
    assert alert["params"]["TrigID"] == {"value": "532871", "ucd": "meta.id", "data_type": "string"}
    assert alert["params"]["Burst_SOD"]["unit"] == "sec"
    assert alert["groups"]["Solution_Status"]["GRB_Identified"]["value"] == "true"
    assert len(alert["groups"]["Merit_Values"]) == 10
    assert alert["importance"] == 0.9
    assert alert["inferences"] == [
        {
            "names": ["GRB 120907"],
            "probability": 0.98,
            "concepts": ["process.variation.burst;em.gamma"],
        }
    ]
    assert alert["citations"] == []
    assert alert["description"] == "Type=61: The Swift-BAT instrument position notice."
    json.dumps(alert, allow_nan=False)  # plain JSON all the way down


def test_swift_xrt_followup_with_citation() -> None:
    alert = voevent_to_json(xrt_as_v2())
    assert alert["citations"] == [
        {"ivorn": "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_644259-771", "cite": "followup"}
    ]
    assert (alert["ra"], alert["dec"], alert["ra_dec_error"]) == (314.7162, -53.393, 0.0009)
    assert alert["event_time"] == "2015-06-16T23:05:40.000Z"


def test_swift_xrt_as_shipped_is_voevent_1_1_and_refused() -> None:
    error = rejected(packet("swift_xrt_v1_1"))
    assert error.reason == "invalid_voevent"
    assert error.errors[0].line == 2
    assert "VOEvent 1.1 is not accepted; send VOEvent 2.0" in str(error)


def test_gaia_tdb_time_and_typed_params() -> None:
    alert = voevent_to_json(packet("gaia"))
    # 07:52:27 TDB is 68.18 s ahead of UTC in 2016.
    assert alert["event_time"] == "2016-01-16T07:51:18.815Z"
    assert alert["position"]["frame"] == "ICRS"
    assert alert["params"]["meta.id"]["value"] == "Gaia16aac"  # unnamed Param, <Value> child
    assert alert["groups"]["alert-magnitude"]["averagemag"]["value"] == 17.32
    assert alert["groups"]["historic-magnitude"]["averagemag"]["value"] == ""


def test_moa_and_asassn() -> None:
    moa = voevent_to_json(packet("moa"))
    assert (moa["ra"], moa["dec"], moa["ra_dec_error"]) == (268.686, -29.7073, 0.0)
    assert moa["event_time"] == "2015-07-10T14:50:54.000Z"
    asassn = voevent_to_json(packet("asassn"))
    assert asassn["position"]["frame"] == "ICRS"
    assert asassn["event_time"] == "2016-09-25T11:16:48.000Z"
    assert asassn["groups"]["asassn_params"]["mag_v"]["value"] == "17.41"


@pytest.mark.parametrize(
    ("system", "expected"),
    [("TT-FK5-GEO", "2012-09-07T00:23:15.896Z"), ("GPS-ICRS-GEO", "2012-09-07T00:24:07.080Z")],
)
def test_tt_and_gps_times_become_utc(system: str, expected: str) -> None:
    alert = voevent_to_json(packet("swift_bat").replace(b"UTC-FK5-GEO", system.encode()))
    assert alert["event_time"] == expected


def test_role_test_sets_the_test_tense() -> None:
    raw = packet("swift_bat").replace(b'role="observation"', b'role="test"')
    assert voevent_to_json(raw)["alert_tense"] == "test"


def test_minimal_packet_without_position_or_time() -> None:
    alert = voevent_to_json(MINIMAL)
    assert alert["position"] is None
    assert alert["event_time"] is None
    assert "ra" not in alert


def test_repeated_param_names_are_all_kept() -> None:
    raw = MINIMAL.replace(
        b"</Who>", b'</Who><What><Param name="a" value="1"/><Param name="a" value="2"/></What>'
    )
    assert voevent_to_json(raw)["params"] == {"a": {"value": "1"}, "a#2": {"value": "2"}}


@pytest.mark.parametrize(
    "raw",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD],
    ids=["billion-laughs", "external-entity", "dtd"],
)
def test_dtds_and_entities_are_refused_before_expansion(raw: bytes) -> None:
    error = rejected(raw)
    assert error.reason == "malformed_voevent"
    assert error.errors[0].line == 2
    assert "DTDs, entity declarations and external references are not allowed" in str(error)
    assert "root:" not in str(error)


def test_undeclared_entity_is_not_well_formed() -> None:
    error = rejected(MINIMAL.replace(b"</Who>", b"&xxe;</Who>"))
    assert error.reason == "malformed_voevent"
    assert error.errors == [LineError(4, "not well-formed XML: undefined entity", 52)]


def test_truncated_packet_names_the_line() -> None:
    raw = packet("swift_bat")
    cut = raw[: len(raw) // 2]
    error = rejected(cut)
    assert error.reason == "malformed_voevent"
    assert error.errors[0].line == cut.count(b"\n") + 1
    assert "not well-formed XML" in error.errors[0].message


def test_invalid_utf8_names_the_line() -> None:
    raw = packet("swift_bat").replace(b"Swift Satellite, BAT", b"Swift \xff\xfe Satellite")
    error = rejected(raw)
    line = raw[: raw.index(b"\xff")].count(b"\n") + 1
    assert error.reason == "malformed_voevent"
    assert error.errors[0].line == line
    assert "invalid token" in error.errors[0].message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (packet("no_namespace"), "<VOEvent> is in no namespace"),
        (
            MINIMAL.replace(b"v2.0", b"v3.0"),
            "is in the namespace http://www.ivoa.net/xml/VOEvent/v3.0",
        ),
        (MINIMAL.replace(b'version="2.0"', b'version="2.1"'), 'version="2.1" is not accepted'),
        (b'<?xml version="1.0"?>\n<html><body/></html>', "the root element is <html>"),
    ],
    ids=["no-namespace", "wrong-namespace", "wrong-version", "not-voevent"],
)
def test_wrong_document_kind(raw: bytes, message: str) -> None:
    error = rejected(raw)
    assert error.reason == "invalid_voevent"
    assert message in str(error)


def test_every_schema_error_is_listed_with_its_line() -> None:
    raw = (
        MINIMAL.replace(b'role="observation"', b'role="rumour"')
        .replace(b"</Who>", b"<Nickname>x</Nickname></Who>")
        .replace(b'ivorn="ivo://example.org/test#1"', b'ivorn="http://example.org/1"')
    )
    error = rejected(raw)
    assert error.reason == "invalid_voevent"
    messages = [(e.line, e.message) for e in error.errors]
    assert any(line == 3 and "rumour" in m for line, m in messages)
    assert any(line == 4 and "Nickname" in m for line, m in messages)
    assert any(line == 3 and "does not start with ivo://" in m for line, m in messages)


def test_position_off_the_sky_is_refused() -> None:
    raw = packet("swift_bat").replace(b"<C2>-9.313700</C2>", b"<C2>-109.3</C2>")
    error = rejected(raw)
    assert error.reason == "invalid_voevent"
    assert "Dec -109.3 is not within [-90, 90] degrees" in str(error)
    assert error.errors[0].line is not None


def test_empty_input() -> None:
    assert rejected(b"").reason == "malformed_voevent"


def test_check_alone_accepts_a_good_packet() -> None:
    check_voevent(with_ivorn(packet("moa"), "ivo://example.org/moa#1"))
