"""The damage detector: for a gray photo, the probability of each pixel being a scratch, crack, dust speck or tear.

    detector = DamageDetector.load()                 # weights/damage.pt, once
    probability = detector(gray8)                    # (H, W) uint8 -> (H, W) float32 in [0, 1]

A small U-Net (DamageNet, about 0.2M parameters), trained by `python -m training.train_damage` on crops of the
training photos made old by training.degrade, whose damage masks are its labels, with printed text added to the
crops as detail that is not damage. It sees the gray only (model.restore gives it a copy of at most
model.restore.DETECT_PIXELS) and answers per pixel; model.restore decides what to fill.

The file is TorchScript with a JSON info file inside (as the colorizer's weights, model.weights): what the
detector was trained on and the probability model.restore takes as "sure".
"""
import json
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.weights import default_precision, quiet_jit

INFO_FILE = "damage.json"
FORMAT = 1
WIDTHS = (12, 24, 48, 64)  # channels at full, 1/2, 1/4 and 1/8 resolution (a file may hold other widths and levels)
STRIDE = 2 ** (len(WIDTHS) - 1)  # a photo is padded to a multiple of this (a file's own: info["stride"])
_INSTALLED = Path(__file__).resolve().parent / "shipped" / "damage.pt"
_CHECKOUT = Path(__file__).resolve().parent.parent / "weights" / "damage.pt"
DEFAULT_DETECTOR = _INSTALLED if _INSTALLED.exists() else _CHECKOUT  # installed, or in a checkout


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs),
                         nn.ReLU(inplace=True), nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
                         nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))


class DamageNet(nn.Module):
    """(B, 1, H, W) gray in [0, 1], H and W multiples of its stride (2 to the number of halvings, one fewer than
    widths) -> (B, 1, H, W) logits of "this pixel is damage"."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        self.widths = list(widths)
        self.stride = 2 ** (len(widths) - 1)
        self.down = nn.ModuleList([_block(1, widths[0])] + [_block(widths[i - 1], widths[i])
                                                           for i in range(1, len(widths))])
        # the decoder, deepest level first: each takes the level below (upsampled) beside its own skip
        self.up = nn.ModuleList([_block(widths[i] + widths[i + 1], widths[i]) for i in range(len(widths) - 2, -1, -1)])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        x = (gray - 0.5) * 4  # about unit spread for a photo's levels
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = nn.functional.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for j, block in enumerate(self.up):
            x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([skips[len(skips) - 2 - j], x], dim=1))
        return self.head(x)


def save_detector(net: DamageNet, path: Path, info: dict) -> None:
    """Scripts net (in eval mode, float32: it is small) and writes it with info. Not atomic: see model.files."""
    info = {"format": FORMAT, "stride": net.stride, "widths": net.widths, **info}
    with quiet_jit():
        scripted = torch.jit.script(net.eval())
        torch.jit.save(scripted, str(path), _extra_files={INFO_FILE: json.dumps(info, indent=2)})


class DetectorError(Exception):
    """The detector file is missing or unreadable; the message says what to do."""


class DamageDetector:
    """A loaded damage detector. Calls are serialized (one at a time): the net is small and uses every core."""

    def __init__(self, network: torch.jit.ScriptModule, info: dict):
        self.network = network
        self.info = info
        self.sure = float(info.get("sure", 0.5))  # the probability model.restore takes as damage
        self.stride = int(info.get("stride", STRIDE))
        # bfloat16 where the CPU computes it natively (about twice as fast), else float32
        self.precision = default_precision()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path = DEFAULT_DETECTOR) -> "DamageDetector":
        path = Path(path)
        if not path.is_file():
            raise DetectorError(f"no damage detector at {path}: train one with `python -m training.train_damage` "
                                "or check out weights/damage.pt")
        files = {INFO_FILE: ""}
        try:
            with quiet_jit():
                network = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
            info = json.loads(files[INFO_FILE] or "{}")
        except (RuntimeError, ValueError, OSError) as error:
            raise DetectorError(f"{path} is not a damage detector this version can read ({error})") from None
        if info.get("format") != FORMAT:
            raise DetectorError(f"{path} is a damage detector of format {info.get('format')}, this version reads "
                                f"format {FORMAT}")
        with quiet_jit():
            network = torch.jit.freeze(network.eval())  # folds batch norm into the convolutions
        return cls(network, info)

    @torch.inference_mode()
    def __call__(self, gray8: np.ndarray) -> np.ndarray:
        """(H, W) uint8 -> (H, W) float32 probability of damage."""
        height, width = gray8.shape
        pad_h, pad_w = -height % self.stride, -width % self.stride
        x = torch.from_numpy(gray8.astype(np.float32)).div_(255)[None, None]  # a copy: the input may be read-only
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        bfloat16 = self.precision == "bfloat16"
        with self._lock, torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            logits = self.network(x)
        return torch.sigmoid(logits[0, 0, :height, :width].float()).numpy()


_shipped: DamageDetector | None = None
_shipped_lock = threading.Lock()


def shipped_detector() -> DamageDetector:
    """The detector in weights/damage.pt, loaded on first use and kept."""
    global _shipped
    with _shipped_lock:
        if _shipped is None:
            _shipped = DamageDetector.load()
        return _shipped
