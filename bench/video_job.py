"""A long film through the video jobs, end to end: upload, queue, worker, progress, download.

    python -m bench.video_job                                  # 10 minutes of 854x480 at 25 fps: the check
    python -m bench.video_job --seconds 20 --size 320x240       # a quick look
    python -m bench.video_job --embedded --seconds 1200 --fps 30  # the longest film accepted, default deployment

Writes a synthetic gray film to a temporary folder (moving gradients and grain, encoded at --bitrate so that its
size is a real film's: 10 minutes at 2.5 Mbit/s are about 190 MB), starts `gunicorn wsgi:app` (its own worker
threads off) and one `python -m app.worker` on a fresh job folder, uploads the film over HTTP in chunks, polls
GET /videos/ID every --poll seconds, downloads the result in chunks, and prints what would scale badly with
length if anything did: the web worker's peak memory (VmHWM) before and after the upload, the upload's time, the
video worker's memory at 10% and at 90% of the frames and its peak, how often progress moved, frames per second,
and the result's frames. Everything is bounded by --timeout and stopped at the end.

With --embedded, gunicorn runs exactly as shipped (its settings, the embedded queue, the video worker the master
starts beside its web workers) and nothing else is started: the check that the longest film accepted finishes in
the default deployment while the web workers are recycled (max_requests) under the polling.
"""
import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import av
import numpy as np

from bench.load import ROOT, free_port, rss_mb, workers
from model.video import probe

CHUNK = 1 << 20


def start_web(port: int, env: dict, log) -> subprocess.Popen:
    """gunicorn in its own process group (stopped whole, workers too, whatever happens), once it answers."""
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
                               "--access-logfile", "/dev/null"], cwd=ROOT, env=env, stdout=log, stderr=log,
                              start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and server.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    stop(server)
    raise SystemExit("gunicorn did not answer within 300 s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, SIGKILL after 60 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def children(pid: int) -> list[int]:
    """A process's children, whichever of its threads started them (gunicorn's master starts its video worker
    from a watcher thread; bench.load.workers reads the main thread's only)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def is_job_process(pid: int) -> bool:
    """Whether a child of gunicorn's master is the video worker it starts (python -m app.worker)."""
    try:
        return b"app.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def write_film(path: Path, seconds: float, width: int, height: int, fps: int, bitrate: int) -> int:
    """A gray film of moving shapes and grain, written frame by frame (never all in memory); returns its frames."""
    frames = round(seconds * fps)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = width, height, "yuv420p", bitrate
        for index in range(frames):
            phase = index / fps
            gray = 120 + 60 * np.sin(x / 41 + phase) * np.cos(y / 57 - 0.7 * phase) + rng.normal(0, 10, (height, width))
            gray[height // 3: height // 2, int(index * 3) % width:][:, :60] = 220  # a bright bar crossing
            pixels = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames


def upload(port: int, film: Path, timeout: float) -> tuple[int, dict]:
    """POST /videos with the film streamed from disk in chunks."""
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="{film.name}"\r\n'
            f"Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with open(film, "rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("POST", "/videos", body=body(), headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + film.stat().st_size + len(tail))})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def get(port: int, path: str, timeout: float = 30) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", path)
    return json.loads(connection.getresponse().read())


def download(port: int, path: str, destination: Path, timeout: float) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", path)
    response = connection.getresponse()
    with open(destination, "wb") as out:
        while chunk := response.read(CHUNK):
            out.write(chunk)
    return response.status


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.video_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="the film's length (default 600: 10 minutes)")
    parser.add_argument("--size", default="854x480", help="WIDTHxHEIGHT (default 854x480)")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate", type=int, default=2_500_000, help="bits a second of the film (default 2.5 M)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between GET /videos/ID")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="give up after this many seconds")
    parser.add_argument("--weights", help="weights file (default: the shipped one)")
    parser.add_argument("--embedded", action="store_true",
                        help="gunicorn as shipped, with the video worker its master starts (no app.worker of ours)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-video-job-")))
        film = scratch / "film.mp4"
        started = time.time()
        frames = write_film(film, args.seconds, width, height, args.fps, args.bitrate)
        film_mb = film.stat().st_size / 1e6
        print(f"film: {frames} frames of {width}x{height} at {args.fps} fps, {film_mb:.0f} MB "
              f"(written in {time.time() - started:.0f} s)", flush=True)
        env = dict(os.environ, COLORIZER_JOB_FOLDER=str(scratch / "jobs"))
        if args.weights:
            env["COLORIZER_WEIGHTS"] = str(Path(args.weights).resolve())
        port = free_port()
        logs = stack.enter_context(open(scratch / "processes.log", "w"))
        if args.embedded:
            server = start_web(port, env, logs)
            stack.callback(stop, server)
            web = workers(server.pid)[0]  # a web worker: the video worker is started by the master's watcher thread
        else:
            # The web process runs no job (COLORIZER_JOB_THREADS=0) and needs one torch thread; gunicorn's
            # workers are forked, and a forked worker given more than one torch thread can hang at startup.
            web_env = dict(env, COLORIZER_JOB_THREADS="0", COLORIZER_WORKERS="1", COLORIZER_TORCH_THREADS="1")
            server = start_web(port, web_env, logs)
            stack.callback(stop, server)
            worker = subprocess.Popen([sys.executable, "-m", "app.worker"], cwd=ROOT, env=env, stdout=logs,
                                      stderr=logs, start_new_session=True)
            stack.callback(stop, worker)
            (web,) = workers(server.pid)

        def worker_pid() -> int:
            """Our app.worker, or the one gunicorn's master started (found again: it is restarted if it dies)."""
            if not args.embedded:
                return worker.pid
            return next((pid for pid in children(server.pid) if is_job_process(pid)), -1)

        web_pids = set(children(server.pid))
        seen = set(web_pids)  # every child of the master seen while polling: recycled workers show up as new ones
        web_peak_before = rss_mb(web, "VmHWM")
        started = time.time()
        status, answer = upload(port, film, timeout=600)
        upload_seconds = time.time() - started
        if status != 202:
            print(f"POST /videos answered {status}: {answer}")
            return 1  # (the finally below stops the processes)
        web_peak_after = rss_mb(web, "VmHWM")
        job = answer["url"]
        memory, moves, last_done, states = {}, 0, -1, []
        started = time.time()
        while True:
            state = get(port, job)
            seen.update(children(server.pid))
            states.append(state["state"])
            if state["frames_done"] != last_done:
                moves += 1
                last_done = state["frames_done"]
            share = state["frames_done"] / max(1, state["frames_total"])
            for mark in (0.1, 0.9):
                if share >= mark and mark not in memory:
                    memory[mark] = rss_mb(worker_pid())
                    print(f"  {share:4.0%} of the frames after {time.time() - started:.0f} s, "
                          f"{state['seconds_left']} s left; worker RSS {memory[mark]:.0f} MB", flush=True)
            if state["state"] not in ("queued", "running") or time.time() - started > args.timeout:
                break
            time.sleep(args.poll)
        job_seconds = time.time() - started
        worker_peak = rss_mb(worker_pid(), "VmHWM")
        recycled = len(seen - web_pids)  # processes the master started after the upload began
        if state["state"] != "done":
            print(f"the job ended {state['state']}: {state.get('error')}; the processes' log:")
            print((scratch / "processes.log").read_text()[-3000:])
            return 1
        result = scratch / "result.mp4"
        download_status = download(port, state["result"], result, timeout=600)
        info = probe(result)

    print(f"\n{frames} frames of {width}x{height}, {args.seconds:g} s at {args.fps} fps")
    print("| upload MB | upload s | web peak before / after MB | worker RSS at 10% / 90% MB | worker peak MB | "
          "progress moves | job s | frames/s | result frames | download | processes replaced |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {film_mb:.0f} | {upload_seconds:.1f} | {web_peak_before:.0f} / "
          f"{web_peak_after:.0f} | {memory.get(0.1, float('nan')):.0f} / {memory.get(0.9, float('nan')):.0f} | "
          f"{worker_peak:.0f} | {moves} | {job_seconds:.0f} | {frames / job_seconds:.1f} | {info.frames} | "
          f"{download_status} | {recycled} |")
    return 0 if info.frames == frames and download_status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
