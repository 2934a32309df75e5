"""Video colorization: steadiness, accuracy and speed of the stabilized mode against colorizing each frame alone.

    python -m bench.video [--clips ../shared/data/video] [--only bear,dolphins] [--fps-clips 3] [--weights PATH]

Each clip (a folder of consecutive JPEG frames) is made into a gray MP4 in a temporary folder (the originals'
own lightness, H.264 at constant quality 10), colorized by model.video in both modes, and the result decoded and
compared with the original colour frames:

- PSNR (dB): of each decoded frame's RGB against the original's, averaged over frames.
- CDC: colour distribution consistency (Lei and Chen 2019; Liu et al. 2021): the Jensen-Shannon divergence
  (log base 2) between consecutive frames' histograms of R, G and B (32 bins each), averaged over channels and
  frame pairs. Lower is steadier. The originals' own CDC is the reference: real footage changes too. The results
  are H.264 (model.video.ENCODER_OPTIONS), whose noise changes from frame to frame and alone raises CDC (at CRF
  18, on `bear` from 0.55e-4 to 0.95e-4), so the originals are also measured after the same encoding ("coded"):
  the like-for-like reference.
- warp error: the mean change of each pixel's ab (CIE Lab, in ab units) from the previous frame moved along the
  motion, counted only where the forward and backward flows agree. The flow is Farneback's, on the gray frames at
  the clip's size: not DIS at the working size, which the stabilizer itself uses.
- fps: frames per second of the whole film (decode, colorize, encode) on a copy of the first --fps-clips clips
  resized to 854x480 and played forward and back to --fps-frames frames (240: x264 holds some 40 frames before
  it encodes, and decodes and encodes beside the colour, so a clip of 30 frames times mostly its start and end),
  each way a person runs it, side by side: colorize_video called in this process (torch on 2
  threads, both modes); the command line (`colorize film.mp4 again.mp4 --output ...` in a fresh process with
  its own thread settings: the second of two films, timed as the time of both less that of the first alone, so
  that starting Python, loading the weights and a fresh process's first runs of each shape are not counted: a
  first film took 0 to 0.7 s more than the next on 2 cores in two measurements, up to 5% of a 240-frame film,
  nothing of a film of minutes); and a video worker
  (`python -m app.worker`, its threads as it sets them, a job posted through the web app's POST /videos: the run's
  time in its record, after one job to warm it). Stabilized, but for the first column. With --repeats, each is
  timed that many times in turns and the median shown. Say in any table whether the machine was quiet.

Clips are read by path, never copied; without the folder the bench says so and stops (exit 0).
"""
import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from model.color import gray8_of_rgb8, rgb_to_lab_np
from model.colorizer import Colorizer
from av.video.reformatter import ColorRange, Colorspace

from model.film import CRF, ENCODER_OPTIONS
from model.video import colorize_video
from model.threads import share_cores
from model.weights import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ROOT.parent / "shared" / "data" / "video"
FPS_SIZE = (854, 480)


# --- the measures ----------------------------------------------------------------------------------------------

def psnr(frames: list[np.ndarray], originals: list[np.ndarray]) -> float:
    """Mean over frames of the PSNR (dB) of (H, W, 3) uint8 RGB against the original."""
    values = []
    for frame, original in zip(frames, originals, strict=True):
        mse = np.mean((frame.astype(np.float64) - original.astype(np.float64)) ** 2)
        values.append(10 * np.log10(255**2 / max(mse, 1e-10)))
    return float(np.mean(values))


def _histograms(frame: np.ndarray, bins: int = 32) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, bins) each channel's normalized histogram."""
    counts = np.stack([np.bincount(frame[..., c].ravel().astype(np.int32) * bins // 256, minlength=bins) for c in range(3)])
    return counts / counts.sum(axis=1, keepdims=True)


def _js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence, log base 2 (0 to 1), of distributions along the last axis."""
    m = (p + q) / 2

    def kl(x, y):
        safe = x > 0
        return np.where(safe, x * np.log2(np.where(safe, x, 1) / np.where(safe, y, 1)), 0).sum(-1)
    return (kl(p, m) + kl(q, m)) / 2


def cdc(frames: list[np.ndarray], bins: int = 32) -> float:
    """Colour distribution consistency: mean JS divergence of consecutive frames' RGB histograms."""
    histograms = [_histograms(frame, bins) for frame in frames]
    return float(np.mean([_js_divergence(a, b).mean() for a, b in zip(histograms, histograms[1:])]))


class Motion:
    """Farneback flow between consecutive gray frames, both ways, and where it can be trusted."""

    def __init__(self, grays: list[np.ndarray]):
        height, width = grays[0].shape
        self.grid = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        self.steps = []  # per pair (t-1, t): the maps into frame t-1 for each pixel of t, and the trusted mask
        for previous, current in zip(grays, grays[1:]):
            backward = self._flow(current, previous)
            forward = self._flow(previous, current)
            x, y = self.grid[0] + backward[..., 0], self.grid[1] + backward[..., 1]
            forward_there = cv2.remap(forward, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            mismatch = ((backward + forward_there) ** 2).sum(-1)
            agree = mismatch < 0.01 * ((backward**2).sum(-1) + (forward_there**2).sum(-1)) + 0.5
            inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
            self.steps.append((x, y, agree & inside))

    @staticmethod
    def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)

    def warp_error(self, frames: list[np.ndarray]) -> float:
        """Mean over frame pairs of the mean ab distance between a frame and the previous one moved along the
        flow, where the flow is trusted."""
        ab = [rgb_to_lab_np(frame)[..., 1:] for frame in frames]
        errors = []
        for (x, y, trusted), previous, current in zip(self.steps, ab, ab[1:]):
            moved = cv2.remap(previous, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            distance = np.sqrt(((current - moved) ** 2).sum(-1))
            errors.append(float(distance[trusted].mean()) if trusted.any() else 0.0)
        return float(np.mean(errors))


# --- clips in and out ----------------------------------------------------------------------------------------------

def read_clip(folder: Path, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    frames = []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            image = image.convert("RGB")
            frames.append(np.asarray(image.resize(size, Image.Resampling.LANCZOS) if size else image))
    return frames


def gray_of(frame: np.ndarray) -> np.ndarray:
    return gray8_of_rgb8(frame[..., 0], frame[..., 1], frame[..., 2])


def write_gray_video(grays: list[np.ndarray], path: Path, fps: int = 30) -> None:
    """Gray frames -> an MP4 (H.264 yuv420p, constant quality 10: close to lossless, as a film scan would be)."""
    height, width = grays[0].shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
        for index, gray in enumerate(grays):
            gray = np.pad(gray, ((0, height % 2), (0, width % 2)), mode="edge")
            frame = av.VideoFrame.from_ndarray(gray, format="gray")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_colour_video(frames: list[np.ndarray], path: Path, fps: int = 30) -> None:
    """Colour frames -> an MP4 encoded as model.video encodes its results (H.264 yuv420p BT.709, the same quality):
    the reference for what the encoding itself does to the measures."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options=dict(ENCODER_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
        stream.codec_context.colorspace = stream.codec_context.color_range = 1  # BT.709, limited range
        for index, rgb in enumerate(frames):
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def read_video(path: Path, width: int, height: int) -> list[np.ndarray]:
    """An MP4 -> its frames as (height, width, 3) uint8 RGB (a padding column or row cut off)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)[:height, :width]
                for frame in container.decode(video=0)]


# --- the table -----------------------------------------------------------------------------------------------------

class Counting:
    """A colorizer that counts the network's runs (a film calls Colorizer.predict once per keyframe)."""

    def __init__(self, colorizer: Colorizer):
        self.inner, self.runs = colorizer, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict(self, *args, **kwargs):
        self.runs += 1
        return self.inner.predict(*args, **kwargs)


def measure_clip(colorizer: Colorizer, folder: Path, scratch: Path) -> dict:
    originals = read_clip(folder)
    height, width = originals[0].shape[:2]
    grays = [gray_of(frame) for frame in originals]
    source = scratch / f"{folder.name}.mp4"
    write_gray_video(grays, source)
    motion = Motion(grays)
    write_colour_video(originals, scratch / f"{folder.name}.coded.mp4")
    coded = read_video(scratch / f"{folder.name}.coded.mp4", width, height)
    row = {"clip": folder.name, "frames": len(originals), "size": f"{width}x{height}",
           "cdc original": cdc(originals), "warp original": motion.warp_error(originals),
           "cdc coded": cdc(coded), "warp coded": motion.warp_error(coded), "psnr coded": psnr(coded, originals)}
    for mode, stabilize in (("frame", False), ("stable", True)):
        output = scratch / f"{folder.name}.{mode}.mp4"
        counting = Counting(colorizer)
        colorize_video(counting, source, output, stabilize=stabilize)
        row[f"runs {mode}"] = counting.runs
        frames = read_video(output, width, height)
        assert len(frames) == len(originals), f"{folder.name}: {len(frames)} frames out of {len(originals)}"
        row[f"psnr {mode}"] = psnr(frames, originals)
        row[f"cdc {mode}"] = cdc(frames)
        row[f"warp {mode}"] = motion.warp_error(frames)
    return row


def time_clip(colorizer: Colorizer, folder: Path, scratch: Path, weights: Path, precision: str | None,
              size: tuple[int, int] = FPS_SIZE, frames: int = 240, repeats: int = 1) -> dict:
    """Frames per second of a clip at size, looped to `frames`: frame by frame and stabilized in this process,
    through the command line and through a worker. With repeats, each is measured that many times, the four
    taking turns (a shared machine's speed drifts by 10-20% over minutes), and the median is kept."""
    grays = [gray_of(frame) for frame in read_clip(folder, size)]
    loop = grays + grays[-2:0:-1]  # forward and back (the turning frames once each): the motion goes on, no cut
    grays = [loop[index % len(loop)] for index in range(max(frames, 1))]
    source = scratch / f"{folder.name}.480p.mp4"
    write_gray_video(grays, source)
    for stabilize in (False, True):
        colorize_video(colorizer, source, scratch / "warm.mp4", stabilize=stabilize)  # first calls are slower
    measured = {"fps frame": [], "fps stable": [], "fps cli": [], "fps worker": []}
    for _ in range(max(1, repeats)):
        for mode, stabilize in (("frame", False), ("stable", True)):
            started = time.perf_counter()
            colorize_video(colorizer, source, scratch / f"{folder.name}.480p.{mode}.mp4", stabilize=stabilize)
            measured[f"fps {mode}"].append(len(grays) / (time.perf_counter() - started))
        measured["fps cli"].append(fps_cli(source, len(grays), scratch, weights, precision))
        measured["fps worker"].append(fps_worker(source, len(grays), scratch, weights, precision))
    return {"clip": folder.name, **{key: float(np.median(values)) for key, values in measured.items()}}


def person_env(weights: Path, precision: str | None, **settings) -> dict:
    """The environment a person would run the command line or a worker in: no thread settings of ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(COLORIZER_WEIGHTS=str(weights), COLORIZER_PRECISION=precision or "auto")
    env.update({f"COLORIZER_{name}": str(value) for name, value in settings.items()})
    return env


def fps_cli(source: Path, frames: int, scratch: Path, weights: Path, precision: str | None) -> float:
    """Frames per second of `colorize film.mp4 again.mp4` (stabilized, one fresh process): the second of two
    copies of the film, as the worker's second job, timed as both films' time less that of the first alone (the
    same fresh process's start, imports, weights and first runs of each shape are in both)."""
    again = source.with_name(f"{source.stem}.again{source.suffix}")
    shutil.copyfile(source, again)

    def seconds(*films: Path) -> float:
        command = [sys.executable, "-m", "model.colorize", *map(str, films), "--output", str(scratch / "cli"),
                   "--overwrite", "--weights", str(weights)] + (["--precision", precision] if precision else [])
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=person_env(weights, precision), check=True, capture_output=True)
        return time.perf_counter() - started
    seconds(source)  # the files in the page cache, as for the runs timed
    return frames / max(1e-6, seconds(source, again) - seconds(source))


def fps_worker(source: Path, frames: int, scratch: Path, weights: Path, precision: str | None) -> float:
    """Frames per second of a video job (stabilized) run by `python -m app.worker`, posted through the web app:
    the run's own time as the job's record says it (`seconds`: the worker taking it to its end), the second of two
    jobs. The record is read twice a second: polling faster would take the worker's CPU."""
    from app import create_app
    folder = scratch / "jobs"
    folder.mkdir(exist_ok=True)
    env = person_env(weights, precision, JOB_FOLDER=folder)
    with open(scratch / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "app.worker"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        web = create_app({"WEIGHTS": str(weights), "JOB_FOLDER": str(folder), "JOB_THREADS": 0,
                          "PRECISION": precision or "auto"})
        client = web.test_client()

        def job_seconds() -> float:
            with open(source, "rb") as film:
                answer = client.post("/videos", data={"video": (film, source.name)})
            assert answer.status_code == 202, answer.json
            url, deadline = answer.json["url"], time.time() + 3600
            while time.time() < deadline:
                assert worker.poll() is None, (scratch / "worker.log").read_text()
                status = client.get(url).json
                if status["state"] in ("done", "failed", "cancelled"):
                    assert status["state"] == "done", status
                    return status["seconds"]
                time.sleep(0.5)
            raise SystemExit("the video worker did not finish a job within an hour")
        job_seconds()  # a worker's first film loads what the next ones find ready
        seconds = job_seconds()
        web.extensions["jobs"].close(hand_back=False)
        return frames / seconds
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(60)
        if worker.poll() is None:
            worker.kill()


def cpu_line() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        text = ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name")), "?")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    return f"CPU: {model}, {os.cpu_count()} cores, bfloat16 in hardware: {'yes' if bf16 else 'no'}"


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=CLIPS, help="folder of clip folders (default: the project's)")
    parser.add_argument("--only", default="", help="comma-separated clip names (default: every clip)")
    parser.add_argument("--fps-clips", type=int, default=3, help="clips to time at 854x480 (0: none)")
    parser.add_argument("--fps-size", default="854x480", help="the size the clips are timed at (default 854x480)")
    parser.add_argument("--fps-frames", type=int, default=240, help="frames of each timed film: its clip forward "
                                                                    "and back (default 240)")
    parser.add_argument("--repeats", type=int, default=1, help="times each timing is taken, in turns; the median "
                                                               "is shown (a shared machine's speed drifts)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default=None)
    args = parser.parse_args(argv)
    if not args.clips.is_dir():
        print(f"no clips at {args.clips}: nothing to measure")
        return 0
    folders = sorted(p for p in args.clips.iterdir() if p.is_dir() and any(p.glob("*.jpg")))
    if args.only:
        wanted = set(args.only.split(","))
        folders = [p for p in folders if p.name in wanted]
    fps_size = tuple(int(side) for side in args.fps_size.lower().split("x"))
    share_cores(2)  # this process's colorize_video: torch on 2 threads (OpenCV and the codec on 1)
    colorizer = Colorizer.load(args.weights, precision=args.precision)
    print(cpu_line())
    print(f"weights {args.weights.name} ({colorizer.sha256[:8]}), {colorizer.precision}, working size "
          f"{colorizer.default_size}; {len(folders)} clips from {args.clips}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-video-") as scratch:
        for folder in folders:
            rows.append(measure_clip(colorizer, folder, Path(scratch)))
            print(f"  {folder.name}: done", flush=True)
        timings = [time_clip(colorizer, folder, Path(scratch), args.weights, args.precision, fps_size,
                             args.fps_frames, args.repeats) for folder in folders[:args.fps_clips]]
    print()
    print("CDC in units of 1e-4; warp error in ab units. 'original': the JPEG frames; 'coded': the same frames in "
          "colour through the encoder the results go through (H.264 CRF %d, chroma finer), the fair reference" % CRF)
    print("| clip | frames | keyframes | size | PSNR frame | PSNR stable | CDC original | CDC coded | CDC frame | "
          "CDC stable | warp original | warp coded | warp frame | warp stable |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    keys = ["psnr frame", "psnr stable", "cdc original", "cdc coded", "cdc frame", "cdc stable", "warp original",
            "warp coded", "warp frame", "warp stable"]

    def cells(values: dict) -> str:
        return " | ".join(f"{values[k] * 1e4:.2f}" if k.startswith("cdc") else f"{values[k]:.2f}" for k in keys)
    for row in rows:
        print(f"| {row['clip']} | {row['frames']} | {row['runs stable']} | {row['size']} | {cells(row)} |")
    mean = {k: float(np.mean([row[k] for row in rows])) for k in keys + ["psnr coded"]}
    print(f"| mean of {len(rows)} | {sum(r['frames'] for r in rows)} | {sum(r['runs stable'] for r in rows)} | | "
          f"{cells(mean)} |")
    print()
    print("CDC ratios, mean over clips (highest clip):")
    for reference in ("original", "coded"):
        for mode, name in (("frame", "frame by frame"), ("stable", "stabilized")):
            ratios = {row["clip"]: row[f"cdc {mode}"] / row[f"cdc {reference}"] for row in rows}
            worst = max(ratios, key=ratios.get)
            print(f"  {name} / {reference}: {np.mean(list(ratios.values())):.2f}x ({worst} {ratios[worst]:.2f}x)")
    print(f"PSNR of the originals coded as the results are: {mean['psnr coded']:.2f} dB (the encoder's own loss)")
    runs = sum(row["runs stable"] for row in rows) / sum(row["frames"] for row in rows)
    print(f"the network ran on {runs:.0%} of the frames when stabilized (keyframes), on every frame otherwise")
    print(f"warp error, stabilized / frame by frame: {mean['warp stable'] / mean['warp frame']:.2f}; "
          f"PSNR stabilized - frame by frame: {mean['psnr stable'] - mean['psnr frame']:+.2f} dB")
    if timings:
        print()
        each = f", median of {args.repeats} in turns" if args.repeats > 1 else ""
        print(f"| clip at {fps_size[0]}x{fps_size[1]}, {args.fps_frames} frames{each} | fps frame by frame | "
              f"fps stabilized | fps command line | fps worker |")
        print("|---|---:|---:|---:|---:|")
        for row in timings:
            print(f"| {row['clip']} | {row['fps frame']:.2f} | {row['fps stable']:.2f} | {row['fps cli']:.2f} | "
                  f"{row['fps worker']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
