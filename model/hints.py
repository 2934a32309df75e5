"""Colour hints: "this point of the photo is this colour", checked and turned into the layer the generator reads.

A hint is a dict {"x": int, "y": int, "color": "#rrggbb"}: a pixel of the upright (EXIF-applied) image, origin at
the top left, and a colour whose hue and chroma are used; its lightness is not (the photo keeps its own). The page,
the HTTP API and the command line all send this form, and `parse_hints` is the one place that checks it.

The layer (Zhang et al. 2017) has three channels at the network's working resolution: the hint's a and b,
normalized, inside a small square around each hinted pixel, 0 elsewhere; and a mask, 1 inside the squares.
"""
import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from model.color import normalize_ab, rgb_to_lab_np

HINT_SIDE = 5  # side of the square a hint fills at the working resolution (training draws squares of 1 to 9)
SHOWN_TOLERANCE = 3.0  # ab units: a point whose result is further than this from the asked colour is not exact
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Hint:
    x: int  # column in the upright image, 0 at the left
    y: int  # row, 0 at the top
    a: float  # Lab a and b of the colour
    b: float


def color_to_ab(color: str) -> tuple[float, float]:
    """'#rrggbb' (sRGB) -> its Lab (a, b)."""
    rgb = np.array([[[int(color[i:i + 2], 16) for i in (1, 3, 5)]]], dtype=np.uint8)
    _, a, b = rgb_to_lab_np(rgb)[0, 0]
    return float(a), float(b)


def parse_hints(hints, width: int, height: int) -> list[Hint]:
    """A list of {"x", "y", "color"} dicts (or of Hint) -> Hints, checked against the image's size.

    Raises ValueError with a message that says which hint is wrong and how.
    """
    if hints is None:
        return []
    if not isinstance(hints, (list, tuple)):
        raise ValueError(f"hints must be a list of points like {{\"x\": 10, \"y\": 20, \"color\": \"#c02020\"}}, "
                         f"got {type(hints).__name__}")
    parsed = []
    for number, hint in enumerate(hints, start=1):
        if isinstance(hint, Hint):
            x, y, ab = hint.x, hint.y, (hint.a, hint.b)
        elif isinstance(hint, dict):
            missing = [key for key in ("x", "y", "color") if key not in hint]
            if missing:
                raise ValueError(f"hint {number} has no {' and no '.join(missing)}: each point needs x, y and color")
            x, y, color = hint["x"], hint["y"], hint["color"]
            if not isinstance(color, str) or not _COLOR.fullmatch(color):
                raise ValueError(f"hint {number}: color must be '#rrggbb' (six hex digits), got {str(color)[:20]!r}")
            ab = color_to_ab(color)
        else:
            raise ValueError(f"hint {number} must be an object with x, y and color, got {type(hint).__name__}")
        for name, value, size, side in (("x", x, width, "wide"), ("y", y, height, "high")):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"hint {number}: {name} must be a whole number of pixels, got {str(value)[:20]!r}")
            if not 0 <= value < size:
                raise ValueError(f"hint {number}: {name} = {shown(value)} is outside the image, which is {size} pixels "
                                 f"{side} ({name} from 0 to {size - 1})")
        if not all(math.isfinite(v) for v in ab):
            raise ValueError(f"hint {number}: its colour is not a finite number")
        parsed.append(Hint(x, y, float(ab[0]), float(ab[1])))
    return parsed


def shown(value, most: int = 20) -> str:
    """A value as a message repeats it: its repr, at most `most` characters of it (never a whole upload)."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= most else text[:most - 3] + "..."


def hint_layer(hints: list[Hint], width: int, height: int, small_width: int, small_height: int) -> torch.Tensor:
    """Hints on a width x height image -> (3, small_height, small_width) layer: normalized a, b and the mask.

    Each hint fills a HINT_SIDE square around its pixel's position at the small size; a later hint paints over an
    earlier one where they overlap.
    """
    layer = torch.zeros(3, small_height, small_width)
    half = HINT_SIDE // 2
    for hint in hints:
        # pixel centres map onto pixel centres, as in a resize
        column = min(small_width - 1, max(0, round((hint.x + 0.5) * small_width / width - 0.5)))
        row = min(small_height - 1, max(0, round((hint.y + 0.5) * small_height / height - 0.5)))
        top, left = max(0, row - half), max(0, column - half)
        ab = normalize_ab(torch.tensor([hint.a, hint.b]))
        layer[:2, top:row + half + 1, left:column + half + 1] = ab[:, None, None]
        layer[2, top:row + half + 1, left:column + half + 1] = 1
    return layer


def points_shown(result, points: list[Hint], asked: list[str]) -> list[dict]:
    """What each point asked for and what the colorized result shows there: [{"asked": "#rrggbb", "shown":
    "#rrggbb", "exact": bool}], in the order given. result: the Colorizer's output (PIL, upright) for these points;
    asked: each point's colour as the user gave it. `shown` is the result's pixel at the point: the asked hue and
    chroma at the photo's own lightness there, as far as sRGB can show them. `exact` is false when that is more
    than SHOWN_TOLERANCE ab units from the asked colour (an orange asked on a white cloud shows a pale cream)."""
    rgb = result.convert("RGB")
    shown = []
    for point, colour in zip(points, asked):
        pixel = np.array(rgb.getpixel((point.x, point.y)), np.uint8)
        _, a, b = rgb_to_lab_np(pixel[None, None])[0, 0]
        shown.append({"asked": colour.lower(), "shown": "#%02x%02x%02x" % tuple(int(v) for v in pixel),
                      "exact": bool(math.hypot(a - point.a, b - point.b) <= SHOWN_TOLERANCE)})
    return shown
