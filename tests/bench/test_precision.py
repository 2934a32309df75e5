"""bench.precision: the bfloat16-against-float32 table on a folder of photos."""
import hashlib

import pytest

from bench import precision
from model.weights import DEFAULT_WEIGHTS
from tests.conftest import synthetic_photo


@pytest.mark.slow  # the shipped weights, in bfloat16 too: about a minute on a CPU without native bfloat16
def test_prints_one_row_per_weights_from_photos_spread_over_the_folder(tmp_path, capsys):
    for seed in (0, 2):
        synthetic_photo(seed, (160, 120)).save(tmp_path / f"photo_{seed}.png")
    (tmp_path / "photo_1.png").write_bytes(b"not a photo")  # the middle one: two photos spread over three skip it
    assert precision.main(["--images", str(tmp_path), "--photos", "2", "--baseline", str(DEFAULT_WEIGHTS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 photos from")
    sha256 = hashlib.sha256(DEFAULT_WEIGHTS.read_bytes()).hexdigest()
    rows = [line for line in lines if line.startswith(f"| {DEFAULT_WEIGHTS.name} ({sha256[:8]}) |")]  # by hash
    assert len(rows) == 2 and rows[0] == rows[1]  # the same weights twice: the same numbers
    assert "photo_0.png" in rows[0] or "photo_2.png" in rows[0]


def test_refuses_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        precision.main(["--images", str(tmp_path / "nothing")])
    assert "no such folder of photos" in capsys.readouterr().err
