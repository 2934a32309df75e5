"""Colorizer: a PIL image in, a colorized PIL RGB image of the same size out.

    colorizer = Colorizer.load("weights/colorizer.pt")
    color = colorizer(Image.open("old.jpg"))          # any mode, any size; EXIF orientation honoured

The network runs on a small copy of the lightness (short side `size`); its ab is upsampled and joined to the
full-resolution L, so the output keeps the input's size, aspect and exact lightness.
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from model.color import AB_SCALE, denormalize_ab, gray_to_l, lab_to_rgb, normalize_l, rgb_to_lab
from model.generator import pad_to_stride
from model.weights import DEFAULT_WEIGHTS, file_sha256, load_network

DEFAULT_SIZE = 256
MIN_SIZE, MAX_SIZE = 32, 1024
MAX_ASPECT = 4  # the network's input is at most MAX_ASPECT * size long, even for a 4000x8 strip

_GRAY_MODES = {"1", "L", "LA", "La"}
_WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 255}


class Colorizer:
    def __init__(self, network: torch.jit.ScriptModule, info: dict, device: str | torch.device = "cpu",
                 sha256: str = ""):
        self.network = network
        self.info = info
        self.device = torch.device(device)
        self.stride = int(info["stride"])
        self.default_size = int(info.get("working_size", DEFAULT_SIZE))
        self.sha256 = sha256

    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu") -> "Colorizer":
        """Loads an exported weights file; raises model.weights.WeightsError with a message saying what to do."""
        network, info = load_network(Path(path), device)
        return cls(network, info, device, sha256=file_sha256(path))

    def __call__(self, image: Image.Image, size: int | None = None) -> Image.Image:
        size = self.default_size if size is None else size
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"working size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
        l_full = lightness(ImageOps.exif_transpose(image))  # (H, W) Lab L in [0, 100]
        ab_small = self.predict_ab(l_full, size)  # (1, 2, h, w) normalized
        ab_full = F.interpolate(ab_small, size=l_full.shape, mode="bilinear", align_corners=False)
        ab_full = denormalize_ab(ab_full[0]).clamp(-AB_SCALE, AB_SCALE)  # (2, H, W)
        rgb = lab_to_rgb(torch.cat([l_full[None], ab_full]))  # (3, H, W) in [0, 1], L kept exactly
        return Image.fromarray(rgb.mul(255).round_().byte().permute(1, 2, 0).numpy())

    @torch.inference_mode()
    def predict_ab(self, l_full: torch.Tensor, size: int) -> torch.Tensor:
        """(H, W) L -> (1, 2, h, w) normalized ab at the working resolution."""
        height, width = working_shape(*l_full.shape, size)
        l_small = F.interpolate(l_full[None, None], size=(height, width), mode="bilinear", antialias=True,
                                align_corners=False)
        l_small = pad_to_stride(normalize_l(l_small), self.stride).to(self.device)
        ab_small = self.network(l_small)[..., :height, :width]
        return ab_small.float().cpu()


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The network's input shape: short side `size`, long side at most MAX_ASPECT * size, neither below 1."""
    scale = size / min(height, width)
    scale = min(scale, MAX_ASPECT * size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def lightness(image: Image.Image) -> torch.Tensor:
    """Any Pillow image -> (H, W) float32 Lab L in [0, 100]. A color image is treated as if it were gray."""
    if image.mode in _WIDE_MODES:  # 16-bit and float gray: scale to [0, 1], never clip to 8 bits
        gray = np.asarray(image, dtype=np.float32) / _WIDE_MODES[image.mode]
        return gray_to_l(torch.from_numpy(np.clip(gray, 0, 1)))
    if image.mode in _GRAY_MODES:
        gray = np.asarray(image.convert("L"), dtype=np.float32) / 255
        return gray_to_l(torch.from_numpy(gray))
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255  # P, RGBA, CMYK, YCbCr...: alpha dropped
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1))[0]
