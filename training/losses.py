"""The losses of the training recipes (training.recipes): the generator's reconstruction loss (L1 or log-L1) plus,
with a critic, its adversarial term; optionally a perceptual term (the ImageNet encoder's features of the predicted
colour photo against the original's); the conditional WGAN-GP critic's loss and gradient penalty; and the bins
head's rebalanced cross-entropy.

All tensors are normalized: l (B, 1, H, W) and ab (B, 2, H, W).
"""
import torch
import torch.nn.functional as F
from torch import nn

from model.bins import soft_encode
from model.color import AB_SCALE, denormalize_ab, denormalize_l, lab_to_rgb

RECONSTRUCTION = ("l1", "log_l1")
LOG_FLOOR = 1 / AB_SCALE  # one ab unit, normalized: log_l1 does not chase errors far below what the eye sees


def interpolate(ab_real: torch.Tensor, ab_fake: torch.Tensor) -> torch.Tensor:
    """Random points between real and fake ab, one mixing weight per sample, ready for a gradient."""
    alpha = torch.rand(ab_real.shape[0], 1, 1, 1, device=ab_real.device)
    return (alpha * ab_real + (1 - alpha) * ab_fake.detach()).requires_grad_(True)


def penalty(score_mix: torch.Tensor, ab_mix: torch.Tensor) -> torch.Tensor:
    """Mean of (||d score / d ab|| - 1)^2 over the batch.

    The gradient is taken with respect to ab alone: L is the condition, not something the critic judges.
    """
    (grad,) = torch.autograd.grad(score_mix.float().sum(), ab_mix, create_graph=True)
    return ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()


def gradient_penalty(critic: nn.Module, l: torch.Tensor, ab_real: torch.Tensor, ab_fake: torch.Tensor) -> torch.Tensor:
    """The WGAN-GP penalty at random points between real and fake ab, L held fixed."""
    ab_mix = interpolate(ab_real, ab_fake)
    return penalty(critic(l, ab_mix), ab_mix)


def critic_loss(critic: nn.Module, l: torch.Tensor, ab_real: torch.Tensor, ab_fake: torch.Tensor,
                gp_weight: float) -> tuple[torch.Tensor, dict]:
    """Wasserstein critic loss: score fakes low and reals high, with the Lipschitz penalty.

    Real, fake and interpolated ab go through the critic as one batch: one forward per backward, as
    DistributedDataParallel requires. Instance norm keeps the samples independent, so this changes nothing else.
    """
    ab_mix = interpolate(ab_real, ab_fake)
    scores = critic(l.repeat(3, 1, 1, 1), torch.cat([ab_real, ab_fake.detach(), ab_mix])).float()
    real, fake, mix = scores.chunk(3)
    gp = penalty(mix, ab_mix)
    loss = fake.mean() - real.mean() + gp_weight * gp
    return loss, {"critic": loss.item(), "wasserstein": (real.mean() - fake.mean()).item(), "gp": gp.item()}


def photo_errors(ab_fake: torch.Tensor, ab_real: torch.Tensor) -> torch.Tensor:
    """(B,) each photo's mean absolute ab error. Their mean is L1 over the batch (every photo has as many pixels)."""
    return (ab_fake.float() - ab_real.float()).abs().flatten(1).mean(dim=1)


def reconstruction_loss(errors: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """photo_errors -> l1: their mean, the mean absolute ab error over every pixel of the batch. log_l1: the mean of
    their logs (plus LOG_FLOOR). PSNR scores each photo in dB, a log of its error, and the evaluation averages
    those: a nearly gray photo kept nearly gray gains as many dB from halving a small error as a colourful one from
    halving a large error. log_l1 weighs them the same way; l1 weighs every pixel alike."""
    if kind == "l1":
        return errors.mean()
    if kind == "log_l1":
        return torch.log(errors + LOG_FLOOR).mean()
    raise ValueError(f"reconstruction loss must be one of {', '.join(RECONSTRUCTION)}, got {kind!r}")


def generator_loss(critic: nn.Module | None, l: torch.Tensor, ab_real: torch.Tensor, ab_fake: torch.Tensor,
                   reconstruction_weight: float, kind: str = "l1", perceptual: nn.Module | None = None,
                   perceptual_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """reconstruction_weight * (reconstruction loss (kind: l1 or log_l1) + perceptual_weight * perceptual_loss
    with the encoder perceptual, when given) - critic score; without a critic (the warm-up, or no --adversarial)
    the first term alone."""
    errors = photo_errors(ab_fake, ab_real)
    reconstruction = reconstruction_loss(errors, kind)
    logs = {"l1": errors.mean().item()}  # plain L1 whatever the kind: comparable across runs
    if kind != "l1":
        logs[kind] = reconstruction.item()
    if perceptual is not None:
        features = perceptual_loss(perceptual, l, ab_fake, ab_real)
        reconstruction = reconstruction + perceptual_weight * features
        logs["perceptual"] = features.item()
    loss = reconstruction_weight * reconstruction
    if critic is not None:
        adversarial = -critic(l, ab_fake).float().mean()
        loss = loss + adversarial
        logs["adversarial"] = adversarial.item()
    logs["generator"] = loss.item()
    return loss, logs


def perceptual_loss(encoder: nn.Module, l: torch.Tensor, ab_fake: torch.Tensor, ab_real: torch.Tensor) -> torch.Tensor:
    """The mean absolute difference between the encoder's features (training.imagenet.perceptual_encoder) of the
    predicted colour photo and of the original's colours, both on the same lightness l (the network's input: an old
    print's gray with the clean photo's colours is the target there too), averaged over its feature levels.

    L1 on ab scores each pixel alone, so a wrong colour spread thin costs little; features that tell a jacket from
    a wall respond to what the colours make of the object (DDColor and ColorFormer train with such a term)."""
    def encoder_input(ab: torch.Tensor) -> torch.Tensor:
        lab = torch.cat([denormalize_l(l.float()), denormalize_ab(ab.float())], dim=1)
        return lab_to_rgb(lab, fit_gamut=False) * 2 - 1  # sRGB in [-1, 1], as the encoder was trained

    with torch.no_grad():
        real = encoder(encoder_input(ab_real))
    fake = encoder(encoder_input(ab_fake))
    return torch.stack([(f.float() - r.float()).abs().mean() for f, r in zip(fake, real)]).mean()


def downsample_ab(ab: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, 2, H, W) ab -> float ab averaged over factor x factor blocks: the resolution of a bins head's logits."""
    return F.avg_pool2d(ab.float(), factor) if factor > 1 else ab.float()


def bins_loss(logits: torch.Tensor, ab_real: torch.Tensor, centers: torch.Tensor,
              class_weights: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Rebalanced cross-entropy between (B, Q, h, w) logits and the soft-encoded real ab.

    ab_real is averaged down to the logits' resolution first; each pixel is weighted by its nearest bin's weight.
    """
    ab = downsample_ab(ab_real, ab_real.shape[-1] // logits.shape[-1])
    bins, target = soft_encode(ab, centers)  # (B, 9, h, w) each
    weights = class_weights[bins.gather(1, target.argmax(dim=1, keepdim=True))[:, 0]]  # (B, h, w): nearest bin's
    # One fused log-softmax, forward and backward: the cheapest form (and faster on contiguous memory).
    log_probabilities = F.log_softmax(logits.float().contiguous(), dim=1)
    cross_entropy = -(target * log_probabilities.gather(1, bins)).sum(dim=1)
    loss = (cross_entropy * weights).mean()
    return loss, {"cross_entropy": cross_entropy.mean().item(), "bins_loss": loss.item()}
