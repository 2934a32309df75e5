"""Old-print repair (model.restore) on photos made old by training.degrade, whose damage masks are known: how much
of the damage its detector finds, whether it leaves clean photos alone, how much closer to the clean photo the
repaired lightness is, and what a 12-megapixel scan costs.

    python -m bench.restore --images PHOTOS [--split validation] [--photos 200] [--weights PATH]
    python -m bench.restore --images PHOTOS --fit-gate [--photos 300]     # auto's old-print score (training split)
    python -m bench.restore --timing [--megapixels 12] [--repeats 3]      # on a quiet machine

Damage: each photo's gray version made old with training.degrade.made_old (the same strengths for a photo in
every run), in two test sets: "old print" (fade, blur, grain, scratches, dust, cracks, JPEG 30-70) and "damage
only" (scratches, dust and cracks on the photo as it is). Detector: the pixels "on" would fill against the
scratch, dust and crack pixels degrade drew (those it moved by 10 levels or more), counted with a tolerance of
TOLERANCE px: precision is the share of detected pixels within it of a damaged one, recall the share of damaged
pixels within it of a detected one (pixels summed over photos). "auto" detects nothing on a photo it does not take
for an old print. Lightness: PSNR of Lab L (peak 100) against the clean photo's, repaired minus as damaged.

With --split validation only the photos training held out are used (the share is read from the weights file), as
training.evaluate does; --fit-gate uses only the others, so auto's score is never fitted on photos it is scored on.
"""
import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from model import restore as repair
from model.color import gray8_of_rgb8, lightness_of_uint8
from training.data import held_out_by, list_images, open_rgb, spread
from training.degrade import DAMAGE_KINDS, EVALUATION_KINDS, KINDS, degrade, made_old

TOLERANCE = 2
TEST_SETS = {"old print": EVALUATION_KINDS + ("cracks",), "damage only": DAMAGE_KINDS}


def gray_of(path: Path) -> np.ndarray:
    rgb = np.asarray(open_rgb(path))
    return gray8_of_rgb8(*(np.ascontiguousarray(rgb[..., c]) for c in range(3)))


def lightness_psnr(gray: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of two 8-bit grays' Lab L (peak 100); inf when identical."""
    a, b = (lightness_of_uint8(torch.from_numpy(np.ascontiguousarray(g))).numpy() for g in (gray, clean))
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(100 ** 2 / mse)


def match(detected: np.ndarray, truth: np.ndarray, tolerance: int = TOLERANCE) -> np.ndarray:
    """[detected pixels near damage, detected pixels, damaged pixels near a detection, damaged pixels]."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_truth = cv2.dilate(truth.astype(np.uint8), disk).astype(bool)
    near_detected = cv2.dilate(detected.astype(np.uint8), disk).astype(bool)
    return np.array([(detected & near_truth).sum(), detected.sum(), (truth & near_detected).sum(), truth.sum()])


def score_photos(paths: list[Path]) -> dict:
    """The counts and per-photo values every table below is made of."""
    counts = {(name, mode): np.zeros(4) for name in TEST_SETS for mode in ("on", "auto")}
    taken = {name: 0 for name in TEST_SETS}
    gains = {(name, mode): [] for name in TEST_SETS for mode in ("on", "auto")}
    clean_changed = {"auto": [], "on": []}  # the L PSNR of each clean photo a mode changed
    for path in paths:
        clean = gray_of(path)
        for mode in clean_changed:
            result, report = repair.restore(clean, mode)
            if report["changed"]:
                clean_changed[mode].append(lightness_psnr(result, clean))
        for name, kinds in TEST_SETS.items():
            damaged, truth = made_old(clean, path.name, kinds)
            mask, measured = repair.detect(damaged)
            is_old = repair.old_print_score(measured) > 0
            taken[name] += is_old
            counts[name, "on"] += match(mask, truth)
            counts[name, "auto"] += match(mask if is_old else np.zeros_like(mask), truth)
            before = lightness_psnr(damaged, clean)
            for mode in ("on", "auto"):
                gains[name, mode].append(lightness_psnr(repair.restore(damaged, mode)[0], clean) - before)
    return {"photos": len(paths), "counts": counts, "taken": taken, "gains": gains, "clean_changed": clean_changed}


def format_tables(scores: dict) -> str:
    photos = scores["photos"]
    lines = [f"Detector ({photos} photos; tolerance {TOLERANCE} px; auto: only on photos it takes for old prints)", "",
             "| test set | mode | photos taken as old prints | precision | recall | lightness vs clean, repaired "
             "minus damaged (mean) | photos made worse |", "|---|---|---:|---:|---:|---:|---:|"]
    for name in TEST_SETS:
        for mode in ("on", "auto"):
            near_truth, detected, near_detection, damaged = scores["counts"][name, mode]
            gains = np.array(scores["gains"][name, mode])
            taken = f"{scores['taken'][name]} of {photos}" if mode == "auto" else "all"
            precision = f"{near_truth / detected:.2f}" if detected else "-"
            lines.append(f"| {name} | {mode} | {taken} | {precision} | {near_detection / max(damaged, 1):.2f} | "
                         f"{gains.mean():+.2f} dB | {(gains < -0.01).sum()} |")
    lines += ["", "Clean photos (as they are)", "", "| mode | photos changed | their lightness PSNR vs the photo, "
              "median (lowest) |", "|---|---:|---:|"]
    for mode, changed in scores["clean_changed"].items():
        psnr = f"{statistics.median(changed):.1f} dB ({min(changed):.1f})" if changed else "-"
        lines.append(f"| {mode} | {len(changed)} of {photos} | {psnr} |")
    return "\n".join(lines)


# ---- auto's old-print score ----

def fit_gate(paths: list[Path], clean_share_above: float = 0.01) -> tuple[dict, float, str]:
    """A logistic regression of model.restore.score_features: clean photos against the same made old, with every
    evaluation kind and with a random half of the kinds (no tint: the gray cannot show it). Returns (weights,
    offset such that clean_share_above of the clean photos score above 0, a table of what it catches)."""
    rows, labels, kinds = [], [], []
    for index, path in enumerate(paths):
        clean = gray_of(path)
        versions = {"clean": clean, "every kind": made_old(clean, path.name)[0],
                    "random half": degrade(clean, 7000 + index, chance=0.5,
                                           kinds=tuple(k for k in KINDS if k != "tint"))[0]}
        for kind, gray in versions.items():
            _, measured = repair.detect(gray)
            rows.append(measured["features"])
            labels.append(kind != "clean")
            kinds.append(kind)
    names = list(rows[0])
    x = np.array([[row[name] for name in names] for row in rows] )
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    y = np.array(labels, float)
    weight = np.where(y == 1, 0.5 / y.sum(), 0.5 / (1 - y).sum())  # the two classes weigh the same
    beta = np.zeros(x.shape[1])
    for _ in range(100):  # Newton's method, a little ridge for stability
        p = 1 / (1 + np.exp(-x @ beta))
        gradient = x.T @ (weight * (p - y)) + 1e-3 * beta
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(len(beta))
        beta -= np.linalg.solve(hessian, gradient)
    score = x @ beta
    kinds = np.array(kinds)
    threshold = float(np.quantile(score[kinds == "clean"], 1 - clean_share_above))
    table = "\n".join(f"{kind}: {np.mean(score[kinds == kind] > threshold):.1%} taken for old prints"
                      for kind in ("clean", "every kind", "random half"))
    return dict(zip(names, beta[:-1].round(3).tolist())), round(float(beta[-1]) - threshold, 3), table


# ---- cost ----

def timing(megapixels: float, repeats: int) -> str:
    """restore() on a synthetic scan of that size made old (every kind and cracks), per mode: median seconds."""
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    height = round(width * 3 / 4)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    photo = 128 + 60 * np.sin(x / 97) * np.cos(y / 131) + 40 * (np.sin((x + y) / 29) > 0)
    clean = np.clip(photo, 0, 255).astype(np.uint8)
    damaged, truth = made_old(clean, "timing", EVALUATION_KINDS + ("cracks",))
    lines = [f"{width} x {height} ({width * height / 1e6:.1f} MP) made old, damage on {truth.mean():.2%} of it; "
             f"OpenCV threads {cv2.getNumThreads()}", "", "| mode | seconds (median of %d) | what it did |" % repeats,
             "|---|---:|---|"]
    for mode in ("auto", "on"):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            _, report = repair.restore(damaged, mode)
            times.append(time.perf_counter() - started)
        did = ", ".join(f"{k} {report[k]}" for k in ("old_print", "defects", "filled", "denoised", "stretched")
                        if k in report)
        lines.append(f"| {mode} | {statistics.median(times):.2f} | {did} |")
    return "\n".join(lines)


def held_out(images: Path, weights: Path | None) -> list[Path]:
    """The photos training.train held out of this folder, by the share the weights file records."""
    from model.colorizer import Colorizer
    from model.weights import DEFAULT_WEIGHTS
    try:
        return held_out_by(Colorizer.load(weights or DEFAULT_WEIGHTS).info, list_images(images))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, help="folder of colour photos (searched recursively)")
    parser.add_argument("--split", choices=["all", "validation"], default="all",
                        help="validation: only the photos training held out (the share read from --weights)")
    parser.add_argument("--weights", type=Path, default=None, help="weights whose held-out share --split reads")
    parser.add_argument("--photos", type=int, default=200, help="photos to use, spread over the folder (or split)")
    parser.add_argument("--fit-gate", action="store_true", help="fit auto's old-print score on the photos training "
                        "used (never the held-out ones) and print its weights")
    parser.add_argument("--timing", action="store_true", help="time restore() on a synthetic scan")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.timing:
        print(timing(args.megapixels, args.repeats))
        return 0
    if args.images is None or not args.images.is_dir():
        parser.error(f"no such folder of photos: {args.images}")
    if args.fit_gate:
        paths = held_out(args.images, args.weights)[0]
    elif args.split == "validation":
        paths = held_out(args.images, args.weights)[1]
    else:
        paths = list_images(args.images)
    paths = [paths[i] for i in spread(len(paths), args.photos)]
    if not paths:
        parser.error(f"no photos in {args.images}")
    if args.fit_gate:
        weights, offset, table = fit_gate(paths)
        print(f"{len(paths)} photos of the training split\n{table}\n_WEIGHTS = {weights}\n_OFFSET = {offset}")
        return 0
    print(format_tables(score_photos(paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
