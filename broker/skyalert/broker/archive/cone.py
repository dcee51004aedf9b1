"""Cone geometry on the sky (degrees): exact distances, and the HEALPix cells SQL prefilters by."""

from __future__ import annotations

import math
from dataclasses import dataclass

import astropy.units as u
from astropy_healpix import _core as healpix_c
from astropy_healpix import core as healpix

#: HEALPix order (nested scheme) of the archived cell index: nside 2**16, cells of about 3.2
#: arcseconds, 12 * 4**16 ≈ 5.2e10 cells (a 64-bit integer).
CELL_ORDER = 16
#: Cells a cone covering aims at: enough that the cover hugs the circle, few enough that the
#: SQL stays a short list of index ranges.
_CELLS_PER_RADIUS = 4
#: Side [deg] of an order 0 cell (the square root of a twelfth of the sphere), as
#: ``nside_to_pixel_resolution(1)`` gives it.
_ORDER0_SIDE = math.degrees(math.sqrt(math.pi / 3))


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


def sky_cell(ra: float, dec: float) -> int:
    """The nested HEALPix cell of order :data:`CELL_ORDER` holding (ra, dec)."""
    cell = healpix.lonlat_to_healpix(ra * u.deg, dec * u.deg, 2**CELL_ORDER, order="nested")
    return int(cell)


def ra_half_width(dec: float, radius: float) -> float:
    """The widest RA offset [deg] of a point within ``radius`` of a centre at ``dec``; 180 when
    the circle holds a pole."""
    if abs(dec) + radius >= 90:
        return 180.0
    ratio = math.sin(math.radians(radius)) / math.cos(math.radians(dec))
    return math.degrees(math.asin(min(1.0, ratio)))


def cap_fraction(radius: float) -> float:
    """The fraction of the sphere within ``radius`` degrees of a point."""
    return (1 - math.cos(math.radians(min(radius, 180.0)))) / 2


def cell_ranges(ra: float, dec: float, radius: float) -> list[tuple[int, int]]:
    """Inclusive ranges of :data:`CELL_ORDER` cells covering every point within ``radius``.

    The circle is covered by coarser cells (each about a quarter of the radius across, including
    those it only partly overlaps); in the nested scheme a coarse cell is one contiguous range of
    fine cells, and neighbouring ranges are merged.
    """
    radius = min(radius, 180.0)
    wanted = math.ceil(math.log2(_ORDER0_SIDE * _CELLS_PER_RADIUS / radius))
    order = max(0, min(CELL_ORDER, wanted))
    # The compiled search itself, in degrees: the public wrapper's Quantity conversions cost
    # more than the search (a cone query computes four covers).
    coarse = healpix_c.healpix_cone_search(ra, dec, radius, 2**order, "nested")
    shift = 2 * (CELL_ORDER - order)
    ranges: list[tuple[int, int]] = []
    for cell in sorted(coarse.tolist()):
        low, high = cell << shift, ((cell + 1) << shift) - 1
        if ranges and ranges[-1][1] + 1 == low:
            ranges[-1] = (ranges[-1][0], high)
        else:
            ranges.append((low, high))
    return ranges
