"""How far the bfloat16 results are from float32's on real photos: the same weights, each photo colorized both
ways (gray version, automatic), the difference in levels of 255 per pixel and channel.

    python -m bench.precision --images PHOTOS [--photos 132] [--weights PATH] [--baseline PATH]

bfloat16 is what the app serves where the CPU computes it natively (model.weights.default_precision); float32 is
the reference. A net that is unsure between two colourings of a photo can tip one way in one precision and the
other way in the other: the "photos over 1 level" and "worst photo" columns find those.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from model.colorizer import Colorizer
from model.weights import DEFAULT_WEIGHTS
from training.data import list_images, spread


def differences(weights: Path, paths: list[Path]) -> tuple[str, list[tuple[str, float, float]]]:
    """The weights' SHA-256, and (file name, mean difference, share of pixels more than 2 levels off in some
    channel) per photo."""
    exact = Colorizer.load(weights, precision="float32")
    fast = Colorizer.load(weights, precision="bfloat16")
    rows = []
    for path in paths:
        with Image.open(path) as image:
            gray = image.convert("L")
        difference = np.abs(np.asarray(exact(gray), dtype=int) - np.asarray(fast(gray), dtype=int))
        rows.append((path.name, float(difference.mean()), float((difference.max(axis=-1) > 2).mean())))
    return exact.sha256, rows


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.precision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--photos", type=int, default=132, help="photos to use, spread over the folder")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--baseline", type=Path, default=None, help="other weights, measured on the same photos")
    args = parser.parse_args(argv)
    if not args.images.is_dir():
        parser.error(f"no such folder of photos: {args.images}")
    paths = list_images(args.images)
    if not paths:
        parser.error(f"no photos in {args.images}")
    paths = [paths[i] for i in spread(len(paths), args.photos)]
    print(f"{len(paths)} photos from {args.images}, gray versions; difference between bfloat16 and float32 results "
          f"in levels of 255")
    print("| weights | median photo | mean | photos over 1 level | worst photo | pixels over 2 levels |")
    print("|---|---:|---:|---:|---|---:|")
    for weights in [args.weights] + ([args.baseline] if args.baseline else []):
        sha256, rows = differences(weights, paths)
        means = np.array([mean for _, mean, _ in rows])
        name, worst, _ = max(rows, key=lambda row: row[1])
        over = np.mean([share for _, _, share in rows])
        print(f"| {weights.name} ({sha256[:8]}) | {np.median(means):.2f} | {means.mean():.2f} | "
              f"{(means > 1).sum()} | {name} ({worst:.2f}) | {over:.2%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
