"""GCN Classic binary notices: the 160-byte socket packet, checked and decoded into JSON.

Layout (GCN socket packet definitions, https://gcn.gsfc.nasa.gov/sock_pkt_def_doc.html): 40
big-endian signed 4-byte integers. Words 0-4 mean the same in every packet type (type, serial
number, hop count, seconds of day when GCN sent it, trigger and observation number); the rest
depend on the type. In position packets (see ``position_packets`` in ``notice_types.json``) words
5-11 are the burst's TJD, seconds of day, RA, Dec, intensity, peak and error radius.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from skyalert.schemas.classic.types import NoticeType, by_number, tjd_time
from skyalert.schemas.errors import FormatRejected, LineError

PACKET_BYTES = 160
_WORDS = struct.Struct(">40i")
#: ``(word, name, unit)`` as sock_pkt_def_doc.html names them.
HEADER = (
    (0, "pkt_type", "integer"),
    (1, "pkt_sernum", "integer"),
    (2, "pkt_hop_cnt", "integer"),
    (3, "pkt_sod", "centi-sec"),
    (4, "trig_obs_num", "integer"),
)
POSITION = (
    (5, "burst_tjd", "days"),
    (6, "burst_sod", "centi-sec"),
    (7, "burst_ra", "0.0001-deg"),
    (8, "burst_dec", "0.0001-deg"),
    (9, "burst_inten", "counts"),
    (10, "burst_peak", "counts"),
    (11, "burst_error", "0.0001-deg"),
)


def packet_to_json(raw: bytes) -> dict[str, Any]:
    """The JSON form: ``notice_type``, ``packet`` (named words with units), ``words`` (all 40),
    and for position packets ``position``, ``event_time``, ``ra``, ``dec``, ``ra_dec_error``."""
    if len(raw) != PACKET_BYTES:
        raise FormatRejected(
            "invalid_packet",
            [LineError(None, f"{len(raw)} bytes; a packet is {PACKET_BYTES}")],
            f"a GCN Classic binary notice is one {PACKET_BYTES}-byte packet (40 big-endian "
            f"4-byte integers); this one has {len(raw)} bytes",
        )
    words = _WORDS.unpack(raw)
    notice = by_number().get(words[0])
    if notice is None:
        raise FormatRejected(
            "unknown_packet_type",
            [LineError(None, f"pkt_type {words[0]} is not a GCN Classic notice type")],
            f"packet type {words[0]} (word 0) is none of GCN Classic's notice types; "
            "see /api/v1/topics for the gcn.classic.binary topics and their types",
        )
    layout = HEADER + (POSITION if notice.position_packet else ())
    alert: dict[str, Any] = {
        "notice_type": {"number": notice.number, "name": notice.name},
        "packet": {name: {"value": words[i], "unit": unit} for i, name, unit in layout},
        "words": list(words),
        "position": None,
        "event_time": None,
    }
    if notice.position_packet:
        _add_position(alert, notice, words)
    return alert


def _add_position(alert: dict[str, Any], notice: NoticeType, words: tuple[int, ...]) -> None:
    ra, dec, error = (words[i] / 10_000 for i in (7, 8, 11))
    problems = []
    if not (0 <= ra < 360):
        problems.append(LineError(None, f"burst_ra (word 7) {words[7]} is not within [0, 360) deg"))
    if not (-90 <= dec <= 90):
        problems.append(LineError(None, f"burst_dec (word 8) {words[8]} is not within ±90 deg"))
    if not (math.isfinite(error) and error >= 0):
        problems.append(LineError(None, f"burst_error (word 11) {words[11]} is negative"))
    if problems:
        raise FormatRejected(
            "invalid_packet",
            problems,
            f"the {notice.name} packet's position is off the sky: {problems[0].message}",
        )
    alert["position"] = {"ra": ra, "dec": dec, "error_radius": error, "frame": "FK5", "unit": "deg"}
    alert["ra"], alert["dec"], alert["ra_dec_error"] = ra, dec, error
    alert["event_time"] = tjd_time(words[5], words[6] / 100)
