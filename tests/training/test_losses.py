import pytest
import torch
from torch import nn

from training.losses import (LOG_FLOOR, critic_loss, generator_loss, gradient_penalty, photo_errors,
                             reconstruction_loss)


class LinearCritic(nn.Module):
    """score = sum(w_l * L) + sum(w_ab * ab): its gradient with respect to ab is w_ab, everywhere."""

    def __init__(self, w_l: torch.Tensor, w_ab: torch.Tensor):
        super().__init__()
        self.w_l, self.w_ab = nn.Parameter(w_l), nn.Parameter(w_ab)

    def forward(self, l, ab):
        return (l * self.w_l).flatten(1).sum(1) + (ab * self.w_ab).flatten(1).sum(1)


def linear_critic(ab_gradient_norm: float) -> LinearCritic:
    torch.manual_seed(0)
    w_ab = torch.randn(2, 4, 4)
    return LinearCritic(torch.randn(1, 4, 4) * 5, w_ab / w_ab.norm() * ab_gradient_norm)


@pytest.mark.parametrize("norm,expected", [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_critic_with_known_gradient(norm, expected):
    critic = linear_critic(norm)
    l, real, fake = torch.randn(5, 1, 4, 4), torch.randn(5, 2, 4, 4), torch.randn(5, 2, 4, 4)
    # the gradient with respect to L (norm far from 1) must not count: L is the condition
    assert gradient_penalty(critic, l, real, fake).item() == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_is_differentiable_for_the_critic():
    critic = linear_critic(3.0)
    penalty = gradient_penalty(critic, torch.randn(2, 1, 4, 4), torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4))
    penalty.backward()
    assert critic.w_ab.grad.abs().sum() > 0


def test_critic_loss_rewards_scoring_reals_above_fakes():
    critic = linear_critic(1.0)
    l = torch.zeros(4, 1, 4, 4)
    real = critic.w_ab.detach().expand(4, 2, 4, 4)  # scores |w|^2 = 1 each
    fake = -real  # scores -1 each
    loss, logs = critic_loss(critic, l, real, fake, gp_weight=10.0)
    assert logs["wasserstein"] == pytest.approx(2.0, abs=1e-5)
    assert loss.item() == pytest.approx(-2.0, abs=1e-4)  # gradient norm is exactly 1: no penalty


def test_generator_loss_is_weighted_l1_during_warm_up_and_adds_the_critic_after():
    real, fake = torch.zeros(2, 2, 4, 4), torch.full((2, 2, 4, 4), 0.5)
    loss, logs = generator_loss(None, torch.zeros(2, 1, 4, 4), real, fake, reconstruction_weight=100.0)
    assert loss.item() == pytest.approx(50.0) and "adversarial" not in logs
    critic = linear_critic(1.0)
    loss, logs = generator_loss(critic, torch.zeros(2, 1, 4, 4), real, fake, reconstruction_weight=100.0)
    assert loss.item() == pytest.approx(50.0 - critic(torch.zeros(2, 1, 4, 4), fake).mean().item(), abs=1e-4)


def per_photo_pull(kind: str) -> torch.Tensor:
    """How hard the loss pulls on each pixel of two photos, one nearly right (error 0.01), one far off (0.2)."""
    real = torch.zeros(2, 2, 4, 4)
    fake = torch.stack([torch.full((2, 4, 4), 0.01), torch.full((2, 4, 4), 0.2)]).requires_grad_(True)
    reconstruction_loss(photo_errors(fake, real), kind).backward()
    return fake.grad.abs().flatten(1).mean(dim=1)


def test_l1_pulls_every_pixel_alike_and_log_l1_pulls_each_photo_by_its_own_error():
    l1 = per_photo_pull("l1")
    assert l1[0].item() == pytest.approx(l1[1].item())
    log_l1 = per_photo_pull("log_l1")
    # d log(e + floor) / de = 1 / (e + floor): the nearly right photo pulls (0.2 + floor) / (0.01 + floor) as hard
    assert (log_l1[0] / log_l1[1]).item() == pytest.approx((0.2 + LOG_FLOOR) / (0.01 + LOG_FLOOR), rel=1e-4)


def test_reconstruction_losses_values_and_an_unknown_kind():
    real, fake = torch.zeros(2, 2, 4, 4), torch.stack([torch.full((2, 4, 4), 0.1), torch.full((2, 4, 4), 0.3)])
    errors = photo_errors(fake, real)
    assert errors.tolist() == pytest.approx([0.1, 0.3])
    assert reconstruction_loss(errors, "l1").item() == pytest.approx(0.2)
    expected = (torch.log(torch.tensor(0.1 + LOG_FLOOR)) + torch.log(torch.tensor(0.3 + LOG_FLOOR))) / 2
    assert reconstruction_loss(errors, "log_l1").item() == pytest.approx(expected.item())
    loss, logs = generator_loss(None, torch.zeros(2, 1, 4, 4), real, fake, reconstruction_weight=100.0, kind="log_l1")
    assert loss.item() == pytest.approx(100 * expected.item(), rel=1e-5)
    assert logs["l1"] == pytest.approx(0.2) and "log_l1" in logs  # plain L1 logged too: comparable across runs
    with pytest.raises(ValueError, match="l1, log_l1"):
        reconstruction_loss(errors, "l2")


def test_bins_loss_is_lowest_for_the_right_colour_and_weights_rare_colours_more():
    from model.bins import ab_bin_centers, nearest_bin
    from training.losses import bins_loss

    centers = ab_bin_centers()
    ab = torch.zeros(2, 2, 8, 8)
    ab[:, 0] = 0.4  # a = 44: a red, the same everywhere
    right = nearest_bin(ab, centers)[0, 0, 0].item()
    wrong = nearest_bin(torch.zeros(1, 2, 1, 1), centers).item()
    confident = torch.full((2, len(centers), 4, 4), -5.0)  # logits at half resolution
    confident[:, right] = 5.0
    mistaken = torch.full_like(confident, -5.0)
    mistaken[:, wrong] = 5.0
    weights = torch.ones(len(centers))
    assert bins_loss(confident, ab, centers, weights)[0] < bins_loss(mistaken, ab, centers, weights)[0]
    heavier = weights.clone()
    heavier[right] = 3.0
    loss, logs = bins_loss(mistaken, ab, centers, heavier)
    assert loss.item() == pytest.approx(3 * logs["cross_entropy"], rel=1e-4)
    logits = torch.zeros_like(confident, requires_grad=True)
    bins_loss(logits, ab, centers, weights)[0].backward()
    assert logits.grad[:, right].mean() < 0 < logits.grad[:, wrong].mean()  # pushes towards the right bin
