"""The data contract of a topic: strict JSON, every schema violation, content types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from skyalert.broker.ingest.contract import check_alert, media_type
from skyalert.broker.ingest.reasons import Rejected
from skyalert.schemas.catalog import load_catalog
from skyalert.schemas.formats import strict_json
from support.classic import bat_packet
from support.gcn_examples import gcn_registry, guano_document
from support.ingest import BAT_TOPIC, GUANO_TOPIC, packet

CATALOG = load_catalog()
GUANO = CATALOG.by_name[GUANO_TOPIC]
BAT = CATALOG.by_name[BAT_TOPIC]


def guano() -> dict[str, Any]:
    document = guano_document()
    document["id"] = ["694215995"]
    return document


def refused(
    raw: bytes, content_type: str | None = "application/json", topic: Any = GUANO
) -> Rejected:
    with pytest.raises(Rejected) as caught:
        check_alert(topic, raw, content_type, gcn_registry())
    return caught.value


def test_valid_json_alert() -> None:
    checked = check_alert(
        GUANO, json.dumps(guano()).encode(), "application/json; charset=utf-8", gcn_registry()
    )
    assert checked.schema_id == f"https://gcn.nasa.gov/schema/v7.2.3/{GUANO.schema_ref}"
    assert checked.document == guano()  # stored as published
    assert (checked.ra, checked.dec, checked.ra_dec_error) == (336.26, 25.139, 0.5)
    assert checked.event_time == datetime(2022, 12, 31, 21, 46, 5, 130000, tzinfo=UTC)
    assert not checked.test
    assert checked.ivorn is None


def test_same_content_same_hash_whatever_the_layout() -> None:
    compact = json.dumps(guano(), separators=(",", ":")).encode()
    pretty = json.dumps(guano(), indent=4, sort_keys=True).encode()
    registry = gcn_registry()
    assert (
        check_alert(GUANO, compact, None, registry).content_sha256
        == check_alert(GUANO, pretty, None, registry).content_sha256
    )


def test_alert_tense_test_sets_the_test_flag() -> None:
    document = {**guano(), "alert_tense": "test"}
    assert check_alert(GUANO, json.dumps(document).encode(), None, gcn_registry()).test


def test_every_violation_is_listed_with_its_json_pointer() -> None:
    document = guano()
    document.update(dec="north", alert_type="final", rate_energy_range=[15], extra=1)
    error = refused(json.dumps(document).encode())
    assert error.reason == "schema_violation"
    assert error.http_status == 422
    paths = [v.path for v in error.violations]
    assert paths == sorted(paths)
    assert paths == ["", "/alert_type", "/dec", "/rate_energy_range"]
    # The schema's unevaluatedProperties names the unknown key (with those of failed subschemas).
    assert "'extra'" in error.violations[0].message
    assert "'north' is not of type 'number'" in error.violations[2].message
    schema_id = f"https://gcn.nasa.gov/schema/v7.2.3/{GUANO.schema_ref}"
    assert error.detail.startswith(f"the alert breaks {schema_id} in {len(paths)} places")


def test_a_json_array_is_not_an_alert() -> None:
    error = refused(b"[1, 2]")
    assert error.reason == "schema_violation"
    assert error.violations[0].path == ""


def test_a_surrogate_pair_is_one_character() -> None:
    assert strict_json(b'["\\ud83d\\ude00", 1e308]') == ["\U0001f600", 1e308]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"ra": NaN}', "NaN is not a JSON number"),
        (b'{"ra": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"ra": 1, "dec": 2, "ra": 3}', "the key 'ra' appears twice in one object"),
        (b'{"ra": 1}\n{"ra": 2}', "Extra data"),
        (b'{"ra": 1,\n "dec": }', "Expecting value"),
        (b"", "Expecting value"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"id": ' + b"9" * 5000 + b"}", "integer string conversion"),
        (b'\xef\xbb\xbf{"ra": 1}', "BOM"),
        (b'{"rate_snr": 1e999999}', "the number 1e999999 is too large for a 64-bit float"),
        (b'{"rate_snr": -1e400}', "the number -1e400 is too large"),
        (b'{"id": ["\\ud800"]}', "lone UTF-16 surrogate"),
        (b'{"\\udfff": 1}', "lone UTF-16 surrogate"),
    ],
    ids=[
        "nan",
        "infinity",
        "duplicate-key",
        "extra-data",
        "syntax",
        "empty",
        "deep",
        "huge-int",
        "bom",
        "overflow-to-infinity",
        "overflow-to-minus-infinity",
        "lone-surrogate",
        "lone-surrogate-key",
    ],
)
def test_strict_json(raw: bytes, message: str) -> None:
    error = refused(raw)
    assert error.reason == "malformed_json"
    assert error.http_status == 400
    assert message in error.detail


def test_json_syntax_errors_carry_line_and_column() -> None:
    error = refused(b'{"ra": 1,\n "dec": }')
    assert [(e.line, e.column) for e in error.errors] == [(2, 9)]


def test_invalid_utf8_is_refused_with_its_line() -> None:
    error = refused(b'{"mission":\n"Sw\xffift"}')
    assert error.reason == "malformed_json"
    assert error.errors[0].line == 2
    assert "not valid UTF-8" in error.detail


@pytest.mark.parametrize(
    ("topic_name", "content_type", "message"),
    [
        (GUANO_TOPIC, "application/x-voevent+xml", "takes JSON (application/json)"),
        (BAT_TOPIC, "application/json", "takes VOEvent 2.0 XML"),
        (GUANO_TOPIC, "text/plain", "got text/plain"),
        (GUANO_TOPIC, "application/json; charset=latin-1", "alerts must be UTF-8"),
    ],
)
def test_content_type_must_fit_the_topic(topic_name: str, content_type: str, message: str) -> None:
    error = refused(b"{}", content_type, CATALOG.by_name[topic_name])
    assert error.reason == "unsupported_content_type"
    assert error.http_status == 415
    assert message in error.detail


def test_voevent_topic_accepts_xml_media_types() -> None:
    for content_type in ("application/x-voevent+xml", "application/xml", "text/xml", None):
        checked = check_alert(BAT, packet("swift_bat"), content_type, gcn_registry())
        assert checked.ivorn == "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729"


def test_voevent_errors_become_rejections_with_lines() -> None:
    error = refused(packet("swift_bat")[:500], None, BAT)
    assert error.reason == "malformed_voevent"
    assert error.http_status == 400
    assert error.errors[0].line is not None
    assert error.detail.startswith("the VOEvent is not well-formed: line ")


def test_media_type_parsing() -> None:
    assert media_type('Application/JSON; Charset="UTF-8"') == ("application/json", "utf-8")
    assert media_type(None) == (None, None)


def test_a_classic_voevent_must_be_of_its_topics_packet_type() -> None:
    """GCN's VOEvents say their type in ``<Param name="Packet_Type">`` (61 for Swift BAT)."""
    raw = packet("swift_bat")
    assert check_alert(BAT, raw, None, gcn_registry()).document["params"]["Packet_Type"]
    error = refused(raw, None, CATALOG.by_name["gcn.classic.voevent.FERMI_GBM_FLT_POS"])
    assert error.reason == "wrong_packet_type"
    assert error.http_status == 422
    assert "packet type 61 (SWIFT_BAT_GRB_POS_ACK)" in error.detail
    assert "publish it to gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK" in error.detail


def test_classic_test_types_mark_their_alerts_as_tests() -> None:
    topic = CATALOG.by_name["gcn.classic.binary.SWIFT_BAT_GRB_POS_TEST"]
    checked = check_alert(topic, bat_packet(82), "application/octet-stream", gcn_registry())
    assert checked.test
    assert checked.ivorn is None
    assert checked.document["packet"]["pkt_type"] == {"value": 82, "unit": "integer"}
