"""Cone search geometry: exact distances, and bounding boxes that never miss a match."""

from __future__ import annotations

import math
import random

import pytest

from skyalert.broker.archive.cone import Cone, angular_distance, bounding_box


def test_known_distances() -> None:
    assert angular_distance(10, 20, 10, 20) == 0
    assert angular_distance(0, 0, 90, 0) == pytest.approx(90)
    assert angular_distance(0, 89, 180, 89) == pytest.approx(2)
    assert angular_distance(359.5, 0, 0.5, 0) == pytest.approx(1)
    assert angular_distance(0, -90, 123, 90) == pytest.approx(180)


def test_error_circle_widens_the_match() -> None:
    cone = Cone(74.7, -9.3, 0.1)
    assert cone.reaches(74.7412, -9.3137, 0.05)
    assert not cone.reaches(75.7, -9.3, 0.05)
    assert cone.reaches(75.7, -9.3, 1.5)


@pytest.mark.parametrize(
    ("ra", "dec", "radius"),
    [(-1, 0, 1), (360, 0, 1), (0, 91, 1), (0, 0, 0), (0, 0, 181), (math.nan, 0, 1)],
)
def test_invalid_cones(ra: float, dec: float, radius: float) -> None:
    with pytest.raises(ValueError, match="must be within"):
        Cone(ra, dec, radius)


def inside(box_ranges: tuple[tuple[float, float], ...] | None, ra: float) -> bool:
    return box_ranges is None or any(low <= ra <= high for low, high in box_ranges)


def test_bounding_box_contains_every_point_of_the_circle() -> None:
    rng = random.Random(4)
    for _ in range(3000):
        ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))
        radius = rng.choice([0.01, 0.5, 3.0, 20.0, 60.0])
        box = bounding_box(ra, dec, radius)
        # A random point within the circle:
        p_ra, p_dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))
        if angular_distance(ra, dec, p_ra, p_dec) > radius:
            p_ra = (
                ra + rng.uniform(-1, 1) * radius * 0.7 / max(0.05, math.cos(math.radians(dec)))
            ) % 360
            p_dec = max(-90.0, min(90.0, dec + rng.uniform(-1, 1) * radius * 0.7))
        if angular_distance(ra, dec, p_ra, p_dec) <= radius:
            assert box.dec_min <= p_dec <= box.dec_max
            assert inside(box.ra_ranges, p_ra), (ra, dec, radius, p_ra, p_dec, box)


def test_bounding_box_wraps_at_ra_zero_and_opens_at_the_poles() -> None:
    wrapped = bounding_box(0.5, 0, 1)
    assert wrapped.ra_ranges is not None
    assert len(wrapped.ra_ranges) == 2
    assert bounding_box(10, 89.5, 1).ra_ranges is None
