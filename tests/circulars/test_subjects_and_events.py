"""Event ids from real circular subjects, and the subject and body rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from skyalert.broker.circulars.errors import CircularRefused, CircularTooLarge
from skyalert.broker.circulars.events import Event, event_of, event_rules
from skyalert.broker.circulars.forms import byline, citation, from_ms, gcn_text, to_ms
from skyalert.broker.circulars.submission import Draft, check_draft
from skyalert.schemas.catalog import load_catalog

# Subjects of real GCN Circulars (archive at gcn.nasa.gov/circulars).
REAL = [
    ("GRB 221009A: Fermi GBM detection of an extraordinarily bright GRB", "GRB 221009A", "grb"),
    ("GRB 230307A: JWST detection of a kilonova", "GRB 230307A", "grb"),
    (
        "LIGO/Virgo/KAGRA S230518h: Identification of a GW compact binary merger candidate",
        "LIGO/Virgo/KAGRA S230518h",
        "gw",
    ),
    ("LIGO/Virgo S190425z: Identification of a GW candidate", "LIGO/Virgo S190425z", "gw"),
    ("LIGO/Virgo GW170817: Further analysis", "GW170817", "gw"),
    (
        "IceCube-230629A - IceCube observation of a high-energy neutrino",
        "IceCube-230629A",
        "neutrino",
    ),
    ("EP240315a: Einstein Probe detection of a fast X-ray transient", "EP240315a", "ep"),
    ("FRB 20200428A: CHIME/FRB detection of SGR 1935+2154", "FRB 20200428A", "frb"),
    ("SN 2023ixf: Swift-UVOT observations", "SN 2023ixf", "sn"),
    ("Swift-XRT afterglow of grb 080319b", "GRB 080319B", "grb"),
    ("ZTF23aaklqou/AT2023lcr: optical discovery", "ZTF23aaklqou", "optical"),
]


@pytest.mark.parametrize(("subject", "event", "kind"), REAL)
def test_event_of_real_subjects(subject: str, event: str, kind: str) -> None:
    found = event_of(subject)
    assert found is not None
    assert (found.id, found.kind) == (event, kind)


def test_the_event_named_first_wins_and_none_when_none() -> None:
    assert event_of("IceCube-250101A and GRB 250101B: joint search") == Event(
        "IceCube-250101A", "neutrino"
    )
    assert event_of("LIGO/Virgo/KAGRA S240615dg: update") == Event(
        "LIGO/Virgo/KAGRA S240615dg", "gw", ("superevent_id", "S240615dg")
    )
    assert event_of("Swift-XRT observations of the Galactic centre") is None
    assert event_of("GRB 2210: too short to be a name") is None


def test_every_sub_topic_in_the_catalog_is_a_pattern_kind() -> None:
    kinds = event_rules().kinds
    subtopics = [t.name for t in load_catalog().topics if t.name.startswith("gcn.circulars.")]
    assert len(subtopics) >= 6
    for name in subtopics:
        assert name.removeprefix("gcn.circulars.") in kinds


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("", "empty"),
        ("RE: GRB 221009A: Fermi GBM detection", "reply"),
        ("Fwd: GRB 221009A: Fermi GBM detection", "reply"),
        ("Automatic reply: GRB 221009A", "reply"),
        ("Out of office until Monday", "reply"),
        ("Hello everyone", "names no event"),
        ("GRB 221009A: " + "x" * 300, "characters"),
    ],
)
def test_bad_subjects_are_refused_with_the_reason(subject: str, reason: str) -> None:
    with pytest.raises(CircularRefused, match=reason):
        check_draft(Draft(subject, "Some body."), max_bytes=10_000)


def test_mission_keyword_without_event_is_a_subject() -> None:
    checked = check_draft(Draft("  Swift-XRT   calibration note ", "Body.\r\n"), 10_000)
    assert checked == Draft("Swift-XRT calibration note", "Body.", "text/plain")


def test_body_and_format_rules() -> None:
    with pytest.raises(CircularRefused, match="body is empty"):
        check_draft(Draft("GRB 221009A: note", "\n  \n"), 10_000)
    with pytest.raises(CircularRefused, match="format"):
        check_draft(Draft("GRB 221009A: note", "Body", "text/html"), 10_000)
    with pytest.raises(CircularTooLarge, match="limit is 1000"):
        check_draft(Draft("GRB 221009A: note", "x" * 1001), 1000)


class Text:
    number: int = 34000
    version: int = 1
    subject: str = "GRB 230601A: Swift-XRT afterglow detection"
    event_id: str | None = "GRB 230601A"
    body: str = "The XRT found a source."
    format: str = "text/plain"
    submitter: str = "Ada Observer at Example Observatory <ada@example.org>"
    created_at: datetime = from_ms(1685620800000)
    edited_at: datetime | None = None
    edited_by: str | None = None


def test_gcn_forms() -> None:
    assert byline(" Ada  Observer ", "", "ada@example.org") == "Ada Observer <ada@example.org>"
    assert byline("", "X", "ada@example.org") == "ada@example.org"
    assert to_ms(Text.created_at) == 1685620800000
    assert gcn_text(Text()).splitlines()[:5] == [
        "TITLE:   GCN CIRCULAR",
        "NUMBER:  34000",
        "SUBJECT: GRB 230601A: Swift-XRT afterglow detection",
        "DATE:    23/06/01 12:00:00 GMT",
        "FROM:    Ada Observer at Example Observatory <ada@example.org>",
    ]
    assert citation(Text()) == (
        "Ada Observer, GCN Circ. 34000 (2023): GRB 230601A: Swift-XRT afterglow detection"
    )
