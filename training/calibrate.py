"""Choose a checkpoint's operating point between accuracy and colour: PSNR and colorfulness at each setting.

    python -m training.calibrate runs/name/checkpoint.pt --images PHOTOS [--split training|validation]
                                 [--working-size 192] [--photos 800] [--min-gain 0.6] [--source-floor 0]
                                 [--min-source-photos 10] [--hints 10] [--min-hint-gain 3] [--gains 1,1.5,2]
                                 [--temperatures ...] [--corrections ...] [--match-colour WEIGHTS]
                                 [--old-prints [--keep-colour 0.9] [--repaired-gains 1,1.1,1.2]]

A net trained for accuracy is muted where it is unsure. The knobs that trade some accuracy for colour: the chroma
gain (any head; see model.colorizer.expand_chroma), and for a bins head the prior correction, which undoes the
training's rebalancing towards rare colours (1: the most accurate, muted; 0: vivid), and the temperature, which
sharpens each pixel's distribution before its mean is taken (see training.export.set_operating_point).

Each setting is measured on the network as it is served: the checkpoint is exported to a temporary weights file
and loaded the way the app loads it (frozen TorchScript, in the precision this machine serves). The photos come
from the *training* split of --images (the run's own --val-fraction, read from the checkpoint), so that the
validation split stays unseen for the final report. Photos the run trained on flatter it, the more so the more
often it saw them: a network that has fitted them looks a dB or more better there than on photos it never saw,
which leaves room for more colour than new photos bear. A folder of photos it did not train on, or --split
validation (the run's held-out photos; training.evaluate's report on them then scores photos that chose the
gain), gives an operating point that holds on new photos. It suggests the most colourful setting that keeps PSNR
at least --min-gain dB above the gray image's, no source (file-name prefix) of at least --min-source-photos of the
scored photos below gray (a source of two or three photos moves by tenths of a dB with one photo: it is shown, and
does not decide), PSNR at least --min-hint-gain dB above gray with --hints hints, and no more colour than the
originals; or, when none does, the most accurate one; and prints the export command, to a new file beside the
checkpoint (runs/name/colorizer.pt): never the shipped model.

With --match-colour WEIGHTS it instead suggests the setting whose colourfulness on the same photos is nearest that
of a weights file (the shipped model, say) at its own operating point, and prints how the two compare there: two
networks are best compared at equal colour, since more colour costs PSNR where a net is unsure, and a gain that
adds colour can hide a loss of accuracy or make one look like a loss.

With --old-prints it then chooses the gain of photos the repair changes (export's --repaired-gain). A faded,
blurred, grainy print makes the net timid: it gives the repaired gray less colour than it gives the clean photo.
The same photos made old (training.degrade.made_old) are colorized with restore "auto" at the suggested setting,
those the repair changed at each gain of --repaired-gains, and scored on their colour alone (the result's ab on
the original's lightness, as training.evaluate --degrade scores it). It suggests the least gain at which they keep
--keep-colour of the colourfulness the clean photos get (0.9: a margin over photos it did not see), with PSNR
still --min-gain dB above gray; each source's PSNR against gray is shown, not required (more colour where the net
is unsure costs accuracy, and the table says how much).

It prints a progress line (photos scored, time left) after the first photo and then every 30 s. The network runs
once per photo and hint count whatever the number of chroma gains (they apply after it); a bins head's prior
corrections and temperatures change the network, so each of those settings is exported and scored on its own.
"""
import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from model.colorizer import Colorizer
from model.weights import PRECISIONS
from training.config import TrainConfig
from training.data import list_images, split_paths, spread
from training.evaluate import colorfulness, colour_only, evaluate, gray_version, made_old_photo, source_of
from training.export import export
from training.progress import Progress

GAINS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5)  # the default sweep for a regression head
REPAIRED_GAINS = tuple(round(1 + 0.1 * step, 1) for step in range(11))  # and for repaired photos: 1 to 2
TEMPERATURES = (1.0, 0.7, 0.5)  # and for a bins head, at gain 1
CORRECTIONS = (1.0, 0.75, 0.5, 0.0)


def worst_source(sources: dict, min_photos: int = 1) -> tuple[str, float] | None:
    """The source (a name -> {"photos", "vs_gray"}, a calibrate row's "sources") whose automatic PSNR is lowest
    against its gray, among those with at least min_photos photos: (name, vs_gray); None when no source has as
    many."""
    gains = [(name, source["vs_gray"]) for name, source in sources.items() if source["photos"] >= min_photos]
    return min(gains, key=lambda item: item[1]) if gains else None


def calibrate(checkpoint_path: Path, paths: list[Path], working_size: int | None = None,
              gains: tuple[float, ...] = (1.0,), corrections: tuple[float, ...] = (0.0,),
              temperatures: tuple[float | None, ...] = (None,), precision: str | None = None,
              hints: int = 0, min_source_photos: int = 1) -> list[dict]:
    """One row per setting (prior correction, temperature, chroma gain): PSNR, gray PSNR, colorfulness and its
    ratio to the originals', the worst source's PSNR against its gray (among sources with at least
    min_source_photos of the photos), and with hints > 0 the PSNR and fidelity with that many hints. Corrections
    and temperatures apply to a bins head only; None keeps the run's. Prints progress lines to stderr."""
    rows = []
    networks = list(itertools.product(corrections, temperatures))  # each a network of its own; gains are not
    progress = Progress(len(networks) * len(paths), "photo")
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "calibrate.pt"
        for correction, temperature in networks:
            export(checkpoint_path, weights, temperature=temperature, prior_correction=correction,
                   working_size=working_size)
            report = evaluate(Colorizer.load(weights, precision=precision), paths, gains=gains,
                              hint_counts=(0, hints) if hints else (0,), progress=progress)
            for gain, at_gain in report["gains"].items():
                ours = at_gain["ours"]
                row = {"prior_correction": correction, "temperature": temperature, "chroma_gain": float(gain),
                       "psnr": ours["psnr"], "psnr_gray": at_gain["gray"]["psnr"],
                       "colorfulness": ours["colorfulness"], "ratio": ours["colorfulness_ratio"]}
                if "sources" in at_gain:
                    row["sources"] = {name: {"photos": table["images"],
                                             "vs_gray": table["ours"]["psnr"] - table["gray"]["psnr"]}
                                      for name, table in at_gain["sources"].items()}
                    if worst := worst_source(row["sources"], min_source_photos):
                        row["worst_source"], row["worst_source_gain"] = worst
                if hints:
                    row["hinted_psnr"] = at_gain["hints"][str(hints)]["psnr"]
                    row["fidelity"] = at_gain["hints"][str(hints)]["fidelity"]
                rows.append(row)
    return rows


def calibrate_repaired(checkpoint_path: Path, paths: list[Path], setting: dict, gains: tuple[float, ...],
                       working_size: int | None = None, precision: str | None = None) -> list[dict]:
    """The old prints' sweep: one row per repaired gain (calibrate's keys), at the setting chosen for clean photos
    (a row of calibrate's), plus "clean_share" (colourfulness against the clean photos colorized at that setting)
    and "repaired" (how many of the photos made old the repair changed). Prints progress lines to stderr."""
    progress = Progress(len(paths), "print")
    per_gain = {gain: [] for gain in gains}
    clean_colour, originals, grays, sources, repaired = [], [], [], [], 0
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "calibrate.pt"
        export(checkpoint_path, weights, temperature=setting["temperature"],
               prior_correction=setting["prior_correction"], working_size=working_size)
        base = Colorizer.load(weights, precision=precision).at_operating_point(setting["chroma_gain"])
        variants = {gain: base.at_operating_point(setting["chroma_gain"], gain) for gain in gains}  # one memory
        for path in paths:
            original, lab, clean, old = made_old_photo(path)
            clean_colour.append(colorfulness(colour_only(np.asarray(base(Image.fromarray(clean), restore="off")),
                                                         lab)))
            originals.append(colorfulness(original))
            grays.append(peak_signal_noise_ratio(original, np.asarray(gray_version(Image.fromarray(original))),
                                                 data_range=255))
            sources.append(source_of(path))
            for gain, variant in variants.items():
                result = variant(Image.fromarray(old), restore="auto")
                colour = colour_only(np.asarray(result), lab)
                per_gain[gain].append((peak_signal_noise_ratio(original, colour, data_range=255),
                                       colorfulness(colour)))
            repaired += bool(result.info["repair"]["repaired"])
            progress.update()
    rows = []
    for gain, scores in per_gain.items():
        psnr = np.array([p for p, _ in scores])
        by_source = {name: float(np.mean([p - g for p, g, s in zip(psnr, grays, sources) if s == name]))
                     for name in set(sources)}
        worst = min(by_source.items(), key=lambda item: item[1])
        colour = float(np.mean([c for _, c in scores]))
        rows.append({**setting, "repaired_gain": gain, "psnr": float(psnr.mean()), "psnr_gray": float(np.mean(grays)),
                     "colorfulness": colour, "ratio": colour / float(np.mean(originals)),
                     "clean_share": colour / float(np.mean(clean_colour)), "worst_source": worst[0],
                     "worst_source_gain": worst[1], "repaired": repaired})
    return rows


def shortfalls(row: dict, min_gain: float, min_hint_gain: float, source_floor: float = 0.0) -> list[str]:
    """What keeps a setting from being suggested: none for a setting that meets every condition."""
    failed = []
    if row["psnr"] - row["psnr_gray"] < min_gain:
        failed.append(f"PSNR under gray + {min_gain:g} dB")
    if row.get("worst_source_gain", 0) < source_floor:
        failed.append(f"{row['worst_source']} photos below gray" + (f" {source_floor:+g} dB" if source_floor else ""))
    if "hinted_psnr" in row and row["hinted_psnr"] - row["psnr_gray"] < min_hint_gain:
        failed.append(f"with hints under gray + {min_hint_gain:g} dB")
    if row["ratio"] > 1:
        failed.append("more colourful than the originals")
    return failed


def suggest(rows: list[dict], min_gain: float, min_hint_gain: float = 0.0, source_floor: float = 0.0) -> dict | None:
    """The most colourful row that meets every condition of shortfalls(); None if no row does."""
    fine = [row for row in rows if not shortfalls(row, min_gain, min_hint_gain, source_floor)]
    return max(fine, key=lambda row: row["colorfulness"]) if fine else None


def nearest_colour(rows: list[dict], ratio: float) -> dict:
    """The row whose colourfulness ratio (to the originals') is nearest ratio; of two as near, the first (in a
    sweep of rising gains, the less colourful)."""
    return min(rows, key=lambda row: abs(row["ratio"] - ratio))


def reference_scores(weights: Path, paths: list[Path], precision: str | None = None) -> dict:
    """A weights file's automatic colours at its own operating point on paths: training.evaluate's report."""
    return evaluate(Colorizer.load(weights, precision=precision), paths, progress=Progress(len(paths), "photo"))


def least_keeping(rows: list[dict], keep_colour: float, min_gain: float) -> dict | None:
    """The old prints' row of least repaired gain whose colour is at least keep_colour of the clean photos' and
    whose PSNR is at least min_gain above gray; None if no row is."""
    fine = [row for row in rows if row["clean_share"] >= keep_colour and row["psnr"] - row["psnr_gray"] >= min_gain]
    return min(fine, key=lambda row: row["repaired_gain"]) if fine else None


def weights_beside(checkpoint: Path) -> Path:
    """Where to export a run's checkpoint: a new file in its run folder (checkpoint.pt -> colorizer.pt,
    checkpoint_000500.pt -> colorizer_000500.pt), so that the shipped model is never the suggestion."""
    name = checkpoint.name.replace("checkpoint", "colorizer", 1) if "checkpoint" in checkpoint.name \
        else f"{checkpoint.stem}_colorizer.pt"
    return checkpoint.parent / name


def export_flags(row: dict) -> str:
    flags = [f"--chroma-gain {row['chroma_gain']:g}"]
    if "repaired_gain" in row:
        flags.append(f"--repaired-gain {row['repaired_gain']:g}")
    if row["temperature"] is not None:
        flags += [f"--prior-correction {row['prior_correction']:g}", f"--temperature {row['temperature']:g}"]
    return " ".join(flags)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoint.pt")
    parser.add_argument("--images", type=Path, required=True,
                        help="folder of photos to score: the run's training folder, or better, photos the run did "
                             "not train on")
    parser.add_argument("--split", choices=("training", "validation"), default="training",
                        help="which share of --images to score, by the run's --val-fraction (default: training, "
                             "which keeps the validation photos unseen for training.evaluate's report; validation "
                             "scores photos the run never saw, so its choice holds on new photos)")
    parser.add_argument("--working-size", type=int, default=None,
                        help="the working size you will export with (default: the run's --scale-size)")
    parser.add_argument("--photos", type=int, default=800,
                        help="photos of the --split to score, spread over it (default 800: smaller sets "
                             "disagree by tenths of a dB)")
    parser.add_argument("--min-gain", type=float, default=0.6,
                        help="PSNR the suggestion must keep above gray, in dB (default 0.6)")
    parser.add_argument("--source-floor", type=float, default=0.0,
                        help="PSNR every source (file-name prefix) must keep against its gray, in dB (default 0: none "
                             "below gray; -0.5 lets one lose up to half a dB for colour; 0.2 keeps a margin for "
                             "noise: with 30 to 50 photos a source, its mean moves by a few tenths of a dB between "
                             "photo sets)")
    parser.add_argument("--min-source-photos", type=int, default=10,
                        help="--source-floor applies to sources with at least this many of the scored photos "
                             "(default 10); smaller ones are scored and do not decide")
    parser.add_argument("--match-colour", type=Path, default=None, metavar="WEIGHTS",
                        help="suggest the setting whose colourfulness on the same photos is nearest this weights "
                             "file's (at its own operating point), to compare two networks at equal colour, "
                             "instead of the rule above")
    parser.add_argument("--hints", type=int, default=10,
                        help="also score each setting with this many hints (the evaluation's sweep protocol) and "
                             "require --min-hint-gain with them; 0 scores the automatic colorizer alone (default 10)")
    parser.add_argument("--min-hint-gain", type=float, default=3.0,
                        help="PSNR the suggestion must keep above gray with --hints hints, in dB (default 3)")
    numbers = lambda text: tuple(float(t) for t in text.split(","))  # noqa: E731
    parser.add_argument("--gains", type=numbers, default=None,
                        help=f"chroma gains, comma-separated (default: {','.join(map(str, GAINS))} for a regression "
                             f"head, 1 for a bins head)")
    parser.add_argument("--temperatures", type=numbers, default=TEMPERATURES,
                        help="bins head: comma-separated (default: %(default)s)")
    parser.add_argument("--corrections", type=numbers, default=CORRECTIONS,
                        help="bins head: comma-separated (default: %(default)s)")
    parser.add_argument("--old-prints", action="store_true",
                        help="then choose the gain of photos the repair changes (--repaired-gain): the least that "
                             "keeps --keep-colour of the clean photos' colour on the same photos made old")
    parser.add_argument("--keep-colour", type=float, default=0.9,
                        help="with --old-prints: the share of the clean photos' colourfulness the repaired prints "
                             "must keep (default 0.9)")
    parser.add_argument("--repaired-gains", type=numbers, default=REPAIRED_GAINS,
                        help="the gains tried on repaired photos with --old-prints (default: 1 to 2 by 0.1)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network arithmetic (default: what the app serves on this machine)")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        parser.error(f"no checkpoint at {args.checkpoint}")
    if not args.images.is_dir():
        parser.error(f"no such folder of photos: {args.images}")
    if args.match_colour is not None and not args.match_colour.is_file():
        parser.error(f"no weights file at {args.match_colour}")
    if args.min_source_photos < 1:
        parser.error("--min-source-photos must be at least 1")
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    config = TrainConfig.from_dict(checkpoint["config"])
    bins = config.head == "bins"
    knobs = dict(gains=args.gains or ((1.0,) if bins else GAINS))
    if bins:
        knobs.update(corrections=args.corrections, temperatures=args.temperatures)
    split = split_paths(list_images(args.images), config.val_fraction)
    pool = split[0] if args.split == "training" else split[1]
    kind = "training" if args.split == "training" else "held-out"
    if not pool:
        parser.error(f"no {kind} photos in {args.images} (the run holds out {config.val_fraction:g} of a folder)")
    picks = [pool[i] for i in spread(len(pool), args.photos)]
    what = [f"{len(knobs['gains'])} chroma gain(s)"]
    if bins:
        what.append(f"{len(args.corrections) * len(args.temperatures)} prior corrections x temperatures")
    if args.hints:
        what.append(f"without and with {args.hints} hints")
    print(f"scoring {len(picks)} {kind} photos of {args.images}: {', '.join(what)}", flush=True)
    try:
        rows = calibrate(args.checkpoint, picks, args.working_size, precision=args.precision, hints=args.hints,
                         min_source_photos=args.min_source_photos, **knobs)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    floor = f"no source below gray {args.source_floor:+g} dB" if args.source_floor else "no source below gray"
    floor += f" (of those with at least {args.min_source_photos} photos)" if args.min_source_photos > 1 else ""
    print(f"{len(picks)} {kind} photos; gray PSNR {rows[0]['psnr_gray']:.2f} dB. "
          + ("Suggested: the setting nearest the colour of the weights file below" if args.match_colour else
             f"Suggested: the most colourful setting with PSNR at least {args.min_gain:g} dB above gray, {floor}"
             + (f", at least {args.min_hint_gain:g} dB above gray with {args.hints} hints" if args.hints else "")
             + ", and no more colour than the originals"))
    print(f"{'correction':>10}{'T':>6}{'gain':>6}{'PSNR dB':>9}{'vs gray':>9}{'colorful':>10}{'ratio':>7}"
          f"{'worst source':>22}" + (f"{f'{args.hints} hints':>10}{'fidelity':>10}" if args.hints else ""))
    for row in rows:
        temperature = "-" if row["temperature"] is None else f"{row['temperature']:.2f}"
        correction = "-" if not bins else f"{row['prior_correction']:.2f}"
        worst = f"{row['worst_source']} {row['worst_source_gain']:+.2f}" if "worst_source" in row else "-"
        hinted = (f"{row['hinted_psnr'] - row['psnr_gray']:+10.2f}{row['fidelity']:10.2f}" if args.hints else "")
        print(f"{correction:>10}{temperature:>6}{row['chroma_gain']:6.2f}{row['psnr']:9.2f}"
              f"{row['psnr'] - row['psnr_gray']:+9.2f}{row['colorfulness']:10.1f}{row['ratio']:7.0%}{worst:>22}{hinted}")
    size = f" --working-size {args.working_size}" if args.working_size else ""
    if args.match_colour:
        best = report_match(args, picks, rows)
        status = 0
    elif (best := suggest(rows, args.min_gain, args.min_hint_gain, args.source_floor)) is None:
        best = max(rows, key=lambda row: row["psnr"])
        print(f"no setting meets every condition; the most accurate one ({export_flags(best)}: "
              f"{'; '.join(shortfalls(best, args.min_gain, args.min_hint_gain, args.source_floor)) or 'none'}) is "
              f"{best['psnr'] - best['psnr_gray']:+.2f} dB, {best['ratio']:.0%} of the originals' colorfulness:")
        status = 1
    else:
        print(f"suggested: {export_flags(best)} ({best['ratio']:.0%} of the originals' colorfulness, "
              f"{best['psnr'] - best['psnr_gray']:+.2f} dB over gray)" + (" for clean photos" if args.old_prints
                                                                         else ":"))
        status = 0
    if args.old_prints:
        best = suggest_repaired(args, picks, best, args.repaired_gains)
    print(f"  python -m training.export {args.checkpoint} {weights_beside(args.checkpoint)}{size} "
          f"{export_flags(best)}")
    return status


def report_match(args, picks: list[Path], rows: list[dict]) -> dict:
    """--match-colour: the reference weights file scored on the same photos, the row nearest its colour, and the two
    compared there, overall and per source (sources under --min-source-photos marked: they move with one photo)."""
    print(f"scoring {args.match_colour} on the same photos, automatic, at its own operating point", flush=True)
    reference = reference_scores(args.match_colour, picks, args.precision)
    ours = reference["ours"]
    best = nearest_colour(rows, ours["colorfulness_ratio"])
    failed = shortfalls(best, args.min_gain, args.min_hint_gain, args.source_floor)
    print(f"{args.match_colour}: {ours['colorfulness_ratio']:.1%} of the originals' colorfulness, "
          f"{ours['psnr'] - reference['gray']['psnr']:+.2f} dB over gray. Nearest its colour: {export_flags(best)}, "
          f"{best['ratio']:.1%}, {best['psnr'] - best['psnr_gray']:+.2f} dB over gray"
          + (f" (short of the rule: {'; '.join(failed)})" if failed else ""))
    if "sources" in reference and "sources" in best:
        print(f"{'source':>14}{'photos':>8}{'it vs gray':>12}{'this':>8}{'this - it':>11}")
        for name, table in sorted(reference["sources"].items()):
            it = table["ours"]["psnr"] - table["gray"]["psnr"]
            this = best["sources"][name]["vs_gray"]
            few = "  (few photos)" if table["images"] < args.min_source_photos else ""
            print(f"{name:>14}{table['images']:8d}{it:+12.2f}{this:+8.2f}{this - it:+11.2f}{few}")
    print(f"{'all':>14}{len(picks):8d}{ours['psnr'] - reference['gray']['psnr']:+12.2f}"
          f"{best['psnr'] - best['psnr_gray']:+8.2f}{best['psnr'] - ours['psnr']:+11.2f}")
    print("suggested, to compare at equal colour:" if not args.old_prints else
          "suggested, to compare at equal colour, for clean photos")
    return best


def suggest_repaired(args, picks: list[Path], best: dict, gains: tuple[float, ...]) -> dict:
    """--old-prints: the old prints' sweep at the clean photos' setting (best), its table, and best with the
    repaired gain the rule picks (the clean photos' gain itself when none meets it)."""
    print(f"scoring the same {len(picks)} photos made old, restore auto: {len(gains)} gain(s) for those repaired",
          flush=True)
    rows = calibrate_repaired(args.checkpoint, picks, best, gains, args.working_size, args.precision)
    print(f"old prints: {rows[0]['repaired']} of {len(picks)} repaired; colour on the original's lightness "
          f"(gray {rows[0]['psnr_gray']:.2f} dB); clean: their colourfulness against the clean photos colorized")
    print(f"{'repaired gain':>14}{'PSNR dB':>9}{'vs gray':>9}{'colorful':>10}{'ratio':>7}{'clean':>8}"
          f"{'worst source':>22}")
    for row in rows:
        print(f"{row['repaired_gain']:14.2f}{row['psnr']:9.2f}{row['psnr'] - row['psnr_gray']:+9.2f}"
              f"{row['colorfulness']:10.1f}{row['ratio']:7.0%}{row['clean_share']:8.1%}"
              f"{row['worst_source'] + ' ' + format(row['worst_source_gain'], '+.2f'):>22}")
    chosen = least_keeping(rows, args.keep_colour, args.min_gain)
    if chosen is None:
        print(f"no repaired gain keeps {args.keep_colour:.0%} of the clean photos' colour with PSNR {args.min_gain:g} "
              f"dB above gray: repaired photos keep the clean photos' gain")
        return {**best, "repaired_gain": best["chroma_gain"]}
    print(f"suggested for repaired photos: --repaired-gain {chosen['repaired_gain']:g} ({chosen['clean_share']:.0%} "
          f"of the clean photos' colour, {chosen['psnr'] - chosen['psnr_gray']:+.2f} dB over gray):")
    return {**best, "repaired_gain": chosen["repaired_gain"]}


if __name__ == "__main__":
    sys.exit(main())
