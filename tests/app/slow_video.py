"""The real model.video.colorize_video, made slow for the job tests: a pause after every frame, so that a test can
act on a job while it runs (kill its worker, cancel it). Set as COLORIZER_VIDEO_FUNCTION / VIDEO_FUNCTION
"tests.app.slow_video:colorize_video"; the worker subprocesses read the same environment variables:

    COLORIZER_TEST_FRAME_DELAY   seconds after each frame (default 0.15)
    COLORIZER_TEST_MARKERS       a folder: "<job id>.stopped" is written there when the job's progress callback
                                 stops it (cancelled, or no longer this worker's), so a test knows the work ended
"""
import os
import time
from pathlib import Path

from app.jobs import JobCancelled
from model.video import colorize_video as real_colorize_video


def colorize_video(colorizer, source, destination, *, progress=None, **options):
    delay = float(os.environ.get("COLORIZER_TEST_FRAME_DELAY", "0.15"))

    def slow_progress(done: int, total: int) -> None:
        time.sleep(delay)
        if progress is not None:
            progress(done, total)

    try:
        return real_colorize_video(colorizer, source, destination, progress=slow_progress, **options)
    except JobCancelled:
        markers = os.environ.get("COLORIZER_TEST_MARKERS")
        if markers:
            (Path(markers) / f"{Path(destination).parent.name}.stopped").write_text(str(os.getpid()))
        raise
