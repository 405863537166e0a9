"""Cover photos for the demo cases, drawn in code: places, never people.

Each is a small landscape (a sky gradient, a sun, layered hills or mountains, a road or a
river, a few trees), varied per case by a seeded random, so the demo needs no download and
shows what a good cover looks like. They pass the face check like any upload does.
"""

from __future__ import annotations

import random
from io import BytesIO

from PIL import Image, ImageDraw, ImageFilter

#: drawn small: the demo loads fast, and the page and card sizes are made from it
SIZE = (960, 640)

_SKIES = (((94, 148, 214), (214, 232, 246)), ((240, 150, 90), (252, 222, 170)),
          ((70, 110, 170), (190, 210, 230)), ((120, 170, 200), (236, 240, 228)))
_LANDS = (((78, 120, 74), (52, 92, 60), (34, 70, 48)), ((150, 140, 110), (120, 110, 86), (90, 84, 70)),
          ((96, 110, 130), (74, 90, 110), (56, 70, 90)), ((110, 150, 80), (80, 122, 66), (60, 96, 56)))


def _ridge(rng: random.Random, width: int, base: int, amplitude: int) -> list[tuple[int, int]]:
    points, x = [], 0
    y = base + rng.randint(-amplitude, amplitude)
    while x <= width:
        points.append((x, y))
        x += rng.randint(40, 120)
        y = max(base - amplitude, min(base + amplitude, y + rng.randint(-amplitude, amplitude) // 2))
    points.append((width, points[-1][1]))
    return points


def landscape(seed: int) -> Image.Image:
    """A landscape picture, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - a picture, not a secret
    width, height = SIZE
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    top, bottom = rng.choice(_SKIES)
    horizon = int(height * rng.uniform(0.45, 0.6))
    for y in range(horizon + 40):
        t = y / (horizon + 40)
        draw.line([(0, y), (width, y)],
                  fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    sun_x, sun_y, radius = rng.randint(80, width - 80), rng.randint(50, horizon - 80), rng.randint(22, 40)
    draw.ellipse((sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius), fill=(255, 240, 200))
    for _ in range(rng.randint(2, 4)):  # clouds
        cx, cy = rng.randint(0, width), rng.randint(30, horizon // 2)
        for dx in range(0, rng.randint(90, 180), 30):
            draw.ellipse((cx + dx, cy - 14, cx + dx + 60, cy + 18), fill=(246, 248, 250))
    far, middle, near = rng.choice(_LANDS)
    mountains = rng.random() < 0.5
    for colour, base, amplitude in ((far, horizon - 30, 90 if mountains else 40),
                                    (middle, horizon + 30, 45), (near, horizon + 90, 25)):
        ridge = _ridge(rng, width, base, amplitude)
        draw.polygon([*ridge, (width, height), (0, height)], fill=colour)
    for _ in range(rng.randint(3, 8)):  # trees: a trunk and a crown, well away from faces' shapes
        tx, ty = rng.randint(0, width), rng.randint(horizon + 40, height - 20)
        size = rng.randint(14, 30)
        draw.rectangle((tx - 3, ty - size, tx + 3, ty), fill=(70, 50, 30))
        draw.polygon([(tx, ty - 3 * size), (tx - size, ty - size), (tx + size, ty - size)],
                     fill=(30, 80, 40))
    # a road (grey) or a river (blue) winding to the horizon, over the trees behind it
    path_colour = (150, 150, 146) if rng.random() < 0.5 else (92, 150, 200)
    x = rng.randint(width // 3, 2 * width // 3)
    for y in range(height, horizon + 20, -4):
        spread = 3 + (y - horizon) * 0.18
        draw.line([(x - spread, y), (x + spread, y)], fill=path_colour, width=5)
        x += rng.randint(-3, 3)
    return image.filter(ImageFilter.GaussianBlur(1))


def landscape_jpeg(seed: int) -> bytes:
    """The landscape for ``seed`` as JPEG bytes (what an upload would be)."""
    out = BytesIO()
    landscape(seed).save(out, "JPEG", quality=85)
    return out.getvalue()
