"""An all-sky map drawn by us: the Hammer-Aitoff projection into a 360 x 180 SVG box.

Right ascension grows to the left, as on the sky seen from inside, with RA 0h in the middle.
``static/js/live.js`` holds the same formula for points added live in the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

WIDTH, HEIGHT = 360.0, 180.0
_X_SCALE = (WIDTH / 2) / (2 * math.sqrt(2))
_Y_SCALE = (HEIGHT / 2) / math.sqrt(2)
#: Pixels per degree near the map's centre, for error circles.
PX_PER_DEG = WIDTH / 360


def project(ra: float, dec: float) -> tuple[float, float]:
    """SVG coordinates of a sky position (ICRS degrees)."""
    lon = -math.radians(((ra + 180.0) % 360.0) - 180.0)
    lat = math.radians(max(-90.0, min(90.0, dec)))
    z = math.sqrt(1 + math.cos(lat) * math.cos(lon / 2))
    x = 2 * math.sqrt(2) * math.cos(lat) * math.sin(lon / 2) / z
    y = math.sqrt(2) * math.sin(lat) / z
    return round(WIDTH / 2 + x * _X_SCALE, 2), round(HEIGHT / 2 - y * _Y_SCALE, 2)


def _path(points: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{x},{y}" for x, y in points)


def _meridian(ra: float) -> list[tuple[float, float]]:
    return [project(ra, dec) for dec in range(-90, 91, 5)]


@dataclass(frozen=True)
class Graticule:
    outline: str
    lines: tuple[str, ...]
    labels: tuple[tuple[float, float, str], ...]


@cache
def graticule() -> Graticule:
    """Meridians every 2 h of RA, parallels every 30 degrees, the map's outline, RA labels."""
    # The outline is the meridian at RA 12h seen from both sides of the map.
    left = [project(179.999, dec) for dec in range(-90, 91, 5)]
    right = [project(180.001, dec) for dec in range(90, -91, -5)]
    lines = [_path(_meridian(ra)) for ra in range(30, 360, 30) if ra != 180]
    for dec in range(-60, 61, 30):
        lines.append(_path([project(180.001 + step, dec) for step in range(0, 361, 5)]))
    labels = tuple((*project(ra, 0), f"{ra // 15}h") for ra in range(0, 360, 60) if ra != 180)
    return Graticule(_path(left + right) + " Z", tuple(lines), labels)


@dataclass(frozen=True)
class Marker:
    """A plotted alert: its position, error radius in pixels, and the link and label."""

    x: float
    y: float
    radius: float
    href: str
    label: str


def marker(ra: float, dec: float, error: float | None, href: str, label: str) -> Marker:
    x, y = project(ra, dec)
    return Marker(x, y, round(min(40.0, (error or 0.0) * PX_PER_DEG), 2), href, label)
