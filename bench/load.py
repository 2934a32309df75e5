"""Load and soak: concurrent clients against gunicorn (the shipped config) on loopback, for a bounded time.

    python -m bench.load                         # 4 clients, 15 s
    python -m bench.load --clients 4 --seconds 600 --sample-every 60     # a 10-minute soak
    python -m bench.load --clients 2 --seconds 30 --size 5656x4242       # 24 MP photos: each worker's peak

Starts `gunicorn wsgi:app` on a free port of 127.0.0.1, posts photos over and over from each client, and prints
requests, failures, latency percentiles and each worker's memory (RSS) at the start and the end, and its peak
(VmHWM) over the run. The photos are variants of one (a corner block of each its own gray), enough of them that
no worker is sent a photo it still remembers (model.colorizer.REMEMBERED): many users' photos, not one user's.
Every request is bounded by a timeout, and the run stops by itself.
"""
import argparse
import http.client
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample_photo(width: int, height: int, color: bool = False) -> bytes:
    """A photo-like JPEG: smooth gradients and texture (the bench ships no photos). color: an RGB JPEG whose hues
    drift across it, as a colour photo's or a scanned print's; else a gray JPEG."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = 128 + 60 * np.sin(x / 37) * np.cos(y / 53) + 30 * np.sin((x + y) / 11)
    image += np.random.default_rng(0).normal(0, 8, image.shape)
    if color:
        tint = np.stack([np.sin(x / 150 + phase) for phase in (0, 2.1, 4.2)], axis=-1) * 40
        image = image[..., None] + tint
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo_variant(photo: bytes, index: int) -> bytes:
    """The JPEG photo with a 16x16 block of its corner set to a gray of index's: a photo the server has not seen."""
    with Image.open(io.BytesIO(photo)) as image:
        image = image.copy()
    image.paste(index % 256, (0, 0, 16, 16))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def multipart(data: bytes, fields: dict | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body with the photo as the image field, and any other fields."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in (fields or {}).items()]
    body = b"".join(parts) + (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="bench.jpg"\r\n'
                              f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def rss_mb(pid: int | str, field: str = "VmRSS") -> float:
    """A memory field of /proc/PID/status in MB (VmRSS: resident now; VmHWM: the peak); NaN if unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def start_server(port: int, env: dict) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
                               "--access-logfile", "/dev/null"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200 and len(workers(server.pid)) >= 1:
                time.sleep(2)  # let every worker finish loading the model
                return server
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped: {server.stderr.read().decode()[-2000:]}")
    server.kill()
    raise SystemExit("gunicorn did not answer within 120 s")


def client(port: int, bodies: list, stop_at: float, timeout: float, results: list, lock):
    """Posts bodies[0], bodies[1], ... (each a (body, content type)), round and round, until stop_at."""
    sent = 0
    while time.time() < stop_at:
        body, content_type = bodies[sent % len(bodies)]
        sent += 1
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            connection.request("POST", "/colorize", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            payload = response.read()
            ok = response.status == 200 and payload[:2] == b"\xff\xd8"
            outcome = "ok" if ok else f"HTTP {response.status}"
            connection.close()
        except Exception as error:  # a timeout, a reset: counted as a failure, never fatal to the bench
            outcome = type(error).__name__
        with lock:
            results.append((time.time(), time.perf_counter() - started, outcome))


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--size", default="1024x768", help="test photo, WIDTHxHEIGHT (default 1024x768)")
    parser.add_argument("--timeout", type=float, default=30, help="per-request timeout in seconds")
    parser.add_argument("--sample-every", type=float, default=0, help="print worker memory every N seconds")
    parser.add_argument("--weights", help="weights file (default: the shipped one)")
    args = parser.parse_args(argv)

    width, height = (int(v) for v in args.size.split("x"))
    photo = sample_photo(width, height)
    pool = [multipart(photo_variant(photo, i)) for i in range(4 * args.clients + 4)]
    env = dict(os.environ)
    if args.weights:
        env["COLORIZER_WEIGHTS"] = str(Path(args.weights).resolve())
    port = free_port()
    server = start_server(port, env)
    try:
        pids = workers(server.pid)
        memory_start = {pid: rss_mb(pid) for pid in pids}
        results, lock = [], threading.Lock()
        stop_at = time.time() + args.seconds
        # client c sends variants c, c + clients, ...: the server as a whole goes round the pool in order
        threads = [threading.Thread(target=client, args=(port, pool[c::args.clients], stop_at, args.timeout, results,
                                                         lock)) for c in range(args.clients)]
        started = time.time()
        for thread in threads:
            thread.start()
        samples = []
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.5)
            if args.sample_every and time.time() - started >= (len(samples) + 1) * args.sample_every:
                samples.append((time.time() - started, {pid: rss_mb(pid) for pid in workers(server.pid)}))
                print(f"  t={samples[-1][0]:5.0f}s  requests={len(results)}  worker RSS MB: "
                      + ", ".join(f"{v:.0f}" for v in samples[-1][1].values()), flush=True)
        elapsed = time.time() - started
        memory_end = {pid: rss_mb(pid) for pid in workers(server.pid)}
        memory_peak = {pid: rss_mb(pid, "VmHWM") for pid in workers(server.pid)}  # each worker's high-water mark
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    latencies = sorted(seconds for _, seconds, outcome in results if outcome == "ok")
    failures = [outcome for _, _, outcome in results if outcome != "ok"]

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else float("nan")
    print(f"\n{args.clients} clients, {elapsed:.0f} s, {width}x{height} JPEG, {len(memory_start)} workers")
    print("| requests | failed | req/s | p50 ms | p90 ms | p99 ms | max ms | worker RSS start MB | worker RSS end MB "
          "| worker peak MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(results)} | {len(failures)} | {len(latencies) / elapsed:.2f} | {percentile(50):.0f} | "
          f"{percentile(90):.0f} | {percentile(99):.0f} | {percentile(100):.0f} | "
          f"{' / '.join(f'{v:.0f}' for v in memory_start.values())} | "
          f"{' / '.join(f'{v:.0f}' for v in memory_end.values())} | "
          f"{' / '.join(f'{v:.0f}' for v in memory_peak.values())} |")
    if failures:
        print("failures:", {kind: failures.count(kind) for kind in set(failures)})
    if latencies and len(latencies) > 1:
        print(f"mean {statistics.mean(latencies) * 1000:.0f} ms, stdev {statistics.stdev(latencies) * 1000:.0f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
