"""Alert ids: 26 characters, sortable by time, unique and increasing within a process."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from skyalert.broker.archive.alert_ids import (
    LENGTH,
    alert_id_time,
    highest_id_at,
    is_alert_id,
    lowest_id_at,
    new_alert_id,
)


def test_shape_and_time_round_trip() -> None:
    when = datetime(2024, 5, 21, 8, 31, 2, 112000, tzinfo=UTC)
    alert_id = new_alert_id(when)
    assert len(alert_id) == LENGTH
    assert is_alert_id(alert_id)
    assert alert_id_time(alert_id) == when
    assert lowest_id_at(when) <= alert_id <= highest_id_at(when)
    assert alert_id < lowest_id_at(when + timedelta(milliseconds=1))


def test_ids_of_later_alerts_sort_later() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    ids = [new_alert_id(start + timedelta(milliseconds=n)) for n in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    # Ids for other times leave the clock-stamped ones alone.
    assert abs(alert_id_time(new_alert_id()) - datetime.now(UTC)) < timedelta(seconds=5)


def test_clock_ids_stay_unique_and_increasing_within_a_millisecond_and_across_threads() -> None:
    same = [new_alert_id() for _ in range(5000)]
    assert same == sorted(same)
    assert len(set(same)) == 5000
    assert len({alert_id_time(i) for i in same}) < 5000  # several shared a millisecond

    made: list[list[str]] = [[] for _ in range(8)]

    def make(out: list[str]) -> None:
        out.extend(new_alert_id() for _ in range(500))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for out in made for i in out]
    assert len(set(everything)) == len(everything)
    assert all(out == sorted(out) for out in made)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "01ARZ3NDEKTSV4RRFFQ69G5FA",
        "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",
    ],
)
def test_not_alert_ids(text: str) -> None:
    assert not is_alert_id(text)
    with pytest.raises(ValueError, match="not an alert id"):
        alert_id_time(text)


def test_naive_and_out_of_range_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new_alert_id(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="outside the range"):
        lowest_id_at(datetime(1960, 1, 1, tzinfo=UTC))
