"""bench.restore: the detector, clean-photo and cost tables on a folder of photos."""
import numpy as np
import pytest

from bench import restore as bench
from tests.conftest import synthetic_photo


def test_match_counts_with_a_tolerance():
    truth = np.zeros((20, 20), bool)
    truth[10, 2:18] = True  # a line
    found = np.zeros_like(truth)
    found[12, 2:10] = True  # half of it, 2 px off
    found[0, 0] = True  # and one stray pixel
    near_truth, detected, near_found, damaged = bench.match(found, truth)
    assert (near_truth, detected, damaged) == (8, 9, 16) and 8 <= near_found <= 10


def test_prints_the_detector_and_clean_photo_tables(tmp_path, capsys):
    for seed in range(2):
        synthetic_photo(seed, (160, 120)).save(tmp_path / f"photo_{seed}.png")
    assert bench.main(["--images", str(tmp_path), "--photos", "2"]) == 0
    out = capsys.readouterr().out
    assert "| old print | on | all |" in out and "| damage only | auto |" in out
    assert "| auto | " in out and " of 2 |" in out
    assert "| crisp, dark | crisp, bright | antialiased, dark | antialiased, bright |" in out


def test_a_film_scratch_runs_down_the_photo_and_is_labelled():
    gray = np.full((100, 60), 120, np.uint8)
    for value, line_type in bench.STRAIGHT_LINES.values():
        scratched, truth = bench.film_scratch(gray, value, line_type)
        rows, columns = np.nonzero(truth)
        assert np.ptp(rows) >= 70 and np.ptp(columns) <= 4 and (np.abs(scratched[~truth].astype(int) - 120) < 10).all()


def test_timing_runs_on_a_small_scan(capsys):
    assert bench.main(["--timing", "--megapixels", "0.1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| auto |" in out and "| on |" in out


def test_refuses_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--images", str(tmp_path / "nothing")])
    assert "no such folder of photos" in capsys.readouterr().err
