"""Repair an old print's gray before it is colorized: dust, scratches and cracks filled in, grain calmed, a faded
print's contrast lifted. Pure numpy and OpenCV.

    repaired, report = restore(gray, mode="auto")    # (H, W) uint8, or float32 in [0, 1] (16-bit scans)

mode "on" repairs whatever it finds. "auto" first decides whether the photo is an old print at all, from measures
that a clean photo rarely shows together (a compressed histogram, grain, many thin bright or dark defects): only
then does it repair, as "on" does; any other photo comes back bitwise unchanged. "off" returns the input as it is.
The report says what was measured and what was done.

How, step by step (each on a copy of at most DETECT_PIXELS, so the cost is bounded whatever the photo's size;
only the repairs themselves run at full resolution):

- Defects. The white top-hat and the black-hat (the image minus its morphological opening; its closing minus the
  image) keep what is brighter or darker than its surroundings and narrower than DEFECT_WIDTH. Lines: that residue,
  thickened by a pixel so that a wandering line fits, is opened with line segments of LINE_LENGTH at 8 angles: what
  survives lies on a line at least that long (a scratch, a crack, a hair), where texture and compact detail (an
  eye, a letter's bowl, a window) do not. A line is kept when it is bright or dark enough (a floor in levels, and a
  multiple of the noise), thin, long, and stands out from the residue of its surroundings (so that a scratch on a
  smooth sky is taken and a blade of grass in a meadow is not). Specks: small components of the residue that stand
  out even more from their surroundings.
- Fill: the defect pixels, grown by a pixel, are filled from their surroundings by OpenCV's inpainting (Telea's
  fast marching), tile by tile and only in tiles that have any, so the cost follows the damage.
- Grain: Immerkaer's (1996) noise estimate, per block of the photo and at two scales (JPEG leaves film grain as
  blotches a few pixels wide, which a one-pixel kernel misses); where it is high, a bilateral filter whose range
  is tied to the measured noise.
- Fading: when the histogram is compressed (no black, no white), a percentile stretch.
"""
import math

import cv2
import numpy as np

MODES = ("auto", "on", "off")
DETECT_PIXELS = 2_000_000  # defects and noise are measured on a copy of at most this many pixels
DEFECT_WIDTH = 7  # px at the detection resolution: the structuring element of the top-hat; wider is not looked at
LINE_LENGTH = 15  # px at the detection resolution: a line survives an opening with a segment this long
ANGLES = 8
TILE = 512  # inpainting works tile by tile
_PAD = 8  # context around a tile

# Defects (levels of 255, px at the detection resolution)
LINE_FLOOR = 40  # a line pixel's residue, after the opening
SPECK_FLOOR = 35  # a speck's residue
NOISE_FACTOR = 6  # ... and both at least this many times the noise
LINE_MIN_LENGTH = 15  # a line component's bounding-box diagonal
LINE_MAX_WIDTH = 7  # its area over that length
LINE_ISOLATION = 5  # its mean response over the mean residue around it
SPECK_SIDE = 7  # a speck fits in a square of this side
SPECK_ISOLATION = 6  # its peak residue over the mean residue around it
SURROUND = 15  # the window of "around it"
LINE_BUSY = 0.4  # a line is not taken where more than this share of the pixels around it are candidates too
SPECK_BUSY = 0.15  # ... nor a speck
# Grain: a photo is smoothed when the noise of its quieter blocks reaches NOISE_LOW, and each block by a weight
# that ramps from 0 at NOISE_LOW to 1 at NOISE_HIGH (sigma in levels)
NOISE_LOW, NOISE_HIGH = 1.5, 3.0
# Fading: the darkest 0.5% above FADE_BLACK or the brightest 0.5% below FADE_WHITE; stretched towards TARGET
FADE_BLACK, FADE_WHITE = 24, 230
TARGET = (6.0, 248.0)
STRETCH_SHARE = 0.7
MAX_GAIN = 1.6


def check_mode(mode) -> str:
    """"auto", "on" or "off" (any case, surrounding spaces ignored) -> itself; anything else -> ValueError."""
    text = mode.strip().lower() if isinstance(mode, str) else None
    if text not in MODES:
        raise ValueError(f"restore must be auto, on or off, got {str(mode)[:20]!r}")
    return text


def restore(gray: np.ndarray, mode: str = "auto") -> tuple[np.ndarray, dict]:
    """(H, W) gray, uint8 or float32 in [0, 1] -> (the repaired gray, same shape and dtype; a report).

    The report: mode; old_print (auto's score, > 0 means an old print); changed; noise (sigma in levels of 255,
    fine and coarse); black and white (the 0.5% and 99.5% levels); defects (how many were filled); filled (share
    of pixels filled); denoised (share of pixels smoothed); stretched ([black, white] levels mapped to TARGET, or
    None). When nothing is done the input array itself is returned.
    """
    mode = check_mode(mode)
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"restore takes a (H, W) gray image, got shape {gray.shape}")
    report = {"mode": mode, "changed": False}
    if mode == "off" or min(gray.shape) < 16:
        return gray, report
    mask, measured = detect(gray)
    report.update(old_print=round(old_print_score(measured), 2), noise=[round(n, 2) for n in measured["noise"]],
                  black=measured["black"], white=measured["white"], defects=0, filled=0.0, denoised=0.0,
                  stretched=None)
    if mode == "auto" and report["old_print"] <= 0:
        return gray, report

    result = gray
    if measured["defects"]:
        result = fill(result, mask)
        report.update(defects=measured["defects"], filled=round(float(mask.mean()), 5))
    weight = noise_weight(measured["noise_map"], gray.shape) if max(measured["noise"]) >= NOISE_LOW else None
    if weight is not None:
        result = denoise(result, weight, max(measured["noise"]))
        report["denoised"] = round(float((weight > 2).mean()), 4)
    step = max(1, round(math.sqrt(result.size / DETECT_PIXELS)))  # the histogram of a large photo: a grid of it
    levels = fade_levels(_to_uint8(result[::step, ::step]) if result.dtype != np.uint8 else result[::step, ::step])
    if levels is not None:
        result = stretch(result, *levels)
        report["stretched"] = [round(levels[0][0], 1), round(levels[0][1], 1)]
    report["changed"] = result is not gray
    return result, report


def detect(gray: np.ndarray) -> tuple[np.ndarray, dict]:
    """(H, W) gray -> ((H, W) bool mask of the defects "on" would fill, the measures restore decides on)."""
    gray8 = _to_uint8(gray) if gray.dtype != np.uint8 else gray
    small, scale = detection_copy(gray8)
    measured = measure(small)
    mask = measured.pop("mask")
    if scale != 1 and measured["defects"]:
        mask = cv2.resize(mask.astype(np.uint8), gray.shape[::-1], interpolation=cv2.INTER_LINEAR) > 0
    elif scale != 1:
        mask = np.zeros(gray.shape, bool)
    return mask, measured


def detection_copy(gray8: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo at most DETECT_PIXELS (area-averaged), and the scale it was taken at."""
    height, width = gray8.shape
    scale = min(1.0, math.sqrt(DETECT_PIXELS / (height * width)))
    if scale == 1:
        return gray8, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray8, size, interpolation=cv2.INTER_AREA), scale


def measure(small: np.ndarray) -> dict:
    """Everything restore decides on, from the detection copy: noise (fine and coarse sigma, levels) and its map
    per block, the 0.5% and 99.5% levels, the defect mask and counts, and the features of old_print_score."""
    fine_map = block_noise(small, 16)
    coarse = cv2.resize(small, (max(1, small.shape[1] // 2), max(1, small.shape[0] // 2)),
                        interpolation=cv2.INTER_AREA)
    coarse_map = block_noise(coarse, 8)
    # The noise of the photo is that of its quieter blocks: texture raises the others.
    noise = (float(np.percentile(fine_map, 20)), float(np.percentile(coarse_map, 20)))
    black, white = percentiles(small)
    mask, lines, specks = find_defects(small, noise[0])
    return {"noise": noise, "noise_map": np.maximum(fine_map, _upsample_blocks(coarse_map, fine_map.shape)),
            "black": black, "white": white, "mask": mask, "defects": lines + specks,
            "features": score_features(small, noise)}


# ---- noise ----

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def block_noise(gray8: np.ndarray, block: int) -> np.ndarray:
    """(H, W) uint8 -> (ceil(H / block), ceil(W / block)) noise sigma in levels per block: Immerkaer's kernel, which
    cancels planes and second-order ramps, and the mean of its absolute response, sqrt(pi / 2) / 6 times it, as
    his fast estimate (on the block, so that an edge spoils only its own blocks)."""
    response = np.abs(cv2.filter2D(gray8.astype(np.float32), -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    height, width = gray8.shape
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(response, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    means = padded.reshape(rows, block, cols, block).mean(axis=(1, 3))
    return means * (math.sqrt(math.pi / 2) / 6)


def _upsample_blocks(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(values.astype(np.float32), shape[::-1], interpolation=cv2.INTER_NEAREST)


def noise_weight(noise_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """(H, W) uint8 weight of the denoised image, 255 meaning all of it: 0 where the noise is under NOISE_LOW, 255
    above NOISE_HIGH, smooth in between. None when no block reaches NOISE_LOW."""
    ramp = np.clip((noise_map - NOISE_LOW) / (NOISE_HIGH - NOISE_LOW), 0, 1).astype(np.float32)
    if not (ramp > 0).any():
        return None
    ramp = cv2.GaussianBlur(ramp, (0, 0), 1.0)  # no seams between blocks
    return cv2.resize(np.round(ramp * 255).astype(np.uint8), shape[::-1], interpolation=cv2.INTER_LINEAR)


def denoise(gray: np.ndarray, weight: np.ndarray, noise: float) -> np.ndarray:
    """A 5-px bilateral filter whose range sigma is 3x the noise (grain is averaged, edges with more contrast
    than the grain are kept), blended in with weight (uint8, 255: all of it), tile by tile: a tile wholly in or
    out costs a copy."""
    scale = 1 if gray.dtype == np.uint8 else 255  # OpenCV's bilateral filter takes 8-bit or levels of 255
    image = gray if scale == 1 else gray.astype(np.float32) * scale
    smooth = cv2.bilateralFilter(image, 5, 3 * noise, 3)
    result = smooth if scale == 1 else np.clip(smooth / scale, 0, 1).astype(gray.dtype)
    height, width = gray.shape
    for top in range(0, height, TILE):
        for left in range(0, width, TILE):
            rows, cols = slice(top, top + TILE), slice(left, left + TILE)
            share = weight[rows, cols]
            if share.min() == 255:
                continue
            if share.max() == 0:
                result[rows, cols] = gray[rows, cols]
                continue
            mixed = gray[rows, cols] + share / np.float32(255) * (result[rows, cols].astype(np.float32) - gray[rows, cols])
            result[rows, cols] = np.clip(mixed + 0.5, 0, 255) if scale == 1 else np.clip(mixed, 0, 1)
    return result


# ---- defects ----

def _line_elements() -> list[np.ndarray]:
    elements = []
    centre = (LINE_LENGTH - 1) / 2
    for i in range(ANGLES):
        angle = math.pi * i / ANGLES
        element = np.zeros((LINE_LENGTH, LINE_LENGTH), np.uint8)
        dx, dy = math.cos(angle) * centre, math.sin(angle) * centre
        cv2.line(element, (round(centre - dx), round(centre - dy)), (round(centre + dx), round(centre + dy)), 1, 1)
        elements.append(element)
    return elements


_LINES = _line_elements()
_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (DEFECT_WIDTH, DEFECT_WIDTH))
_SQUARE3 = np.ones((3, 3), np.uint8)


def find_defects(small: np.ndarray, noise: float) -> tuple[np.ndarray, int, int]:
    """(h, w) uint8 -> ((h, w) bool mask of defect pixels to fill, grown by a pixel; lines; specks)."""
    image = cv2.GaussianBlur(small, (0, 0), 0.7) if noise > 2 else small  # grain's single pixels fall, lines do not
    mask = np.zeros(small.shape, bool)
    lines = specks = 0
    for operation in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):
        residue = cv2.morphologyEx(image, operation, _DISK)  # uint8: what is brighter (darker) than around it
        found, n_lines = _lines(residue, noise)
        mask |= found
        found, n_specks = _specks(residue, noise, exclude=found)
        mask |= found
        lines, specks = lines + n_lines, specks + n_specks
    if lines + specks:
        mask = cv2.dilate(mask.astype(np.uint8), _SQUARE3).astype(bool)
    return mask, lines, specks


def _lines(residue: np.ndarray, noise: float) -> tuple[np.ndarray, int]:
    threshold = max(LINE_FLOOR, NOISE_FACTOR * noise)
    response = _line_response(residue, threshold)
    candidates = response >= threshold
    found = _components(candidates, residue)
    if found is None:
        return candidates, 0
    labels, stats, pixels, around, busy = found
    mean = np.bincount(labels.ravel()[pixels], response.ravel()[pixels], len(stats)) / np.maximum(stats[:, 4], 1)
    length = np.hypot(stats[:, 2], stats[:, 3])
    keep = (length >= LINE_MIN_LENGTH) & (stats[:, 4] <= LINE_MAX_WIDTH * length) & \
        (mean >= LINE_ISOLATION * around) & (busy <= LINE_BUSY)
    keep[0] = False
    return keep[labels], int(keep.sum())


def _line_response(residue: np.ndarray, threshold: float) -> np.ndarray:
    """The largest opening of the residue (thickened by a pixel, so that a one-pixel line that wanders still
    holds a straight segment) by a line segment at any of ANGLES angles, no more than the residue itself. Tile by
    tile, skipping tiles where nothing reaches the threshold: the openings are the costly part."""
    response = np.zeros_like(residue)
    height, width = residue.shape
    tile, pad = 256, LINE_LENGTH + 1  # an opening looks LINE_LENGTH - 1 px away, the thickening 1 more
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(height, top + tile), min(width, left + tile)
            if residue[top:bottom, left:right].max() < threshold:
                continue
            t, l = max(0, top - pad), max(0, left - pad)
            b, r = min(height, bottom + pad), min(width, right + pad)
            thick = cv2.dilate(residue[t:b, l:r], _SQUARE3)
            best = np.zeros_like(thick)
            for element in _LINES:
                np.maximum(best, cv2.morphologyEx(thick, cv2.MORPH_OPEN, element), out=best)
            response[top:bottom, left:right] = best[top - t:bottom - t, left - l:right - l]
    return np.minimum(response, residue, out=response)


def _specks(residue: np.ndarray, noise: float, exclude: np.ndarray) -> tuple[np.ndarray, int]:
    candidates = (residue >= max(SPECK_FLOOR, NOISE_FACTOR * noise)) & ~exclude
    found = _components(candidates, residue)
    if found is None:
        return candidates, 0
    labels, stats, pixels, around, busy = found
    peak = np.zeros(len(stats), np.float32)
    np.maximum.at(peak, labels.ravel()[pixels], residue.ravel()[pixels])
    keep = (np.maximum(stats[:, 2], stats[:, 3]) <= SPECK_SIDE) & (stats[:, 4] >= 2) & \
        (peak >= SPECK_ISOLATION * around) & (busy <= SPECK_BUSY)
    keep[0] = False
    return keep[labels], int(keep.sum())


def _components(candidates: np.ndarray, residue: np.ndarray):
    """Connected candidates -> (labels, stats, the candidates' flat indices, each component's mean over its pixels
    of the mean residue of the non-candidate pixels in the SURROUND window, and of the share of candidates in that
    window), or None when there are none. Window sums from integral images, read at the candidates only."""
    pixels = np.flatnonzero(candidates)
    if not len(pixels):
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.view(np.uint8), connectivity=8)
    outside = cv2.integral((~candidates).view(np.uint8))  # (h + 1, w + 1) counts
    quiet = cv2.integral(np.where(candidates, 0, residue).astype(np.uint8))  # the residue around, candidates left out
    height, width = candidates.shape
    y, x = np.divmod(pixels, width)
    half = SURROUND // 2
    top, bottom = np.clip(y - half, 0, height), np.clip(y + half + 1, 0, height)
    left, right = np.clip(x - half, 0, width), np.clip(x + half + 1, 0, width)

    def window(integral: np.ndarray) -> np.ndarray:
        return (integral[bottom, right] - integral[top, right] - integral[bottom, left] + integral[top, left]).astype(
            np.float64)

    others, total = window(outside), ((bottom - top) * (right - left)).astype(np.float64)
    level = window(quiet) / np.maximum(others, 1)
    own = labels.ravel()[pixels]
    area = np.maximum(stats[:, 4], 1)
    around = np.bincount(own, level, count) / area
    busy = np.bincount(own, 1 - others / total, count) / area
    return labels, stats, pixels, np.maximum(around, 1.0), busy


def fill(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The masked pixels filled from their surroundings (Telea's inpainting), tile by tile: only tiles with masked
    pixels are touched, each with a margin of context. Returns a new array."""
    if gray.dtype != np.uint8:  # OpenCV's inpainting of float images expects levels of 255: in [0, 1] it overshoots
        return np.clip(_fill_tiles(gray.astype(np.float32) * 255, mask) / 255, 0, 1).astype(gray.dtype)
    return _fill_tiles(gray, mask)


def _fill_tiles(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    result = gray.copy()
    height, width = gray.shape
    mask8 = mask.astype(np.uint8)
    for top in range(0, height, TILE):
        for left in range(0, width, TILE):
            bottom, right = min(height, top + TILE), min(width, left + TILE)
            if not mask8[top:bottom, left:right].any():
                continue
            t, l = max(0, top - _PAD), max(0, left - _PAD)
            b, r = min(height, bottom + _PAD), min(width, right + _PAD)
            patch = cv2.inpaint(gray[t:b, l:r], mask8[t:b, l:r], 3, cv2.INPAINT_TELEA)
            result[top:bottom, left:right] = patch[top - t:bottom - t, left - l:right - l]
    return result


# ---- fading ----

def percentiles(gray8: np.ndarray) -> tuple[float, float]:
    """The levels under which 0.5% and over which 0.5% of the pixels lie."""
    cumulative = np.bincount(gray8.ravel(), minlength=256).cumsum()
    total = cumulative[-1]
    return float(np.searchsorted(cumulative, 0.005 * total)), float(np.searchsorted(cumulative, 0.995 * total))


def fade_levels(gray8: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((black, white), (new black, new white)) for stretch, or None when the histogram already spans the range.

    A faded print has no black (its darkest 0.5% above FADE_BLACK) or no white (its brightest 0.5% below
    FADE_WHITE). That end moves STRETCH_SHARE of the way to TARGET's, the other stays, and the contrast grows at
    most MAX_GAIN times: a photo of a light object on white was never black anywhere, and a full stretch would
    make it so. (On photos made old by training.degrade, these limits brought the lightness 0.8 dB closer to the
    clean photo's than a full stretch did, and made fewer photos worse.)"""
    black, white = percentiles(gray8)
    faded_black, faded_white = black > FADE_BLACK, white < FADE_WHITE
    if not (faded_black or faded_white) or white - black < 16:
        return None
    low = black + STRETCH_SHARE * (TARGET[0] - black) if faded_black else black
    high = white + STRETCH_SHARE * (TARGET[1] - white) if faded_white else white
    if (high - low) > MAX_GAIN * (white - black):
        middle, half = (low + high) / 2, MAX_GAIN * (white - black) / 2
        low, high = max(0.0, middle - half), min(255.0, middle + half)
    return (black, white), (low, high)


def stretch(gray: np.ndarray, source: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """Levels source[0]..source[1] mapped linearly onto target[0]..target[1]; values beyond are clipped."""
    (black, white), (low, high) = source, target
    gain = (high - low) / (white - black)
    if gray.dtype == np.uint8:
        table = np.clip(low + (np.arange(256) - black) * gain + 0.5, 0, 255)
        return table.astype(np.uint8)[gray]
    return np.clip(low / 255 + (gray - black / 255) * gain, 0, 1).astype(gray.dtype)


# ---- is it an old print? ----

# auto's score: a weighted sum of these measures, > 0 for an old print. Fitted (a logistic regression) on 300
# photos of the training split, each as it is and made old by training.degrade, twice: with every kind of
# damage, and with a random half of them (`python -m bench.restore --fit-gate`); the offset is set so that 1 clean
# photo in 100 scores above 0 there. Alone, each measure is shared by many clean photos (a misty landscape has no
# black, a sharp one has thin bright lines); together they say "soft, faded, blotchy grain, a few lines that
# stand out from it", which clean photos rarely are.
_WEIGHTS = {"grad90": -0.888, "grad_tail": -3.248, "res_tail": 2.446, "res_grad": 1.17, "black": 2.727,
            "white": 3.418, "p2": 2.295, "p98": 2.844, "tail_dark": -0.253, "tail_bright": -0.709,
            "noise_fine": -1.463, "noise_coarse": 2.857}
_OFFSET = -3.391


def score_features(small: np.ndarray, noise: tuple[float, float]) -> dict:
    """The measures old_print_score weighs, from the detection copy."""
    sample = small
    levels = np.bincount(sample.ravel(), minlength=256).cumsum() / sample.size

    def level(share: float) -> float:
        return float(np.searchsorted(levels, share)) / 255

    image = sample.astype(np.float32)
    gradient = cv2.magnitude(cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)) / 8
    residue = np.maximum(cv2.morphologyEx(sample, cv2.MORPH_TOPHAT, _DISK),
                         cv2.morphologyEx(sample, cv2.MORPH_BLACKHAT, _DISK))
    step = max(1, sample.size // 500_000)  # percentiles of a large copy: from every step-th pixel
    g90, g997 = np.percentile(gradient.ravel()[::step], (90, 99.7))
    r90, r997 = np.percentile(residue.ravel()[::step], (90, 99.7))
    return {"grad90": math.log1p(g90), "grad_tail": math.log((g997 + 1) / (g90 + 1)),
            "res_tail": math.log((r997 + 1) / (r90 + 1)), "res_grad": math.log((r997 + 1) / (g90 + 1)),
            "black": level(0.005), "white": 1 - level(0.995), "p2": level(0.02), "p98": 1 - level(0.98),
            "tail_dark": level(0.02) - level(0.0005), "tail_bright": level(0.9995) - level(0.98),
            "noise_fine": math.log1p(noise[0]), "noise_coarse": math.log1p(noise[1])}


def old_print_score(measured: dict) -> float:
    return _OFFSET + sum(_WEIGHTS[name] * value for name, value in measured["features"].items())


def _to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(gray, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
