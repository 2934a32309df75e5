"""The page's round trip when a colour point changes: one client posting a 1024x768 preview with hints to gunicorn.

    python -m bench.hints [--requests 60] [--points 0,1,5,20] [--size 1024x768] [--photo PATH] [--new-photos]

Starts `gunicorn wsgi:app` (the shipped config: on 2 cores, 2 workers of 1 thread) on a free port of 127.0.0.1
and, for each number of points, posts the same photo with that many random points and vividness 1.2, one request
at a time, as a person editing on the page does; prints the latency percentiles of the whole HTTP round trip
(upload, decode, colorize, JPEG encode, download). The Colorizer keeps the network's automatic colours of the
latest photos it saw (model.colorizer.REMEMBERED), as a page's edits of one photo find them; so 0 points is
measured twice: with a new photo every time (a photo's first colorization) and with the same one (the vividness
slider moved). --new-photos sends a new photo with every request of the points rows too: the page's full-size
download, the first time the server sees the full photo.
"""
import argparse
import http.client
import io
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

from PIL import Image

from bench.load import free_port, multipart, photo_variant, sample_photo, start_server


def round_trip(port: int, body: bytes, content_type: str) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/colorize", body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status != 200 or payload[:2] != b"\xff\xd8":
        raise SystemExit(f"the server answered {response.status}: {payload[:200]!r}")
    return time.perf_counter() - started


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hints", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="round trips per number of points")
    parser.add_argument("--points", default="0,1,5,20", help="numbers of points, comma-separated")
    parser.add_argument("--size", default="1024x768", help="the preview's size, WIDTHxHEIGHT (default 1024x768)")
    parser.add_argument("--photo", help="a photo of your own (resized to --size) instead of a synthetic one")
    parser.add_argument("--weights", help="weights file (default: the shipped one)")
    parser.add_argument("--new-photos", action="store_true",
                        help="a photo the server has not seen in every request, points rows included")
    args = parser.parse_args(argv)

    width, height = (int(v) for v in args.size.split("x"))
    if args.photo:
        buffer = io.BytesIO()
        with Image.open(args.photo) as image:
            image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=92)
        photo = buffer.getvalue()
    else:
        photo = sample_photo(width, height)
    env = dict(os.environ)
    if args.weights:
        env["COLORIZER_WEIGHTS"] = str(Path(args.weights).resolve())
    rng = random.Random(0)
    port = free_port()
    server = start_server(port, env)
    rows = []
    try:
        fresh = [multipart(photo, {"vividness": "1.2"})] * 2 + [
            multipart(photo_variant(photo, i), {"vividness": "1.2"}) for i in range(args.requests)]
        times = [round_trip(port, *body) for body in fresh]  # the first two: warm-up, each worker's first call
        rows.append(("0, a new photo each time", sorted(times[2:])))
        for count in (int(c) for c in args.points.split(",")):
            hints = [{"x": rng.randrange(width), "y": rng.randrange(height),
                      "color": "#%06x" % rng.randrange(1 << 24)} for _ in range(count)]
            fields = {"hints": json.dumps(hints), "vividness": "1.2"}
            same = multipart(photo, fields)
            bodies = ([multipart(photo_variant(photo, 100 + i), fields) for i in range(args.requests)]
                      if args.new_photos else [same] * args.requests)
            round_trip(port, *same)  # warm-up: each worker's first calls are slower
            round_trip(port, *same)
            times = sorted(round_trip(port, *body) for body in bodies)
            label = "a new photo each time" if args.new_photos else "the same photo"
            rows.append((f"{count}, {label}" if count == 0 or args.new_photos else count, times))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    def percentile(times: list[float], p: float) -> float:
        return times[min(len(times) - 1, int(p / 100 * len(times)))] * 1000

    print(f"one client, {args.requests} round trips each, {width}x{height} JPEG preview "
          f"({len(photo) / 1024:.0f} KiB), gunicorn with the shipped config on {os.cpu_count()} cores")
    print("| points | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|")
    for count, times in rows:
        print(f"| {count} | {percentile(times, 50):.0f} | {percentile(times, 90):.0f} | {percentile(times, 99):.0f} | "
              f"{times[-1] * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
