import pytest
import torch

from tests.conftest import TINY, tiny_checkpoint_dict
from training.calibrate import calibrate, main, suggest
from training.config import TrainConfig
from training.export import build_generator


def test_suggest_takes_the_best_psnr_among_the_colourful_enough():
    rows = [{"temperature": 1.0, "psnr": 25.0, "ratio": 0.4}, {"temperature": 0.5, "psnr": 24.5, "ratio": 0.72},
            {"temperature": 0.3, "psnr": 24.0, "ratio": 0.9}]
    assert suggest(rows, 0.7)["temperature"] == 0.5
    assert suggest(rows, 0.8)["temperature"] == 0.3
    assert suggest(rows, 0.95) is None


def test_calibrate_scores_each_temperature_on_photos(photo_folder):
    config = TrainConfig(data="photos", out="run", image_size=32, scale_size=48, head="bins", stem_stride=2, **TINY)
    generator, _ = build_generator(tiny_checkpoint_dict(config))
    paths = sorted(photo_folder.iterdir())[:3]
    rows = calibrate(generator, 48, paths, (1.0, 0.1))
    assert [row["temperature"] for row in rows] == [1.0, 0.1]
    assert rows[1]["colorfulness"] > rows[0]["colorfulness"]  # sharper softmax, more colour
    assert all(row["psnr_gray"] == rows[0]["psnr_gray"] for row in rows)


def test_calibrate_refuses_a_regression_checkpoint(tiny_checkpoint, photo_folder):
    with pytest.raises(SystemExit):
        main([str(tiny_checkpoint), "--images", str(photo_folder)])
