"""How far one colour point's colour leaks out of its object, on photos the model never trained on: a table.

    python -m bench.leak [--images ../shared/data/train] [--photos 200] [--video ../shared/data/video]
                         [--frames 2] [--sweep 10] [--weights PATH] [--json out.json]

Two sets: photos of the validation split of --images (the share training held out, read from the weights file;
never a training photo), spread over it, and frames of the video clips in --video (each clip's frames spread
over it; skipped when the folder is missing). Each photo gets one point in an object region, in a colour unlike
the automatic one (training.leak says how both are chosen and what each column means). --sweep N adds the
evaluation's N-point score on the same photos (PSNR over gray, dB; training.evaluate), to see that keeping
points in their regions costs nothing where the points tell the truth.
"""
import argparse
import json
import sys
from pathlib import Path

from model.colorizer import Colorizer
from model.weights import DEFAULT_WEIGHTS
from training import leak
from training.data import held_out_by, list_images, spread
from training.evaluate import evaluate

ROOT = Path(__file__).resolve().parent.parent


def video_frames(folder: Path, per_clip: int) -> list[Path]:
    """per_clip frames of each clip folder (JPEG frames), spread over it; [] when the folder is missing."""
    if not folder.is_dir():
        return []
    frames = []
    for clip in sorted(p for p in folder.iterdir() if p.is_dir()):
        paths = list_images(clip)
        frames += [paths[i] for i in spread(len(paths), per_clip)]
    return frames


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "train",
                        help="the training folder; only its validation split is used")
    parser.add_argument("--photos", type=int, default=200, help="validation photos, spread over the split (0: all)")
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "data" / "video",
                        help="folder of clip folders of frames (skipped if missing)")
    parser.add_argument("--frames", type=int, default=2, help="frames per clip, spread over it")
    parser.add_argument("--sweep", type=int, default=10, help="also score N points (training.evaluate); 0: no")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--json", type=Path, help="also write the per-photo scores and the summary here")
    args = parser.parse_args(argv)

    colorizer = Colorizer.load(args.weights)
    sets = {}
    if args.images.is_dir():
        try:
            held_out = held_out_by(colorizer.info, list_images(args.images))[1]
        except ValueError:
            parser.error(f"{args.weights} does not say which share of its training folder it held out")
        sets["held-out photos"] = [held_out[i] for i in spread(len(held_out), args.photos or len(held_out))]
    sets["video frames"] = video_frames(args.video, args.frames)
    tables, details = {}, {}
    for name, paths in sets.items():
        scores, _ = leak.measure_photos(colorizer, paths)
        tables[name] = leak.summarize(scores)
        details[name] = scores
        if args.sweep and paths:
            report = evaluate(colorizer, paths, hint_counts=(args.sweep,))
            tables[name]["sweep"] = report["hints"][str(args.sweep)]["psnr"] - report["gray"]["psnr"]
    print(f"{args.weights.name} ({colorizer.sha256[:8]}), {colorizer.precision}; one point per photo"
          + (f"; sweep: {args.sweep} points" if args.sweep else ""))
    print(leak.format_table(tables))
    if args.json:
        args.json.write_text(json.dumps({"weights": args.weights.name, "sha256": colorizer.sha256,
                                         "summary": tables, "photos": details}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
