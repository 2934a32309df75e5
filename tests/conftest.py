"""Shared fixtures: synthetic photos, a held-out photo made old where a real one is needed (tests never read the
photos training uses), and a tiny exported model."""
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from PIL import Image

from model.critic import Critic
from model.encoder_unet import FusedResUNet
from model.generator import Generator
from training.config import TrainConfig
from training.export import export

TINY = dict(base_channels=8, levels=3, blocks_per_level=1)
SHARED_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"


def held_out_old_print() -> tuple[np.ndarray, np.ndarray]:
    """(clean, made old): a photo of the shared folder's held-out share (never trained on) as uint8 gray, and the
    same made old (training.degrade.made_old: faded, blurred, grainy, scratched, dusty, JPEG), which restore's auto
    takes for an old print. A real photo: auto's gate was fitted on photos, and does not take the synthetic ones
    here for prints. Skips the test without the shared photos."""
    from training.data import list_images, split_paths
    from training.degrade import made_old
    if not SHARED_TRAIN.is_dir():
        pytest.skip(f"the shared photos are not at {SHARED_TRAIN}")
    path = split_paths(list_images(SHARED_TRAIN), 0.05)[1][3]
    clean = np.asarray(Image.open(path).convert("L"))
    return clean, made_old(clean, "old print")[0]


def synthetic_photo(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A color 'photo': a sky-like gradient over a ground color, with a few colored shapes and noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0, 1, height)[:, None, None]
    sky, ground = rng.uniform(40, 230, 3), rng.uniform(20, 200, 3)
    image = np.where(y < rng.uniform(0.3, 0.7), sky * (1 - 0.4 * y), ground) * np.ones((height, width, 3))
    for _ in range(3):
        x0, y0 = rng.integers(0, width - 8), rng.integers(0, height - 8)
        image[y0:y0 + rng.integers(6, 30), x0:x0 + rng.integers(6, 30)] = rng.uniform(0, 255, 3)
    image += rng.normal(0, 6, image.shape)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(24):
        synthetic_photo(i, size=(96 + 8 * (i % 3), 72 + 4 * (i % 4))).save(folder / f"photo_{i:02d}.jpg", quality=92)
    return folder


def tiny_checkpoint_dict(config: TrainConfig | None = None) -> dict:
    config = config or TrainConfig(data="photos", out="run", image_size=32, scale_size=48, critic_channels=8,
                                   stem_stride=1, val_fraction=0.25, **TINY)
    torch.manual_seed(0)
    generator, critic = Generator(**config.spec()), Critic(**config.critic_kwargs())
    # A random generator's hint layer would be zero, as after --init: give it weights so that hints show.
    torch.nn.init.normal_(generator.hint_stem.weight, std=0.5)
    return {"generator": generator.state_dict(), "ema": generator.state_dict(), "critic": critic.state_dict(),
            "step": 0, "seconds": 0.0, "config": json.loads(config.to_json()), "spec": generator.spec}


def bins_checkpoint(folder: Path) -> Path:
    """A tiny bins-head checkpoint whose logits lean towards positive a: sharper softmax, more colour."""
    config = TrainConfig(data="photos", out="run", image_size=32, scale_size=48, critic_channels=8, head="bins",
                         stem_stride=2, val_fraction=0.25, **TINY)
    checkpoint = tiny_checkpoint_dict(config)
    centers = checkpoint["ema"]["head.centers"]
    checkpoint["ema"]["head.conv.bias"] = 3 * centers[:, 0]  # untrained logits are nearly tied: tilt them
    checkpoint["class_weights"] = torch.linspace(0.2, 5.0, 262)  # rarer colours weigh more
    path = folder / "bins.pt"
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    torch.save(tiny_checkpoint_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_weights(tiny_checkpoint, tmp_path_factory) -> Path:
    """A randomly initialised tiny generator, exported by the project's own export code."""
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    export(tiny_checkpoint, path)
    return path


def echo_hints(l_norm: torch.Tensor, hints: Optional[torch.Tensor]) -> torch.Tensor:
    """No colour of its own, the hints' colour where they are: each hint's colour spread over its neighbourhood, as
    a trained net spreads it over a region."""
    if hints is None:
        return torch.zeros_like(l_norm).repeat(1, 2, 1, 1)
    weight = torch.nn.functional.avg_pool2d(hints[:, 2:3], 9, stride=1, padding=4)
    colour = torch.nn.functional.avg_pool2d(hints[:, :2], 9, stride=1, padding=4)
    return torch.where(weight > 0, colour / weight.clamp(min=1e-6), torch.zeros_like(colour))


class EchoHints(Generator):
    """A stand-in for a trained net that follows hints (echo_hints). For tests that need hints to be followed (a
    random tiny net only changes colours somewhere near them)."""

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        return echo_hints(l_norm, hints)


@pytest.fixture(scope="session")
def echo_weights(tmp_path_factory) -> Path:
    from model.weights import save_network
    path = tmp_path_factory.mktemp("echo") / "echo.pt"
    save_network(EchoHints(**TINY, stem_stride=1), path, {"working_size": 64, "chroma_gain": 1.0})
    return path


class EchoHintsWithEncoder(FusedResUNet):
    """EchoHints with an (untrained) ImageNet encoder inside, as weights of format 3 have: the Colorizer takes a
    colour reference with it (model.reference); random convolutions tell stripes from checks, enough for tests."""

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        return echo_hints(l_norm, hints)


@pytest.fixture(scope="session")
def echo_encoder_weights(tmp_path_factory) -> Path:
    """A weights file of format 3 (an ImageNet encoder inside) whose net follows hints exactly (EchoHints)."""
    from model.weights import save_network
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("echo_encoder") / "echo_encoder.pt"
    save_network(EchoHintsWithEncoder(**TINY, stem_stride=1), path, {"working_size": 64, "chroma_gain": 1.0})
    return path


class LeakyHints(Generator):
    """A stand-in for a net that lets points leak: no colour of its own, and with points, the mean of their
    colours over the whole picture, across every edge."""

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        if hints is None:
            return torch.zeros_like(l_norm).repeat(1, 2, 1, 1)
        count = hints[:, 2:3].sum(dim=(2, 3), keepdim=True).clamp(min=1)
        colour = (hints[:, :2] * hints[:, 2:3]).sum(dim=(2, 3), keepdim=True) / count  # (B, 2, 1, 1)
        return colour.expand(-1, -1, l_norm.shape[2], l_norm.shape[3])


@pytest.fixture(scope="session")
def leaky_weights(tmp_path_factory) -> Path:
    from model.weights import save_network
    path = tmp_path_factory.mktemp("leaky") / "leaky.pt"
    save_network(LeakyHints(**TINY, stem_stride=1), path, {"working_size": 64, "chroma_gain": 1.0})
    return path


class AutomaticOnly(torch.nn.Module):
    """A network from before the hint layer (weights format 1): lightness in, ab out, no second input at all."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator
        self.stride = generator.stride
        self.spec = generator.spec

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.generator(l_norm)


@pytest.fixture(scope="session")
def format1_weights(tmp_path_factory) -> Path:
    """A weights file of format 1: an automatic colorizer that cannot take hints (its net has no hint input)."""
    from model.weights import save_network
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("format1") / "automatic.pt"
    save_network(AutomaticOnly(Generator(**TINY, stem_stride=1)), path, {"format": 1, "working_size": 48})
    return path


@pytest.fixture(scope="session")
def bins_weights(tmp_path_factory) -> Path:
    """The tiny bins-head checkpoint, exported: a weights file whose net outputs an annealed mean over ab bins."""
    folder = tmp_path_factory.mktemp("bins")
    path = folder / "bins_weights.pt"
    export(bins_checkpoint(folder), path)
    return path


@pytest.fixture(scope="session")
def colorizer(tiny_weights):
    from model.colorizer import Colorizer
    return Colorizer.load(tiny_weights)
