"""A video worker: runs jobs from the queue that the web app's settings name.

    python -m app.worker                # one video at a time
    python -m app.worker --threads 2    # two at a time in this process

It reads the same COLORIZER_* settings as the web app (COLORIZER_REDIS_URL, COLORIZER_JOB_FOLDER,
COLORIZER_WEIGHTS, ...), and must see the same job folder. On SIGTERM or Ctrl-C its running jobs go back to the
queue and it exits; if it is killed outright, another worker starts them again after COLORIZER_JOB_LEASE seconds.
"""
import argparse
import logging
import signal
import sys
import threading

from app import StartupError, create_app
from app.jobs import BACKEND_ERRORS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="videos colorized at once by this process (default 1; torch already uses the cores)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("app.worker")
    try:
        app = create_app()
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
    jobs.start(args.threads)
    log.info("ready: %d thread(s) on %s, job folder %s", args.threads,
             "Redis" if jobs.settings.redis_url else "the embedded queue", jobs.settings.folder)
    while not stop.wait(1):
        pass
    log.info("stopping: running videos go back to the queue")
    jobs.close(hand_back=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
