import pytest
import torch

from model.bins import (ab_bin_centers, annealed_mean, grid_table, nearest_bin, rebalancing_weights,
                        soft_encode)
from model.color import AB_SCALE, lab_to_rgb, rgb_to_lab


def test_bins_cover_the_srgb_gamut_on_a_grid_of_ten():
    centers = ab_bin_centers()
    assert len(centers) == 262
    units = centers * AB_SCALE
    assert torch.allclose(units, (units / 10).round() * 10, atol=1e-4)  # grid points
    assert [0.0, 0.0] in units.round().tolist()
    # every colour of a dense sweep of sRGB falls in or next to a bin
    rgb = torch.stack(torch.meshgrid(*[torch.linspace(0, 1, 17)] * 3, indexing="ij")).reshape(3, -1, 1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).T
    distance = torch.cdist(ab, units).min(dim=1).values
    assert distance.max() <= 10 * 2 ** 0.5 / 2 + 1e-3  # within half a cell diagonal: inside a kept cell


def test_soft_encoding_weights_the_nearest_bins_and_sums_to_one():
    centers = ab_bin_centers()
    ab = torch.randn(3, 2, 5, 7) * 0.15
    bins, weights = soft_encode(ab, centers)
    assert bins.shape == weights.shape == (3, 9, 5, 7)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3, 5, 7))
    # the same distribution as a Gaussian over all bins, up to the far tail the 3 x 3 window leaves out
    squared = ((ab[:, None] - centers[None, :, :, None, None]) ** 2).sum(dim=2) * AB_SCALE ** 2  # (B, Q, H, W)
    dense = torch.softmax(-squared / (2 * 5.0 ** 2), dim=1)
    sparse = torch.zeros_like(dense).scatter_add_(1, bins, weights)
    assert (dense - sparse).abs().sum(dim=1).max() < 0.1
    assert torch.equal(nearest_bin(ab, centers), squared.argmin(dim=1))


def test_a_bin_center_encodes_to_itself():
    centers = ab_bin_centers()
    ab = centers.T[None, :, :, None]  # (1, 2, Q, 1)
    assert torch.equal(nearest_bin(ab, centers)[0, :, 0], torch.arange(len(centers)))
    assert torch.equal(grid_table(centers)[grid_table(centers) >= 0].sort().values, torch.arange(len(centers)))


def test_rebalancing_lifts_rare_bins_and_averages_one_under_the_prior():
    centers = ab_bin_centers()
    counts = torch.ones(len(centers))
    gray = nearest_bin(torch.zeros(1, 2, 1, 1), centers).item()
    counts[gray] = 1000.0
    weights = rebalancing_weights(counts, centers, mix=0.5)
    assert weights[gray] < weights.median()
    assert torch.allclose(rebalancing_weights(counts, centers, mix=1.0), torch.ones(len(centers)), atol=1e-5)


def test_annealed_mean_goes_from_the_mean_to_the_mode():
    centers = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, -0.5]])
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3]))[None, :, None, None]
    mean = annealed_mean(logits, centers, torch.tensor(1.0))[0, :, 0, 0]
    assert torch.allclose(mean, torch.tensor([0.25, -0.15]), atol=1e-6)
    mode = annealed_mean(logits, centers, torch.tensor(0.01))[0, :, 0, 0]
    assert torch.allclose(mode, torch.tensor([0.5, 0.0]), atol=1e-4)
    vivid = annealed_mean(logits, centers, torch.tensor(0.38))[0, :, 0, 0]
    assert mean.norm() < vivid.norm() < mode.norm()  # lower temperature, more chroma


@pytest.mark.parametrize("lightness", [30.0, 60.0, 85.0])
def test_bin_centers_are_colours_not_noise(lightness):
    # a bin's colour shown at a mid lightness keeps its hue through the gamut fit
    centers = ab_bin_centers() * AB_SCALE
    lab = torch.cat([torch.full((len(centers), 1), lightness), centers], dim=1).T[:, :, None]
    rgb = lab_to_rgb(lab)
    assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1
