"""WGAN-GP losses for a conditional critic, and the generator's L1 + adversarial loss.

All tensors are normalized: l (B, 1, H, W) and ab (B, 2, H, W).
"""
import torch
import torch.nn.functional as F
from torch import nn


def gradient_penalty(critic: nn.Module, l: torch.Tensor, ab_real: torch.Tensor, ab_fake: torch.Tensor) -> torch.Tensor:
    """Mean of (||d critic / d ab|| - 1)^2 at random points between real and fake ab, L held fixed.

    The gradient is taken with respect to ab alone: L is the condition, not something the critic judges.
    """
    alpha = torch.rand(ab_real.shape[0], 1, 1, 1, device=ab_real.device)
    ab_mix = (alpha * ab_real + (1 - alpha) * ab_fake.detach()).requires_grad_(True)
    score = critic(l, ab_mix)
    (grad,) = torch.autograd.grad(score.float().sum(), ab_mix, create_graph=True)
    norm = grad.float().flatten(1).norm(dim=1)  # (B,)
    return ((norm - 1) ** 2).mean()


def critic_loss(critic: nn.Module, l: torch.Tensor, ab_real: torch.Tensor, ab_fake: torch.Tensor,
                gp_weight: float) -> tuple[torch.Tensor, dict]:
    """Wasserstein critic loss: score fakes low and reals high, with the Lipschitz penalty."""
    real = critic(l, ab_real).float().mean()
    fake = critic(l, ab_fake.detach()).float().mean()
    penalty = gradient_penalty(critic, l, ab_real, ab_fake)
    loss = fake - real + gp_weight * penalty
    return loss, {"critic": loss.item(), "wasserstein": (real - fake).item(), "gp": penalty.item()}


def generator_loss(critic: nn.Module | None, l: torch.Tensor, ab_real: torch.Tensor, ab_fake: torch.Tensor,
                   l1_weight: float) -> tuple[torch.Tensor, dict]:
    """l1_weight * L1(ab) - critic score; without a critic (the warm-up) the L1 term alone."""
    l1 = F.l1_loss(ab_fake.float(), ab_real.float())
    loss = l1_weight * l1
    logs = {"l1": l1.item()}
    if critic is not None:
        adversarial = -critic(l, ab_fake).float().mean()
        loss = loss + adversarial
        logs["adversarial"] = adversarial.item()
    logs["generator"] = loss.item()
    return loss, logs
