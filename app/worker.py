"""A video worker: runs jobs from the queue that the web app's settings name.

    python -m app.worker                # one video at a time
    python -m app.worker --threads 2    # two at a time in this process

It reads the same COLORIZER_* settings as the web app (COLORIZER_REDIS_URL, COLORIZER_JOB_FOLDER,
COLORIZER_WEIGHTS, ...), and must see the same job folder. On SIGTERM or Ctrl-C its running jobs go back to the
queue and it exits; if it is killed outright, another worker starts them again after COLORIZER_JOB_LEASE seconds.
With the embedded queue, gunicorn with the shipped settings (app/gunicorn_conf.py) runs one itself, beside its web
workers (`JobProcess`).
"""
import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from app import StartupError, create_app
from app.jobs import BACKEND_ERRORS

log = logging.getLogger("app.worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="videos colorized at once by this process (default 1; torch already uses the cores)")
    parser.add_argument("--parent", type=int, default=0,
                        help="stop (handing the running videos back) when the process with this pid is gone, as "
                             "gunicorn's own workers do when their master dies")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(start_jobs=False)
    except StartupError as error:
        print(f"colorizer worker: {error}", file=sys.stderr)
        return 3
    jobs = app.extensions["jobs"]
    try:
        jobs.store.all()  # reach the queue's storage now: a wrong address stops here, with a message
    except BACKEND_ERRORS as error:
        print(f"colorizer worker: cannot reach the queue ({jobs.settings.redis_url or jobs.settings.folder}): "
              f"{error}", file=sys.stderr)
        return 3

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def stopping() -> None:  # beside the work: the main thread colorizes (Jobs.start, here)
        while not stop.wait(1):
            if args.parent and os.getppid() != args.parent:
                log.info("the process that started this worker is gone")
                break
        log.info("stopping: running videos go back to the queue")
        jobs.close(hand_back=True)

    watcher = threading.Thread(target=stopping, name="worker-stop", daemon=True)
    watcher.start()
    jobs.announce()  # a job queued from now on finds a worker
    log.info("ready: %d thread(s) on %s, job folder %s", args.threads,
             "Redis" if jobs.settings.redis_url else "the embedded queue", jobs.settings.folder)
    jobs.start(args.threads, here=True)  # returns once `stopping` has closed the queue's workers
    watcher.join()
    return 0


class JobProcess:
    """One `python -m app.worker` beside gunicorn's web workers, started and watched by gunicorn's master.

    The web workers are replaced now and then (max_requests), and killed when a request outlives the timeout: a
    film colorized in one of their threads would be stopped with them and started again from its first frame. The
    master lives as long as the service, so the worker it starts does too; it is started again if it dies
    (then its running job is queued again after the lease), and stopped, handing its jobs back, with the master.
    """
    RESTART_SECONDS = (1, 2, 5, 10, 30, 60)  # waits before starting it again, growing while it keeps dying at once

    def __init__(self, threads: int, env: dict | None = None):
        self.command = [sys.executable, "-m", "app.worker", "--threads", str(threads), "--parent", str(os.getpid())]
        self.env = env
        self.process: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self.watch, name="colorizer-job-process", daemon=True)

    def start(self) -> "JobProcess":
        self.watcher.start()
        return self

    def watch(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.process = subprocess.Popen(self.command, env=self.env)
            except OSError as error:
                log.error("cannot start the video worker (%s); trying again in 60 s", error)
                self.stopping.wait(60)
                continue
            log.info("video worker started (pid %d)", self.process.pid)
            code = self.process.wait()  # 0 also when gunicorn's master reaped it first
            if self.stopping.is_set():
                return
            failures = 1 if time.monotonic() - started > 300 else failures + 1
            wait = self.RESTART_SECONDS[min(failures, len(self.RESTART_SECONDS)) - 1]
            log.warning("video worker (pid %d) exited with %s; starting another in %d s", self.process.pid, code,
                        wait)
            if self.stopping.wait(wait):
                return
            if code == 3:  # it could not start (settings): the web workers say why too; keep trying slowly
                failures = len(self.RESTART_SECONDS)

    def stop(self, timeout: float) -> None:
        """SIGTERM (its jobs go back to the queue), then SIGKILL after `timeout` seconds."""
        self.stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    sys.exit(main())
