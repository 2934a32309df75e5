"""Colour as classification (Zhang et al. 2016): the ab plane cut into bins, a distribution over them per pixel.

Regression onto ab with an L1 or L2 loss predicts the average of the plausible colours, and the average of a red
and a blue car is gray: that is why L1-trained colorizers look sepia. A distribution over ab bins keeps the
alternatives apart; the annealed mean (softmax at a temperature below 1, then the mean bin) picks a vivid colour
where the net is sure and stays muted where it is not. Temperature 1 is the plain mean, near 0 the mode.

Everything here works on normalized ab (see model.color.normalize_ab); centers is (Q, 2).
"""
import torch

from model.color import AB_SCALE, _lab_to_linear_last

# Bin spacing in ab units, as in the paper. The paper kept the 313 cells its training photos used; here a cell is kept
# when sRGB can show it at some lightness, which gives 262 (ab_bin_centers).
GRID = 10.0


def ab_bin_centers(grid: float = GRID) -> torch.Tensor:
    """(Q, 2) normalized centers of the grid cells that sRGB can show somewhere (262 cells for grid 10).

    A cell counts when its center, a corner or an edge midpoint is in gamut at some lightness.
    """
    steps = torch.arange(-AB_SCALE, AB_SCALE + 1e-6, grid, dtype=torch.float64)
    a, b = torch.meshgrid(steps, steps, indexing="ij")
    ab = torch.stack([a.flatten(), b.flatten()], dim=1)  # (G, 2)
    lightness = torch.linspace(0.5, 99.5, 199, dtype=torch.float64)[:, None, None].expand(-1, len(ab), 1)
    inside = torch.zeros(len(ab), dtype=torch.bool)
    for da in (-grid / 2, 0, grid / 2):
        for db in (-grid / 2, 0, grid / 2):
            probe = (ab + torch.tensor([da, db], dtype=torch.float64))[None].expand(lightness.shape[0], -1, -1)
            linear = _lab_to_linear_last(torch.cat([lightness, probe], dim=2))  # (L, G, 3)
            inside |= ((linear >= 0) & (linear <= 1)).all(dim=2).any(dim=0)
    return (ab[inside] / AB_SCALE).float()


def grid_table(centers: torch.Tensor, grid: float = GRID) -> torch.Tensor:
    """(G * G,) long: for each cell of the full square grid, its index in centers, or -1 when out of gamut."""
    side = round(2 * AB_SCALE / grid) + 1
    cells = (centers.double() * AB_SCALE / grid).round().long() + side // 2  # (Q, 2) grid coordinates
    table = torch.full((side * side,), -1, dtype=torch.long, device=centers.device)
    table[cells[:, 0] * side + cells[:, 1]] = torch.arange(len(centers), device=centers.device)
    return table


def soft_encode(ab: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0,
                grid: float = GRID) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, H, W) ab -> ((B, 9, H, W) bin indices, (B, 9, H, W) weights summing to 1): the target distribution.

    Gaussian weights (sigma in ab units) on the 3 x 3 bins around the nearest grid point, out-of-gamut cells
    left out: soft targets tell the net that neighbouring bins are nearly right, which a one-hot would not.
    Sparse, because the bins are a regular grid: 9 numbers per pixel instead of Q.
    """
    table = grid_table(centers, grid)
    side = round(2 * AB_SCALE / grid) + 1
    position = ab.float() * (AB_SCALE / grid) + side // 2  # (B, 2, H, W) in grid units
    nearest = position.round().long()
    offsets = torch.tensor([-1, 0, 1], device=ab.device)
    a = (nearest[:, :1] + offsets.repeat_interleave(3).view(1, 9, 1, 1)).clamp(0, side - 1)  # (B, 9, H, W)
    b = (nearest[:, 1:] + offsets.repeat(3).view(1, 9, 1, 1)).clamp(0, side - 1)
    bins = table[a * side + b]
    distance2 = ((position[:, :1] - a) ** 2 + (position[:, 1:] - b) ** 2) * grid ** 2
    weights = torch.exp(-distance2 / (2 * sigma ** 2)) * (bins >= 0)
    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return bins.clamp(min=0), weights


def nearest_bin(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) ab -> (B, H, W) index of the nearest in-gamut bin."""
    bins, weights = soft_encode(ab, centers)
    return bins.gather(1, weights.argmax(dim=1, keepdim=True))[:, 0]


def rebalancing_weights(counts: torch.Tensor, centers: torch.Tensor, mix: float = 0.5,
                        sigma: float = 5.0) -> torch.Tensor:
    """(Q,) bin counts from training data -> (Q,) loss weights that lift rare colours.

    As in the paper: w proportional to 1 / ((1 - mix) * smoothed prior + mix / Q), scaled so that the expected
    weight under the prior is 1. mix 1 weighs every pixel the same; mix 0 fully equalizes the bins.
    """
    prior = counts.double() / counts.sum().clamp(min=1)
    distances = ((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1).double() * AB_SCALE ** 2
    kernel = torch.exp(-distances / (2 * sigma ** 2))
    smoothed = kernel @ prior
    smoothed = smoothed / smoothed.sum()
    weights = 1 / ((1 - mix) * smoothed + mix / len(centers))
    weights = weights / (smoothed * weights).sum()
    return weights.float()


def annealed_mean(logits: torch.Tensor, centers: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """(B, Q, H, W) logits -> (B, 2, H, W) float ab: the mean of softmax(logits / temperature) over the bin centers.

    temperature is a 0-d tensor (the generator keeps it as a buffer); computed in float32 whatever the logits' type.
    """
    probabilities = torch.softmax(logits.float() / temperature.float(), dim=1)
    return torch.einsum("bqhw,qc->bchw", probabilities, centers.float())
