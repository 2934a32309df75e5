"""Measure a colorizer on a folder of color photos, against the gray baseline (ab = 0) on the same photos.

    python -m training.evaluate --images PHOTOS [--split validation] [--weights PATH] [--size N]
                                [--json out.json] [--sheet sheet.png] [--inception inception.pt]

Each photo is scored at its own size. The network sees only the photo's lightness (the Colorizer takes Lab L,
exactly what the gray baseline keeps). With --split validation, only the photos that training.train held out
of the same folder are used: use it for the training folder, never score on training photos.

FID and Inception Score need Inception weights, which cannot be downloaded here: pass --inception with the
TorchScript detector used by StyleGAN2-ADA's metrics (inception-2015-12-05.pt), which takes uint8 images and
returns pool features with return_features=True and class probabilities with no_output_bias=True.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm import tqdm

from model.color import lab_to_rgb
from model.colorizer import Colorizer, lightness
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, WeightsError
from training.data import list_images, open_rgb, split_paths
from training.sheets import contact_sheet

SHEET_ROWS = 16
INCEPTION_SIZE = 299


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colorfulness of an (H, W, 3) uint8 image: about 0 for gray, 30-40 for photos."""
    r, g, b = rgb.astype(np.float64).transpose(2, 0, 1)
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def gray_version(image: Image.Image) -> Image.Image:
    """The baseline: the photo's own Lab lightness with ab = 0."""
    l = lightness(image)[None]
    rgb = lab_to_rgb(torch.cat([l, torch.zeros(2, *l.shape[1:])]))
    return Image.fromarray(rgb.mul(255).round_().byte().permute(1, 2, 0).numpy())


def image_scores(result: np.ndarray, original: np.ndarray) -> dict:
    scores = {"psnr": peak_signal_noise_ratio(original, result, data_range=255),
              "colorfulness": colorfulness(result)}
    if min(original.shape[:2]) >= 7:  # SSIM's 7x7 window
        scores["ssim"] = structural_similarity(original, result, channel_axis=2, data_range=255)
    return scores


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Frechet distance between two Gaussians: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, which are real and
    non-negative for covariance matrices (up to rounding, which is clipped): no matrix square root needed.
    """
    diff = mu1 - mu2
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over splits of exp(E_x KL(p(y|x) || p(y))), for (N, classes) probabilities."""
    scores = []
    for part in np.array_split(probs, min(splits, len(probs))):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_outputs(detector, images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    features, probs = [], []
    for start in range(0, len(images), 32):
        batch = np.stack([np.asarray(im.resize((INCEPTION_SIZE, INCEPTION_SIZE), Image.Resampling.BICUBIC))
                          for im in images[start:start + 32]])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()  # (B, 3, 299, 299) uint8
        with torch.inference_mode():
            features.append(detector(x, return_features=True).double().numpy())
            probs.append(detector(x, no_output_bias=True).double().numpy())
    return np.concatenate(features), np.concatenate(probs)


def fid_and_is(detector_path: Path, ours: list[Image.Image], originals: list[Image.Image]) -> dict:
    detector = torch.jit.load(str(detector_path), map_location="cpu").eval()
    real_features, _ = inception_outputs(detector, originals)
    fake_features, fake_probs = inception_outputs(detector, ours)
    stats = [(f.mean(axis=0), np.cov(f, rowvar=False)) for f in (real_features, fake_features)]
    is_mean, is_std = inception_score(fake_probs)
    return {"fid": frechet_distance(*stats[0], *stats[1]), "inception_score": is_mean, "inception_score_std": is_std}


def evaluate(colorizer: Colorizer, paths: list[Path], size: int | None = None, sheet: Path | None = None,
             inception: Path | None = None) -> dict:
    ours_scores, gray_scores, original_colorfulness = [], [], []
    rows, keep_ours, keep_originals = [], [], []
    sheet_rows = set(np.linspace(0, len(paths) - 1, min(SHEET_ROWS, len(paths))).round().astype(int))  # spread out
    for index, path in enumerate(tqdm(paths, unit="image", disable=None)):
        original = open_rgb(path)
        ours, gray = colorizer(original, size=size), gray_version(original)
        target = np.asarray(original)
        ours_scores.append(image_scores(np.asarray(ours), target))
        gray_scores.append(image_scores(np.asarray(gray), target))
        original_colorfulness.append(colorfulness(target))
        if sheet and index in sheet_rows:
            rows.append([gray, ours, original])
        if inception:
            keep_ours.append(ours)
            keep_originals.append(original)

    def mean(scores: list[dict]) -> dict:
        return {key: float(np.mean([s[key] for s in scores if key in s])) for key in scores[0]}

    originals = float(np.mean(original_colorfulness))
    report = {"images": len(paths), "ours": mean(ours_scores), "gray": mean(gray_scores),
              "original": {"colorfulness": originals}}
    for name in ("ours", "gray"):
        report[name]["colorfulness_gap"] = originals - report[name]["colorfulness"]
        report[name]["colorfulness_ratio"] = report[name]["colorfulness"] / originals
    if sheet:
        contact_sheet(rows, titles=("gray", "ours", "original")).save(sheet)
    if inception:
        report["ours"].update(fid_and_is(inception, keep_ours, keep_originals))
    return report


def format_table(report: dict) -> str:
    lines = [f"{report['images']} photos", f"{'':10}{'PSNR dB':>9}{'SSIM':>8}{'colorful':>10}{'gap':>8}{'ratio':>8}"]
    for name in ("gray", "ours"):
        r = report[name]
        lines.append(f"{name:10}{r['psnr']:9.2f}{r.get('ssim', float('nan')):8.3f}{r['colorfulness']:10.1f}"
                     f"{r['colorfulness_gap']:8.1f}{r['colorfulness_ratio']:8.0%}")
    lines.append(f"{'original':10}{'':17}{report['original']['colorfulness']:10.1f}")
    if "fid" in report["ours"]:
        lines.append(f"FID {report['ours']['fid']:.2f}, Inception Score {report['ours']['inception_score']:.2f}")
    return "\n".join(lines)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of color photos")
    parser.add_argument("--split", choices=["all", "validation"], default="all",
                        help="validation: only the photos training holds out of this folder")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="the run's --val-fraction (default 0.05)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--size", type=int, default=None, help="working size (default: the model's own)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N photos")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="as model.colorize (default: auto)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--sheet", type=Path, help="write a gray | ours | original sheet of 16 photos here")
    parser.add_argument("--inception", type=Path, help="Inception TorchScript file, for FID and Inception Score")
    args = parser.parse_args(argv)

    paths = list_images(args.images)
    if args.split == "validation":
        paths = split_paths(paths, args.val_fraction)[1]
    paths = paths[:args.limit] if args.limit else paths
    if not paths:
        parser.error(f"no photos to score in {args.images} (split {args.split})")
    try:
        colorizer = Colorizer.load(args.weights, precision=args.precision)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(colorizer, paths, args.size, args.sheet, args.inception)
    # the weights by name and hash: a path would record this machine's folders
    report.update(weights=args.weights.name, sha256=colorizer.sha256, split=args.split, size=args.size,
                  precision=colorizer.precision)
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
