"""Colours from a reference photo (model.reference), measured on the development clips: frame 0 of each clip made
gray and colorized (a) automatically, (b) with the clip's own last frame as the reference, (c) with the last frame
of another clip (the next one in name order) as the reference; PSNR in RGB (8-bit, the whole frame) against the true
frame 0. Then the time of a 1024x768 photo with and without a reference, and a sheet to look at.

    python -m bench.reference [--clips ../shared/data/video] [--weights weights/colorizer.pt]
                              [--sheet docs/reference_sheet.jpg] [--repeats 3]

Restore is off (the clips are clean footage; a repair would move the lightness the same in every column).
"""
import argparse
import csv
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.color import gray8_of_rgb8
from model.colorizer import Colorizer
from model.reference import ReferenceMatcher
from model.weights import DEFAULT_WEIGHTS
from training.sheets import contact_sheet

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHEET_CLIPS = 8
# Photo pairs for the sheet: two photos of the same thing in different places (DreamBooth's subjects), the first
# colorized with the second as the reference.
PAIR_SUBJECTS = ("backpack", "colorful_sneaker", "cat", "bear_plushie")


def gray_of(rgb: Image.Image) -> Image.Image:
    """A colour photo -> its gray of the same luminance (so of the same Lab L), as the Colorizer makes it."""
    return Image.fromarray(gray8_of_rgb8(*(np.asarray(plane) for plane in rgb.split())), "L")


def psnr(result: Image.Image, truth: Image.Image) -> float:
    """PSNR in dB of two RGB images of the same size, 8-bit, over all pixels and channels."""
    error = np.mean((np.asarray(result, np.float64) - np.asarray(truth, np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(error, 1e-10)))


def first_and_last(clip: Path) -> tuple[Image.Image, Image.Image]:
    frames = sorted(clip.glob("*.jpg"))
    return Image.open(frames[0]).convert("RGB"), Image.open(frames[-1]).convert("RGB")


def evaluate(colorizer: Colorizer, matcher: ReferenceMatcher, clips: list[Path]) -> list[dict]:
    """One row a clip: PSNR automatic, with its own last frame, with another clip's; the share each matched."""
    frames = {clip.name: first_and_last(clip) for clip in clips}
    rows = []
    for index, clip in enumerate(clips):
        first, last = frames[clip.name]
        other = clips[(index + 1) % len(clips)].name
        gray = gray_of(first)
        automatic = colorizer(gray, restore="off")
        own = matcher.match(gray, last)
        with_own = colorizer(gray, hints=list(own.hints), restore="off")
        foreign = matcher.match(gray, frames[other][1])
        with_other = colorizer(gray, hints=list(foreign.hints), restore="off")
        rows.append({"clip": clip.name, "other": other, "automatic": psnr(automatic, first),
                     "own": psnr(with_own, first), "other_psnr": psnr(with_other, first), "own_share": own.share,
                     "own_points": len(own.hints), "other_share": foreign.share, "other_points": len(foreign.hints),
                     "images": (gray, automatic, last, with_own, first)})
    return rows


def print_table(rows: list[dict]) -> None:
    print("| clip | automatic | own last frame (share, points) | other clip's last frame (share, points) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clip']} | {r['automatic']:.2f} | {r['own']:.2f} ({r['own'] - r['automatic']:+.2f}; "
              f"{r['own_share']:.0%}, {r['own_points']}) | {r['other_psnr']:.2f} "
              f"({r['other_psnr'] - r['automatic']:+.2f}; {r['other']}: {r['other_share']:.0%}, "
              f"{r['other_points']}) |")
    mean = {key: float(np.mean([r[key] for r in rows])) for key in ("automatic", "own", "other_psnr", "own_share",
                                                                      "other_share")}
    print(f"| **mean of {len(rows)}** | {mean['automatic']:.2f} | {mean['own']:.2f} "
          f"({mean['own'] - mean['automatic']:+.2f}; {mean['own_share']:.0%}) | {mean['other_psnr']:.2f} "
          f"({mean['other_psnr'] - mean['automatic']:+.2f}; {mean['other_share']:.0%}) |")


def time_photo(colorizer: Colorizer, matcher: ReferenceMatcher, clip: Path, repeats: int) -> None:
    """A 1024x768 photo with and without a reference (another 1024x768), each on a fresh Colorizer (nothing
    remembered), interleaved; the median of `repeats`, in wall time and in this process's CPU time (which other
    processes on the machine disturb less)."""
    first, last = first_and_last(clip)
    gray, reference = gray_of(first.resize((1024, 768), Image.Resampling.BICUBIC)), last.resize((1024, 768))
    times = {"without": [], "with": [], "matching": []}  # (wall, cpu) seconds

    def fresh() -> Colorizer:
        return Colorizer(colorizer.network, colorizer.info, colorizer.device, colorizer.sha256, colorizer.precision)

    for _ in range(repeats):
        automatic = fresh()
        wall, cpu = time.perf_counter(), time.process_time()
        automatic(gray, restore="off")
        times["without"].append((time.perf_counter() - wall, time.process_time() - cpu))
        pointed = fresh()
        wall, cpu = time.perf_counter(), time.process_time()
        colours = matcher.match(gray, reference)
        times["matching"].append((time.perf_counter() - wall, time.process_time() - cpu))
        pointed(gray, hints=list(colours.hints), restore="off")
        times["with"].append((time.perf_counter() - wall, time.process_time() - cpu))
    (a, a_cpu), (b, b_cpu), (m, m_cpu) = (1000 * np.median(times[key], axis=0) for key in ("without", "with",
                                                                                              "matching"))
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"\n1024x768 ({clip.name} frame 0, its last frame as the reference), median of {repeats}, "
          f"{torch.get_num_threads()} threads, {colorizer.precision}, CPU {model}, load average {load} "
          f"(other processes may be running):")
    print(f"wall: without a reference {a:.0f} ms; with one {b:.0f} ms ({b / a:.2f}x; the matching alone {m:.0f} ms)")
    print(f"CPU:  without a reference {a_cpu:.0f} ms; with one {b_cpu:.0f} ms ({b_cpu / a_cpu:.2f}x; the matching "
          f"alone {m_cpu:.0f} ms); {len(colours.hints)} points")


def photo_pairs(colorizer: Colorizer, matcher: ReferenceMatcher, folder: Path, manifest: Path) -> list[list]:
    """Sheet rows for PAIR_SUBJECTS, and their PSNR printed."""
    by_subject = {}
    with open(manifest) as file:
        for row in csv.DictReader(file):
            subject = row["path"].split("/")[-2] if row["source_tag"] == "dreambooth" else None
            if subject in PAIR_SUBJECTS:
                by_subject.setdefault(subject, []).append(folder / row["file"])
    rows = []
    print("\nphoto pairs (DreamBooth subjects, the second photo as the reference), PSNR RGB:")
    for subject in PAIR_SUBJECTS:
        target_path, reference_path = by_subject[subject][:2]
        original, reference = Image.open(target_path).convert("RGB"), Image.open(reference_path).convert("RGB")
        gray = gray_of(original)
        automatic = colorizer(gray, restore="off")
        colours = matcher.match(gray, reference)
        with_reference = colorizer(gray, hints=list(colours.hints), restore="off")
        print(f"  {subject}: automatic {psnr(automatic, original):.2f}, with reference "
              f"{psnr(with_reference, original):.2f} (share {colours.share:.0%}, {len(colours.hints)} points)")
        rows.append([gray, automatic, reference, with_reference, original])
    return rows


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DATA / "video", help="folder of clip folders of frames")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--photos", type=Path, default=DATA / "dev_foreign", help="the photo pairs' folder")
    parser.add_argument("--sheet", type=Path, default=None, help="write the sheet here (e.g. docs/reference_sheet.jpg)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats")
    args = parser.parse_args(argv)
    colorizer, matcher = Colorizer.load(args.weights), ReferenceMatcher.load(args.weights)
    clips = sorted(path for path in args.clips.iterdir() if path.is_dir())
    rows = evaluate(colorizer, matcher, clips)
    print(f"PSNR (dB, RGB) of frame 0 against the true frame 0, {len(clips)} clips, {args.weights.name}:")
    print_table(rows)
    time_photo(colorizer, matcher, clips[len(clips) // 2], args.repeats)
    if args.sheet:
        chosen = [rows[round(i * (len(rows) - 1) / (SHEET_CLIPS - 1))] for i in range(SHEET_CLIPS)]
        sheet_rows = [list(r["images"]) for r in chosen]
        sheet_rows += photo_pairs(colorizer, matcher, args.photos, args.photos.parent / "dev_foreign_manifest.csv")
        sheet = contact_sheet(sheet_rows, height=150,
                              titles=("gray", "automatic", "reference", "with reference", "original"))
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.sheet, quality=88)
        print(f"\nwrote {args.sheet}: {len(chosen)} clips, then {len(PAIR_SUBJECTS)} photo pairs; columns gray | "
              f"automatic | reference | with reference | original")


if __name__ == "__main__":
    main()
