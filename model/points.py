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
   nearest points (Shepard weights of the geodesic distance, so that each point gets its colour exactly). The
   greatest reach comes from one distance to the nearest point; each point's own distance, which only weighs
   the share-out, is measured on a grid half as fine (a reference photo gives dozens of points: for 45 of them on
   a 1024x768 photo this step takes 38 ms instead of about 100, and the colours moved by 0.1 ab on average, at
   most 2).
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
# (a weights file may carry its own as points_edge_scale: a network trained with recoloured points keeps a point's
# colour to its object itself, so its points can cross more of the photo's lightness; valid_edge_scale says which)
MAX_EDGE_SCALE = 64.0  # the edges then barely count: a point spreads over the whole photo but for the network's cue
CHANGE_EDGE_SCALE = 60.0  # the variation of the network's answer to the points (ab units, summed) costing one
REACH = 4.0  # a point's reach over a flat region falls to e^-1 at REACH times the guide's short side
DAB = 0.015  # the point's own dab, where its reach is 1: this share of the guide's short side around it
SHARE_SHRINK = 2  # the points' own distances (the share-out of what they lack) on a grid this many times coarser
SWEEPS = 2  # rounds of the four directional sweeps of the geodesic distance (paths turning more corners need more)
FILTER_RADIUS = 2  # the guided filter's window radius (guide pixels)
FILTER_EPS = 4.0  # its regularization, in squared L units: steps of lightness well above 2 keep their edge


def valid_edge_scale(scale) -> bool:
    """An edge scale a weights file may carry: a number above 0 and at most MAX_EDGE_SCALE."""
    return not isinstance(scale, bool) and isinstance(scale, (int, float)) and 0 < scale <= MAX_EDGE_SCALE


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


def geodesic_distance(right: np.ndarray, down: np.ndarray, seeds: list, sweeps: int = SWEEPS,
                      dab: float = 0.0) -> np.ndarray:
    """Step costs and seeds -> (P, H, W) each seed's least path cost to every cell, paths moving between
    8-neighbours (a diagonal step costs its two straight steps' mean, times sqrt 2). A seed is a (column, row), or
    a list of them: the distance to the nearest of those (exactly the least of their own distances, since a sweep's
    sums and minima commute). Cells within `dab` cells of a seed start at 0: a point is a small dab, not one cell.

    Alternating directional sweeps, one direction at a time: a row (or column) takes from the one before it the
    cheapest of its three neighbours there, so each sweep carries paths through a 90 degree cone; a loop over
    rows or columns, vectorized across the other axis and all the seeds (kept last, so that each row's sums run
    over one contiguous block). `sweeps` rounds of the four directions find every path that turns back on itself
    at most about 2 * sweeps times, which is all that matters over a photo's regions. (Straight sweeps alone,
    4-neighbour paths, leave streaks along the rows in texture.)"""
    height, width = down.shape[0] + 1, right.shape[1] + 1
    distance = np.full((height, width, len(seeds)), np.inf, np.float32)  # (H, W, P)
    rows, columns = np.ogrid[:height, :width]
    for index, group in enumerate(seeds):
        for column, row in (group if isinstance(group, list) else [group]):
            distance[..., index][(rows - row) ** 2 + (columns - column) ** 2 <= dab**2] = 0
            distance[row, column, index] = 0

    def sweep(plane: np.ndarray, straight: np.ndarray, along: np.ndarray) -> None:
        """plane: (N, M, P) swept over N in both directions; straight: (N-1, M) the cost of a step along N;
        along: (N, M-1) the cost of a step along M (for the diagonals)."""
        rows = plane.shape[0]
        # diagonal steps from cell (n, m) to (n + 1, m + 1) and to (n + 1, m - 1): mean of the two ways round
        forward = (straight[:, :-1] + along[1:] + straight[:, 1:] + along[:-1]) * np.float32(np.sqrt(2) / 4)
        straight, forward = straight[..., None], forward[..., None]  # broadcast over the seeds
        step = np.empty(plane.shape[1:], np.float32)  # (M, P) the costs through one neighbour
        order = [(n, n - 1, n - 1) for n in range(1, rows)] + [(n, n + 1, n) for n in range(rows - 2, -1, -1)]
        for target, source, edge in order:
            current, previous = plane[target], plane[source]
            np.add(previous, straight[edge], out=step)
            np.minimum(current, step, out=current)
            np.add(previous[:-1], forward[edge], out=step[1:])
            np.minimum(current[1:], step[1:], out=current[1:])
            np.add(previous[1:], forward[edge], out=step[:-1])
            np.minimum(current[:-1], step[:-1], out=current[:-1])

    right_t, down_t = np.ascontiguousarray(right.T), np.ascontiguousarray(down.T)
    for _ in range(sweeps):
        sweep(distance, down, right)
        across = np.ascontiguousarray(distance.transpose(1, 0, 2))  # (W, H, P)
        sweep(across, right_t, down_t)
        distance = np.ascontiguousarray(across.transpose(1, 0, 2))
    return np.ascontiguousarray(distance.transpose(2, 0, 1))


def point_change(l_guide: np.ndarray, base: torch.Tensor, change: torch.Tensor, seeds: list[tuple[int, int]],
                 asked: torch.Tensor, own: torch.Tensor | None = None, edge_scale: float = EDGE_SCALE
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """What the points change, on the guide grid.

    l_guide: (H, W) lightness. base: (2, H, W) normalized ab the picture has without points (at its operating
    point and vividness). change: (2, H, W) the network's change for the points. seeds: each point's (column, row)
    on the grid. asked: (P, 2) each point's normalized ab. own: (2, H, W) the network's own answer to the points
    (with them minus without, before the chroma gain), whose edges count (None: the lightness's alone). edge_scale:
    the lightness crossed (above the floor) that costs one unit of distance (the weights' points_edge_scale).
    -> ((2, H, W) normalized ab to add to base, (H, W) the points' reach in [0, 1]).
    """
    own_ab = None if own is None else denormalize_ab(own).numpy()
    right, down = edge_costs(l_guide, own_ab, scale=edge_scale)
    dab = DAB * min(l_guide.shape)
    nearest = geodesic_distance(right, down, [list(seeds)], dab=dab)[0]  # (H, W) to the nearest point, exactly
    reach = torch.exp(-torch.from_numpy(nearest))  # (H, W): 1 at a point, falling over distance and edges
    kept = reach * change
    # What each point still lacks at its own cell, spread by Shepard weights of the geodesic distance (exact at the
    # points, a smooth share-out between them) and faded by the reach. Points given twice on one cell: their mean.
    columns, rows = torch.tensor([s[0] for s in seeds]), torch.tensor([s[1] for s in seeds])
    lacking = asked.T - (base + kept)[:, rows, columns]  # (2, P)
    if len(seeds) == 1:
        return kept + reach * lacking[:, :, None], reach
    return kept + reach * share_out(l_guide, own_ab, seeds, dab, lacking, edge_scale), reach


def share_out(l_guide: np.ndarray, own_ab: np.ndarray | None, seeds: list[tuple[int, int]], dab: float,
              lacking: torch.Tensor, edge_scale: float = EDGE_SCALE) -> torch.Tensor:
    """What each point lacks, (2, P), shared out over the guide grid by Shepard weights of each point's own
    geodesic distance -> (2, H, W). Measured on a grid SHARE_SHRINK times coarser and enlarged bilinearly (a
    sixteenth of the work for the dozens of points a reference gives): only the distances' ratios weigh here, and
    the share-out changes slowly; the reach, which says where the colour goes, is measured on the guide grid
    itself. A point's dab is at least 1.5 coarse cells, so that the cells its own guide cell is enlarged from
    are all at distance 0 from it: its share is its own lack, exactly. Points within about 3 guide cells of each
    other (10 pixels of a 1024x768 photo) share the mean of their lacks, as points on one cell do."""
    height, width = l_guide.shape
    small = (max(1, width // SHARE_SHRINK), max(1, height // SHARE_SHRINK))  # (w, h)

    def shrink(plane: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(plane, np.float32), small, interpolation=cv2.INTER_AREA)

    right, down = edge_costs(shrink(l_guide), None if own_ab is None else np.stack([shrink(c) for c in own_ab]),
                             blur_sigma=GUIDE_BLUR / SHARE_SHRINK, scale=edge_scale)
    coarse = [(min(small[0] - 1, column * small[0] // width), min(small[1] - 1, row * small[1] // height))
              for column, row in seeds]
    distance = torch.from_numpy(geodesic_distance(right, down, coarse, dab=max(dab / SHARE_SHRINK, 1.5)))
    weights = distance.square_().add_(1e-6).reciprocal_()  # (P, h, w); only their ratios count
    shared = torch.einsum("cp,phw->chw", lacking, weights) / weights.sum(dim=0)
    return torch.from_numpy(np.stack([cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)
                                      for plane in shared.numpy()]))


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
