"""Cone search geometry: exact distances, and bounding boxes that never miss a match."""

from __future__ import annotations

import math
import random

import pytest

from skyalert.broker.archive.cone import Cone, angular_distance, cell_ranges, sky_cell


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


def covered(ranges: list[tuple[int, int]], ra: float, dec: float) -> bool:
    cell = sky_cell(ra, dec)
    return any(low <= cell <= high for low, high in ranges)


def random_point_near(
    rng: random.Random, ra: float, dec: float, radius: float
) -> tuple[float, float]:
    """A point around (ra, dec), often just inside or just outside ``radius``."""
    stretch = max(0.01, math.cos(math.radians(dec)))
    p_ra = (ra + rng.uniform(-1, 1) * radius * 1.2 / stretch) % 360
    p_dec = max(-90.0, min(90.0, dec + rng.uniform(-1, 1) * radius * 1.2))
    return p_ra, p_dec


def test_cell_ranges_cover_every_point_of_the_circle() -> None:
    rng = random.Random(4)
    checked = 0
    for _ in range(400):
        ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))
        radius = rng.choice([0.001, 0.5, 2.0, 11.0, 60.0, 180.0])
        ranges = cell_ranges(ra, dec, radius)
        for _ in range(20):
            p_ra, p_dec = random_point_near(rng, ra, dec, radius)
            if angular_distance(ra, dec, p_ra, p_dec) <= radius:
                checked += 1
                assert covered(ranges, p_ra, p_dec), (ra, dec, radius, p_ra, p_dec)
    assert checked > 2000


@pytest.mark.parametrize(
    ("ra", "dec"), [(0.0, 0.0), (359.99, 0.0), (0.2, 45.0), (10.0, 90.0), (200.0, -90.0)]
)
def test_cell_ranges_wrap_at_ra_zero_and_cover_the_poles(ra: float, dec: float) -> None:
    ranges = cell_ranges(ra, dec, 1.0)
    rng = random.Random(7)
    for _ in range(300):
        p_ra, p_dec = random_point_near(rng, ra, dec, 1.0)
        if angular_distance(ra, dec, p_ra, p_dec) <= 1.0:
            assert covered(ranges, p_ra, p_dec), (p_ra, p_dec)
    # The pole itself, and points across RA 0 from the centre:
    if abs(dec) == 90:
        assert all(covered(ranges, a, dec) for a in (0.0, 90.0, 180.0, 359.9))
    assert covered(ranges, (ra + 0.3) % 360, max(-90.0, min(90.0, dec)))


def test_cell_ranges_stay_tight_and_short() -> None:
    """A 1° cover spans a few times the circle's area, in a short list of ranges."""
    ranges = cell_ranges(120.0, -30.0, 1.0)
    cells = sum(high - low + 1 for low, high in ranges)
    sky = 12 * 4**16
    circle = (1 - math.cos(math.radians(1.0))) / 2  # fraction of the sphere
    assert circle * sky <= cells <= 8 * circle * sky
    assert len(ranges) <= 40


def test_far_points_are_not_covered() -> None:
    assert not covered(cell_ranges(120.0, -30.0, 1.0), 300.0, 30.0)
