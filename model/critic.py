"""Conditional WGAN critic: a realism score for ab given L.

It sees cat(L, ab), so it can judge whether a colour fits the scene, not just whether it is a likely colour.
Instance norm, not batch norm: the gradient penalty is taken per sample, and batch norm would mix samples.
"""
import torch
from torch import nn


class Critic(nn.Module):
    def __init__(self, base_channels: int = 32, layers: int = 4):
        super().__init__()
        assert layers >= 2, f"the critic needs at least 2 layers, got {layers}"
        blocks = [nn.Conv2d(3, base_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        width = base_channels
        for i in range(1, layers):
            out = min(width * 2, base_channels * 8)
            stride = 2 if i < layers - 1 else 1  # the last layer keeps the resolution: a denser patch map
            blocks += [nn.Conv2d(width, out, 4, stride=stride, padding=1),
                       nn.InstanceNorm2d(out, affine=True),
                       nn.LeakyReLU(0.2, inplace=True)]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, padding=1))
        self.net = nn.Sequential(*blocks)

    def forward(self, l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        # (B, 1, H, W) L and (B, 2, H, W) ab, both normalized -> (B,) score: higher means more real
        return self.net(torch.cat([l_norm, ab_norm], dim=1)).mean(dim=(1, 2, 3))
