"""Simulated colour hints, as Zhang et al. 2017 drew them: for training, and for the evaluation sweep.

Training (`simulate_hints`): a share of the samples gets no hints, so the automatic colorizer keeps learning; the
rest get a geometric number of points (at least one), each a square patch of 1 to 9 pixels at a position drawn
from a Gaussian around the centre, filled with the mean ab of that patch of the original.

Evaluation (`sweep_hints`): N patches of 6x6 pixels placed the same way on the full photo, each given to the
Colorizer as one hint with the patch's mean colour (the protocol of their test_sweep.py).
"""
import random

import numpy as np
import torch

from model.hints import Hint

TRAIN_SIDES = range(1, 10)  # patch sides drawn in training
SWEEP_SIDE = 6  # patch side of the evaluation sweep


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


def patch_hints(ab: torch.Tensor, counts: list[int], rng: random.Random) -> torch.Tensor:
    """(B, 2, H, W) normalized ab -> (B, 3, H, W) hint layer with counts[i] patches on sample i: patch-mean a and b,
    and the mask. Where patches overlap, the later one wins.

    The patches are drawn one by one from rng, then measured and painted all at once (a few tensor operations
    rather than a few per patch, which matters on a GPU)."""
    batch, _, height, width = ab.shape
    layer = torch.zeros(batch, 3, height, width, device=ab.device, dtype=torch.float32)
    patches = []  # (sample, top, left, side)
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
