"""Colour points kept to the region they were put on: the network's change, spread along the photo's own edges.

The network sees the photo at its working size (192 px on the short side for the shipped model), where the edge
between a jacket and the hand beside it, or a car and the dark wall behind it, is a pixel or two of gray; what a
point changes there leaks across such edges, and the network itself spreads a point's colour over whatever looks
alike. So the Colorizer runs the network twice, with and without the points, and keeps the difference only where
the photo's own lightness says it belongs:

1. The guide: the photo's lightness on a grid of at most GUIDE_PIXELS (the photo's own pixels when it is smaller).
2. Each point's reach: the geodesic distance from the point over that grid, where a step costs a little for its
   length, much for the lightness it crosses beyond a noise floor (an edge), and some for a change in what the
   network did for the points (where its answer to them changes, the network saw the end of the thing they are
   on: it paints a jacket blue up to the hand, then stops or does something else); reach = exp(-distance). It is
   1 on a small dab around the point, stays high over the region the point is on, and falls off at its edges.
3. The change: the network's (with points - without, the latter at the operating point) times the greatest reach
   of any point; plus whatever each point's own colour still lacks at the point, spread with the reach of the
   nearest points (Shepard weights of the geodesic distance, so that each point gets its colour exactly).
4. The change reaches the full-resolution photo through a guided filter (He, Sun and Tang 2013): on the guide grid
   it is fitted, in small windows, as a linear function of lightness, whose coefficients are upsampled and applied
   to the full-resolution lightness, so its edges fall on the photo's edges at any resolution.

Where no point reaches, the colours are the automatic ones, to the bit; where a point's region is, they are the
network's colours for it, without the chroma gain (the gain makes up for the network's doubt, and a point removes
it). Nothing here runs when there are no points. The settings below were chosen by the leak measure
(training.leak) on 60 held-out photos and 33 video frames, against the 10-point sweep on the same photos: the
network's own answer was a better cue of a region's end than the automatic colours' edges it replaced: less leak,
fewer pixels moved outside the object, and a better sweep. (With it, the lightness's edges could count for
less, for a little more sweep; they were kept as they were, so that a strong edge stops a point's colour even
where the network's change runs across it.) The guide grid was a quarter of a megapixel at first; a sixteenth
(GUIDE_PIXELS) left as little leak on held-out photos enlarged three times (as the page's 1024x768 previews are)
and makes a 1024x768 edit about 100 ms faster; the colour at the point is a little less exact (about 1 ab).
"""
import math

import cv2
import numpy as np
import torch

from model.color import denormalize_ab

GUIDE_PIXELS = 1 << 16  # the grid of the edge-aware work: about 296x222 for a 4:3 photo; the photo's own if smaller
GUIDE_BLUR = 2.5  # Gaussian blur of the guide's lightness before edges are measured (guide pixels): grain, texture
EDGE_FLOOR = 0.7  # lightness steps between neighbouring guide pixels up to this are shading or noise, not edges
EDGE_SCALE = 4.0  # the lightness above the floor (summed along the path) that costs one unit of distance: e^-1
CHANGE_EDGE_SCALE = 60.0  # the variation of the network's answer to the points (ab units, summed) costing one
REACH = 4.0  # a point's reach over a flat region falls to e^-1 at REACH times the guide's short side
DAB = 0.015  # the point's own dab, where its reach is 1: this share of the guide's short side around it
SWEEPS = 2  # rounds of the four directional sweeps of the geodesic distance (paths turning more corners need more)
FILTER_RADIUS = 2  # the guided filter's window radius (guide pixels)
FILTER_EPS = 4.0  # its regularization, in squared L units: steps of lightness well above 2 keep their edge


def guide_shape(height: int, width: int, pixels: int = GUIDE_PIXELS) -> tuple[int, int]:
    """The guide grid's (height, width): the photo's own up to `pixels`, else scaled down to about that many."""
    scale = min(1.0, math.sqrt(pixels / (height * width)))
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_grid(x: int, y: int, width: int, height: int, grid_width: int, grid_height: int) -> tuple[int, int]:
    """A pixel of a width x height image -> the (column, row) of the grid cell holding it (centres onto centres)."""
    column = min(grid_width - 1, max(0, round((x + 0.5) * grid_width / width - 0.5)))
    row = min(grid_height - 1, max(0, round((y + 0.5) * grid_height / height - 0.5)))
    return column, row


def blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) -> a Gaussian blur of it as float32, 3 sigma each side, edges replicated."""
    plane = np.ascontiguousarray(plane, dtype=np.float32)
    if sigma <= 0:
        return plane
    side = 2 * max(1, math.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(plane, (side, side), sigma, borderType=cv2.BORDER_REPLICATE)


def edge_costs(l_guide: np.ndarray, change: np.ndarray | None = None, blur_sigma: float = GUIDE_BLUR,
               floor: float = EDGE_FLOOR, scale: float = EDGE_SCALE, change_scale: float = CHANGE_EDGE_SCALE,
               reach: float = REACH) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) lightness on the guide grid, and optionally the (2, H, W) network's own answer to the points there
    (with them minus without, ab units) -> the cost of a step to the right (H, W-1) and down (H-1, W)."""
    l = blur(l_guide, blur_sigma)
    step = np.float32(1 / (reach * min(l.shape)))
    right = step + np.maximum(np.abs(np.diff(l, axis=1)) - floor, 0) / np.float32(scale)
    down = step + np.maximum(np.abs(np.diff(l, axis=0)) - floor, 0) / np.float32(scale)
    if change is not None and change_scale:
        right += np.hypot(*np.diff(change, axis=2)) / np.float32(change_scale)
        down += np.hypot(*np.diff(change, axis=1)) / np.float32(change_scale)
    return right.astype(np.float32), down.astype(np.float32)


def geodesic_distance(right: np.ndarray, down: np.ndarray, seeds: list[tuple[int, int]], sweeps: int = SWEEPS,
                      dab: float = 0.0) -> np.ndarray:
    """Step costs and (column, row) seeds -> (P, H, W) each seed's least path cost to every cell, paths moving
    between 8-neighbours (a diagonal step costs its two straight steps' mean, times sqrt 2). Cells within `dab`
    cells of a seed start at 0: a point is a small dab, not one cell.

    Alternating directional sweeps, one direction at a time: a row (or column) takes from the one before it the
    cheapest of its three neighbours there, so each sweep carries paths through a 90 degree cone; a loop over
    rows or columns, vectorized across the other axis and all the seeds. `sweeps` rounds of the four directions
    find every path that turns back on itself at most about 2 * sweeps times, which is all that matters over a
    photo's regions. (Straight sweeps alone, 4-neighbour paths, leave streaks along the rows in texture.)"""
    height, width = down.shape[0] + 1, right.shape[1] + 1
    distance = np.full((len(seeds), height, width), np.inf, np.float32)
    rows, columns = np.ogrid[:height, :width]
    for index, (column, row) in enumerate(seeds):
        distance[index][(rows - row) ** 2 + (columns - column) ** 2 <= dab**2] = 0
        distance[index, row, column] = 0

    def sweep(plane: np.ndarray, straight: np.ndarray, along: np.ndarray) -> None:
        """plane: (P, N, M) swept over N in both directions; straight: (N-1, M) the cost of a step along N;
        along: (N, M-1) the cost of a step along M (for the diagonals)."""
        rows = plane.shape[1]
        # diagonal steps from cell (n, m) to (n + 1, m + 1) and to (n + 1, m - 1): mean of the two ways round
        forward = (straight[:, :-1] + along[1:] + straight[:, 1:] + along[:-1]) * np.float32(np.sqrt(2) / 4)
        order = [(n, n - 1, n - 1) for n in range(1, rows)] + [(n, n + 1, n) for n in range(rows - 2, -1, -1)]
        for target, source, edge in order:
            current, previous = plane[:, target], plane[:, source]
            np.minimum(current, previous + straight[edge], out=current)
            np.minimum(current[:, 1:], previous[:, :-1] + forward[edge], out=current[:, 1:])
            np.minimum(current[:, :-1], previous[:, 1:] + forward[edge], out=current[:, :-1])

    right_t, down_t = np.ascontiguousarray(right.T), np.ascontiguousarray(down.T)
    for _ in range(sweeps):
        sweep(distance, down, right)
        across = np.ascontiguousarray(distance.transpose(0, 2, 1))  # (P, W, H)
        sweep(across, right_t, down_t)
        distance = np.ascontiguousarray(across.transpose(0, 2, 1))
    return distance


def point_change(l_guide: np.ndarray, base: torch.Tensor, change: torch.Tensor, seeds: list[tuple[int, int]],
                 asked: torch.Tensor, own: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """What the points change, on the guide grid.

    l_guide: (H, W) lightness. base: (2, H, W) normalized ab the picture has without points (at its operating
    point and vividness). change: (2, H, W) the network's change for the points. seeds: each point's (column, row)
    on the grid. asked: (P, 2) each point's normalized ab. own: (2, H, W) the network's own answer to the points
    (with them minus without, before the chroma gain), whose edges count (None: the lightness's alone).
    -> ((2, H, W) normalized ab to add to base, (H, W) the points' reach in [0, 1]).
    """
    right, down = edge_costs(l_guide, None if own is None else denormalize_ab(own).numpy())
    distance = torch.from_numpy(geodesic_distance(right, down, seeds, dab=DAB * min(l_guide.shape)))
    reach = torch.exp(-distance.min(dim=0).values)  # (H, W): 1 at a point, falling over distance and edges
    kept = reach * change
    # What each point still lacks at its own cell, spread by Shepard weights of the geodesic distance (exact at the
    # points, a smooth share-out between them) and faded by the reach. Points given twice on one cell: their mean.
    columns, rows = torch.tensor([s[0] for s in seeds]), torch.tensor([s[1] for s in seeds])
    lacking = asked.T - (base + kept)[:, rows, columns]  # (2, P)
    weights = 1 / (distance**2 + 1e-6)  # (P, H, W)
    shared = torch.einsum("cp,phw->chw", lacking, weights) / weights.sum(dim=0)
    return kept + reach * shared, reach


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(C, H, W) -> the mean over each (2 radius + 1)^2 window, the photo mirrored at its borders (OpenCV's box
    filter: about 50 times as fast as torch's pooling on one CPU thread)."""
    planes = x.numpy()
    side = 2 * radius + 1
    return torch.from_numpy(np.stack([cv2.blur(plane, (side, side)) for plane in planes]))


def guided_coefficients(l_guide: torch.Tensor, target: torch.Tensor, radius: int = FILTER_RADIUS,
                        eps: float = FILTER_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W) guide lightness and (C, H, W) target -> (slope, offset), each (C, H, W): the guided filter's averaged
    coefficients, so that slope * L + offset is the filtered target, at this resolution or any other."""
    guide = l_guide[None]
    mean_l, mean_t = box(guide, radius), box(target, radius)
    covariance = box(guide * target, radius) - mean_l * mean_t
    variance = box(guide * guide, radius) - mean_l * mean_l
    slope = covariance / (variance + eps)
    offset = mean_t - slope * mean_l
    return box(slope, radius), box(offset, radius)
