"""training.fit_gate: a gate fitted on training photos and written into the detector file, whose network stays as it
was; its threshold lets at most the asked share of calibration photos through."""
import numpy as np
import pytest

from model import restore as repair
from model.damage import DamageDetector, DamageNet, save_detector
from tests.conftest import synthetic_photo
from training import fit_gate


def test_the_threshold_lets_at_most_the_asked_share_through():
    scores = list(np.random.default_rng(0).normal(size=1000))
    for share in (0.0, 0.001, 0.01, 0.1):
        threshold = fit_gate.threshold_for(scores, share)
        assert sum(s > threshold for s in scores) == int(share * 1000)


@pytest.mark.slow  # 2 s of measuring photos: the whole run has it
def test_a_gate_is_fitted_and_written_into_the_detector_file(photo_folder, tmp_path):
    save_detector(DamageNet(widths=(4, 8, 8, 8)), tmp_path / "d.pt", {"sure": 0.6})
    fit_gate.main(["--data", str(photo_folder), "--detector", str(tmp_path / "d.pt"), "--output",
                   str(tmp_path / "gated.pt"), "--val-fraction", "0.05", "--clean", "6", "--damaged", "6",
                   "--calibration", "8", "--false-alarms", "0.0", "--quiet"])
    before, after = DamageDetector.load(tmp_path / "d.pt"), DamageDetector.load(tmp_path / "gated.pt")
    assert "gate" not in before.info and after.sure == 0.6 and after.info["widths"] == [4, 8, 8, 8]
    gray = np.asarray(synthetic_photo(30, (100, 80)).convert("L"))
    assert np.array_equal(before(gray), after(gray))  # the network is the same
    gate = after.info["gate"]
    assert gate["fitted"]["photos"] == {"clean": 6, "damaged": 6, "calibration": 8}
    assert gate["fitted"]["taken"]["calibration"] == 0.0  # no false alarm allowed: none of them is taken
    evidence = repair.detect(gray, after)[1]["evidence"]
    assert list(evidence) == gate["names"]
    assert repair.detect(gray, after)[1]["old_print"] == (repair.gate_score(gate, evidence) > 0)


def test_a_missing_detector_is_said(photo_folder, tmp_path):
    with pytest.raises(SystemExit, match="no damage detector at"):
        fit_gate.main(["--data", str(photo_folder), "--detector", str(tmp_path / "missing.pt"), "--quiet"])


def test_too_few_training_photos_is_said(photo_folder, tmp_path):
    save_detector(DamageNet(widths=(4, 8, 8, 8)), tmp_path / "d.pt", {"sure": 0.6})
    with pytest.raises(SystemExit, match="photos asked for"):
        fit_gate.main(["--data", str(photo_folder), "--detector", str(tmp_path / "d.pt"), "--clean", "100",
                       "--quiet"])
