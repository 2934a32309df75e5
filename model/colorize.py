"""Colorize photos from the command line.

    python -m model.colorize old.jpg scans/ --output colorized/ [--weights PATH] [--size N] [--format png]

Each input file (folders are searched recursively) is written to OUTPUT/<stem>.<format>. A file that cannot
be read is reported and skipped; the exit code is 1 when any failed. Inputs are never overwritten.
"""
import argparse
import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from model.colorizer import MAX_SIZE, MIN_SIZE, Colorizer
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, WeightsError

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
FORMATS = {"jpg": "JPEG", "png": "PNG"}


def collect_inputs(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """Files as given, and the images inside folders; plus a message for each input that does not exist."""
    files, missing = [], []
    for path in inputs:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(f"{path}: no such file or folder")
    return files, missing


def output_paths(files: list[Path], output: Path, extension: str) -> list[Path]:
    """OUTPUT/<stem>.<ext>, with -2, -3... when two inputs share a stem."""
    taken, paths = set(), []
    for file in files:
        candidate, n = output / f"{file.stem}.{extension}", 1
        while candidate in taken:
            n += 1
            candidate = output / f"{file.stem}-{n}.{extension}"
        taken.add(candidate)
        paths.append(candidate)
    return paths


def positive_int(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value
    return parse


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.colorize", description="Colorize grayscale photos.")
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders of images")
    parser.add_argument("--output", "-o", type=Path, required=True, help="folder for the colorized images")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="weights file (default: shipped)")
    parser.add_argument("--size", type=positive_int(MIN_SIZE, MAX_SIZE), default=None,
                        help="working resolution: the short side the network sees (default: the model's own)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="jpg", help="output format (default: jpg)")
    parser.add_argument("--quality", type=positive_int(1, 100), default=92, help="JPEG quality (default: 92)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network arithmetic (default: bfloat16 where the CPU has it natively, else float32)")
    args = parser.parse_args(argv)

    files, errors = collect_inputs(args.inputs)
    if not files and not errors:
        parser.error("no images found in the given folders")
    try:
        colorizer = Colorizer.load(args.weights, precision=args.precision)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    inputs = {file.resolve() for file in files}
    done = 0
    for file, target in tqdm(list(zip(files, output_paths(files, args.output, args.format))), unit="image",
                             disable=len(files) < 5 or None):
        if target.resolve() in inputs:
            errors.append(f"{file}: skipped, its output {target} would overwrite an input")
            continue
        try:
            with Image.open(file) as image:
                result = colorizer(image, size=args.size)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            errors.append(f"{file}: cannot read it as an image ({error})")
            continue
        options = {"quality": args.quality} if args.format == "jpg" else {}
        result.save(target, FORMATS[args.format], **options)
        done += 1
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    print(f"colorized {done} of {len(files)} images into {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
