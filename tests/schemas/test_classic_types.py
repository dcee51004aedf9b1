"""GCN Classic notice types as data: GCN's names and packet numbers, three topics each."""

from __future__ import annotations

import gcn
import pytest

from skyalert.schemas.catalog import Visibility, load_catalog
from skyalert.schemas.classic import types as classic
from skyalert.schemas.formats import ContentType

CATALOG = load_catalog()
TYPES = classic.notice_types()
#: NoticeTypeCheckboxes.tsx in nasa-gcn/gcn.nasa.gov (commit 03bb0c10) offers 122 types.
GCN_OFFERS = 122


@pytest.mark.parametrize("notice", TYPES, ids=lambda t: t.name)
def test_each_number_is_gcns_own(notice: classic.NoticeType) -> None:
    """pygcn's NoticeType is what GCN's Kafka bridge names topics by."""
    assert gcn.NoticeType[notice.name].value == notice.number


def test_every_type_once_in_each_flavor() -> None:
    assert len(TYPES) == GCN_OFFERS
    assert len({t.name for t in TYPES}) == len({t.number for t in TYPES}) == GCN_OFFERS
    classic_topics = [t for t in CATALOG.topics if t.name.startswith("gcn.classic.")]
    assert len(classic_topics) == 3 * GCN_OFFERS
    media = {"voevent": ContentType.VOEVENT, "text": ContentType.TEXT, "binary": ContentType.BINARY}
    for notice in TYPES:
        for flavor, content_type in media.items():
            topic = CATALOG.by_name[f"gcn.classic.{flavor}.{notice.name}"]
            assert topic.content_type is content_type
            assert topic.mission == notice.mission
            assert str(notice.number) in topic.description


def test_gcns_heartbeat_and_internal_types_are_not_topics() -> None:
    names = {t.name for t in TYPES}
    assert not names & {"IM_ALIVE", "VOE_20_IM_ALIVE", "KILL_SOCKET", "FERMI_GBM_FLT_INTERNAL"}


@pytest.mark.parametrize("flavor", classic.FLAVORS)
def test_lvk_early_warnings_stay_restricted(flavor: str) -> None:
    topic = CATALOG.by_name[f"gcn.classic.{flavor}.LVC_EARLY_WARNING"]
    assert topic.visibility is Visibility.RESTRICTED
    assert topic.consumer_group == "restricted.lvk_early"
    assert CATALOG.by_name[f"gcn.classic.{flavor}.LVC_PRELIMINARY"].visibility is Visibility.PUBLIC


def test_messengers() -> None:
    messenger = {t.name: t.messenger for t in TYPES}
    assert messenger["LVC_PRELIMINARY"] == "gravitational waves"
    assert messenger["ICECUBE_ASTROTRACK_GOLD"] == "neutrinos"
    assert messenger["FERMI_GBM_FLT_POS"] == "electromagnetic"


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        ("gcn.classic.binary.SWIFT_BAT_GRB_POS_ACK", "SWIFT_BAT_GRB_POS_ACK"),
        ("gcn.classic.text.LVC_INITIAL", "LVC_INITIAL"),
        ("gcn.classic.text.NO_SUCH_TYPE", None),
        ("gcn.notices.swift.bat.guano", None),
        ("tgcn.classic.text.LVC_INITIAL", "LVC_INITIAL"),
        ("gcn.classic.json.LVC_INITIAL", None),
        ("classic.text", None),
    ],
)
def test_notice_type_of_a_topic(topic: str, name: str | None) -> None:
    found = classic.of_topic(topic)
    assert (found.name if found else None) == name


def test_test_types() -> None:
    tests = {t.name for t in TYPES if t.test}
    assert {"LVC_TEST", "FERMI_GBM_POS_TEST", "TEST_COORDS", "SWIFT_BAT_GRB_POS_TEST"} <= tests
    assert "LVC_PRELIMINARY" not in tests


def test_truncated_julian_days() -> None:
    """TJD 19043 is 2020 July 13 (GRB 200713A's Swift notice says ``20/07/13``)."""
    assert classic.tjd_time(19043, 42174.72) == "2020-07-13T11:42:54.720Z"
    assert classic.tjd_time(0, 0) == "1968-05-24T00:00:00.000Z"
