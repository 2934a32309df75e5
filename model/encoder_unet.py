"""EncoderUNet: a U-Net whose encoder is ImageNet-trained (EfficientNet-Lite0 on the lightness, model.efficientnet)
and whose decoder is residual blocks: (B, 1, H, W) normalized L, and optionally a (B, 3, H, W) hint layer ->
(B, 2, H, W) ab in [-1, 1]. Weights format 3 (model.weights).

Colour is mostly recognition: a jacket, a jeans leg and a road have the same gray. The encoder learnt to tell
things apart from 1.3 million ImageNet photos, which a colorizer trained on 14,000 cannot; training keeps it frozen
(training.imagenet), batch-norm statistics included, and teaches only the decoder and the hint layers.

    L ---------------------------------------- stem (3x3, stride 2) ----------------------.
    L -> EfficientNet-Lite0 -> features at 1/2, 1/4, 1/8, 1/16, 1/32                    |
                                 |      |     |     |     '-> 1x1 -> res, context, res  |
                                 |      |     |     '------- up + skip -> res  (1/16)   |
                                 |      |     '------------- up + skip -> res  (1/8)    |
                                 |      '------------------- up + skip -> res  (1/4)    |
                                 '-------------------------- up + skip(+stem) -> res (1/2) -> head -> ab, upsampled
    hints -> strided convolutions (1/2 .. 1/16) -> a 1x1 convolution added at each decoder level, zero at first

The hint layer (Zhang et al. 2017) cannot go through the frozen encoder, so it has a small pyramid of its own that
enters the decoder at every level, where the colour is decided. Its last convolutions start at zero: untrained,
the network ignores hints. The head ("ab" or "bins") is model.generator's. Height and width must be multiples of
32 (`stride`); pad outside the network (model.generator.pad_to_stride).
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from model.efficientnet import FEATURE_CHANNELS, EfficientNetLite0
from model.generator import (HEADS, HINT_CHANNELS, AbHead, BinsHead, Generator, GlobalContext, ResBlock, UpLevel,
                             conv_norm_relu)

ENCODERS = ("efficientnet_lite0",)


class HintPyramid(nn.Module):
    """(B, 3, H, W) hint layer -> one (B, width_i, H / 2**(i+1), W / 2**(i+1)) addition for each decoder level."""

    def __init__(self, widths: List[int]):
        super().__init__()
        downs, outs, channels = [], [], HINT_CHANNELS
        for width in widths:
            downs.append(nn.Sequential(nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)))
            out = nn.Conv2d(width, width, 1)
            nn.init.zeros_(out.weight)  # no effect until training teaches the network what hints mean
            nn.init.zeros_(out.bias)
            outs.append(out)
            channels = width
        self.downs = nn.ModuleList(downs)
        self.outs = nn.ModuleList(outs)

    def forward(self, hints: torch.Tensor) -> List[torch.Tensor]:
        levels: List[torch.Tensor] = []
        x = hints
        for down in self.downs:
            x = down(x)
            levels.append(x)
        added: List[torch.Tensor] = []
        for i, out in enumerate(self.outs):  # TorchScript indexes a ModuleList only in a loop over it
            added.append(out(levels[i]))
        return added


class EncoderUNet(nn.Module):
    def __init__(self, encoder: str = "efficientnet_lite0", base_channels: int = 32, blocks_per_level: int = 1,
                 head: str = "ab", temperature: float = 0.38):
        super().__init__()
        self.spec = dict(architecture="encoder_unet", encoder=encoder, base_channels=base_channels,
                         blocks_per_level=blocks_per_level, head=head, temperature=temperature)
        assert encoder in ENCODERS, f"encoder must be one of {ENCODERS}, got {encoder!r}"
        assert base_channels >= 4, f"base_channels must be at least 4, got {base_channels}"
        assert head in HEADS, f"head must be one of {HEADS}, got {head!r}"
        # decoder widths at 1/2, 1/4, 1/8, 1/16, 1/32: doubling, at most 6x the first (32: 32, 64, 128, 192, 192)
        widths = [base_channels * min(2**i, 6) for i in range(len(FEATURE_CHANNELS))]
        self.stem_stride = 2  # the head works at half resolution, as model.generator's stride-2 stem does
        self.stride = 32

        self.imagenet = EfficientNetLite0().eval()  # and stays so: see train()
        self.stem = conv_norm_relu(1, widths[0], stride=2)  # the lightness's own edges at 1/2, beside the encoder's
        self.skips = nn.ModuleList([conv_norm_relu(c, w, kernel_size=1)
                                    for c, w in zip(FEATURE_CHANNELS[:-1], widths[:-1])])
        bottom = widths[-1]
        self.bottom = conv_norm_relu(FEATURE_CHANNELS[-1], bottom, kernel_size=1)
        self.bottleneck = nn.Sequential(ResBlock(bottom), GlobalContext(bottom), ResBlock(bottom))
        self.decoder = nn.ModuleList([UpLevel(widths[i + 1], widths[i], blocks_per_level)
                                      for i in reversed(range(len(widths) - 1))])
        self.hint_stem = HintPyramid(widths[:-1])  # named as model.generator's: training scales its learning rate
        self.head = AbHead(widths[0]) if head == "ab" else BinsHead(widths[0], temperature)

    def train(self, mode: bool = True):
        # The ImageNet statistics of the encoder's batch norms stay as they are, whatever the rest does.
        super().train(mode)
        self.imagenet.eval()
        return self

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        # (B, 1, H, W) L in [-1, 1], H and W multiples of 32; hints (B, 3, H, W) or None
        # -> (B, 2, H, W) ab in [-1, 1]; raw: the head's output before tanh or softmax, at (H/2, W/2)
        features = self.imagenet(l_norm)  # 1/2 .. 1/32
        skips: List[torch.Tensor] = []
        for i, skip in enumerate(self.skips):
            skips.append(skip(features[i]))
        skips[0] = skips[0] + self.stem(l_norm)
        if hints is not None:
            for i, added in enumerate(self.hint_stem(hints.to(l_norm.dtype))):
                skips[i] = skips[i] + added
        x = self.bottleneck(self.bottom(features[-1]))  # (B, 8 * base, H / 32, W / 32)
        for i, up in enumerate(self.decoder):
            x = up(x, skips[-1 - i])
        if raw:
            return self.head.raw(x)
        ab = self.head(x)
        return F.interpolate(ab, size=l_norm.shape[-2:], mode="bilinear", align_corners=False)


class FusedResUNet(Generator):
    """Today's ResUNet (model.generator) with EfficientNet-Lite0's features added to its deepest levels through
    1x1 convolutions that start at zero: at step 0 it colorizes exactly as the ResUNet it starts from, and training
    can only add what the ImageNet features know. Weights format 3, architecture "resunet_imagenet"."""

    def __init__(self, encoder: str = "efficientnet_lite0", base_channels: int = 32, levels: int = 4,
                 blocks_per_level: int = 1, stem_stride: int = 2, head: str = "ab", temperature: float = 0.38):
        super().__init__(base_channels, levels, blocks_per_level, stem_stride, head, temperature)
        assert encoder in ENCODERS, f"encoder must be one of {ENCODERS}, got {encoder!r}"
        self.spec = dict(architecture="resunet_imagenet", encoder=encoder, **self.spec)
        self.stride = max(self.stride, 32)  # the encoder halves five times
        self.imagenet = EfficientNetLite0().eval()  # and stays so: see train()
        widths = [base_channels * 2**i for i in range(levels)]
        # Where each 1x1 convolution adds which feature: the ResUNet's last two levels (level i works at
        # stem_stride << i of the input; the encoder's feature k at 2 << k), and the bottleneck (level -1) the
        # encoder's deepest, at 1/32, enlarged to the bottleneck's size.
        self.fuse_levels: List[int] = [levels - 2, levels - 1, -1]
        self.fuse_features: List[int] = [(stem_stride << i).bit_length() - 2 for i in (levels - 2, levels - 1)]
        self.fuse_features.append(len(FEATURE_CHANNELS) - 1)
        self.fuse = nn.ModuleList([nn.Conv2d(FEATURE_CHANNELS[k], widths[i], 1)
                                   for k, i in zip(self.fuse_features, self.fuse_levels)])
        for conv in self.fuse:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def train(self, mode: bool = True):
        super().train(mode)
        self.imagenet.eval()
        return self

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        # as Generator.forward; H and W multiples of 32
        features = self.imagenet(l_norm)
        x = self.stem(l_norm)
        if hints is not None:
            x = x + self.hint_stem(hints.to(x.dtype))
        skips: List[torch.Tensor] = []
        for i, level in enumerate(self.encoder):
            x = level(x)
            for j, fuse in enumerate(self.fuse):
                if self.fuse_levels[j] == i:
                    x = x + fuse(features[self.fuse_features[j]])
            skips.append(x)
        for j, fuse in enumerate(self.fuse):
            if self.fuse_levels[j] == -1:
                added = fuse(features[self.fuse_features[j]])
                x = x + F.interpolate(added, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.decode(x, skips, l_norm, raw)
