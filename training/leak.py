"""How far a colour point's colour leaks out of the object it was put on.

A photo gets one point inside an object region, in a colour unlike the one the automatic colorizer gave it there;
the photo is colorized with and without the point, and the change in colour (Lab ab) is compared inside and
outside the object:

- leak: mean |delta ab| outside the object / mean |delta ab| near the point (object pixels within NEAR_RADIUS of
  the short side of it). 0 when nothing outside moved.
- moved: the share of outside pixels whose ab moved by more than MOVED_AB units.
- at point: the ab distance between the result at the point (its 3x3 pixels) and the asked colour as sRGB can show
  it at the photo's lightness there (model.color.fit_gamut_np).

The object regions come from the original colour photo: a graph-based segmentation (Felzenszwalb and
Huttenlocher 2004, skimage.segmentation.felzenszwalb), and of its segments that are neither tiny nor most of the
photo, nor run along much of the photo's border (the sky, the ground), and that stand out from the ring of pixels
around them by MIN_CONTRAST in Lab (an object, not a piece of a wall or a face the segmentation cut off), the one
with the largest inscribed circle. The point sits at that circle's centre. A band of BAND of the short side around the object is left out of
"outside": a segment's border does not follow the photo's edges to the pixel.
"""
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.segmentation import felzenszwalb

from model.color import fit_gamut_np, rgb_to_lab_np
from model.hints import color_to_ab

NEAR_RADIUS = 0.1  # "near the point": object pixels within this share of the short side
BAND = 0.01  # the band around the object left out of "outside", a share of the short side (at least 2 pixels)
MOVED_AB = 10.0  # an outside pixel "moved" when its ab changed by more than this
MIN_AREA, MAX_AREA = 0.03, 0.4  # object regions: this share of the photo, at least and at most
MAX_BORDER = 0.15  # ... touching at most this share of the photo's border
MIN_RADIUS = 0.04  # ... with an inscribed circle of at least this share of the short side
MIN_CONTRAST = 15.0  # ... whose mean colour (Lab) differs at least this much from the ring around it: an object
RING = 0.03  # that ring's width, a share of the short side
MIN_ASKED = 15.0  # a probe needs a palette colour at least this far (ab) from the automatic one at the point
# The page's colour swatches, without the grays, beige and skin: the colours a person picks for an object.
PALETTE = ("#c0392b", "#e67e22", "#f1c40f", "#6b8e23", "#2e8b57", "#16a085", "#5dade2", "#2e59c6", "#1f3a6e",
           "#7d3c98", "#e08cb4")


@dataclass(frozen=True)
class Probe:
    """One photo's object region and the point put on it."""
    mask: np.ndarray  # (H, W) bool: the object
    x: int
    y: int


def object_region(rgb: np.ndarray) -> Probe | None:
    """(H, W, 3) uint8 colour photo -> its object region and the point at its most interior pixel; None if no
    segment qualifies."""
    height, width = rgb.shape[:2]
    short, area = min(height, width), height * width
    # Felzenszwalb's scale prefers larger segments as it grows; tied to the photo's size so that a 150-px and a
    # 640-px photo are cut alike.
    segments = felzenszwalb(rgb, scale=0.5 * short, sigma=0.8, min_size=max(20, int(0.01 * area)))
    border = np.zeros((height, width), bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    best, best_radius = None, MIN_RADIUS * short
    counts = np.bincount(segments.ravel())
    on_border = np.bincount(segments[border], minlength=len(counts))
    lab = rgb_to_lab_np(rgb)
    ring_width = max(2, round(RING * short))
    for label in np.flatnonzero((counts >= MIN_AREA * area) & (counts <= MAX_AREA * area)):
        if on_border[label] > MAX_BORDER * border.sum():
            continue
        mask = segments == label
        mask = ndimage.binary_fill_holes(mask)  # a hole is part of the object (a button on a coat)
        ring = ndimage.binary_dilation(mask, iterations=ring_width) & ~mask
        if np.linalg.norm(lab[mask].mean(0) - lab[ring].mean(0)) < MIN_CONTRAST:
            continue
        distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # the border is not inside
        radius = distance.max()
        if radius > best_radius:
            y, x = np.unravel_index(int(distance.argmax()), distance.shape)
            best, best_radius = Probe(mask, int(x), int(y)), radius
    return best


def window(plane: np.ndarray, x: int, y: int, half: int = 1) -> np.ndarray:
    return plane[max(0, y - half):y + half + 1, max(0, x - half):x + half + 1]


def unlike_colour(automatic: np.ndarray, probe: Probe) -> str | None:
    """The palette colour whose ab, as sRGB shows it at the photo's lightness at the point, is farthest from the
    automatic result's ab there: a point a person would set to correct the colour. None when even that one is
    within MIN_ASKED (near black or white, sRGB shows every colour nearly gray: no change to measure)."""
    lab = rgb_to_lab_np(window(automatic, probe.x, probe.y, 2)).reshape(-1, 3).mean(0)
    options = np.array([[lab[0], *color_to_ab(colour)] for colour in PALETTE], np.float32)
    distances = np.linalg.norm(fit_gamut_np(options)[:, 1:] - lab[1:], axis=1)
    return PALETTE[int(distances.argmax())] if distances.max() >= MIN_ASKED else None


def leak_scores(automatic: np.ndarray, pointed: np.ndarray, probe: Probe, colour: str) -> dict:
    """Two (H, W, 3) uint8 results, without and with the point -> leak, moved and at_point (see the module)."""
    lab_auto, lab_point = rgb_to_lab_np(automatic), rgb_to_lab_np(pointed)
    change = np.linalg.norm(lab_point[..., 1:] - lab_auto[..., 1:], axis=-1)  # (H, W) |delta ab|
    height, width = change.shape
    short = min(height, width)
    rows, columns = np.ogrid[:height, :width]
    near = probe.mask & ((rows - probe.y) ** 2 + (columns - probe.x) ** 2 <= (NEAR_RADIUS * short) ** 2)
    band = max(2, round(BAND * short))
    outside = ~ndimage.binary_dilation(probe.mask, iterations=band)
    a, b = color_to_ab(colour)
    here = window(lab_point, probe.x, probe.y).reshape(-1, 3)
    asked = fit_gamut_np(np.stack([here[:, 0], np.full(len(here), a), np.full(len(here), b)], axis=1))
    near_change = float(change[near].mean())
    outside_change = float(change[outside].mean()) if outside.any() else 0.0
    return {"leak": outside_change / max(near_change, 1e-6), "moved": float((change[outside] > MOVED_AB).mean())
            if outside.any() else 0.0, "at_point": float(np.linalg.norm(here[:, 1:] - asked[:, 1:], axis=1).mean()),
            "near_change": near_change, "outside_change": outside_change}


def measure(colorizer, image: Image.Image, size: int | None = None) -> tuple[dict, dict] | None:
    """One colour photo -> (its scores, the pictures for a sheet), or None when it has no object region to probe
    or no colour that would visibly change it.
    colorizer: a model.colorizer.Colorizer (or any callable like it)."""
    rgb = np.asarray(image.convert("RGB"))
    probe = object_region(rgb)
    if probe is None:
        return None
    automatic = np.asarray(colorizer(image, size=size))
    colour = unlike_colour(automatic, probe)
    if colour is None:
        return None
    pointed = np.asarray(colorizer(image, size=size, hints=[{"x": probe.x, "y": probe.y, "color": colour}]))
    scores = leak_scores(automatic, pointed, probe, colour)
    return scores, {"automatic": automatic, "pointed": pointed, "probe": probe, "colour": colour}


def summarize(scores: list[dict]) -> dict:
    """Per-photo scores -> means over the photos (leak and moved as measured per photo, then averaged), and the
    share of photos whose point arrived within 8 ab units."""
    if not scores:
        return {"photos": 0}
    return {"photos": len(scores), **{key: float(np.mean([s[key] for s in scores]))
                                      for key in ("leak", "moved", "at_point")},
            "leak_median": float(np.median([s["leak"] for s in scores])),
            "arrived": float(np.mean([s["at_point"] <= 8 for s in scores]))}


def measure_photos(colorizer, paths: list, size: int | None = None, keep: set | None = None) -> tuple[list, list]:
    """Photos by path -> (each probed photo's scores, with its "name"; the pictures of the photos whose index is in
    keep). Photos with no object region or no visible colour to ask are left out."""
    scores, kept = [], []
    for index, path in enumerate(paths):
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        result = measure(colorizer, image, size)
        if result is None:
            continue
        scores.append({"name": str(path), **result[0]})
        if keep and index in keep:
            kept.append((image, result[1]))
    return scores, kept


def format_table(tables: dict) -> str:
    """{set name: summarize(...) (optionally with "sweep": PSNR over gray with 10 points)} -> a Markdown table."""
    lines = ["| photos | probed | leak (mean) | leak (median) | outside moved > 10 ab | ab at the point | "
             "within 8 ab | 10 points vs gray |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in tables.items():
        if not t.get("photos"):
            lines.append(f"| {name} | 0 | | | | | | |")
            continue
        sweep = f"{t['sweep']:+.2f} dB" if "sweep" in t else ""
        lines.append(f"| {name} | {t['photos']} | {t['leak']:.3f} | {t['leak_median']:.3f} | {t['moved']:.1%} | "
                     f"{t['at_point']:.1f} | {t['arrived']:.0%} | {sweep} |")
    return "\n".join(lines)
