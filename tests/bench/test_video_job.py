"""bench.video_job: a film through gunicorn, the queue and a worker process, on a tiny input."""
import pytest

from bench import video_job


@pytest.mark.slow
def test_a_short_film_goes_through_and_the_table_is_printed(tiny_weights, capsys):
    assert video_job.main(["--seconds", "1", "--size", "96x64", "--fps", "8", "--poll", "0.3",
                           "--weights", str(tiny_weights)]) == 0
    out = capsys.readouterr().out
    assert "8 frames of 96x64" in out
    row = out.strip().splitlines()[-1].split("|")
    assert row[-3].strip() == "8" and row[-2].strip() == "200"  # the result's frames, and the download's status
