"""Colorize photos and films from the command line (installed as `colorize`).

    colorize old.jpg scans/ --output colorized/ [--weights PATH] [--size N] [--format png] [--vividness 1.4]
    colorize photo.jpg --hints points.json --output colorized/
    colorize scans/ film.mp4 --reference street_in_colour.jpg --output colorized/   # one for every photo and film
    colorize film.mkv scans/ --output colorized/ [--stabilize off] [--no-videos]

A folder's photos and films are both colorized (films as MP4, model.video), unless --no-videos leaves the films
out. Outputs keep the inputs' folder structure below the folder they share: `scans/a/photo.jpg` and
`scans/b/photo.jpg` become `colorized/a/photo.jpg` and `colorized/b/photo.jpg`. Outputs that already exist are
left alone and reported, unless --overwrite; inputs are never overwritten. A file that cannot be read is
reported and skipped; the exit code is 1 when any was. A --reference (a colour photo) is read and prepared once
and gives its colours to the regions of every photo, and of every film's keyframes, that match it (model.reference).
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from model.colorizer import Colorizer
from model.files import atomic_write
from model.formats import DEFAULT_QUALITY, OUTPUT_ALIASES, OUTPUT_FORMATS, encode, is_image_name
from model.request import MAX_SIZE, MAX_VIVIDNESS, MIN_SIZE, RequestError, check_restore, check_size, check_vividness
from model.threads import share_cores
from model.video import colorize_video_command, is_video_name
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, WeightsError


def collect_inputs(inputs: list[Path], videos: bool = True) -> tuple[list[Path], list[str]]:
    """Files as given, and the images (and with videos, the films) inside folders; plus a message for each input
    that does not exist."""
    files, missing = [], []
    for path in inputs:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and
                            (is_image_name(p.name) or videos and is_video_name(p.name)))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(f"{path}: no such file or folder")
    return files, missing


def output_paths(inputs: list[Path], files: list[Path], output: Path, extension: str) -> list[Path]:
    """OUTPUT/<each file's path below the folder all inputs share>.<ext>: a folder's structure is kept."""
    folders = [path.resolve() if path.is_dir() else path.resolve().parent for path in inputs if path.exists()]
    base = Path(os.path.commonpath(folders)) if folders else Path.cwd()
    return [output / file.resolve().relative_to(base).with_suffix(".mp4" if is_video_name(file) else f".{extension}")
            for file in files]


def bounded(kind, low, high, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} from {low} to {high}, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{what} from {low} to {high}, got {text!r}")
        return value
    return parse


def checked(check):
    """An argparse type from a model.request checker: the text as the Colorizer will take it, or a usage error
    with the checker's message."""
    def parse(text: str):
        try:
            check(text, text=True)
        except RequestError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    return parse


def read_hints(path: Path) -> list:
    """A JSON file with an array of {"x", "y", "color"} points (the HTTP API's hints field). Raises ValueError."""
    try:
        hints = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(hints, list):
        raise ValueError(f'{path} must hold a JSON array of points, such as [{{"x": 120, "y": 80, "color": "#c02020"}}]')
    return hints


def read_reference(parser: argparse.ArgumentParser, colorizer: Colorizer, path: Path):
    """--reference: the colour photo opened, checked and prepared for matching once, for every photo; a usage
    error naming the option for one that cannot give colours (unreadable, gray, too large, or no encoder)."""
    try:
        with Image.open(path) as opened:
            return colorizer.prepare_reference(opened)
    except (OSError, Image.DecompressionBombError) as error:  # UnidentifiedImageError is an OSError
        parser.error(f"--reference: cannot read {path} as an image ({error})")
    except RequestError as error:
        parser.error(f"--reference {path}: {error}")


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorize", description="Colorize grayscale photos and films: each input "
                                     "file, and the photos and films in each input folder, is written in color under "
                                     "--output (films as MP4).")
    parser.add_argument("inputs", nargs="+", type=Path, help="photos, films, or folders of them")
    parser.add_argument("--output", "-o", type=Path, required=True,
                        help="folder for the colorized files; the inputs' folder structure is kept below it")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="weights file (default: the shipped one)")
    parser.add_argument("--size", type=checked(check_size), default=None,
                        help=f"working size: the short side, in pixels, of the copy the network sees, {MIN_SIZE} to "
                             f"{MAX_SIZE} (default: the model's own, 192 for the shipped one). The result always "
                             f"has the photo's own size; far above the model's own the colours streak")
    parser.add_argument("--hints", type=Path, default=None,
                        help='a JSON file of colour points for a single input: [{"x": 120, "y": 80, "color": '
                             '"#c02020"}, ...], x and y in pixels of the photo as displayed')
    parser.add_argument("--reference", type=Path, default=None,
                        help="a colour photo whose colours go to the regions of every input photo that match it (the "
                             "same place, people or things); --hints win over it; a photo of another scene usually "
                             "matches nothing and keeps its automatic colours. Needs weights with an ImageNet encoder "
                             "(the shipped ones). A film's keyframes are matched to it, and the motion carries its "
                             "colours between them")
    parser.add_argument("--vividness", type=checked(check_vividness), default=None,
                        help=f"0 (gray) to {MAX_VIVIDNESS:g} (twice as colourful); 1 is the model's own (default)")
    parser.add_argument("--restore", type=checked(check_restore), default="auto",
                        help="repair dust, scratches, grain and fading first: auto (default) only in photos taken for "
                             "old prints; on fills damage in every photo (grain and fading still only in old "
                             "prints); off never; the result has the repaired lightness")
    parser.add_argument("--format", type=str.lower, choices=[*OUTPUT_FORMATS, *OUTPUT_ALIASES], default="jpeg",
                        help="output format (default: jpeg)")
    parser.add_argument("--quality", type=bounded(int, 1, 100, "a whole number"), default=DEFAULT_QUALITY,
                        help=f"JPEG quality, 1 to 100 (default: {DEFAULT_QUALITY}, as the server)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist "
                        "(default: leave them and say so)")
    parser.add_argument("--stabilize", choices=("on", "off"), default="on",
                        help="videos (MP4, MOV, MKV, WebM, AVI; written as MP4): on (default) carries colour along "
                             "the motion between frames; off colorizes each frame alone, which flickers")
    parser.add_argument("--no-videos", dest="videos", action="store_false",
                        help="leave the films inside input folders out (a film named as an input is still colorized)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network arithmetic (default: bfloat16 where the CPU has it natively, else float32)")
    args = parser.parse_args(argv)
    output_format = OUTPUT_ALIASES.get(args.format, args.format)
    extension = OUTPUT_FORMATS[output_format][2]

    files, errors = collect_inputs(args.inputs, videos=args.videos)
    if not files and not errors:
        parser.error("no photos or films found in the given folders" if args.videos else
                     "no photos found in the given folders")
    hints = None
    if args.hints:
        if len(files) != 1:
            parser.error(f"--hints takes a single input photo or film; got {len(files)} files")
        try:
            hints = read_hints(args.hints)
        except ValueError as error:
            parser.error(str(error))
    share_cores()  # torch, OpenCV and the video codec share this process's cores (model.threads)
    try:
        colorizer = Colorizer.load(args.weights, precision=args.precision)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    reference = read_reference(parser, colorizer, args.reference) if args.reference else None
    shares = []  # the part of each photo (each film's keyframes) that matched the reference
    inputs = {file.resolve() for file in files}
    done, kept, claimed = 0, [], {}
    repaired = 0  # photos the repair changed (restore)
    for file, target in tqdm(list(zip(files, output_paths(args.inputs, files, args.output, extension))),
                             unit="file", disable=None):
        if target.resolve() in inputs:
            errors.append(f"{file}: skipped, its output {target} would overwrite an input")
            continue
        if target in claimed:
            errors.append(f"{file}: skipped, its output {target} is that of {claimed[target]}; colorize it alone")
            continue
        claimed[target] = file
        if target.exists() and not args.overwrite:
            kept.append(target)
            continue
        if is_video_name(file):
            error, share = colorize_video_command(colorizer, file, target, hints=hints, vividness=args.vividness,
                                                  size=args.size, stabilize=args.stabilize == "on", reference=reference)
            errors += [error] if error else []
            shares += [share] if share is not None else []
            done += not error
            continue
        try:
            with Image.open(file) as image:
                wanted = colorizer.check(image, size=args.size, vividness=args.vividness, hints=hints,
                                         restore=args.restore, reference=reference, text=True)
                result = colorizer.colorize(image, wanted)
                shares += [result.info.pop("reference_share")] if reference is not None else []
                repaired += bool(result.info.pop("repair", {}).get("repaired"))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            errors.append(f"{file}: cannot read it as an image ({error})")
            continue
        except ValueError as error:  # RequestError: hints that do not fit this photo, or a model that takes none
            errors.append(f"{file}: {error}")
            continue
        data = encode(result, output_format, args.quality)
        atomic_write(target, lambda tmp: tmp.write_bytes(data))
        done += 1
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    films = sum(map(is_video_name, files))
    kinds = ", ".join(f"{count} {name}{'s' if count != 1 else ''}"
                      for count, name in ((len(files) - films, "photo"), (films, "film")) if count)
    print(f"colorized {done} of {len(files)} file{'s' if len(files) != 1 else ''} ({kinds or 'none'}) into "
          f"{args.output}")
    if repaired:
        print(f"{repaired} photo{'s' if repaired != 1 else ''} repaired first (dust, scratches, grain or fading; "
              f"--restore {args.restore})")
    if shares:
        unmatched = sum(share == 0 for share in shares)
        print(f"the reference's colours went to {sum(shares) / len(shares):.0%} of each photo (a film: of its keyframes) "
              f"on average" + (f"; {unmatched} input(s) matched nothing in it and kept their automatic colours"
                               if unmatched else ""))
    if kept:
        print(f"left {len(kept)} existing output(s) as they were (such as {kept[0]}); --overwrite replaces them")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
