"""ResUNet generator: (B, 1, H, W) normalized L, and optionally a (B, 3, H, W) hint layer -> (B, 2, H, W) ab in [-1, 1].

A U-Net whose every level is a stack of residual blocks. The bottom level adds dilated blocks and a global
context vector, because wrong hues are mostly recognition failures: the net has to see the whole scene to
know a sky from a wall. Height and width must be multiples of `stride`; pad outside the network (see
`pad_to_stride`) so that the scripted graph stays shape-agnostic.

Two choices shape the cost and the colours:
- stem_stride 2 starts the U-Net at half resolution: about 4x fewer multiply-adds, and colour (unlike lightness)
  needs no more detail than that; the ab map is upsampled to the input's size at the end.
- head "ab" regresses ab through tanh; head "bins" predicts a distribution over ab bins (model.bins) and outputs
  its annealed mean at the stored temperature. forward(l, hints, raw=True) gives the head's raw output for training.

Colour hints (Zhang et al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep Priors"): a layer of
the ab that the user gave at some pixels and a mask of those pixels (model.hints builds it). Its own convolution
adds to the stem's features; it starts at zero, so a net trained without hints colorizes exactly as before, and
no hints (None, or an all-zero layer) is the automatic colorizer.

The constructor's keyword arguments are the architecture, and `Generator.spec` gives them back: that dict is
stored verbatim in every checkpoint and weights file, so whatever reads one rebuilds exactly this network.
"""
import inspect
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from model.bins import ab_bin_centers, annealed_mean


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(x + self.norm2(self.conv2(y)))


def conv_norm_relu(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class GlobalContext(nn.Module):
    """Adds a vector computed from the whole image to every position: scene-level evidence for local colour."""

    def __init__(self, channels: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(inplace=True), nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.mlp(x.mean(dim=(2, 3)))  # (B, C)
        return x + context[:, :, None, None]


class UpLevel(nn.Module):
    """Upsample by 2, join the encoder's features of the same resolution, then residual blocks."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int):
        super().__init__()
        self.up = conv_norm_relu(in_channels, out_channels)
        self.merge = conv_norm_relu(2 * out_channels, out_channels, kernel_size=1)
        self.blocks = nn.Sequential(*[ResBlock(out_channels) for _ in range(blocks)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self.merge(torch.cat([self.up(x), skip], dim=1))
        return self.blocks(x)


class AbHead(nn.Conv2d):
    """Features -> ab in [-1, 1] by regression. A Conv2d itself, so checkpoints keep their key names."""

    def __init__(self, channels: int):
        super().__init__(channels, 2, 3, padding=1)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self._conv_forward(x, self.weight, self.bias))


class BinsHead(nn.Module):
    """Features -> logits over the ab bins -> their annealed mean at the stored temperature."""

    def __init__(self, channels: int, temperature: float):
        super().__init__()
        centers = ab_bin_centers()
        self.conv = nn.Conv2d(channels, len(centers), 1)
        self.register_buffer("centers", centers)  # (Q, 2) normalized ab
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return annealed_mean(self.conv(x), self.centers, self.temperature).to(x.dtype)


HEADS = ("ab", "bins")
HINT_CHANNELS = 3  # hint a, hint b (normalized, 0 where no hint) and the mask (1 where a hint is)


class Generator(nn.Module):
    def __init__(self, base_channels: int = 32, levels: int = 4, blocks_per_level: int = 1, stem_stride: int = 2,
                 head: str = "ab", temperature: float = 0.38):
        super().__init__()
        self.spec = dict(base_channels=base_channels, levels=levels, blocks_per_level=blocks_per_level,
                         stem_stride=stem_stride, head=head, temperature=temperature)
        assert levels >= 2, f"the U-Net needs at least 2 levels, got {levels}"
        assert base_channels >= 4, f"base_channels must be at least 4, got {base_channels}"
        assert stem_stride in (1, 2), f"stem_stride must be 1 or 2, got {stem_stride}"
        assert head in HEADS, f"head must be one of {HEADS}, got {head!r}"
        widths = [base_channels * 2**i for i in range(levels)]  # e.g. 32, 64, 128, 256
        self.base_channels = base_channels
        self.levels = levels
        self.blocks_per_level = blocks_per_level
        self.stem_stride = stem_stride
        self.stride = stem_stride << (levels - 1)  # an int, not 2 ** levels: TorchScript makes that a float

        self.stem = conv_norm_relu(1, widths[0], stride=stem_stride)
        # Zero at the start: the hint layer changes nothing until training teaches it what hints mean.
        self.hint_stem = nn.Conv2d(HINT_CHANNELS, widths[0], 3, stride=stem_stride, padding=1, bias=False)
        nn.init.zeros_(self.hint_stem.weight)
        # Encoder level i works at 1 / 2**i of the input's resolution; each level after the first halves it first.
        self.encoder = nn.ModuleList()
        for i, width in enumerate(widths):
            down = [conv_norm_relu(widths[i - 1], width, stride=2)] if i > 0 else []
            self.encoder.append(nn.Sequential(*down, *[ResBlock(width) for _ in range(blocks_per_level)]))
        bottom = widths[-1]
        self.bottleneck = nn.Sequential(ResBlock(bottom, dilation=2), GlobalContext(bottom), ResBlock(bottom, dilation=4))
        self.decoder = nn.ModuleList(
            [UpLevel(widths[i + 1], widths[i], blocks_per_level) for i in reversed(range(levels - 1))])
        self.head = AbHead(widths[0]) if head == "ab" else BinsHead(widths[0], temperature)

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        # (B, 1, H, W) L in [-1, 1], H and W multiples of self.stride; hints (B, 3, H, W) or None
        # -> (B, 2, H, W) ab in [-1, 1]; raw: the head's output before tanh or softmax, at 1 / stem_stride of the
        # input's resolution
        x = self.stem(l_norm)
        if hints is not None:
            x = x + self.hint_stem(hints.to(x.dtype))
        skips: List[torch.Tensor] = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        return self.decode(x, skips, l_norm, raw)

    def decode(self, x: torch.Tensor, skips: List[torch.Tensor], l_norm: torch.Tensor, raw: bool) -> torch.Tensor:
        """The deepest level's features and every level's skip -> ab at l_norm's size (raw: the head's output)."""
        x = self.bottleneck(x)  # (B, base * 2**(levels-1), H / stride, W / stride)
        for i, up in enumerate(self.decoder):
            x = up(x, skips[-2 - i])
        if raw:
            return self.head.raw(x)
        ab = self.head(x)
        if self.stem_stride > 1:
            ab = F.interpolate(ab, size=l_norm.shape[-2:], mode="bilinear", align_corners=False)
        return ab


def generator_defaults() -> dict:
    """The constructor's defaults: the shipped architecture, written once (training's flags default to these)."""
    return {name: p.default for name, p in inspect.signature(Generator.__init__).parameters.items() if name != "self"}


# Parts a state may lack, each of which starts as it would untrained: the hint layer (at zero, added after the
# first models), and the ImageNet encoder with the 1x1 convolutions that add its features (model.encoder_unet's
# FusedResUNet: the encoder's weights are loaded from ImageNet by training, the convolutions start at zero).
ADDABLE = ("hint_stem.", "imagenet.", "fuse.")


def load_compatible(generator: nn.Module, state: dict) -> list[str]:
    """Loads a state dict into generator; parts the state lacks (ADDABLE: a state made before the hint layer
    existed, or a ResUNet's state into a FusedResUNet) are set to zero, changing nothing the net did before.

    Returns the names of the parameters the state lacked. Raises RuntimeError for any other mismatch.
    """
    own = generator.state_dict()
    missing = [name for name in own if name not in state]
    if any(not name.startswith(ADDABLE) for name in missing):
        raise RuntimeError(f"the weights lack {', '.join(missing[:5])}: they are not of this architecture")
    unexpected = [name for name in state if name not in own]
    if unexpected:
        raise RuntimeError(f"the weights have {', '.join(unexpected[:5])}, which this architecture lacks")
    zeros = {name: torch.zeros_like(own[name]) for name in missing}  # no hint layer yet: one that changes nothing
    generator.load_state_dict({**state, **zeros})  # copies into the parameters' own dtype (a file stores float16)
    return missing


def pad_to_stride(x: torch.Tensor, stride: int, mode: str = "replicate") -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H', W') with H', W' the next multiples of stride, edge pixels repeated.

    Replicate, not reflect: reflect fails when the padding is larger than the image (a 4000x8 strip).
    mode "constant" pads with zeros instead (a hint layer: no hints in the padding).
    Crop the network's output back with [..., :H, :W].
    """
    height, width = x.shape[-2:]
    pad_h = -height % stride
    pad_w = -width % stride
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
