"""Colours from a reference photo (model.reference), measured on the development clips: frame 0 of each clip made
gray and colorized (a) automatically, (b) with the clip's own last frame as the reference, (c) with the last frame
of another clip (the next one in name order) as the reference; PSNR in RGB (8-bit, the whole frame) against the true
frame 0. Then the time of a 1024x768 photo with and without a reference, and a sheet to look at.

Then films: each clip made a gray MP4 (its frames' own lightness, as bench.video makes it) and colorized as a
film by model.video.colorize_video, stabilized as shipped, without a reference and with the clip's own last frame
in colour as the reference; the results decoded and measured against the original frames as bench.video measures
them: PSNR in RGB averaged over frames, and CDC (colour distribution consistency, bench.video.cdc: lower is
steadier). Each twice, with the shot's memory of its own colours (model.motion) on and off, unless --memory says
which.

    python -m bench.reference [--clips ../shared/data/video] [--weights weights/colorizer.pt]
                              [--sheet docs/reference_sheet.jpg] [--repeats 3]
    python -m bench.reference --tables films [--only bear,car_turn] [--frames 12] [--memory on|off|both]
                              [--stabilization memory_blocks=8,memory_step=16]

Restore is off (the clips are clean footage; a repair would move the lightness the same in every column).
"""
import argparse
import csv
import dataclasses
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.color import gray8_of_rgb8
from bench import video as film_bench
from model.colorizer import Colorizer
from model.motion import Stabilization
from model.reference import ReferenceMatcher
from model.video import colorize_video
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


def evaluate_films(colorizer: Colorizer, clips: list[Path], frames: int, memories: list[bool],
                   settings: Stabilization) -> list[dict]:
    """One row a clip: the film's PSNR and CDC without a reference and with its own last frame, for each memory
    setting; the share of the keyframes matched to the reference. frames: the first this many (0: all)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as scratch:
        for clip in clips:
            originals = film_bench.read_clip(clip)
            reference = colorizer.prepare_reference(Image.fromarray(originals[-1]))  # the clip's last frame
            originals = originals[:frames] if frames else originals
            height, width = originals[0].shape[:2]
            source = Path(scratch) / f"{clip.name}.mp4"
            film_bench.write_gray_video([film_bench.gray_of(frame) for frame in originals], source)
            row = {"clip": clip.name, "frames": len(originals), "cdc original": film_bench.cdc(originals)}
            for memory in memories:
                for name, given in (("without", None), ("with", reference)):
                    output = Path(scratch) / f"{clip.name}.{name}.mp4"
                    done = colorize_video(colorizer, source, output, reference=given,
                                          settings=dataclasses.replace(settings, memory=memory))
                    result = film_bench.read_video(output, width, height)
                    assert len(result) == len(originals), f"{clip.name}: {len(result)} frames of {len(originals)}"
                    row[memory, name, "psnr"] = film_bench.psnr(result, originals)
                    row[memory, name, "cdc"] = film_bench.cdc(result)
                    if given is not None:
                        row[memory, "share"] = done.reference_share
            rows.append(row)
            print(f"  {clip.name}: done", flush=True)
    return rows


def print_film_table(rows: list[dict], memory: bool) -> None:
    """The films' table for one memory setting, and the targets: with the last frame, CDC no worse than without
    and PSNR at least 2 dB above."""
    print(f"\nFilms, the shot's memory {'on' if memory else 'off'}: PSNR (dB, RGB, mean over frames) and CDC (1e-4; "
          f"the original frames' own for comparison)")
    print("| clip | frames | PSNR without | PSNR with its last frame | CDC original | CDC without | CDC with | share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        without, with_ = r[memory, "without", "psnr"], r[memory, "with", "psnr"]
        print(f"| {r['clip']} | {r['frames']} | {without:.2f} | {with_:.2f} ({with_ - without:+.2f}) | "
              f"{r['cdc original'] * 1e4:.2f} | {r[memory, 'without', 'cdc'] * 1e4:.2f} | "
              f"{r[memory, 'with', 'cdc'] * 1e4:.2f} | {r[memory, 'share']:.0%} |")
    mean = {key: float(np.mean([r[key] for r in rows])) for key in
            ((memory, "without", "psnr"), (memory, "with", "psnr"), (memory, "without", "cdc"),
             (memory, "with", "cdc"), "cdc original", (memory, "share"))}
    gain = mean[memory, "with", "psnr"] - mean[memory, "without", "psnr"]
    ratio = float(np.mean([r[memory, "with", "cdc"] / r[memory, "without", "cdc"] for r in rows]))
    of_means = mean[memory, "with", "cdc"] / mean[memory, "without", "cdc"]
    print(f"| **mean of {len(rows)}** | {sum(r['frames'] for r in rows)} | {mean[memory, 'without', 'psnr']:.2f} | "
          f"{mean[memory, 'with', 'psnr']:.2f} ({gain:+.2f}) | {mean['cdc original'] * 1e4:.2f} | "
          f"{mean[memory, 'without', 'cdc'] * 1e4:.2f} | {mean[memory, 'with', 'cdc'] * 1e4:.2f} | "
          f"{mean[memory, 'share']:.0%} |")
    worse = [r["clip"] for r in rows if r[memory, "with", "cdc"] > r[memory, "without", "cdc"]]
    print(f"with its last frame: PSNR {gain:+.2f} dB (asked: at least +2); CDC {of_means:.2f}x without (the means), "
          f"{ratio:.2f}x on the mean clip (asked: no worse), higher on {len(worse)} of {len(rows)} clips"
          f"{': ' + ', '.join(worse) if worse else ''}")


def print_memory_comparison(rows: list[dict]) -> None:
    """The shot's memory on against off, for both kinds of film."""
    print("\nThe shot's memory, on against off (mean over clips; CDC as a ratio of on to off, and the clips where "
          "it is higher):")
    for name, title in (("without", "without a reference"), ("with", "with its last frame")):
        psnr = float(np.mean([r[True, name, "psnr"] - r[False, name, "psnr"] for r in rows]))
        ratio = float(np.mean([r[True, name, "cdc"] / r[False, name, "cdc"] for r in rows]))
        higher = [r["clip"] for r in rows if r[True, name, "cdc"] > r[False, name, "cdc"]]
        print(f"  {title}: PSNR {psnr:+.2f} dB, CDC {ratio:.2f}x; CDC higher on {len(higher)} of {len(rows)}"
              f"{': ' + ', '.join(higher) if higher else ''}")


def stabilization(text: str) -> Stabilization:
    """"memory_blocks=8,memory_step=16" -> Stabilization with those fields changed (each of its field's type)."""
    settings = Stabilization()
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        kind = type(getattr(settings, name.strip()))
        settings = dataclasses.replace(settings, **{name.strip(): kind(float(value)) if kind is not bool
                                                    else value.strip() in ("1", "true", "on")})
    return settings


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DATA / "video", help="folder of clip folders of frames")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--photos", type=Path, default=DATA / "dev_foreign", help="the photo pairs' folder")
    parser.add_argument("--sheet", type=Path, default=None, help="write the sheet here (e.g. docs/reference_sheet.jpg)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats")
    parser.add_argument("--tables", default="photos,films", help="which to measure: photos (frame 0, the timing and "
                                                                 "the sheet), films, or both (the default)")
    parser.add_argument("--only", default="", help="comma-separated clip names (default: every clip)")
    parser.add_argument("--frames", type=int, default=0, help="films: the first this many frames of each (0: all)")
    parser.add_argument("--memory", choices=("on", "off", "both"), default="both",
                        help="films: with the shot's memory of its own colours, without, or both (the default)")
    parser.add_argument("--stabilization", default="", help="films: Stabilization fields changed, e.g. "
                                                            "memory_blocks=8,memory_step=16")
    args = parser.parse_args(argv)
    tables = set(args.tables.split(","))
    colorizer = Colorizer.load(args.weights)
    matcher = colorizer.matcher or ReferenceMatcher.load(args.weights)  # the Colorizer's: in its precision
    clips = sorted(path for path in args.clips.iterdir() if path.is_dir())
    if args.only:
        clips = [clip for clip in clips if clip.name in set(args.only.split(","))]
    if "films" in tables:
        memories = {"on": [True], "off": [False], "both": [True, False]}[args.memory]
        settings = stabilization(args.stabilization)
        print(f"films: {len(clips)} clips, {colorizer.precision}, {settings}")
        film_rows = evaluate_films(colorizer, clips, args.frames, memories, settings)
        for memory in memories:
            print_film_table(film_rows, memory)
        if len(memories) == 2:
            print_memory_comparison(film_rows)
    if "photos" not in tables:
        return
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
