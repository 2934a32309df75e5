"""Old-print repair (model.restore) on photos made old by training.degrade, whose damage masks are known: how much
of the damage its detector finds, whether it leaves clean photos and faces alone, how much closer to the clean
photo the repaired lightness is, and what a 12-megapixel scan costs.

    python -m bench.restore --images PHOTOS [--split validation] [--photos 200] [--clean-photos 800] [--weights PATH]
                            [--detector FILE] [--sheet docs/restore_sheet.jpg]
    python -m bench.restore --timing [--megapixels 12] [--repeats 3]      # on a quiet machine

Damage: each photo's gray version made old with training.degrade.made_old (the same strengths for a photo in
every run), in two test sets: "old print" (fade, blur, grain, scratches, dust, cracks, JPEG 30-70) and "damage
only" (scratches, dust and cracks on the photo as it is). Detector: the pixels "on" would fill against the
scratch, dust and crack pixels degrade drew (those it moved by 10 levels or more), counted with a tolerance of
TOLERANCE px: precision is the share of detected pixels within it of a damaged one, recall the share of damaged
pixels within it of a detected one (pixels summed over photos). "auto" detects nothing on a photo it does not take
for an old or damaged print (model.restore: the detector file's gate, training.fit_gate). Lightness: PSNR of Lab L
(peak 100) against the clean photo's, repaired minus as damaged. Clean photos: how many of --clean-photos each mode changes at all. Faces: on
the clean photos whose names say they are portraits (FACE_PREFIXES), the mean change of the gray inside the face
boxes model.restore finds, under "on", in levels of 255. Film scratches: a 1-px line down the middle of each photo
(STRAIGHT_LINES: crisp or antialiased, dark or bright), the share of its pixels "on" fills.

With --split validation only the photos training held out are used (the share is read from the weights file), as
training.evaluate does, so neither the colorizer nor the damage detector (training.train_damage) saw them.
"""
import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from model import restore as repair
from model.color import lightness_of_uint8
from model.damage import DamageDetector
from model.weights import default_precision
from training.data import held_out_by, list_images, spread
from training.degrade import DAMAGE_SETS, made_old, visible_change
from training.train_damage import TOLERANCE, gray_photo, near


def cpu_name() -> str:
    """The CPU's model name and whether it computes bfloat16 natively (model.weights.default_precision)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    native = "yes" if default_precision() == "bfloat16" else "no"
    return f"{name}, {os.cpu_count()} cores, bfloat16 in hardware: {native}"


def lightness_psnr(gray: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of two 8-bit grays' Lab L (peak 100); inf when identical."""
    a, b = (lightness_of_uint8(torch.from_numpy(np.ascontiguousarray(g))).numpy() for g in (gray, clean))
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(100 ** 2 / mse)


def match(detected: np.ndarray, truth: np.ndarray, tolerance: int = TOLERANCE) -> np.ndarray:
    """[detected pixels near damage, detected pixels, damaged pixels near a detection, damaged pixels]."""
    return np.array([near(detected, truth, tolerance).sum(), detected.sum(), near(truth, detected, tolerance).sum(),
                     truth.sum()])


FACE_PREFIXES = ("utkface_", "facemask_", "ccp_")
# a film's scratch: film runs through the camera's and the projector's gate top to bottom
STRAIGHT_LINES = {"crisp, dark": (20, cv2.LINE_8), "crisp, bright": (255, cv2.LINE_8),
                  "antialiased, dark": (20, cv2.LINE_AA), "antialiased, bright": (255, cv2.LINE_AA)}


def film_scratch(gray: np.ndarray, value: int, line_type: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 gray -> (the gray with a 1-px line of `value` down its middle over 80% of its height, 2 px of
    slant; the pixels it moved by MASK_LEVELS or more)."""
    height, width = gray.shape
    coverage = np.zeros_like(gray)
    cv2.line(coverage, (width // 2, height // 10), (width // 2 + 2, height - height // 10), 255, 1, line_type)
    alpha = coverage.astype(np.float32) / 255
    scratched = np.round(gray * (1 - alpha) + value * alpha).astype(np.uint8)
    return scratched, visible_change(scratched, gray)


def score_photos(paths: list[Path], clean_paths: list[Path], detector=None) -> dict:
    """The counts and per-photo values every table below is made of (detector: the shipped one by default)."""
    counts = {(name, mode): np.zeros(4) for name in DAMAGE_SETS for mode in ("on", "auto")}
    straight = {name: np.zeros(2) for name in STRAIGHT_LINES}  # scratch pixels filled, scratch pixels
    taken = {name: 0 for name in DAMAGE_SETS}
    gains = {(name, mode): [] for name in DAMAGE_SETS for mode in ("on", "auto")}
    for path in paths:
        clean = gray_photo(path)
        for name, kinds in DAMAGE_SETS.items():
            damaged, truth = made_old(clean, path.name, kinds)
            mask, measured = repair.detect(damaged, detector)
            is_old = measured["old_print"]
            taken[name] += is_old
            counts[name, "on"] += match(mask, truth)
            counts[name, "auto"] += match(mask if is_old else np.zeros_like(mask), truth)
            before = lightness_psnr(damaged, clean)
            for mode in ("on", "auto"):
                gains[name, mode].append(lightness_psnr(repair.restore(damaged, mode, detector)[0], clean) - before)
        for name, (value, line_type) in STRAIGHT_LINES.items():
            scratched, truth = film_scratch(clean, value, line_type)
            straight[name] += [(repair.detect(scratched, detector)[0] & truth).sum(), truth.sum()]
    clean_changed = {"auto": [], "on": []}  # the L PSNR of each clean photo a mode changed
    # per portrait with a face found, under "on": the gray's change in the face boxes, that of the fill alone, and
    # the share of face pixels filled
    faces = {"photos": 0, "boxes": 0, "change": [], "fill_change": [], "filled": []}
    for path in clean_paths:
        clean = gray_photo(path)
        for mode in clean_changed:
            result, report = repair.restore(clean, mode, detector)
            if report["changed"]:
                clean_changed[mode].append(lightness_psnr(result, clean))
        if path.name.startswith(FACE_PREFIXES):
            small, scale = repair.detection_copy(clean)
            boxes = repair.find_faces(small) / scale
            if len(boxes):
                inside = np.zeros(clean.shape, bool)
                for x, y, w, h in np.round(boxes).astype(int):
                    inside[max(0, y):y + h, max(0, x):x + w] = True
                mask, _ = repair.detect(clean, detector)
                faces["photos"] += 1
                faces["boxes"] += len(boxes)
                faces["change"].append(float(np.abs(result.astype(np.float32) - clean)[inside].mean()))
                fill_only = repair.fill(clean, mask) if mask.any() else clean
                faces["fill_change"].append(float(np.abs(fill_only.astype(np.float32) - clean)[inside].mean()))
                faces["filled"].append(float(mask[inside].mean()))
    return {"photos": len(paths), "clean_photos": len(clean_paths), "counts": counts, "taken": taken, "gains": gains,
            "clean_changed": clean_changed, "faces": faces, "straight": straight}


def format_tables(scores: dict) -> str:
    photos = scores["photos"]
    lines = [f"Detector ({photos} photos; tolerance {TOLERANCE} px; auto: only on photos its gate takes)", "",
             "| test set | mode | photos taken as old prints | precision | recall | lightness vs clean, repaired "
             "minus damaged (mean) | photos made worse |", "|---|---|---:|---:|---:|---:|---:|"]
    for name in DAMAGE_SETS:
        for mode in ("on", "auto"):
            near_truth, detected, near_detection, damaged = scores["counts"][name, mode]
            gains = np.array(scores["gains"][name, mode])
            taken = f"{scores['taken'][name]} of {photos}" if mode == "auto" else "all"
            precision = f"{near_truth / detected:.2f}" if detected else "-"
            lines.append(f"| {name} | {mode} | {taken} | {precision} | {near_detection / max(damaged, 1):.2f} | "
                         f"{gains.mean():+.2f} dB | {(gains < -0.01).sum()} |")
    lines += ["", f"Clean photos (as they are; {scores['clean_photos']})", "", "| mode | photos changed | their "
              "lightness PSNR vs the photo, median (lowest) |", "|---|---:|---:|"]
    for mode, changed in scores["clean_changed"].items():
        psnr = f"{statistics.median(changed):.1f} dB ({min(changed):.1f})" if changed else "-"
        lines.append(f"| {mode} | {len(changed)} of {scores['clean_photos']} | {psnr} |")
    faces = scores["faces"]
    if faces["photos"]:
        change = np.array(faces["change"])
        lines += ["", f"Faces (clean portraits, {', '.join(FACE_PREFIXES)}, with a face found: {faces['photos']} "
                  f"photos, {faces['boxes']} faces), under on", "", "| gray change inside the face boxes, mean "
                  "(largest) | of it by filling defects alone | share of face pixels filled | portraits changed by 1 "
                  "level or more |", "|---:|---:|---:|---:|",
                  f"| {change.mean():.2f} levels ({change.max():.2f}) | {np.mean(faces['fill_change']):.3f} levels "
                  f"({max(faces['fill_change']):.3f}) | {np.mean(faces['filled']):.4%} | "
                  f"{(change >= 1).sum()} of {faces['photos']} |"]
    straight = scores["straight"]
    lines += ["", "Film scratches (a 1-px line down the middle of each photo), share of its pixels filled under on", "",
              "| " + " | ".join(straight) + " |", "|" + "---:|" * len(straight),
              "| " + " | ".join(f"{found / max(total, 1):.2f}" for found, total in straight.values()) + " |"]
    return "\n".join(lines)


# ---- a contact sheet ----

def sheet(paths: list[Path], destination: Path, count: int = 8, detector=None) -> None:
    """Rows of (made old | repaired with "on" | the clean gray), for the first `count` portraits among paths and
    two photos with printed text drawn on them before the damage (training.train_damage.add_text): faces and
    letters are what a repair must not eat. Each shown at 2x, nearest neighbour, so single pixels can be seen."""
    from training.train_damage import add_text
    portraits = [p for p in paths if p.name.startswith(FACE_PREFIXES)][:count - 2]
    others = [p for p in paths if not p.name.startswith(FACE_PREFIXES)][:count - len(portraits)]
    rows = []
    for index, path in enumerate(portraits + others):
        clean = gray_photo(path)
        if path in others:
            clean = add_text(clean, np.random.default_rng(index))
        damaged, _ = made_old(clean, path.name, DAMAGE_SETS["old print"])
        repaired, _ = repair.restore(damaged, "on", detector)
        row = np.concatenate([damaged, np.full((clean.shape[0], 4), 255, np.uint8), repaired,
                              np.full((clean.shape[0], 4), 255, np.uint8), clean], axis=1)
        row = cv2.resize(row, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        rows.append(row)
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 6), (0, width - row.shape[1])), constant_values=255) for row in rows]
    destination.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(destination), np.concatenate(rows), [cv2.IMWRITE_JPEG_QUALITY, 88])


# ---- cost ----

def timing(megapixels: float, repeats: int) -> str:
    """restore() on a synthetic scan of that size made old (every kind and cracks), per mode: median seconds."""
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    height = round(width * 3 / 4)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    photo = 128 + 60 * np.sin(x / 97) * np.cos(y / 131) + 40 * (np.sin((x + y) / 29) > 0)
    clean = np.clip(photo, 0, 255).astype(np.uint8)
    damaged, truth = made_old(clean, "timing", DAMAGE_SETS["old print"])
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
    parser.add_argument("--clean-photos", type=int, default=800, help="clean photos (spread over the folder or "
                        "split) that auto and on are tried on, and whose portraits the faces table measures")
    parser.add_argument("--detector", type=Path, help="a damage detector file (default: weights/damage.pt), e.g. "
                        "one training.train_damage --export wrote")
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet of repairs (JPEG) here")
    parser.add_argument("--timing", action="store_true", help="time restore() on a synthetic scan")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.timing:
        print(timing(args.megapixels, args.repeats))
        return 0
    if args.images is None or not args.images.is_dir():
        parser.error(f"no such folder of photos: {args.images}")
    if args.split == "validation":
        every = held_out(args.images, args.weights)[1]
    else:
        every = list_images(args.images)
    paths = [every[i] for i in spread(len(every), args.photos)]
    if not paths:
        parser.error(f"no photos in {args.images}")
    clean_paths = [every[i] for i in spread(len(every), args.clean_photos)]
    detector = DamageDetector.load(args.detector) if args.detector else repair.shipped_detector()
    print(f"CPU: {cpu_name()}; detector {args.detector or 'shipped'} in {detector.precision}, sure {detector.sure}")
    print(format_tables(score_photos(paths, clean_paths, detector)))
    if args.sheet:
        sheet(paths, args.sheet, detector=detector)
        print(f"\nsheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
