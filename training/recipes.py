"""Training recipes: how the generator learns. Each owns its loss, its optimizers and their settings, the state it
adds to the checkpoint, and one training step; training.train runs whichever the config asks for (recipe_class).

- Regression (--head ab): the predicted ab against the photo's, L1 or log-L1 (--loss; training.losses), plus
  optionally a perceptual term on the ImageNet-trained encoder's features (--perceptual).
- Adversarial (--head ab --adversarial true): Regression for --warmup-steps, then a conditional WGAN-GP critic
  too, trained --critic-steps times per generator step; the generator also minimizes minus its score.
- Bins (--head bins): a rebalanced cross-entropy over ab bins (Zhang et al. 2016), with a colour prior counted on
  training batches before the first step.

A step draws its batches from `batch()`: (l, ab, hints), normalized, channels-last, on the device; each draw is
a new batch. All tensors are (B, 1, H, W) L, (B, 2, H, W) ab and (B, 3, H, W) hints.
"""
from typing import TYPE_CHECKING, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from model.bins import nearest_bin, rebalancing_weights
from model.critic import Critic
from training.data import to_model_inputs
from training.imagenet import perceptual_encoder
from training.losses import bins_loss, critic_loss, downsample_ab, generator_loss

if TYPE_CHECKING:  # training.config imports this module
    from training.config import TrainConfig

PRIOR_BATCHES = 64  # training batches counted for the colour prior of the bins head
Batch = Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def recipe_class(config: "TrainConfig") -> type["Recipe"]:
    """The recipe a TrainConfig asks for. Raises ValueError, naming the flag, for a combination none trains."""
    if config.head == "bins":
        if config.adversarial:
            raise ValueError("--adversarial applies to the ab head; a bins head trains without a critic")
        if config.loss != "l1":
            raise ValueError("--loss applies to the ab head; a bins head trains on its cross-entropy")
        return Bins
    return Adversarial if config.adversarial else Regression


class Recipe:
    """The generator's optimizer (its hint layer at --hint-lr-scale times the rate) and what every recipe shares.

    generator is the plain module (the trainer keeps its moving average and saves it); generator_train is what the
    updates run through: the same module, or its DistributedDataParallel wrapper after distribute().
    """
    description = ""  # for the first lines a run prints
    betas = (0.9, 0.999)

    def __init__(self, config: "TrainConfig", generator: nn.Module, device: torch.device,
                 amp_dtype: torch.dtype | None = None):
        self.config, self.generator, self.device, self.amp_dtype = config, generator, device, amp_dtype
        self.generator_train: nn.Module = generator
        # The hint layer starts at zero and learns faster, an ImageNet encoder learns slower or not at all (frozen:
        # no gradients, training.imagenet): each parameter group carries its scale of the rate.
        learning = [(name, p) for name, p in generator.named_parameters() if p.requires_grad]
        hint_layer = [p for name, p in learning if name.startswith("hint_stem.")]
        encoder = [p for name, p in learning if name.startswith("imagenet.")]
        rest = [p for name, p in learning if not name.startswith(("hint_stem.", "imagenet."))]
        groups = [{"params": rest, "scale": 1.0}, {"params": hint_layer, "scale": config.hint_lr_scale}]
        if encoder:
            groups.append({"params": encoder, "scale": config.encoder_lr_scale})
        self.opt_g = torch.optim.Adam(groups, lr=config.lr, betas=self.betas)

    def networks(self) -> list[nn.Module]:
        """The trained networks (plain modules): every process must end with the same weights."""
        return [self.generator]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_g]

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Data-parallel training: wrap(module) returns the DistributedDataParallel module to train through."""
        self.generator_train = wrap(self.generator)

    def prepare(self, loader: DataLoader) -> None:
        """Work before the first step of a session (nothing here)."""

    def set_learning_rate(self, lr: float) -> None:
        for optimizer in self.optimizers():
            for group in optimizer.param_groups:
                group["lr"] = lr * group["scale"]

    def state_dict(self) -> dict:
        """The recipe's part of the checkpoint."""
        return {"opt_g": self.opt_g.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])

    def step(self, step: int, batch: Batch) -> dict:
        """One generator update (and whatever the recipe trains with it) -> the values to log."""
        raise NotImplementedError

    def autocast(self):
        """bfloat16 autocast where the trainer chose it (training.train.autocast_dtype), else a no-op."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                              enabled=self.amp_dtype is not None)

    @staticmethod
    def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


class Regression(Recipe):
    """--head ab: reconstruction_weight * the L1 or log-L1 of the predicted ab (--loss; training.losses).

    Alone, the weight only scales the loss, which Adam's steps hardly depend on; it matters against a critic."""
    # Less momentum than Adam's default: WGAN-GP's usual choice. Every ab run so far, the shipped model's included,
    # trained with it with or without a critic (and a resumed run keeps its optimizer), so it stays.
    betas = (0.5, 0.9)

    def __init__(self, config: "TrainConfig", generator: nn.Module, device: torch.device,
                 amp_dtype: torch.dtype | None = None):
        super().__init__(config, generator, device, amp_dtype)
        # --perceptual: a frozen RGB copy of the ImageNet encoder, outside the networks: nothing of it is trained
        # or saved. Raises training.imagenet.MissingWeights without its package.
        self.perceptual = perceptual_encoder().to(device, memory_format=torch.channels_last) \
            if config.perceptual else None

    def step(self, step: int, batch: Batch) -> dict:
        return self.generator_step(*batch(), critic=None)

    def generator_step(self, l: torch.Tensor, ab: torch.Tensor, hints: torch.Tensor,
                       critic: nn.Module | None) -> dict:
        with self.autocast():
            ab_fake = self.generator_train(l, hints)
            loss, logs = generator_loss(critic, l, ab, ab_fake, self.config.reconstruction_weight, self.config.loss,
                                        self.perceptual, self.config.perceptual)
        self.update(self.opt_g, loss)
        return logs

    @property
    def description(self) -> str:
        loss = "log-L1" if self.config.loss == "log_l1" else "L1"
        perceptual = f" + {self.config.perceptual:g} x perceptual" if self.perceptual is not None else ""
        return f"{loss}{perceptual} regression"


class Adversarial(Regression):
    """--adversarial true: Regression alone for --warmup-steps; then each step first trains the conditional WGAN-GP
    critic --critic-steps times on new batches, then the generator on reconstruction_weight * reconstruction
    minus the critic's score, the critic frozen."""

    def __init__(self, config: "TrainConfig", generator: nn.Module, device: torch.device,
                 amp_dtype: torch.dtype | None = None):
        super().__init__(config, generator, device, amp_dtype)
        self.critic = Critic(**config.critic_kwargs()).to(device, memory_format=torch.channels_last)
        self.critic_train: nn.Module = self.critic
        self.opt_c = torch.optim.Adam([{"params": list(self.critic.parameters()), "scale": 1.0}], lr=config.lr,
                                      betas=self.betas)

    def networks(self) -> list[nn.Module]:
        return [self.generator, self.critic]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_g, self.opt_c]

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        super().distribute(wrap)
        self.critic_train = wrap(self.critic)

    def state_dict(self) -> dict:
        return super().state_dict() | {"critic": self.critic.state_dict(), "opt_c": self.opt_c.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "critic" in state:  # a run that trained without a critic until now starts one afresh
            self.critic.load_state_dict(state["critic"])
            self.opt_c.load_state_dict(state["opt_c"])

    def step(self, step: int, batch: Batch) -> dict:
        if step < self.config.warmup_steps:
            return super().step(step, batch)
        critic_logs = [self.critic_step(*batch()) for _ in range(self.config.critic_steps)]
        logs = {key: sum(entry[key] for entry in critic_logs) / len(critic_logs) for key in critic_logs[0]}
        self.critic.requires_grad_(False)  # frozen: the generator's loss must not train the critic
        return logs | self.generator_step(*batch(), critic=self.critic)

    def critic_step(self, l: torch.Tensor, ab: torch.Tensor, hints: torch.Tensor) -> dict:
        self.critic.requires_grad_(True)
        with torch.no_grad(), self.autocast():
            ab_fake = self.generator(l, hints)
        with self.autocast():
            loss, logs = critic_loss(self.critic_train, l, ab, ab_fake, self.config.gp_weight)
        self.update(self.opt_c, loss)
        return logs

    @property
    def description(self) -> str:
        return f"{super().description}, then from step {self.config.warmup_steps} a WGAN-GP critic"


class Bins(Recipe):
    """--head bins: the rebalanced cross-entropy of training.losses.bins_loss, each pixel weighted by the rarity of
    its colour in a prior counted once per run (fit_prior) and kept in the checkpoint."""
    description = "rebalanced cross-entropy over ab bins"
    betas = (0.9, 0.99)  # no critic to chase

    def __init__(self, config: "TrainConfig", generator: nn.Module, device: torch.device,
                 amp_dtype: torch.dtype | None = None):
        super().__init__(config, generator, device, amp_dtype)
        self.class_weights: torch.Tensor | None = None  # (Q,) loss weight of each ab bin

    def prepare(self, loader: DataLoader) -> None:
        if self.class_weights is None:  # a resumed run keeps the prior it started with
            self.fit_prior(loader)

    @torch.no_grad()
    def fit_prior(self, loader: DataLoader) -> None:
        """Counts the ab bins of PRIOR_BATCHES training batches and turns them into rebalancing weights.

        Every process counts its own batches and the counts are summed, so all processes use the same weights.
        """
        centers = self.generator.head.centers
        counts = torch.zeros(len(centers), device=self.device)
        for _, rgb in zip(range(PRIOR_BATCHES), loader):
            _, ab = to_model_inputs(rgb.to(self.device))
            bins = nearest_bin(downsample_ab(ab, self.config.stem_stride), centers)  # at the logits' resolution
            counts += torch.bincount(bins.flatten(), minlength=len(centers)).float()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
        self.class_weights = rebalancing_weights(counts, centers, mix=self.config.rebalance)

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.class_weights is not None:
            state["class_weights"] = self.class_weights
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.class_weights = state.get("class_weights")

    def step(self, step: int, batch: Batch) -> dict:
        l, ab, hints = batch()
        with self.autocast():
            logits = self.generator_train(l, hints, True)  # (B, Q, h, w) at the stem's resolution
        loss, logs = bins_loss(logits, ab, self.generator.head.centers, self.class_weights)
        self.update(self.opt_g, loss)
        return logs
