"""Repair an old print's gray before it is colorized: dust, scratches and cracks filled in, grain calmed, a faded
print's contrast lifted. numpy and OpenCV, and a small learned damage detector (model.damage).

    repaired, report = restore(gray, mode="auto")    # (H, W) uint8, or float32 in [0, 1] (16-bit scans)

mode "on" fills the damage the detector finds on any photo; "auto" repairs a photo only when it is taken for an
old or damaged print, on the evidence of the whole photo: how it looks (a compressed histogram, grain, softness:
the measures of old_print_score) and what the detector found on it (how many lines and specks, how long, how sure),
weighed together by the detector file's gate (a small network fitted by `python -m training.fit_gate` so that
at most 2 clean photos in 5,000 of the training split are taken). Neither alone is enough: the detector takes some
sharp edges of clean photos for scratches, and a misty landscape looks faded. Any other photo comes back bitwise
unchanged. In both modes grain is calmed and fading stretched only on a photo that looks like an old print
(old_print_score above 0): a clean portrait without a white has nothing to fix, and a stretch would change every
face in it; a sharp photo with a scratch gets the scratch filled and nothing else. "off" returns the input as it
is. The report says what was measured and what was done.

How, step by step (each on a copy of at most DETECT_PIXELS, so the cost is bounded whatever the photo's size;
only the repairs themselves run at full resolution):

- Defects. The detector (model.damage, trained on photos made old by training.degrade, with printed text as
  detail that is not damage) gives each pixel's probability of being damage. Its sure pixels are kept where they
  form thin lines (scratches, cracks, hairs) or small specks (dust), even where lines cross; a large blob is not a
  speck. Faces (OpenCV's Haar cascade) are protected: inside their eyes, nose and mouth a pixel must be
  FACE_SURE, and a repair there that leaves the filled pixels further from their surroundings than the damage
  was is undone.
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

from model.damage import DEFAULT_DETECTOR, shipped_detector

MODES = ("auto", "on", "off")
DETECT_PIXELS = 1_000_000  # defects and noise are measured on a copy of at most this many pixels
TILE = 512  # inpainting works tile by tile
_PAD = 8  # context around a tile

# Defects (px at the detection resolution)
MIN_DEFECTS = 3  # a detector file without a gate: auto repairs a photo whose old_print_score is above 0 when the
# detector finds this many lines and specks on it
LONG_LINE = 30  # px: a line this long counts in the gate's evidence as a long one
FACE_SURE = 0.97  # the probability a pixel needs inside a face's eyes, nose and mouth
LINE_MIN_LENGTH = 12  # a line component's bounding-box diagonal; shorter ones are specks
MAX_RADIUS = 4.0  # a defect's half-width at its thickest (px); where the sure pixels are thicker they are a blob
THICK_MARGIN = 2  # px around a blob that are left alone too
FACE_SIDE = 480  # faces are looked for on a copy with at most this short side ...
MIN_FACE = 40  # ... at least this many px wide at the detection resolution
DEFECT_WIDTH = 7  # px: the structuring element of the top-hat residue old_print_score measures
FACE_CASCADE = DEFAULT_DETECTOR.parent / "haarcascade_frontalface_default.xml"  # from OpenCV 4's data (its licence
# is in the file); OpenCV 5 ships the cascade classifier (contrib build) but not its data
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


def restore(gray: np.ndarray, mode: str = "auto", detector=None) -> tuple[np.ndarray, dict]:
    """(H, W) gray, uint8 or float32 in [0, 1] -> (the repaired gray, same shape and dtype; a report).

    detector: a model.damage.DamageDetector (default: the shipped one, loaded once). The report: mode; old_print
    (whether auto takes it for an old or damaged print: the detector's gate); score (old_print_score); changed;
    noise (sigma in levels of 255, fine and coarse); black and white (the 0.5% and 99.5% levels); faces (how many
    were found; looked for only when the detector is sure of some pixels); defects (how many were filled); filled
    (share of pixels filled); denoised (share of pixels smoothed); stretched ([black, white] levels mapped to
    TARGET, or None). When nothing is done the input array itself is returned.
    """
    mode = check_mode(mode)
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"restore takes a (H, W) gray image, got shape {gray.shape}")
    report = {"mode": mode, "changed": False}
    if mode == "off" or min(gray.shape) < 16:
        return gray, report
    mask, measured = detect(gray, detector)
    report.update(old_print=measured["old_print"], score=round(measured["score"], 2),
                  noise=[round(n, 2) for n in measured["noise"]],
                  black=measured["black"], white=measured["white"], faces=len(measured["faces"]), defects=0,
                  filled=0.0, denoised=0.0, stretched=None)
    if mode == "auto" and not report["old_print"]:
        return gray, report

    result = gray
    if measured["defects"]:
        result = fill(result, mask)
        if len(measured["faces"]):
            result, mask = protect_faces(gray, result, mask, measured["faces"] / measured["scale"])
        report.update(defects=measured["defects"], filled=round(float(mask.mean()), 5))
    if measured["score"] > 0:  # grain and fading are an old print's: a clean photo under "on" keeps its look
        result, look = print_look(result, measured)
        report.update(look)
    report["changed"] = result is not gray
    return result, report


def summary(report: dict) -> dict:
    """restore's report -> what a person is told of it: {"mode", "repaired" (whether the gray changed), "defects"
    (lines and specks filled), "faded" (its contrast lifted), "grain" (its grain calmed)}."""
    return {"mode": report["mode"], "repaired": bool(report["changed"]), "defects": int(report.get("defects", 0)),
            "faded": report.get("stretched") is not None, "grain": bool(report.get("denoised"))}


def print_look(gray: np.ndarray, measured: dict) -> tuple[np.ndarray, dict]:
    """An old print's grain calmed and its fading stretched, where they are measured -> (result, what was done)."""
    result, done = gray, {}
    weight = noise_weight(measured["noise_map"], gray.shape) if max(measured["noise"]) >= NOISE_LOW else None
    if weight is not None:
        result = denoise(result, weight, max(measured["noise"]))
        done["denoised"] = round(float((weight > 2).mean()), 4)
    step = max(1, round(math.sqrt(result.size / DETECT_PIXELS)))  # the histogram of a large photo: a grid of it
    levels = fade_levels(_to_uint8(result[::step, ::step]) if result.dtype != np.uint8 else result[::step, ::step])
    if levels is not None:
        result = stretch(result, *levels)
        done["stretched"] = [round(levels[0][0], 1), round(levels[0][1], 1)]
    return result, done


def detect(gray: np.ndarray, detector=None) -> tuple[np.ndarray, dict]:
    """(H, W) gray -> ((H, W) bool mask of the defects "on" would fill, the measures restore decides on)."""
    gray8 = _to_uint8(gray) if gray.dtype != np.uint8 else gray
    small, scale = detection_copy(gray8)
    measured = measure(small)
    detector = detector or shipped_detector()
    probability = detector(small)
    mask, lines, specks, faces = find_defects(small, detector, probability)
    # An old or damaged print: how it looks as a whole (soft, faded, grainy) and the damage found on it, weighed
    # together. Either alone is shared by too many clean photos (a sharp photo's edges look like scratches to the
    # detector; a misty landscape looks faded).
    score = old_print_score(measured)
    evidence = gate_evidence(measured["features"], probability, detector.sure, mask, lines, specks)
    gate = detector.info.get("gate")
    taken = gate_score(gate, evidence) > 0 if gate else score > 0 and lines + specks >= MIN_DEFECTS
    measured.update(defects=lines + specks, faces=faces, scale=scale, score=score, evidence=evidence,
                    old_print=bool(taken))
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
    """What restore decides on besides the defects, from the detection copy: noise (fine and coarse sigma, levels)
    and its map per block, the 0.5% and 99.5% levels, and the features of old_print_score."""
    fine_map = block_noise(small, 16)
    coarse = cv2.resize(small, (max(1, small.shape[1] // 2), max(1, small.shape[0] // 2)),
                        interpolation=cv2.INTER_AREA)
    coarse_map = block_noise(coarse, 8)
    # The noise of the photo is that of its quieter blocks: texture raises the others.
    noise = (float(np.percentile(fine_map, 20)), float(np.percentile(coarse_map, 20)))
    black, white = percentiles(small)
    return {"noise": noise, "noise_map": np.maximum(fine_map, _upsample_blocks(coarse_map, fine_map.shape)),
            "black": black, "white": white, "features": score_features(small, noise)}


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


# ---- defects: the learned detector's sure pixels, in thin lines and small specks ----

def find_defects(small: np.ndarray, detector, probability: np.ndarray | None = None
                 ) -> tuple[np.ndarray, int, int, np.ndarray]:
    """(h, w) uint8 detection copy -> ((h, w) bool mask of defect pixels to fill, grown by a pixel; lines; specks;
    (n, 4) face boxes x, y, w, h found in it). probability: the detector's answer for it, when already computed.

    A pixel is damage when the detector is sure of it (its file's operating point; FACE_SURE inside the eyes, nose
    and mouth of a face). Where the sure pixels are thick (a disk of radius over MAX_RADIUS fits: a dark window, a
    shadow, a blob; an opening finds them) they are left alone with a margin of THICK_MARGIN px; the rest is thin
    (scratches, cracks, hairs and specks) and is kept, also where a line runs through a thick spot (two scratches
    crossing, a scratch over a dark patch): only short pieces next to a thick part are dropped, as they are its
    ragged edge. Kept components at least LINE_MIN_LENGTH across count as lines, the others as specks.
    """
    probability = detector(small) if probability is None else probability
    sure = probability >= detector.sure
    faces = find_faces(small) if sure.any() else np.zeros((0, 4), int)  # they matter only where there is damage
    for x, y, w, h in faces:
        core = (slice(y + round(0.2 * h), y + round(0.95 * h)), slice(x + round(0.12 * w), x + round(0.88 * w)))
        sure[core] &= probability[core] >= FACE_SURE
    thick = cv2.morphologyEx(sure.view(np.uint8), cv2.MORPH_OPEN, _THICK)
    thin = sure
    if thick.any():
        near_thick = cv2.dilate(thick, _SQUARE3, iterations=THICK_MARGIN).astype(bool)
        thin = sure & ~near_thick
        touching = cv2.dilate(near_thick.view(np.uint8), _SQUARE3).astype(bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(thin.view(np.uint8), connectivity=8)
    length = np.hypot(stats[:, 2], stats[:, 3])
    keep = stats[:, 4] >= 2
    if thick.any():  # a short piece beside a thick part is its ragged edge, not a line through it
        beside = np.bincount(labels[touching & thin], minlength=count) > 0
        keep &= ~(beside & (length < LINE_MIN_LENGTH))
    keep[0] = False
    line = keep & (length >= LINE_MIN_LENGTH)
    mask = keep[labels]
    if keep.any():
        mask = cv2.dilate(mask.view(np.uint8), _SQUARE3).astype(bool)
    return mask, int(line.sum()), int((keep & ~line).sum()), faces


_SQUARE3 = np.ones((3, 3), np.uint8)
_THICK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * round(MAX_RADIUS) + 1,) * 2)  # fits where the radius is over
_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (DEFECT_WIDTH, DEFECT_WIDTH))
_cascade: list = []  # the face cascade, loaded on first use


def find_faces(small: np.ndarray) -> np.ndarray:
    """(n, 4) int boxes (x, y, w, h) of frontal faces in the detection copy: OpenCV's Haar cascade (Lienhart's
    frontal face detector, FACE_CASCADE), on a copy whose short side is at most FACE_SIDE, its border padded so that
    a face cut by the edge is found too; faces under MIN_FACE px are not looked for (their eyes are too small to be
    taken for damage)."""
    if not _cascade:
        cascade = cv2.CascadeClassifier(str(FACE_CASCADE))
        if cascade.empty():
            raise FileNotFoundError(f"no face cascade at {FACE_CASCADE}: check out weights/ again")
        _cascade.append(cascade)
    scale = min(1.0, FACE_SIDE / min(small.shape))
    image = small if scale == 1 else cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    pad = max(8, min(image.shape) // 10)
    image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    boxes = _cascade[0].detectMultiScale(image, scaleFactor=1.1, minNeighbors=4,
                                         minSize=(max(20, round(MIN_FACE * scale)),) * 2)
    if len(boxes) == 0:
        return np.zeros((0, 4), int)
    boxes = np.asarray(boxes, np.float64) - [pad, pad, 0, 0]
    boxes[:, :2] = np.maximum(boxes[:, :2], 0)
    return np.round(boxes / scale).astype(int)


def fill(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The masked pixels filled from their surroundings (Telea's inpainting), tile by tile: only tiles with masked
    pixels are touched, each with a margin of context. Returns a new array."""
    if gray.dtype != np.uint8:  # OpenCV's inpainting of float images expects levels of 255: in [0, 1] it overshoots
        return np.clip(_fill_tiles(gray.astype(np.float32) * 255, mask) / 255, 0, 1).astype(gray.dtype)
    return _fill_tiles(gray, mask)


def protect_faces(gray: np.ndarray, filled: np.ndarray, mask: np.ndarray, faces: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each filled component inside a face box (full-resolution x, y, w, h) is checked: when its filled pixels
    differ from the ring around them by more than the damaged pixels did, the fill made the face worse (an eye or
    a nostril taken for a speck) and it is undone. Returns (the result, the mask of what stays filled)."""
    result, kept = filled, mask.copy()
    for x, y, w, h in np.round(faces).astype(int):
        box = (slice(max(0, y), y + h), slice(max(0, x), x + w))
        count, labels = cv2.connectedComponents(mask[box].view(np.uint8), connectivity=8)
        for label in range(1, count):
            component = labels == label
            ring = cv2.dilate(component.view(np.uint8), _SQUARE3, iterations=2).astype(bool) & ~mask[box]
            if not ring.any():
                continue
            around = float(gray[box][ring].astype(np.float32).mean())
            damaged = abs(float(gray[box][component].astype(np.float32).mean()) - around)
            repaired = abs(float(result[box][component].astype(np.float32).mean()) - around)
            if repaired > damaged:
                if result is filled:
                    result = filled.copy()
                result[box][component] = gray[box][component]
                kept[box][component] = False
    return result, kept


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

# old_print_score: a weighted sum of these measures, > 0 for a photo that looks like an old print (grain is calmed
# and fading stretched only then). Fitted once (a logistic regression) on 300 photos of the training split, each as
# it is and made old by training.degrade, twice: with every kind of damage, and with a random half of them; the
# offset is set so that 1 clean photo in 100 scores above 0 there. Alone, each measure is shared by many clean
# photos (a misty landscape has no black, a sharp one has thin bright lines); together they say "soft, faded,
# blotchy grain, a few lines that stand out from it", which clean photos rarely are. Whether auto repairs a photo
# at all is the gate's decision (training.fit_gate), which weighs these measures too.
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


# ---- auto's gate: the whole photo's evidence ----

def gate_evidence(features: dict, probability: np.ndarray, sure: float, mask: np.ndarray, lines: int,
                  specks: int) -> dict:
    """The measures auto's gate weighs: old_print_score's (features) and what the detector found on the detection
    copy: its lines and specks, the share of pixels it would fill and of those it is sure of, its mean and 99th
    percentile probability, and how many of its defects are long (LONG_LINE) and how long its three longest are."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    lengths = np.sort(np.hypot(stats[1:, 2], stats[1:, 3]))[::-1]
    return {**features, "lines": math.log1p(lines), "specks": math.log1p(specks),
            "filled": math.log(float(mask.mean()) + 1e-4), "sure": math.log(float((probability >= sure).mean()) + 1e-4),
            "mean": math.log(float(probability.mean()) + 1e-4), "p99": float(np.percentile(probability, 99)),
            "long": math.log1p(int((lengths >= LONG_LINE).sum())),
            "longest": math.log1p(float(lengths[:3].mean()) if len(lengths) else 0.0)}


def gate_score(gate: dict, evidence: dict) -> float:
    """A gate (a detector file's info["gate"], made by training.fit_gate: the measures' names, means and scales,
    one hidden layer of ReLU units, its threshold) and a photo's gate_evidence -> above 0: auto takes the photo for an
    old or damaged print."""
    z = (np.array([evidence[name] for name in gate["names"]]) - gate["mean"]) / np.asarray(gate["scale"])
    hidden = np.maximum(np.asarray(gate["hidden_weight"]) @ z + gate["hidden_bias"], 0)
    return float(np.asarray(gate["out_weight"]) @ hidden + gate["out_bias"] - gate["threshold"])


def _to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(gray, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
