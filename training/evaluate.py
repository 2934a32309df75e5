"""Measure a colorizer on a folder of color photos, against the gray baseline (ab = 0) on the same photos.

    python -m training.evaluate --images PHOTOS [--split validation] [--weights PATH] [--size N]
                                [--hints 0,1,2,5,10,20] [--json out.json] [--sheet sheet.png]
                                [--inception inception.pt] [--leak]

Each photo is scored at its own size. The network sees only the photo's lightness (the Colorizer takes Lab L,
exactly what the gray baseline keeps). With --split validation, only the photos that training.train held out
of the same folder are used (the share it held out is read from the weights file): use it for the training
folder, never score on training photos.

--hints sweeps the number of colour hints with the protocol of Zhang et al. 2017 (test_sweep.py): for each photo
and count N, N patches of 6x6 pixels at Gaussian positions around the centre (training.hints.sweep_hints), each
given as one hint with the patch's mean colour. Each count gets PSNR, SSIM, colourfulness and hint fidelity: the
mean ab distance between the result and the hint over the hinted patches. Colourfulness is reported in two
variants: Hasler and Suesstrunk's (2003) formula, and the absolute-value variant that DDColor's tables use.
Photos whose names start with a prefix (`intel_00001.jpg`) also get a table per prefix: per source.

--degrade measures the repair of old prints instead (model.restore): each photo's gray version made old by
training.degrade.made_old (faded, blurred, grainy, scratched, dusty, JPEG 30-70; the same for a photo in every run)
and colorized with restore off, auto and on, against the clean gray. Colour PSNR: the result's ab joined to the
clean photo's own lightness, against the original, so that only colour counts; colourfulness of that image; and
how much closer to the clean lightness (Lab L PSNR) the result's lightness is than the damaged input's.

--leak adds how far one colour point leaks out of its object (training.leak): each photo gets one point in an
object region, in a colour unlike the automatic one; leak is the mean ab change outside the object over the
mean change near the point, "moved" the share of outside pixels changed by more than 10 ab units, and "at point"
the ab distance from the asked colour as sRGB can show it there. Beside them, the 10-point sweep when --hints has it.

FID and Inception Score need Inception weights, which cannot be downloaded here: pass --inception with the
TorchScript detector used by StyleGAN2-ADA's metrics (inception-2015-12-05.pt), which takes uint8 images and
returns pool features with return_features=True and class probabilities with no_output_bias=True.
"""
import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from model.color import gray8_of_rgb8, lab_to_rgb, lab_to_rgb_np, rgb_to_lab_np
from model.colorizer import Colorizer, lightness
from model.points import MAX_EDGE_SCALE, valid_edge_scale
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, WeightsError
from training import leak
from training.data import held_out_by, list_images, open_rgb, spread
from training.degrade import made_old
from training.hints import SWEEP_SIDE, sweep_hints
from training.progress import Progress
from training.sheets import contact_sheet

SHEET_ROWS = 16
INCEPTION_SIZE = 299
SHEET_HINTS = 5  # the sheet's hinted column shows this count when the sweep has it


def colorfulness(rgb: np.ndarray, absolute: bool = False) -> float:
    """Hasler and Suesstrunk (2003) colorfulness of an (H, W, 3) uint8 image: about 0 for gray, 30-40 for photos.

    absolute: the variant of DDColor's tables (and of the colorizers they compare), which takes |R - G| and
    |(R + G) / 2 - B| before the statistics; its values are not comparable with the plain formula's.
    """
    r, g, b = rgb.astype(np.float64).transpose(2, 0, 1)
    rg, yb = r - g, 0.5 * (r + g) - b
    if absolute:
        rg, yb = np.abs(rg), np.abs(yb)
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def gray_version(image: Image.Image) -> Image.Image:
    """The baseline: the photo's own Lab lightness with ab = 0."""
    l = lightness(image)[None]
    rgb = lab_to_rgb(torch.cat([l, torch.zeros(2, *l.shape[1:])]))
    return Image.fromarray(rgb.mul(255).round_().byte().permute(1, 2, 0).numpy())


def image_scores(result: np.ndarray, original: np.ndarray) -> dict:
    scores = {"psnr": peak_signal_noise_ratio(original, result, data_range=255),
              "colorfulness": colorfulness(result), "colorfulness_abs": colorfulness(result, absolute=True)}
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


def hint_fidelity(result: np.ndarray, hints: list, corners: list[tuple[int, int]], side: int) -> float:
    """Mean over the hinted patches of the mean ab distance (Lab units) between the result and the hint."""
    distances = []
    for hint, (top, left) in zip(hints, corners):
        ab = rgb_to_lab_np(result[top:top + side, left:left + side])[..., 1:].reshape(-1, 2)
        distances.append(np.hypot(ab[:, 0] - hint.a, ab[:, 1] - hint.b).mean())
    return float(np.mean(distances))


def source_of(path: Path) -> str:
    """A photo's source: its file name's prefix before the first '_' ('intel_00001.jpg' -> 'intel'), else ''."""
    stem = Path(path).stem
    return stem.split("_", 1)[0] if "_" in stem else ""


def mean_scores(scores: list[dict]) -> dict:
    keys = {key for s in scores for key in s}
    return {key: float(np.mean([s[key] for s in scores if key in s])) for key in sorted(keys)}


class ReuseRecentOutputs:
    """A network that, called again with the inputs of one of its last `keep` calls, returns that call's output
    without running.

    The chroma gain is applied after the network (model.colorizer.expand_chroma), so the Colorizers of a gain sweep
    ask it the same questions once per gain (with colour points two: without and with them): it answers once per
    photo and hint count, not once per gain.
    """

    def __init__(self, network, keep: int = 2):
        self.network = network
        self.keep = keep
        self.recent: list[tuple[tuple, torch.Tensor]] = []

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        for known, output in self.recent:
            if len(inputs) == len(known) and all(a.shape == b.shape and torch.equal(a, b)
                                                 for a, b in zip(inputs, known)):
                return output
        output = self.network(*inputs)
        self.recent = [(inputs, output)] + self.recent[:self.keep - 1]
        return output


def evaluate(colorizer: Colorizer, paths: list[Path], size: int | None = None, hint_counts: tuple[int, ...] = (0,),
             sheet: Path | None = None, inception: Path | None = None, gains: tuple[float, ...] | None = None,
             progress: Progress | None = None) -> dict:
    """Scores of the colorizer on the photos: gray, each hint count of the sweep, the originals; overall and per
    source. gains (for training.calibrate): the same at each of these chroma gains, as report["gains"][f"{gain:g}"],
    each a report of its own; the photos are read, gray scored and the network run once for all of them.
    progress: counts the photos (default: a Progress of its own, printing to stderr)."""
    counts = sorted(set(hint_counts) | {0})
    if gains is None:
        variants = {None: colorizer}
    else:
        shared = Colorizer(ReuseRecentOutputs(colorizer.network), colorizer.info, colorizer.device, colorizer.sha256,
                           colorizer.precision)
        variants = {gain: shared.at_operating_point(gain) for gain in gains}
    progress = progress or Progress(len(paths), "photo")
    sheet_count = SHEET_HINTS if SHEET_HINTS in counts else max(counts)
    per_photo = []  # one dict per photo: source, gray, original, and the scores of every (gain, count)
    rows, keep_ours, keep_originals = [], [], []
    sheet_rows = set(spread(len(paths), SHEET_ROWS))  # spread out
    for index, path in enumerate(paths):
        original = open_rgb(path)
        target = np.asarray(original)
        gray = gray_version(original)
        photo = {"source": source_of(path), "gray": image_scores(np.asarray(gray), target),
                 "original": {"colorfulness": colorfulness(target), "colorfulness_abs": colorfulness(target, True)},
                 "scores": {}}
        lab = rgb_to_lab_np(target) if len(counts) > 1 else None
        side = min(SWEEP_SIDE, *target.shape[:2])
        shown = {}  # the sheet's results of this photo
        for count in counts:
            # the same hints for a photo and count, whatever else is measured: comparable across gains and runs
            hints, corners = sweep_hints(lab, count, random.Random(f"{Path(path).name}:{count}")) if count else (None, [])
            for gain, variant in variants.items():
                ours = variant(original, size=size, hints=hints, restore="off")  # the network alone
                result = np.asarray(ours)
                scores = photo["scores"][gain, count] = image_scores(result, target)
                if count:
                    scores["fidelity"] = hint_fidelity(result, hints, corners, side)
                if sheet and index in sheet_rows and gain is None and count in (0, sheet_count):
                    shown[count] = mark_patches(ours, corners, side)
                if inception and gain is None and count == 0:
                    keep_ours.append(ours)
                    keep_originals.append(original)
        if shown:
            rows.append([gray, shown[0]] + ([shown[sheet_count]] if sheet_count else []) + [original])
        per_photo.append(photo)
        progress.update()

    if gains is None:
        report = summarize(per_photo, counts, None)
    else:
        report = {"images": len(paths), "gains": {f"{gain:g}": summarize(per_photo, counts, gain) for gain in gains}}
    report["images"] = len(paths)
    if sheet:
        titles = ("gray", "automatic") + ((f"{sheet_count} hints",) if sheet_count else ()) + ("original",)
        contact_sheet(rows, titles=titles).save(sheet)
    if inception:
        report["ours"].update(fid_and_is(inception, keep_ours, keep_originals))
    return report


def summarize(per_photo: list[dict], counts: list[int], gain: float | None) -> dict:
    """Per-photo scores at one gain -> means overall ("gray", "ours" = automatic, "hints" by count, "original")
    and per source."""
    def table(photos: list[dict]) -> dict:
        originals = mean_scores([p["original"] for p in photos])
        result = {"images": len(photos), "gray": mean_scores([p["gray"] for p in photos]), "original": originals,
                  "hints": {str(c): mean_scores([p["scores"][gain, c] for p in photos]) for c in counts}}
        for scores in [result["gray"], *result["hints"].values()]:
            scores["colorfulness_gap"] = originals["colorfulness"] - scores["colorfulness"]
            scores["colorfulness_ratio"] = scores["colorfulness"] / originals["colorfulness"]
            scores["colorfulness_abs_ratio"] = scores["colorfulness_abs"] / originals["colorfulness_abs"]
        result["ours"] = result["hints"]["0"]
        return result

    report = table(per_photo)
    sources = sorted({p["source"] for p in per_photo})
    if len(sources) > 1 and "" not in sources:
        report["sources"] = {name: table([p for p in per_photo if p["source"] == name]) for name in sources}
    return report


def mark_patches(image: Image.Image, corners: list[tuple[int, int]], side: int) -> Image.Image:
    """A copy of image with a thin outline around each hinted patch, for the contact sheet's eyes."""
    if not corners:
        return image
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    for top, left in corners:
        draw.rectangle((left - 1, top - 1, left + side, top + side), outline="white")
    return marked


def format_table(report: dict) -> str:
    """The report as text tables: the sweep (or the gains), then one line per source."""
    originals = report["original"]
    lines = [f"{report['images']} photos"]
    header = (f"{'':12}{'PSNR dB':>9}{'vs gray':>9}{'SSIM':>8}{'colorful':>10}{'ratio':>7}{'abs':>8}{'ratio':>7}"
              f"{'fidelity':>10}")
    lines.append(header)

    def line(name: str, r: dict) -> str:
        fidelity = f"{r['fidelity']:10.2f}" if "fidelity" in r else f"{'-':>10}"
        return (f"{name:12}{r['psnr']:9.2f}{r['psnr'] - report['gray']['psnr']:+9.2f}{r.get('ssim', float('nan')):8.3f}"
                f"{r['colorfulness']:10.1f}{r['colorfulness_ratio']:7.0%}{r['colorfulness_abs']:8.1f}"
                f"{r['colorfulness_abs_ratio']:7.0%}{fidelity}")
    lines.append(line("gray", report["gray"]))
    for count, r in report["hints"].items():
        lines.append(line("automatic" if count == "0" else f"{count} hints", r))
    lines.append(f"{'original':12}{'':26}{originals['colorfulness']:10.1f}{'':7}{originals['colorfulness_abs']:8.1f}")
    if "fid" in report.get("ours", {}):
        lines.append(f"FID {report['ours']['fid']:.2f}, Inception Score {report['ours']['inception_score']:.2f}")
    if "sources" in report:
        counts = list(report["hints"])
        lines += ["", "per source (PSNR dB; colorful: share of the originals', Hasler-Suesstrunk)",
                  f"{'source':12}{'photos':>7}{'gray':>8}" + "".join(
                      f"{'auto' if c == '0' else c + ' hints':>10}" for c in counts) + f"{'vs gray':>9}{'colorful':>10}"]
        for name, table in report["sources"].items():
            auto = table["hints"]["0"]
            lines.append(f"{name:12}{table['images']:7d}{table['gray']['psnr']:8.2f}"
                         + "".join(f"{table['hints'][c]['psnr']:10.2f}" for c in counts)
                         + f"{auto['psnr'] - table['gray']['psnr']:+9.2f}{auto['colorfulness_ratio']:10.0%}")
    return "\n".join(lines)


# (name, which gray goes in, restore mode)
DEGRADE_CONDITIONS = (("clean", "clean", "off"), ("clean, auto", "clean", "auto"), ("old, off", "old", "off"),
                      ("old, auto", "old", "auto"), ("old, on", "old", "on"))
DEGRADE_SHEET_ROWS = 8


def colour_only(result: np.ndarray, original_lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the result's ab joined to the original's L, so that its lightness cannot count."""
    lab = rgb_to_lab_np(result)
    lab[..., 0] = original_lab[..., 0]
    return (lab_to_rgb_np(lab) * 255).round().astype(np.uint8)


def made_old_photo(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A colour photo's path -> (its (H, W, 3) uint8 RGB, its Lab, its uint8 gray, that gray made old by
    training.degrade.made_old, seeded by the file's name: the same in every run and tool)."""
    original = np.asarray(open_rgb(path))
    clean = gray8_of_rgb8(*(np.ascontiguousarray(original[..., c]) for c in range(3)))
    return original, rgb_to_lab_np(original), clean, made_old(clean, Path(path).name)[0]


def evaluate_degraded(colorizer: Colorizer, paths: list[Path], size: int | None = None,
                      sheet: Path | None = None) -> dict:
    """Each condition of DEGRADE_CONDITIONS on each photo: colour PSNR and colourfulness of the colour-only image,
    lightness PSNR against the clean gray, and whether the lightness changed from its input's."""
    scores = {name: [] for name, _, _ in DEGRADE_CONDITIONS}
    originals, rows = [], []
    sheet_rows = set(spread(len(paths), DEGRADE_SHEET_ROWS))
    progress = Progress(len(paths), "photo")
    for index, path in enumerate(paths):
        original, original_lab, clean, old = made_old_photo(path)
        grays = {"clean": clean, "old": old}
        clean_l = lightness(Image.fromarray(clean))
        results = {}
        for name, source, mode in DEGRADE_CONDITIONS:
            result = np.asarray(colorizer(Image.fromarray(grays[source]), size=size, restore=mode))
            results[name] = result
            colour = colour_only(result, original_lab)
            result_l = lightness(Image.fromarray(result))
            mse = float((result_l - clean_l).pow(2).mean())
            changed = float((result_l - lightness(Image.fromarray(grays[source]))).abs().max()) > 0.6  # > half a level
            scores[name].append({"psnr": peak_signal_noise_ratio(original, colour, data_range=255),
                                 "colorfulness": colorfulness(colour),
                                 "lightness_psnr": 10 * np.log10(100 ** 2 / max(mse, 1e-10)), "changed": changed})
        originals.append(colorfulness(original))
        if sheet and index in sheet_rows:
            repaired = Image.fromarray(results["old, on"]).convert("L")
            rows.append([Image.fromarray(old), Image.fromarray(results["old, off"]), repaired,
                         Image.fromarray(results["old, on"]), Image.fromarray(original)])
        progress.update()
    report = {"images": len(paths), "original": {"colorfulness": float(np.mean(originals))}, "conditions": {}}
    for name, per_photo in scores.items():
        means = {key: float(np.mean([s[key] for s in per_photo])) for key in ("psnr", "colorfulness", "lightness_psnr")}
        means["changed"] = int(sum(s["changed"] for s in per_photo))
        report["conditions"][name] = means
    if sheet:
        titles = ("made old", "colorized as it is", "repaired (restore on)", "colorized after repair", "original")
        contact_sheet(rows, titles=titles).save(sheet, quality=85)
    return report


def format_degraded(report: dict) -> str:
    conditions = report["conditions"]
    clean, old = conditions["clean"], conditions["old, off"]
    lines = [f"{report['images']} photos; colour: the result's ab on the clean lightness; lightness: Lab L PSNR "
             f"against the clean gray", "",
             "| input, restore | colour PSNR dB | vs clean | colourfulness | share of clean's | lightness PSNR dB | "
             "vs the damaged input | photos whose lightness it changed |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in conditions.items():
        closer = f"{r['lightness_psnr'] - old['lightness_psnr']:+.2f}" if name.startswith("old") else ""
        lightness_psnr = "identical" if r["lightness_psnr"] > 99 else f"{r['lightness_psnr']:.2f}"
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['psnr'] - clean['psnr']:+.2f} | {r['colorfulness']:.1f} | "
                     f"{r['colorfulness'] / clean['colorfulness']:.0%} | {lightness_psnr} | {closer} | {r['changed']} |")
    lines.append(f"| originals | | | {report['original']['colorfulness']:.1f} | | | | |")
    return "\n".join(lines)


def hint_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of hint counts, such as 0,1,5,10; got {text!r}")
    if any(c < 0 or c > 1000 for c in counts):
        raise argparse.ArgumentTypeError(f"hint counts must be from 0 to 1000, got {text!r}")
    return counts


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of color photos")
    parser.add_argument("--split", choices=["all", "validation"], default="all",
                        help="validation: only the photos training held out of this folder (the share is read "
                             "from the weights file)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--size", type=int, default=None, help="working size (default: the model's own)")
    parser.add_argument("--hints", type=hint_counts, default=(0,),
                        help="hint counts to sweep, comma-separated, e.g. 0,1,2,5,10,20 (default: 0, automatic only)")
    parser.add_argument("--limit", type=int, default=0, help="score only N photos, spread over the folder")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="as model.colorize (default: auto)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--sheet", type=Path, help="write a gray | automatic | hints | original sheet of 16 photos")
    parser.add_argument("--inception", type=Path, help="Inception TorchScript file, for FID and Inception Score")
    parser.add_argument("--degrade", action="store_true", help="measure the repair of old prints instead: each photo "
                        "made old, colorized with restore off, auto and on (--sheet: made old | as it is | repaired | "
                        "after repair | original, 8 photos)")
    parser.add_argument("--leak", action="store_true", help="also measure how far one colour point leaks out of "
                                                           "its object (training.leak)")
    parser.add_argument("--points-edge-scale", type=float, default=None,
                        help="colour points at this edge scale instead of the model's own (model.points: larger "
                             "spreads a point further); measure it with --hints and --leak, then export with it")
    args = parser.parse_args(argv)
    if args.points_edge_scale is not None and not valid_edge_scale(args.points_edge_scale):
        parser.error(f"--points-edge-scale must be above 0 and at most {MAX_EDGE_SCALE:g}, "
                     f"got {args.points_edge_scale:g}")

    try:
        colorizer = Colorizer.load(args.weights, precision=args.precision)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.points_edge_scale is not None:
        colorizer = colorizer.at_operating_point(colorizer.chroma_gain, colorizer.repaired_gain,
                                                 args.points_edge_scale)
    if not args.images.is_dir():
        parser.error(f"no such folder of photos: {args.images}")
    paths = list_images(args.images)
    if args.split == "validation":
        try:
            paths = held_out_by(colorizer.info, paths)[1]
        except ValueError:
            parser.error(f"{args.weights} does not say which share of its training folder it held out; "
                         f"use --split all on photos it never saw")
    if args.limit:  # spread() keeps every photo when there are no more than --limit
        paths = [paths[i] for i in spread(len(paths), args.limit)]
    if not paths:
        parser.error(f"no photos to score in {args.images} (split {args.split})")
    if args.degrade:
        report = evaluate_degraded(colorizer, paths, args.size, args.sheet)
    else:
        report = evaluate(colorizer, paths, args.size, args.hints, args.sheet, args.inception)
    # the weights by name and hash: a path would record this machine's folders
    report.update(weights=args.weights.name, sha256=colorizer.sha256, split=args.split, size=args.size,
                  precision=colorizer.precision, points_edge_scale=colorizer.edge_scale)
    if args.degrade:
        print(format_degraded(report))
    else:
        print(format_table(report))
    if args.leak and not args.degrade:
        report["leak"] = leak.summarize(leak.measure_photos(colorizer, paths, args.size)[0])
        if "10" in report["hints"]:
            report["leak"]["sweep"] = report["hints"]["10"]["psnr"] - report["gray"]["psnr"]
        print("\none colour point per photo, in an object region (training.leak)")
        print(leak.format_table({args.split: report["leak"]}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.weights.resolve() == DEFAULT_WEIGHTS.resolve():
        print("next, train your own and compare: python -m training.train --data PHOTOS --out runs/mine")
    else:
        print(f"next, colorize with it: colorize PHOTOS --output colorized/ --weights {args.weights}\n"
              f"  or serve it: COLORIZER_WEIGHTS={args.weights} gunicorn wsgi:app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
