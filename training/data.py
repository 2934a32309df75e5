"""A folder of color photos -> batches of normalized (L, ab) crops, with a held-out validation split."""
import hashlib
import os
import random
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from model.color import gray8_of_rgb8, gray_to_l, normalize_ab, normalize_l, rgb_to_lab, rgb_to_lab_np
from model.formats import is_image_name
from training.degrade import degrade

GRAY_CHROMA = 3.0  # mean Lab chroma under which a photo counts as grayscale and teaches nothing about color


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder of photos: {folder}")
    return sorted(p for p in folder.rglob("*") if is_image_name(p.name) and p.is_file())


def is_validation(path: Path, fraction: float) -> bool:
    """A stable coin flip on the file name: the split survives reordering, new files, and other machines."""
    digest = hashlib.sha1(Path(path).name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_paths(paths: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    train = [p for p in paths if not is_validation(p, fraction)]
    val = [p for p in paths if is_validation(p, fraction)]
    return train, val


def held_out_by(info: dict, paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """paths split as the run that made a weights file (its info, model.weights) split its folder: (trained on,
    held out). ValueError when the file does not record the share it held out."""
    fraction = info.get("training", {}).get("config", {}).get("val_fraction")
    if fraction is None:
        raise ValueError("the weights file does not say which share of its training folder it held out")
    return split_paths(paths, fraction)


def spread(count: int, n: int) -> list[int]:
    """n indices (all of them when n >= count) evenly spread over range(count), first and last included."""
    return np.linspace(0, count - 1, min(n, count)).round().astype(int).tolist() if count and n > 0 else []


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        return image.convert("RGB")


def usable_photo(path: Path) -> str:
    """'' when the file is a decodable color photo, else the reason to skip it."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))  # JPEG decodes at 1/8 scale: fast enough for a whole folder
            thumb = image.convert("RGB")
            thumb.thumbnail((64, 64))
    except Exception as error:  # Pillow raises many types for broken files
        return f"unreadable ({type(error).__name__}: {error})"
    lab = rgb_to_lab_np(np.asarray(thumb))
    chroma = float(np.hypot(lab[..., 1], lab[..., 2]).mean())
    if chroma < GRAY_CHROMA:
        return f"grayscale (mean chroma {chroma:.1f})"
    return ""


def scan_photos(paths: list[Path]) -> list[Path]:
    """Keeps the color photos; warns once per skipped file, saying why. Decoding runs on threads (Pillow lets go
    of the GIL while it decodes), so a large folder is read on every core."""
    kept = []
    with ThreadPoolExecutor(min(32, os.cpu_count() or 1)) as pool:
        reasons = list(pool.map(usable_photo, paths))
    for path, reason in zip(paths, reasons):
        if reason:
            warnings.warn(f"skipping {path}: {reason}", stacklevel=2)
        else:
            kept.append(path)
    return kept


class PhotoCrops(Dataset):
    """(3, size, size) uint8 RGB crops from photos resized so their short side is scale_size (uint8: a quarter of
    the bytes that float would move from the loading processes; to_model_inputs takes either).

    Training crops are random and randomly mirrored, and with zoom > 1 the photo is first enlarged by a random
    factor from 1 to zoom, so the crop shows a smaller part of it; validation crops are centred, so they are the
    same each time. With old_prints > 0 (training only) each crop is (4, size, size): RGB and the gray the network
    is to see, which for that share of the crops is made to look like an old print (training.degrade.degrade) and
    for the others is the crop's own gray.
    """

    def __init__(self, paths: list[Path], image_size: int, scale_size: int, train: bool, zoom: float = 1.0,
                 old_prints: float = 0.0):
        assert paths, "no photos to train on: the folder has no readable color photos"
        self.paths = list(paths)
        self.image_size = image_size
        self.scale_size = scale_size
        self.train = train
        self.zoom = zoom
        self.old_prints = old_prints if train else 0.0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        try:
            image = open_rgb(self.paths[index])
        except Exception as error:  # a file that broke after the scan: use a neighbour rather than stop the run
            warnings.warn(f"skipping {self.paths[index]}: {error}")
            return self[(index + 1) % len(self)]
        scale_size = self.scale_size
        if self.train and self.zoom > 1:
            scale_size = round(scale_size * random.uniform(1, self.zoom))
        image = resize_short_side(image, scale_size)
        width, height = image.size
        size = self.image_size
        if self.train:
            left, top = random.randint(0, width - size), random.randint(0, height - size)
        else:
            left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
        if self.train and random.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        rgb = np.asarray(image)
        if self.old_prints:
            rgb = np.dstack([rgb, self.input_gray(rgb)])
        return torch.from_numpy(rgb.copy()).permute(2, 0, 1)

    def input_gray(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 crop -> the (H, W) uint8 gray the network sees: its own, or old_prints of the time an old
        print of it (python's random seeds the draw: torch seeds it in each loading process)."""
        gray = gray8_of_rgb8(*rgb.transpose(2, 0, 1))
        if random.random() >= self.old_prints:
            return gray
        return degrade(gray, np.random.default_rng(random.getrandbits(64)))[0]


def resize_short_side(image: Image.Image, short_side: int) -> Image.Image:
    width, height = image.size
    scale = short_side / min(width, height)
    size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def as_unit_float(rgb: torch.Tensor) -> torch.Tensor:
    """RGB as PhotoCrops gives it (uint8) or already float in [0, 1] -> float in [0, 1]."""
    return rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb


def to_model_inputs(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) RGB, uint8 or float in [0, 1] -> (B, 1, H, W) normalized L and (B, 2, H, W) normalized ab.
    (B, 4, H, W), RGB and the gray to see (PhotoCrops with old_prints): L is that gray's, ab the RGB's."""
    lab = rgb_to_lab(as_unit_float(rgb[:, :3]))
    l = lab[:, :1] if rgb.shape[1] == 3 else gray_to_l(as_unit_float(rgb[:, 3:]))
    return normalize_l(l), normalize_ab(lab[:, 1:])
