import pytest
import torch

from tests.conftest import TINY, tiny_checkpoint_dict
from training.calibrate import calibrate, main, suggest
from training.config import TrainConfig


def bins_checkpoint() -> dict:
    config = TrainConfig(data="photos", out="run", image_size=32, scale_size=48, head="bins", stem_stride=2, **TINY)
    checkpoint = tiny_checkpoint_dict(config)
    checkpoint["class_weights"] = torch.linspace(0.2, 5.0, 262)
    return checkpoint


def test_suggest_takes_the_most_colourful_setting_that_keeps_the_psnr_gain():
    rows = [{"psnr": 25.0, "psnr_gray": 24.0, "colorfulness": 10.0},
            {"psnr": 24.7, "psnr_gray": 24.0, "colorfulness": 20.0},
            {"psnr": 24.2, "psnr_gray": 24.0, "colorfulness": 30.0}]
    assert suggest(rows, 0.6)["colorfulness"] == 20.0
    assert suggest(rows, 0.1)["colorfulness"] == 30.0
    assert suggest(rows, 1.5) is None


def test_calibrate_scores_each_setting_on_photos(photo_folder):
    paths = sorted(photo_folder.iterdir())[:3]
    rows = calibrate(bins_checkpoint(), paths, corrections=(0.0,), temperatures=(1.0, 0.1))
    assert [(row["prior_correction"], row["temperature"]) for row in rows] == [(0.0, 1.0), (0.0, 0.1)]
    assert rows[1]["colorfulness"] > rows[0]["colorfulness"]  # sharper softmax, more colour
    assert all(row["psnr_gray"] == rows[0]["psnr_gray"] for row in rows)


def test_calibrate_refuses_a_regression_checkpoint(tiny_checkpoint, photo_folder):
    with pytest.raises(SystemExit):
        main([str(tiny_checkpoint), "--images", str(photo_folder)])
