"""An architecture spec (the dict a weights file and a checkpoint store as "generator"/"spec") -> its network.

    resunet           model.generator.Generator: the ResUNet trained from scratch (formats 1 and 2)
    encoder_unet      model.encoder_unet.EncoderUNet: an ImageNet-trained encoder, a residual decoder (format 3)
    resunet_imagenet  model.encoder_unet.FusedResUNet: the ResUNet with the encoder's features added (format 3)
A spec without "architecture" is a ResUNet's: every file written before the others existed.
"""
from torch import nn

from model.encoder_unet import EncoderUNet, FusedResUNet
from model.generator import Generator

ARCHITECTURES = {"resunet": Generator, "encoder_unet": EncoderUNet, "resunet_imagenet": FusedResUNet}


def build_generator(spec: dict) -> nn.Module:
    """spec -> the untrained network it describes. Raises ValueError for an architecture this version lacks."""
    spec = dict(spec)
    name = spec.pop("architecture", "resunet")
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown generator architecture {name!r}; this version builds "
                         f"{', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name](**spec)


def has_imagenet_encoder(network: nn.Module) -> bool:
    """Whether the network holds an ImageNet-trained encoder (which training loads and keeps frozen)."""
    return isinstance(getattr(network, "imagenet", None), nn.Module)
