"""Who gets what over VTP: the most specific range, restricted topics by group, bad config."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.settings import Settings, VtpRange
from skyalert.broker.vtp.access import SubscriberPolicy, peer_address, topic_for
from skyalert.schemas.catalog import load_catalog

CATALOG = load_catalog()
EARLY = "gcn.classic.voevent.LVC_EARLY_WARNING"


def policy(*ranges: dict[str, Any]) -> SubscriberPolicy:
    return SubscriberPolicy([VtpRange.model_validate(r) for r in ranges], CATALOG)


def test_by_default_anyone_gets_every_public_voevent_topic() -> None:
    default = SubscriberPolicy(Settings().vtp_subscribers, CATALOG)
    for host in ("192.0.2.7", "2001:db8::1", "::ffff:198.51.100.1"):
        grant = default.grant_for(peer_address(host))
        assert grant is not None
        assert "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK" in grant.topics
        assert EARLY not in grant.topics  # restricted
        assert "gcn.notices.swift.bat.guano" not in grant.topics  # JSON: not for VTP


def test_the_most_specific_range_wins_and_may_read_restricted_topics() -> None:
    rules = policy(
        {"network": "10.0.0.0/8", "topics": ["gcn.classic.voevent.SWIFT_*"]},
        {
            "network": "10.1.0.0/16",
            "topics": ["gcn.classic.voevent.LVC_*"],
            "groups": ["restricted.lvk_early"],
            "filter": {"field": "role", "op": "eq", "value": "observation"},
        },
    )
    wide = rules.grant_for(peer_address("10.2.3.4"))
    narrow = rules.grant_for(peer_address("10.1.3.4"))
    assert wide is not None
    assert narrow is not None
    voevent = [t for t in load_catalog().alert_topics if t.name.startswith("gcn.classic.voevent.")]
    swift = {t.name for t in voevent if t.name.startswith("gcn.classic.voevent.SWIFT_")}
    assert "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK" in swift
    assert wide.topics == swift
    lvc = {t.name for t in voevent if t.name.startswith("gcn.classic.voevent.LVC_")}
    assert {EARLY, "gcn.classic.voevent.LVC_PRELIMINARY"} <= lvc
    assert narrow.topics == lvc  # the restricted early warnings too: the range has the group
    assert narrow.filter.matches({"role": "observation"})
    assert not narrow.filter.matches({"role": "test"})
    assert rules.grant_for(peer_address("192.0.2.1")) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"network": "0.0.0.0/0", "topics": [EARLY]}, "may not read"),
        ({"network": "0.0.0.0/0", "groups": ["restricted.nope"]}, "unknown group"),
        ({"network": "0.0.0.0/0", "topics": ["nothing.*"]}, "matches no alert topic"),
        ({"network": "0.0.0.0/0", "topics": ["igwn.gwalert"]}, "not a VOEvent topic|none of"),
        ({"network": "0.0.0.0/0", "filter": {"field": "x", "op": "nope"}}, "op"),
    ],
)
def test_bad_ranges_stop_the_worker_naming_the_setting(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="SKYALERT_VTP_SUBSCRIBERS") as raised:
        policy(entry)
    assert raised.match(message)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="address range"):
        Settings(vtp_authors={"not-a-range": "client"})
    with pytest.raises(ValueError, match="SKYALERT_VTP_TLS_KEY"):
        Settings(vtp_tls_cert="/tmp/cert.pem")
    with pytest.raises(ValueError, match="network"):
        Settings(vtp_subscribers=[{"network": "300.0.0.0/8"}])


def test_the_longest_ivorn_prefix_picks_the_topic() -> None:
    topics = {"ivo://nasa.gsfc.gcn/SWIFT#": "a.b.c", "ivo://nasa.gsfc.gcn/SWIFT#BAT_": "a.b.bat"}
    assert topic_for("ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1", topics) == "a.b.bat"
    assert topic_for("ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_1", topics) == "a.b.c"
    assert topic_for("ivo://elsewhere/x#1", topics) is None


def test_the_docs_page_gives_the_one_line_that_changes(app_url: str, settings: Settings) -> None:
    page = httpx.get(app_url + "/docs/vtp", timeout=10)
    assert page.status_code == 200
    pygcn = f'gcn.listen(host="127.0.0.1", port={settings.vtp_port}, handler=handler)'
    assert pygcn in html.unescape(page.text)
    assert f"--remote=127.0.0.1:{settings.vtp_port}" in page.text
    assert "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK" in page.text
    assert "gcn.classic.voevent.LVC_EARLY_WARNING</code>)" in page.text  # named as restricted
