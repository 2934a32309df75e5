"""Make a clean gray photo look like an old print, and say exactly where its surface damage is.

    degraded, mask = degrade(gray, rng)                      # a random mix at random strengths: augmentation
    degraded, mask = degrade(gray, rng, chance=1, kinds=EVALUATION_KINDS)   # all of these, at random strengths

`gray` is a (H, W) uint8 (or float in [0, 1]) crop or photo; `degraded` is uint8 of the same shape and `mask` a bool
(H, W) array of the scratch, dust and crack pixels that are visible (changed by at least MASK_LEVELS). Each kind is
applied with probability `chance`, in the order a print ages and is scanned:

    tint       a sepia or cyanotype print scanned in colour, then made gray by its luminance (as the Colorizer does)
    fade       contrast compressed towards a lifted black and a dimmed white
    vignette   corners darker
    blur       a soft print or lens (Gaussian)
    grain      film grain: Gaussian noise, a little correlated, strongest in the midtones
    scratches  thin polylines of 1 to 3 px, bright or dark, straight or wandering
    dust       specks (small ellipses) and a few hairs (short curly lines), bright or dark
    cracks     branching wandering lines, mostly dark
    jpeg       JPEG at quality 30 to 70

Damage sizes are given for a photo with a short side of REFERENCE_SIDE and scale with it (never under 1 px), so a
176-px training crop and a 4000-px scan look equally damaged. Pure numpy and OpenCV: cheap enough for a data loader
(about a millisecond for a 176-px crop).
"""
import math
import zlib

import cv2
import numpy as np

from model.color import gray8_of_rgb8

KINDS = ("tint", "fade", "vignette", "blur", "grain", "scratches", "dust", "cracks", "jpeg")
DAMAGE_KINDS = ("scratches", "dust", "cracks")  # the ones the mask records
# "Held-out photos made to look old": the set training.evaluate --degrade and bench.restore apply, all of them.
EVALUATION_KINDS = ("fade", "blur", "grain", "scratches", "dust", "jpeg")
# The two ways the damage detector is measured and fitted (bench.restore, training.train_damage's operating point,
# training.fit_gate): as an old print (every kind above, and cracks), and as damage alone on the photo as it is.
DAMAGE_SETS = {"old print": EVALUATION_KINDS + ("cracks",), "damage only": DAMAGE_KINDS}
REFERENCE_SIDE = 256
MASK_LEVELS = 10  # a damage pixel counts (is in the mask) when it moved the value by this many levels of 255
_SHIFT = 4  # cv2 drawing with sub-pixel coordinates: 4 fractional bits
# Tints as (dark end, light end) in sRGB [0, 1]: a print's gray ramp mapped between them.
TINTS = {"sepia": ((0.20, 0.11, 0.05), (0.98, 0.93, 0.80)),
         "cyanotype": ((0.05, 0.13, 0.33), (0.90, 0.95, 0.98))}


def degrade(gray: np.ndarray, rng: np.random.Generator | int | None = None, chance: float = 0.5,
            kinds: tuple[str, ...] = KINDS) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) gray, uint8 or float in [0, 1] -> ((H, W) uint8 degraded, (H, W) bool mask of visible damage).

    rng: a numpy Generator or a seed (None: fresh entropy). Each kind in `kinds` is applied with probability
    `chance` (1: all of them), each at a strength drawn at random.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown degradation {sorted(unknown)}; choose from {', '.join(KINDS)}")
    if not 0 <= chance <= 1:
        raise ValueError(f"chance must be from 0 to 1, got {chance}")
    rng = np.random.default_rng(rng)
    image = _as_float(gray)  # (H, W) float32 in [0, 1]
    scale = max(min(image.shape), 1) / REFERENCE_SIDE
    chosen = [kind for kind in KINDS if kind in kinds and rng.random() < chance]
    mask = np.zeros(image.shape, bool)
    if "tint" in chosen:
        image = untint(tint(image, rng.choice(list(TINTS)))).astype(np.float32) / 255
    if "fade" in chosen:
        image = fade(image, rng)
    if "vignette" in chosen:
        image = vignette(image, rng.uniform(0.1, 0.4))
    if "blur" in chosen:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5) * scale)
    if "grain" in chosen:
        image = grain(image, rng.uniform(2, 10) / 255, rng)
    undamaged = image
    for kind in DAMAGE_KINDS:
        if kind in chosen:
            image = _DAMAGE[kind](image, rng, scale)
    degraded = _to_uint8(image)
    if image is not undamaged:
        mask = visible_change(degraded, _to_uint8(undamaged))
    if "jpeg" in chosen:
        degraded = jpeg(degraded, int(rng.integers(30, 71)))
    return degraded, mask


def made_old(gray: np.ndarray, name: str, kinds: tuple[str, ...] = EVALUATION_KINDS) -> tuple[np.ndarray, np.ndarray]:
    """Every kind in `kinds`, at strengths drawn from a seed made of `name` (a photo's file name): the same photo
    is made old the same way by every tool and run (training.evaluate --degrade, bench.restore)."""
    return degrade(gray, zlib.crc32(name.encode()), chance=1, kinds=kinds)


# ---- tone: tint, fade, vignette, grain, jpeg ----

def tint(gray: np.ndarray, name: str = "sepia") -> np.ndarray:
    """(H, W) gray (uint8 or float in [0, 1]) -> (H, W, 3) uint8 RGB: the print toned sepia or cyanotype blue."""
    dark, light = (np.asarray(end, np.float32) for end in TINTS[name])
    g = _as_float(gray)[..., None]
    return _to_uint8(dark + (light - dark) * g)


def untint(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 gray of the same luminance: what the Colorizer makes of a colour scan."""
    return gray8_of_rgb8(*(np.ascontiguousarray(rgb[..., c]) for c in range(3)))


def fade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast compressed: black lifted to 4-30% and white dimmed to 75-97%, keeping at least 40% of the range."""
    black = rng.uniform(0.04, 0.30)
    white = rng.uniform(max(0.75, black + 0.4), 0.97)
    return black + (white - black) * image


def vignette(image: np.ndarray, strength: float) -> np.ndarray:
    """Darker towards the corners: multiplied by 1 - strength * r^2, r the distance from the centre (1 at a corner)."""
    height, width = image.shape
    y = (np.arange(height, dtype=np.float32) - (height - 1) / 2) / max(height / 2, 1)
    x = (np.arange(width, dtype=np.float32) - (width - 1) / 2) / max(width / 2, 1)
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) / 2
    return image * (1 - strength * r2)


def grain(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Film grain of about `sigma` (in [0, 1] units): noise slightly blurred (grains cover a few pixels), then
    rescaled to sigma, strongest in the midtones (silver where the print is neither black nor white)."""
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    width = rng.uniform(0, 0.8)
    if width > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), width)
        noise /= max(float(noise.std()), 1e-6)
    midtones = 0.5 + 2 * np.clip(image, 0, 1) * (1 - np.clip(image, 0, 1))  # 0.5 at black and white, 1 at middle gray
    return image + sigma * midtones * noise


def jpeg(gray8: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", gray8, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "OpenCV could not encode a JPEG"
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


# ---- surface damage: drawn as a coverage map (antialiased), blended towards a bright or dark value ----

def scratches(image: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """1 to 5 thin lines across a good part of the photo, each bright or dark, straight or wandering."""
    height, width = image.shape
    for _ in range(int(rng.integers(1, 6))):
        length = rng.uniform(0.3, 1.0) * math.hypot(height, width)
        start = rng.uniform((0, 0), (width, height))
        angle = rng.uniform(0, 2 * math.pi)
        wander = 0.0 if rng.random() < 0.5 else rng.uniform(0.05, 0.25)
        points = _walk(start, angle, length, steps=24, wander=wander, rng=rng)
        thickness = _thickness(rng.uniform(1, 3) * scale)
        image = _blend(image, _draw([points], image.shape, thickness), rng)
    return image


def dust(image: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """5 to 40 specks (ellipses with a radius of 0.5 to 2.5 px) and 0 to 3 hairs (short curly lines); dust on one
    print is mostly of one kind, bright (on the negative) or dark (on the print)."""
    height, width = image.shape
    bright = rng.random() < 0.5
    coverage = np.zeros(image.shape, np.float32)
    for _ in range(int(rng.integers(5, 41))):
        centre = rng.uniform((0, 0), (width, height))
        axes = np.maximum(rng.uniform(0.5, 2.5, 2) * scale, 0.5)
        canvas = np.zeros(image.shape, np.uint8)
        cv2.ellipse(canvas, _fixed(centre), _fixed(axes), rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        coverage = np.maximum(coverage, canvas * np.float32(rng.uniform(0.6, 1.0) / 255))
    for _ in range(int(rng.integers(0, 4))):
        points = _walk(rng.uniform((0, 0), (width, height)), rng.uniform(0, 2 * math.pi),
                       rng.uniform(8, 30) * scale, steps=10, wander=0.6, rng=rng)
        coverage = np.maximum(coverage, _draw([points], image.shape, _thickness(scale)))
    return _blend(image, coverage, rng, bright=bright)


def cracks(image: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """1 to 3 cracks: a wandering line with 1 to 4 branches, 1 to 2 px wide; dark (dirt in the crack) or, more
    rarely, bright (the paper showing through)."""
    height, width = image.shape
    for _ in range(int(rng.integers(1, 4))):
        length = rng.uniform(0.2, 0.6) * math.hypot(height, width)
        trunk = _walk(rng.uniform((0, 0), (width, height)), rng.uniform(0, 2 * math.pi), length, steps=30,
                      wander=0.35, rng=rng)
        lines = [trunk]
        for _ in range(int(rng.integers(1, 5))):
            fork = trunk[int(rng.integers(1, len(trunk)))]
            lines.append(_walk(fork, rng.uniform(0, 2 * math.pi), length * rng.uniform(0.1, 0.4), steps=12,
                               wander=0.45, rng=rng))
        coverage = _draw(lines, image.shape, _thickness(rng.uniform(1, 2) * scale))
        image = _blend(image, coverage, rng, bright=rng.random() < 0.25)
    return image


_DAMAGE = {"scratches": scratches, "dust": dust, "cracks": cracks}


def _walk(start, angle: float, length: float, steps: int, wander: float, rng: np.random.Generator) -> np.ndarray:
    """(steps + 1, 2) points of a path from start: straight when wander is 0, else its heading drifts randomly."""
    step = length / steps
    headings = angle + np.cumsum(rng.normal(0, wander, steps))
    moves = step * np.stack([np.cos(headings), np.sin(headings)], axis=1)
    return np.concatenate([np.asarray(start, float)[None], np.asarray(start, float) + np.cumsum(moves, axis=0)])


def _thickness(width: float) -> int:
    return max(1, int(round(width)))


def _fixed(values) -> tuple[int, ...]:
    return tuple(int(round(v * (1 << _SHIFT))) for v in values)


def _draw(lines: list[np.ndarray], shape: tuple[int, int], thickness: int) -> np.ndarray:
    """Antialiased polylines -> (H, W) float32 coverage in [0, 1]."""
    canvas = np.zeros(shape, np.uint8)
    fixed = [np.round(line * (1 << _SHIFT)).astype(np.int32) for line in lines]
    cv2.polylines(canvas, fixed, False, 255, thickness, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32) / 255


def visible_change(damaged: np.ndarray, undamaged: np.ndarray) -> np.ndarray:
    """Two (H, W) uint8 grays -> (H, W) bool: the pixels the damage moved by MASK_LEVELS or more, as the 8-bit image
    shows them (the mask every damage set records)."""
    return np.abs(damaged.astype(np.int16) - undamaged) >= MASK_LEVELS


def _blend(image: np.ndarray, coverage: np.ndarray, rng: np.random.Generator, bright: bool | None = None) -> np.ndarray:
    """The damage's coverage blended over the image towards a bright (0.85-1) or dark (0-0.2) value, at an opacity
    of 0.6 to 1."""
    bright = rng.random() < 0.5 if bright is None else bright
    value = rng.uniform(0.85, 1.0) if bright else rng.uniform(0.0, 0.2)
    alpha = coverage * np.float32(rng.uniform(0.6, 1.0))
    return image + alpha * (np.float32(value) - image)


def _as_float(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"degrade takes a (H, W) gray image, got shape {gray.shape}")
    if gray.dtype == np.uint8:
        return gray.astype(np.float32) / 255
    return np.clip(gray, 0, 1).astype(np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
