"""bench.video_job: a film through gunicorn, the queue and a worker process, on a tiny input."""
import pytest

from bench import video_job


def table_row(out: str) -> list[str]:
    return [cell.strip() for cell in out.strip().splitlines()[-1].split("|")[1:-1]]


@pytest.mark.slow
def test_a_short_film_goes_through_and_the_table_is_printed(tiny_weights, capsys):
    assert video_job.main(["--seconds", "1", "--size", "96x64", "--fps", "8", "--poll", "0.3",
                           "--weights", str(tiny_weights)]) == 0
    out = capsys.readouterr().out
    assert "8 frames of 96x64" in out
    frames, download, replaced = table_row(out)[-3:]
    assert (frames, download, replaced) == ("8", "200", "0")  # the result's frames, the download, no recycling


@pytest.mark.slow
def test_embedded_the_film_outlives_recycled_web_workers(tiny_weights, capsys, monkeypatch):
    # gunicorn as shipped, but its web workers replaced every few requests while the film runs in the master's
    # video worker
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--max-requests 3 --max-requests-jitter 1")
    assert video_job.main(["--embedded", "--seconds", "3", "--size", "96x64", "--fps", "8", "--poll", "0.2",
                           "--weights", str(tiny_weights)]) == 0
    frames, download, replaced = table_row(capsys.readouterr().out)[-3:]
    assert (frames, download) == ("24", "200") and int(replaced) >= 1
