"""Colorizer end to end on photos of 0.3, 0.8 (1024x768), 1, 12 and 24 megapixels: median latency and peak memory.

    python -m bench.e2e [--weights PATH] [--repeats 3]

Each size runs in a fresh process, so its peak RSS (torch and the model included) is its own; the photo is
written to a temporary file first, so the measuring process only decodes it, as the server would.
"""
import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.load import rss_mb
from model.weights import DEFAULT_WEIGHTS

SIZES = [(632, 474), (1024, 768), (1154, 865), (4000, 3000), (5656, 4242)]


def measure_one(photo: str, weights: str, repeats: int) -> dict:
    from PIL import Image
    from model.colorizer import Colorizer
    colorizer = Colorizer.load(weights)
    colorizer(Image.new("L", (320, 240)))  # warm-up: TorchScript optimizes on its first calls
    image = Image.open(photo)
    image.load()
    times = []
    for _ in range(repeats):
        colorizer.forget()  # each repeat computes the photo whole: the Colorizer remembers its latest photos
        started = time.perf_counter()
        colorizer(image)
        times.append(time.perf_counter() - started)
    return {"ms": statistics.median(times) * 1000, "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries that across exec, so a child would report
    its parent's peak (here, the parent that generated a 24 MP test photo)."""
    peak = rss_mb("self", "VmHWM")
    if math.isnan(peak):  # no /proc: not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure this photo in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.one, args.weights, args.repeats)))
        return

    from bench.load import sample_photo
    print("| photo | megapixels | median ms | peak RSS MB |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for width, height in SIZES:
            photo = Path(folder) / f"{width}x{height}.jpg"
            photo.write_bytes(sample_photo(width, height))
            out = subprocess.run([sys.executable, "-m", "bench.e2e", "--one", str(photo), "--weights", args.weights,
                                  "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {width}x{height} | {width * height / 1e6:.1f} | {result['ms']:.0f} | {result['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
