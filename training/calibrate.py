"""Choose the annealed-mean temperature of a bins-head checkpoint: PSNR and colorfulness at each temperature.

    python -m training.calibrate runs/name/checkpoint.pt --images PHOTOS [--photos 150] [--target 0.75]

A lower temperature gives more vivid colour and, past some point, more wrong colour: PSNR falls. This scores
the checkpoint's averaged generator at each temperature on photos from the run's *training* split (the
validation split stays unseen for the final report) and suggests the one with the best PSNR among those whose
colorfulness reaches --target of the originals'. Pass it to `training.export --temperature`.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from model.colorizer import Colorizer
from training.config import TrainConfig
from training.data import list_images, split_paths
from training.evaluate import evaluate
from training.export import build_generator

TEMPERATURES = (1.0, 0.7, 0.5, 0.42, 0.38, 0.32, 0.25)


def calibrate(generator: torch.nn.Module, working_size: int, paths: list[Path],
              temperatures: tuple[float, ...] = TEMPERATURES) -> list[dict]:
    """One row per temperature: its PSNR, colorfulness and colorfulness ratio on paths, the gray PSNR beside."""
    colorizer = Colorizer(generator, {"stride": generator.stride, "working_size": working_size})
    rows = []
    for temperature in temperatures:
        generator.head.temperature.fill_(temperature)
        report = evaluate(colorizer, paths)
        rows.append({"temperature": temperature, "psnr": report["ours"]["psnr"], "psnr_gray": report["gray"]["psnr"],
                     "colorfulness": report["ours"]["colorfulness"],
                     "ratio": report["ours"]["colorfulness_ratio"]})
    return rows


def suggest(rows: list[dict], target: float) -> dict | None:
    """The row with the best PSNR among those at or above the colorfulness target; None if none reaches it."""
    reaching = [row for row in rows if row["ratio"] >= target]
    return max(reaching, key=lambda row: row["psnr"]) if reaching else None


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a bins-head run's checkpoint.pt")
    parser.add_argument("--images", type=Path, required=True, help="the run's training folder")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="the run's --val-fraction (default 0.05)")
    parser.add_argument("--photos", type=int, default=150, help="training photos to score, spread over the folder")
    parser.add_argument("--target", type=float, default=0.75,
                        help="colorfulness wanted, as a share of the originals' (default 0.75)")
    parser.add_argument("--temperatures", type=lambda text: tuple(float(t) for t in text.split(",")),
                        default=TEMPERATURES, help="comma-separated (default: %(default)s)")
    args = parser.parse_args(argv)
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    if TrainConfig.from_dict(checkpoint["config"]).head != "bins":
        parser.error(f"{args.checkpoint} has a regression head: there is no temperature to choose")
    generator, config = build_generator(checkpoint)
    train_paths = split_paths(list_images(args.images), args.val_fraction)[0]
    paths = [train_paths[i] for i in np.linspace(0, len(train_paths) - 1, min(args.photos, len(train_paths))).astype(int)]
    rows = calibrate(generator, config.scale_size, paths, args.temperatures)
    print(f"{len(paths)} training photos; gray PSNR {rows[0]['psnr_gray']:.2f} dB")
    print(f"{'T':>6}{'PSNR dB':>9}{'vs gray':>9}{'colorful':>10}{'ratio':>8}")
    for row in rows:
        print(f"{row['temperature']:6.2f}{row['psnr']:9.2f}{row['psnr'] - row['psnr_gray']:+9.2f}"
              f"{row['colorfulness']:10.1f}{row['ratio']:8.0%}")
    best = suggest(rows, args.target)
    if best is None:
        print(f"no temperature reaches {args.target:.0%} of the originals' colorfulness; try lower ones")
        return 1
    print(f"suggested: --temperature {best['temperature']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
