"""GCN Classic notices for tests: a real text notice, and binary packets built to the layout."""

from __future__ import annotations

import struct
from pathlib import Path

#: GRB 200713A's Swift-BAT position notice as GCN sent it (copied from the notices kept at
#: https://www.mpe.mpg.de/~jcg/grb200713A.html; the web page drops GCN's column alignment).
SWIFT_TEXT = (Path(__file__).parent / "data" / "swift_bat_grb_pos_200713A.txt").read_bytes()
TEXT_RA, TEXT_DEC, TEXT_ERROR = 76.962, -32.825, 3 / 60
TEXT_TIME = "2020-07-13T11:42:54.720Z"

#: sock_pkt_def_doc.html: 40 big-endian signed 4-byte integers.
LAYOUT = struct.Struct(">40i")
#: The real SWIFT_BAT_GRB_POS_ACK packet in NASA's nasa-gcn/gcn-classic-to-json decodes to
#: 2024-05-11 18:06:53.22 UTC, RA 336.6645, Dec 8.5135, error 0.05 deg; these are its words 5-11.
TJD, SOD_CS = 20441, 6521322  # MJD 60441 - 40000; 65213.22 s of day in centi-seconds
RA, DEC, ERROR = 3366645, 85135, 500  # 0.0001 deg
PACKET_TIME = "2024-05-11T18:06:53.220Z"


def text_notice(trigger: int = 982201) -> bytes:
    """The real notice, under another trigger number (tests sharing an archive stay apart)."""
    return SWIFT_TEXT.replace(b"982201, Seg_Num", f"{trigger}, Seg_Num".encode())


def bat_packet(pkt_type: int = 61, serial: int = 7, **words: int) -> bytes:
    """A packet of ``pkt_type``; ``w<N>=value`` sets word N."""
    values = [0] * 40
    values[:12] = [pkt_type, serial, 1, 6522000, 1230993, TJD, SOD_CS, RA, DEC, 5000, 400, ERROR]
    for index, value in words.items():
        values[int(index.removeprefix("w"))] = value
    return LAYOUT.pack(*values)
