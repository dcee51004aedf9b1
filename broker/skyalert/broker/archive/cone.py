"""Cone geometry on the sky (degrees): exact distances and the bounding boxes SQL can prefilter."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cone:
    ra: float
    dec: float
    radius: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ra) and 0 <= self.ra < 360):
            raise ValueError("ra must be within [0, 360) degrees")
        if not (math.isfinite(self.dec) and -90 <= self.dec <= 90):
            raise ValueError("dec must be within [-90, 90] degrees")
        if not (math.isfinite(self.radius) and 0 < self.radius <= 180):
            raise ValueError("radius must be within (0, 180] degrees")

    def reaches(self, ra: float, dec: float, error: float | None) -> bool:
        """True when the error circle around (ra, dec) overlaps the cone."""
        return angular_distance(self.ra, self.dec, ra, dec) <= self.radius + (error or 0.0)


def angular_distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (Vincenty's formula: exact at every separation)."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    delta = ra2 - ra1
    sin_d1, cos_d1, sin_d2, cos_d2 = math.sin(dec1), math.cos(dec1), math.sin(dec2), math.cos(dec2)
    num = math.hypot(cos_d2 * math.sin(delta), cos_d1 * sin_d2 - sin_d1 * cos_d2 * math.cos(delta))
    den = sin_d1 * sin_d2 + cos_d1 * cos_d2 * math.cos(delta)
    return math.degrees(math.atan2(num, den))


@dataclass(frozen=True)
class Box:
    """Declination band plus RA ranges (``None``: every RA) containing a circle on the sky."""

    dec_min: float
    dec_max: float
    ra_ranges: tuple[tuple[float, float], ...] | None


def bounding_box(ra: float, dec: float, radius: float) -> Box:
    """The smallest RA/Dec box around a circle of ``radius`` degrees centred on (ra, dec)."""
    dec_min, dec_max = dec - radius, dec + radius
    if dec_min <= -90 or dec_max >= 90 or radius >= 90:
        return Box(max(dec_min, -90.0), min(dec_max, 90.0), None)  # a pole is inside
    half = math.degrees(
        math.asin(min(1.0, math.sin(math.radians(radius)) / math.cos(math.radians(dec))))
    )
    low, high = ra - half, ra + half
    if low < 0:
        return Box(dec_min, dec_max, ((0.0, high), (low + 360, 360.0)))
    if high >= 360:
        return Box(dec_min, dec_max, ((low, 360.0), (0.0, high - 360)))
    return Box(dec_min, dec_max, ((low, high),))
