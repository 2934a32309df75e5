"""The bare network of Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016), as a speed reference.

Layer table from the paper (and its reference code's `eccv16` model): eight conv blocks of 64-128-256-512-512-512-
512-256 channels, stride-2 downsampling at the end of blocks 1-3, dilation 2 in blocks 5 and 6, batch norm after
blocks 1-7, a stride-2 transposed conv opening block 8, and a 1x1 head over 313 quantized ab bins. Random weights:
only its cost matters here. (B, 1, H, W) L -> (B, 313, H/4, W/4) bin logits.
"""
from torch import nn


def _block(in_channels: int, out_channels: int, convs: int, stride_last: int = 1, dilation: int = 1) -> list:
    layers = []
    for i in range(convs):
        stride = stride_last if i == convs - 1 else 1
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, stride=stride,
                             padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
    return layers + [nn.BatchNorm2d(out_channels)]


def zhang2016() -> nn.Sequential:
    return nn.Sequential(
        *_block(1, 64, 2, stride_last=2),       # 1: 1/2
        *_block(64, 128, 2, stride_last=2),     # 2: 1/4
        *_block(128, 256, 3, stride_last=2),    # 3: 1/8
        *_block(256, 512, 3),                   # 4
        *_block(512, 512, 3, dilation=2),       # 5
        *_block(512, 512, 3, dilation=2),       # 6
        *_block(512, 512, 3),                   # 7
        nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1), nn.ReLU(inplace=True),  # 8: back to 1/4
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 313, 1),                 # the 313-bin head
    )
