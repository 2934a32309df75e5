"""bench.video: the command line's timing runs the film twice in one process and times the second."""
import math

import numpy as np
import pytest

from bench import video


@pytest.mark.slow
def test_the_command_line_is_timed_on_the_second_of_two_films(tiny_weights, tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (64, 96), dtype=np.uint8)
    grays = [np.roll(base, shift, axis=1) for shift in range(12)]
    source = tmp_path / "film.mp4"
    video.write_gray_video(grays, source)
    fps = video.fps_cli(source, len(grays), tmp_path, tiny_weights, "float32")
    assert math.isfinite(fps) and fps > 0
    written = sorted(path.name for path in (tmp_path / "cli").iterdir())
    assert written == ["film.again.mp4", "film.mp4"]  # both films colorized, neither skipped as a clash
    assert len(video.read_video(tmp_path / "cli" / "film.again.mp4", 96, 64)) == len(grays)
