"""A sheet to look at, not a metric: gray | model A | model B | ... | original, for photos spread over a folder.

    python -m bench.sheet --images PHOTOS --weights weights/colorizer.pt runs/new/colorizer.pt \\
                          [--titles before after] [--photos 24] [--out sheet.jpg]

Each model colorizes each photo's gray version automatically (no points, restore off) at its own working size
and chroma gain, as the app would; the sheet is two photos a row.
"""
import argparse
from pathlib import Path

from PIL import Image

from model.colorizer import Colorizer
from training.data import list_images, open_rgb, spread
from training.sheets import contact_sheet


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sheet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of colour photos")
    parser.add_argument("--weights", type=Path, nargs="+", required=True, help="weights files, one column each")
    parser.add_argument("--titles", nargs="+", default=None, help="a title for each weights file's column")
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("sheet.jpg"))
    args = parser.parse_args(argv)
    titles = args.titles or [path.stem for path in args.weights]
    if len(titles) != len(args.weights):
        raise SystemExit(f"--titles: give one per weights file ({len(args.weights)}), got {len(titles)}")
    paths = list_images(args.images)
    paths = [paths[i] for i in spread(len(paths), args.photos)]
    colorizers = [Colorizer.load(path) for path in args.weights]
    rows, row = [], []
    for path in paths:
        original = open_rgb(path)
        gray = original.convert("L")
        row += [gray, *[colorizer(gray, restore="off") for colorizer in colorizers], original]
        if len(row) == 2 * (len(colorizers) + 2):
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    columns = ("gray", *titles, "original")
    sheet = contact_sheet(rows, height=160, titles=columns + columns)
    sheet.save(args.out, quality=88)
    print(f"wrote {args.out}: {len(paths)} photos from {args.images.name}, columns {' | '.join(columns)}")


if __name__ == "__main__":
    main()
