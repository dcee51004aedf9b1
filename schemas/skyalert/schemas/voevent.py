"""VOEvent 2.0 packets: hardened parsing, validation, and the JSON form subscribers may ask for.

Three steps, each with its own tool:

1. *vet* the bytes with :mod:`defusedxml` (expat): no DTD, hence no entity expansion (billion
   laughs) and no external entities; malformed XML, invalid UTF-8 and truncation fail here with
   their line;
2. *validate* with lxml (no network, no entity resolution, ``huge_tree`` off) against the
   VOEvent 2.0 XML Schema that :mod:`voeventparse` ships: the namespace, ``version="2.0"`` and
   every schema error with its line;
3. *read* the validated tree with :mod:`voeventparse` into the JSON form
   (:func:`voevent_to_json`).

>>> from voeventparse.fixtures.datapaths import swift_bat_grb_pos_v2
>>> with open(swift_bat_grb_pos_v2, "rb") as packet:
...     alert = voevent_to_json(packet.read())
>>> alert["ivorn"], alert["ra"], alert["dec"], alert["event_time"]
('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729', 74.7412, -9.3137, '2012-09-07T00:24:23.080Z')
"""

from __future__ import annotations

import math
import threading
import xml.parsers.expat
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import voeventparse
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException
from lxml import etree, objectify
from voeventparse.voevent import _remove_root_tag_prefix

from skyalert.schemas.errors import FormatRejected, LineError, summary

NAMESPACE = "http://www.ivoa.net/xml/VOEvent/v2.0"
VERSION = "2.0"
CITE_KINDS = ("followup", "supersedes", "retraction")
#: Longest IVORN accepted (the archive indexes them).
MAX_IVORN = 512
#: VOEvent roles and the ``alert_tense`` of the JSON alerts they correspond to.
TENSE_OF_ROLE = {
    "observation": "current",
    "prediction": "planned",
    "utility": "current",
    "test": "test",
}
#: Space frames whose coordinates count as ICRS: FK5 (J2000) differs by under 0.1 arcsecond.
ICRS_FRAMES = frozenset({"ICRS", "FK5"})
_INT_TYPES = frozenset({"int", "long", "short"})
_FLOAT_TYPES = frozenset({"float", "double"})
GPS_BEHIND_TAI_SECONDS = 19


class VOEventRejected(FormatRejected):
    """The bytes are not an acceptable VOEvent 2.0 packet.

    ``reason`` is ``malformed_voevent`` (not well-formed or hostile XML) or ``invalid_voevent``
    (well-formed XML that breaks VOEvent 2.0).
    """

    def __init__(self, reason: str, errors: Iterable[LineError]) -> None:
        found = list(errors)
        what = "not well-formed" if reason == "malformed_voevent" else "not valid VOEvent 2.0"
        super().__init__(reason, found, f"the VOEvent is {what}: {summary(found)}")


_LOCAL = threading.local()


def _schema() -> Any:
    """The VOEvent 2.0 XML Schema, one per thread: lxml schemas keep their error log."""
    schema = getattr(_LOCAL, "schema", None)
    if schema is None:
        document = etree.fromstring(voeventparse.definitions.v2_0_schema_str, _parser())
        schema = _LOCAL.schema = etree.XMLSchema(document)
    return schema


def _parser() -> Any:
    """An lxml parser that never resolves entities, loads a DTD or touches the network.

    It builds :mod:`lxml.objectify` elements, as :mod:`voeventparse` reads them: the tree that
    was validated is the one read, not a second parse. Blank text is kept, so the schema sees
    the document as sent.
    """
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = objectify.makeparser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
            remove_blank_text=False,
        )
    return parser


def _line_of(raw: bytes, needle: bytes) -> int | None:
    at = raw.find(needle)
    return None if at < 0 else raw.count(b"\n", 0, at) + 1


class _NoTree:
    """A parse target that builds nothing: vetting needs only expat's verdict."""

    def close(self) -> None:
        return None


def _vetting_parser() -> SafeElementTree.DefusedXMLParser:
    """defusedxml's parser with no Python callback per element or text: building a tree of
    Python objects cost more than the rest of the checks together.

    Without the default handler expat itself refuses an undefined entity (there is never a
    DTD to define one), which ElementTree's handler would otherwise report for its tree.
    """
    parser = SafeElementTree.DefusedXMLParser(
        target=_NoTree(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    parser.parser.DefaultHandlerExpand = None
    return parser


def _vet(raw: bytes) -> None:
    """Refuse anything that is not plain well-formed XML, before any other parser sees it."""
    parser = _vetting_parser()
    try:
        parser.feed(raw)
        parser.close()
    except DefusedXmlException as exc:
        raise VOEventRejected(
            "malformed_voevent",
            [
                LineError(
                    _line_of(raw, b"<!"),
                    f"{type(exc).__name__}: DTDs, entity declarations "
                    "and external references are not allowed in a VOEvent",
                )
            ],
        ) from None
    except SafeElementTree.ParseError as exc:
        line, column = exc.position
        message = xml.parsers.expat.ErrorString(exc.code) or str(exc)
        raise VOEventRejected(
            "malformed_voevent", [LineError(line, f"not well-formed XML: {message}", column + 1)]
        ) from None


def _validate(raw: bytes) -> Any:
    """The packet's root element, once it passed the VOEvent 2.0 schema."""
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise VOEventRejected(
            "malformed_voevent", [LineError(exc.lineno, f"not well-formed XML: {exc.msg}")]
        ) from None
    name = etree.QName(root)
    line = root.sourceline
    if name.localname != "VOEvent":
        raise VOEventRejected(
            "invalid_voevent",
            [
                LineError(
                    line,
                    (
                        f"the root element is <{name.localname}>; "
                        f"a VOEvent packet's root is <VOEvent> "
                        f"in the namespace {NAMESPACE}"
                    ),
                )
            ],
        )
    if name.namespace != NAMESPACE:
        found = f"the namespace {name.namespace}" if name.namespace else "no namespace"
        hint = (
            " (VOEvent 1.1 is not accepted; send VOEvent 2.0)"
            if name.namespace and name.namespace.endswith("/v1.1")
            else ""
        )
        raise VOEventRejected(
            "invalid_voevent",
            [LineError(line, f"<VOEvent> is in {found}; expected {NAMESPACE}{hint}")],
        )
    if root.get("version") != VERSION:
        raise VOEventRejected(
            "invalid_voevent",
            [
                LineError(
                    line, f'version="{root.get("version")}" is not accepted; expected version="2.0"'
                )
            ],
        )
    schema = _schema()
    errors = []
    if not schema.validate(root):
        errors = [LineError(e.line, e.message) for e in schema.error_log]
    errors.extend(_ivorn_errors(root))
    if errors:
        raise VOEventRejected("invalid_voevent", errors)
    return root


def _ivorn_errors(root: Any) -> list[LineError]:
    """The schema allows any URI; VOEvent 2.0 itself requires ``ivo://`` identifiers."""
    errors = []
    named = [(root, root.get("ivorn") or "", "ivorn")]
    named += [
        (c, (c.text or "").strip(), "cited IVORN") for c in root.iterfind("Citations/EventIVORN")
    ]
    for element, ivorn, what in named:
        if not ivorn.startswith("ivo://"):
            errors.append(
                LineError(element.sourceline, f"{what} {ivorn!r} does not start with ivo://")
            )
        elif len(ivorn) > MAX_IVORN:
            errors.append(
                LineError(element.sourceline, f"{what} is longer than {MAX_IVORN} characters")
            )
    return errors


def check_voevent(raw: bytes) -> Any:
    """Raise :class:`VOEventRejected` listing what is wrong, unless ``raw`` is a good packet;
    returns its root element (:mod:`lxml.objectify`)."""
    _vet(raw)
    return _validate(raw)


def voevent_to_json(raw: bytes) -> dict[str, Any]:
    """Check a packet, then return its JSON form.

    Keys: ``ivorn``, ``role``, ``author``, ``event_time`` (ISO 8601 UTC), ``position``
    (``ra``, ``dec``, ``error_radius``, ``frame``, ``unit``), ``params``, ``groups``,
    ``citations``, ``importance``, ``inferences``, ``description``, and the top-level
    ``ra``, ``dec``, ``ra_dec_error`` (ICRS degrees) when the position is in ICRS or FK5, and
    ``alert_tense`` (``test`` for ``role="test"``).
    """
    packet = check_voevent(raw)
    _remove_root_tag_prefix(packet)  # as voeventparse.loads does, for its attribute access
    role = str(packet.get("role"))
    alert: dict[str, Any] = {
        "ivorn": str(packet.get("ivorn")),
        "role": role,
        "alert_tense": TENSE_OF_ROLE.get(role, "current"),
        "author": _author(packet),
        "event_time": _event_time(packet),
        "position": None,
        "params": {},
        "groups": {},
        "citations": _citations(packet),
        "importance": None,
        "inferences": [],
        "description": _text(packet.find("Description")) or _text(packet.find("What/Description")),
    }
    what = packet.find("What")
    if what is not None:
        alert["params"] = _params(what.iterfind("Param"))
        alert["groups"] = _unique_keys(
            (group.get("name") or "group", _params(group.iterfind("Param")))
            for group in what.iterfind("Group")
        )
    why = packet.find("Why")
    if why is not None:
        alert["importance"] = _finite(why.get("importance"))
        alert["inferences"] = [_inference(i) for i in why.iterfind("Inference")]
    position = _position(packet)
    if position is not None:
        alert["position"] = position
        if position["frame"] in ICRS_FRAMES:
            alert["ra"], alert["dec"] = position["ra"], position["dec"]
            alert["ra_dec_error"] = position["error_radius"]
    return alert


def _text(element: Any) -> str | None:
    if element is None or element.text is None:
        return None
    return str(element.text).strip() or None


def _finite(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _author(packet: Any) -> dict[str, str]:
    fields = {
        "ivorn": "Who/AuthorIVORN",
        "date": "Who/Date",
        "short_name": "Who/Author/shortName",
        "title": "Who/Author/title",
        "contact_name": "Who/Author/contactName",
        "contact_email": "Who/Author/contactEmail",
    }
    found = {key: _text(packet.find(path)) for key, path in fields.items()}
    return {key: value for key, value in found.items() if value is not None}


def _typed(value: str | None, data_type: str | None) -> str | int | float | None:
    """Numbers for numeric ``dataType``s (strings stay strings: no guessing)."""
    if value is None or data_type is None:
        return value
    try:
        if data_type in _INT_TYPES:
            return int(value.strip())
        if data_type in _FLOAT_TYPES:
            number = float(value.strip())
            return number if math.isfinite(number) else value
    except ValueError:
        return value
    return value


def _param(element: Any) -> dict[str, Any]:
    # One attribute mapping, and child lookups only where there are children: a packet
    # carries dozens of parameters, most of them attributes only.
    attributes = element.attrib
    has_children = len(element) > 0
    value = attributes.get("value")
    if value is None and has_children:
        value = _text(element.find("Value"))
    param: dict[str, Any] = {"value": _typed(value, attributes.get("dataType"))}
    for attribute, key in (("unit", "unit"), ("ucd", "ucd"), ("dataType", "data_type")):
        if attributes.get(attribute):
            param[key] = str(attributes[attribute])
    description = _text(element.find("Description")) if has_children else None
    if description is not None:
        param["description"] = description
    return param


def _params(elements: Iterable[Any]) -> dict[str, dict[str, Any]]:
    return _unique_keys((e.get("name") or e.get("ucd") or "param", _param(e)) for e in elements)


def _unique_keys(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A dict that keeps repeated names too, as ``name#2``, ``name#3``…"""
    out: dict[str, Any] = {}
    for name, value in items:
        key, n = str(name), 1
        while key in out:
            n += 1
            key = f"{name}#{n}"
        out[key] = value
    return out


def _citations(packet: Any) -> list[dict[str, str]]:
    return [
        {"ivorn": str(cited.text).strip(), "cite": str(cited.get("cite"))}
        for cited in packet.iterfind("Citations/EventIVORN")
    ]


def _inference(element: Any) -> dict[str, Any]:
    inference: dict[str, Any] = {
        "names": [n for n in (_text(e) for e in element.iterfind("Name")) if n],
        "concepts": [c for c in (_text(e) for e in element.iterfind("Concept")) if c],
    }
    probability = _finite(element.get("probability"))
    if probability is not None:
        inference["probability"] = probability
    if element.get("relation"):
        inference["relation"] = str(element.get("relation"))
    return inference


def _event_time(packet: Any) -> str | None:
    """The first observation's time in UTC, from UTC, TDB, TT or GPS time scales."""
    try:
        when = voeventparse.get_event_time_as_utc(packet)
    except NotImplementedError:  # TT and GPS: voeventparse leaves them to astropy
        when = _time_via_astropy(packet)
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if when is None:
        return None
    utc: datetime = when.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time_via_astropy(packet: Any) -> datetime | None:
    from astropy.time import Time, TimeDelta

    coords = packet.find("WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords")
    iso = _text(coords.find("Time/TimeInstant/ISOTime")) if coords is not None else None
    if coords is None or iso is None:
        return None
    scale = str(coords.get("coord_system_id", "")).split("-")[0]
    try:
        if scale == "TT":
            instant = Time(iso, scale="tt")
        elif scale == "GPS":  # GPS runs a constant 19 s behind TAI
            instant = Time(iso, scale="tai") + TimeDelta(GPS_BEHIND_TAI_SECONDS, format="sec")
        else:
            return None
        utc: datetime = instant.utc.to_datetime(timezone=UTC)
    except ValueError:
        return None
    return utc


def _position(packet: Any) -> dict[str, Any] | None:
    """The first observation's sky position in degrees, checked to be on the sky."""
    try:
        found = voeventparse.get_event_position(packet)
    except (AttributeError, AssertionError, KeyError, IndexError, TypeError, ValueError):
        return None
    element = packet.find("WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Position2D")
    line = element.sourceline if element is not None else None
    unit = str(found.units)
    scale = {"deg": 1.0, "rad": math.degrees(1.0), "arcmin": 1 / 60, "arcsec": 1 / 3600}
    if unit not in scale:
        raise VOEventRejected(
            "invalid_voevent",
            [LineError(line, f'Position2D unit="{unit}" is not understood; use deg')],
        )
    ra, dec, error = (value * scale[unit] for value in (found.ra, found.dec, found.err))
    problems = []
    if not (math.isfinite(ra) and 0 <= ra < 360):
        problems.append(f"RA {found.ra} is not within [0, 360) degrees")
    if not (math.isfinite(dec) and -90 <= dec <= 90):
        problems.append(f"Dec {found.dec} is not within [-90, 90] degrees")
    if not (math.isfinite(error) and error >= 0):
        problems.append(f"Error2Radius {found.err} is not a non-negative number")
    if problems:
        raise VOEventRejected("invalid_voevent", [LineError(line, p) for p in problems])
    system = str(found.system)
    parts = system.split("-")
    return {
        "ra": ra,
        "dec": dec,
        "error_radius": error,
        "frame": parts[1] if len(parts) > 1 else system,
        "unit": "deg",
        "coord_system": system,
    }
