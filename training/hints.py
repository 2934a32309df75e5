"""Simulated colour hints, as Zhang et al. 2017 drew them: for training, and for the evaluation sweep.

Training (`simulate_hints`): a share of the samples gets no hints, so the automatic colorizer keeps learning; the
rest get a geometric number of points (at least one), each a square patch of 1 to 9 pixels at a position drawn
from a Gaussian around the centre, filled with the mean ab of that patch of the original.

With --recolour-points (`recoloured_hints`), some samples' first point sits on a region of like colour whose
colours are turned round the hue circle in the target: the lightness says nothing of the change, only the point
does, so the network learns to carry a point's colour over its region and to stop at the region's edges.

Evaluation (`sweep_hints`): N patches of 6x6 pixels placed the same way on the full photo, each given to the
Colorizer as one hint with the patch's mean colour (the protocol of their test_sweep.py).
"""
import math
import random

import cv2
import numpy as np
import torch

from model.color import denormalize_ab, denormalize_l
from model.hints import Hint

TRAIN_SIDES = range(1, 10)  # patch sides drawn in training
SWEEP_SIDE = 6  # patch side of the evaluation sweep
# A recoloured region: the pixels 4-connected to the point whose Lab (smoothed a little against grain) is within
# this much of the point's, in L, a and b; regions under or over these shares of the crop are left alone (a speck
# teaches nothing about edges; most of the crop would be a global colour cast, not a region).
REGION_TOLERANCE = (10.0, 8.0, 8.0)
REGION_SHARE = (0.01, 0.5)
HOLE_SHARE = 0.01  # holes in a region smaller than this share of the crop are the region's (grain, specks)


def gaussian_patch(height: int, width: int, side: int, rng: random.Random) -> tuple[int, int]:
    """(top, left) of a side x side patch, centred on average, spread a quarter of the free range each way."""
    top = int(np.clip(rng.gauss((height - side + 1) / 2, (height - side + 1) / 4), 0, height - side))
    left = int(np.clip(rng.gauss((width - side + 1) / 2, (width - side + 1) / 4), 0, width - side))
    return top, left


def point_count(rng: random.Random, no_hint_share: float, stop: float) -> int:
    """0 with probability no_hint_share; else 1 + a geometric count (each further point with probability 1 - stop)."""
    if rng.random() < no_hint_share:
        return 0
    count = 1
    while rng.random() >= stop:
        count += 1
    return count


def simulate_hints(ab: torch.Tensor, no_hint_share: float, stop: float, rng: random.Random) -> torch.Tensor:
    """(B, 2, H, W) normalized ab -> (B, 3, H, W) hint layer (model.hints), with random point counts."""
    return patch_hints(ab, [point_count(rng, no_hint_share, stop) for _ in range(len(ab))], rng)


def patch_hints(ab: torch.Tensor, counts: list[int], rng: random.Random,
                placed: list[tuple[int, int, int, int]] = ()) -> torch.Tensor:
    """(B, 2, H, W) normalized ab -> (B, 3, H, W) hint layer with counts[i] patches on sample i, after the patches
    already placed, each (sample, top, left, side): patch-mean a and b, and the mask. Where patches overlap, the
    later one wins.

    The patches are drawn one by one from rng, then measured and painted all at once (a few tensor operations
    rather than a few per patch, which matters on a GPU)."""
    batch, _, height, width = ab.shape
    layer = torch.zeros(batch, 3, height, width, device=ab.device, dtype=torch.float32)
    patches = list(placed)  # (sample, top, left, side)
    for i, count in enumerate(counts):
        for _ in range(count):
            side = rng.choice(TRAIN_SIDES)
            patches.append((i, *gaussian_patch(height, width, side, rng), side))
    if not patches:
        return layer
    sample, top, left, side = torch.tensor(patches, device=ab.device).unbind(1)
    # Every pixel of every patch, as (patch, sample, row, column): a side x side block per patch.
    offsets = torch.arange(int(side.max()), device=ab.device)
    dy, dx = offsets[None, :, None], offsets[None, None, :]
    inside = (dy < side[:, None, None]) & (dx < side[:, None, None])
    patch = torch.arange(len(patches), device=ab.device)[:, None, None].expand_as(inside)[inside]
    rows = (top[:, None, None] + dy).expand_as(inside)[inside]
    columns = (left[:, None, None] + dx).expand_as(inside)[inside]
    sample = sample[patch]
    # Each patch's mean colour: its pixels summed into their patch.
    sums = torch.zeros(len(patches), 2, dtype=torch.float64, device=ab.device)
    sums.index_add_(0, patch, ab[sample, :, rows, columns].double())
    means = (sums / (side * side)[:, None]).float()
    # Where patches overlap the later one wins: each pixel keeps the highest patch number covering it.
    pixel = (sample * height + rows) * width + columns
    owner = torch.full((batch * height * width,), -1, dtype=torch.int32, device=ab.device)
    owner.scatter_reduce_(0, pixel, patch.int(), "amax")
    won = owner[pixel] == patch
    sample, rows, columns, patch = sample[won], rows[won], columns[won], patch[won]
    layer[sample, :2, rows, columns] = means[patch]
    layer[sample, 2, rows, columns] = 1
    return layer


def like_region(lab: np.ndarray, row: int, column: int) -> np.ndarray:
    """(H, W, 3) float32 Lab, a pixel -> (H, W) bool: the pixels 4-connected to it within REGION_TOLERANCE of its
    colour after a blur (so texture and grain do not cut the region into specks), closed, with its small holes
    filled, and its rim, which the blur mixed with the neighbours, taken back where its own colour is near: a
    segment, not a stipple. All False where the pixel sits on an edge, whose blurred colour is no region's."""
    height, width = lab.shape[:2]
    blurred = cv2.GaussianBlur(lab, (5, 5), 1.5)
    if (np.abs(lab[row, column] - blurred[row, column]) > np.array(REGION_TOLERANCE) / 2).any():
        return np.zeros((height, width), bool)  # on an edge: the blur's mix is no region's colour
    mask = np.zeros((height + 2, width + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    cv2.floodFill(blurred, mask, (column, row), 0, REGION_TOLERANCE, REGION_TOLERANCE, flags)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    region = cv2.morphologyEx(mask[1:-1, 1:-1], cv2.MORPH_CLOSE, disc)
    near = (np.abs(lab - blurred[row, column]) <= REGION_TOLERANCE).all(axis=2)
    region |= cv2.dilate(region, disc) & near
    _, holes, stats, _ = cv2.connectedComponentsWithStats(1 - region, connectivity=4)
    touches = (stats[:, 0] == 0) | (stats[:, 1] == 0) | (stats[:, 0] + stats[:, 2] == width) | \
        (stats[:, 1] + stats[:, 3] == height)
    small = ~touches & (stats[:, 4] < HOLE_SHARE * height * width)  # enclosed specks: a larger inner part (a
    small[0] = False  # logo on a shirt) keeps its own colour; label 0 is the region itself
    return region.astype(bool) | small[holes]


def point_inside(region: np.ndarray, row: int, column: int, side: int) -> tuple[int, int, int]:
    """The largest patch, at most side x side, centred on (row, column) and inside region -> (top, left, side)."""
    height, width = region.shape
    for size in range(side, 0, -1):
        top, left = row - size // 2, column - size // 2
        inside = 0 <= top and top + size <= height and 0 <= left and left + size <= width
        if inside and region[top:top + size, left:left + size].all():
            return top, left, size
    return row, column, 1  # the point's own pixel: the fill always holds it


def turn_hue(ab: torch.Tensor, region: torch.Tensor, angle: float) -> None:
    """Turns (2, H, W) ab round the hue circle by angle (radians) inside the (H, W) region, in place: chroma and
    lightness stay."""
    a, b = ab[0][region], ab[1][region]
    cos, sin = math.cos(angle), math.sin(angle)
    ab[0][region], ab[1][region] = a * cos - b * sin, a * sin + b * cos


def recoloured_hints(l: torch.Tensor, ab: torch.Tensor, no_hint_share: float, stop: float, recolour: float,
                     rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """simulate_hints, where a share (recolour) of the samples with points has its first point on a region of like
    colour (like_region, if its size is within REGION_SHARE) whose colours are turned by a random angle of 60 to 300
    degrees: (B, 1, H, W) L and (B, 2, H, W) ab, normalized -> (the target ab, the hint layer). The point takes the
    turned colour like any other; the lightness does not show the change, so only the point can tell it."""
    counts = [point_count(rng, no_hint_share, stop) for _ in range(len(ab))]
    chosen = [i for i, count in enumerate(counts) if count and recolour and rng.random() < recolour]
    if not chosen:
        return ab, patch_hints(ab, counts, rng)
    ab = ab.clone()
    lab = torch.cat([denormalize_l(l[chosen]), denormalize_ab(ab[chosen])], dim=1).float()
    lab = lab.permute(0, 2, 3, 1).cpu().numpy()
    height, width = ab.shape[-2:]
    placed = []
    for i, photo in zip(chosen, lab):
        side = rng.choice(TRAIN_SIDES)
        top, left = gaussian_patch(height, width, side, rng)
        row, column = top + side // 2, left + side // 2
        region = like_region(np.ascontiguousarray(photo), row, column)
        if not REGION_SHARE[0] <= region.mean() <= REGION_SHARE[1]:
            continue
        top, left, side = point_inside(region, row, column, side)  # the point's colour is all the region's
        turn_hue(ab[i], torch.from_numpy(region).to(ab.device), rng.uniform(math.pi / 3, 5 * math.pi / 3))
        placed.append((i, top, left, side))
        counts[i] -= 1
    return ab, patch_hints(ab, counts, rng, placed)


def sweep_hints(lab: np.ndarray, count: int, rng: random.Random) -> tuple[list[Hint], list[tuple[int, int]]]:
    """(H, W, 3) Lab of an original -> count Hints (patch centre, mean ab of the patch) and the patches' (top, left)."""
    height, width = lab.shape[:2]
    side = min(SWEEP_SIDE, height, width)
    hints, corners = [], []
    for _ in range(count):
        top, left = gaussian_patch(height, width, side, rng)
        a, b = lab[top:top + side, left:left + side, 1:].reshape(-1, 2).mean(axis=0)
        hints.append(Hint(left + side // 2, top + side // 2, float(a), float(b)))
        corners.append((top, left))
    return hints, corners
