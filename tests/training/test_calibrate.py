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


def test_calibrate_scores_each_setting_of_a_bins_head_on_photos(photo_folder):
    paths = sorted(photo_folder.iterdir())[:3]
    rows = calibrate(bins_checkpoint(), paths, corrections=(0.0,), temperatures=(1.0, 0.1))
    assert [(row["prior_correction"], row["temperature"]) for row in rows] == [(0.0, 1.0), (0.0, 0.1)]
    assert rows[1]["colorfulness"] > rows[0]["colorfulness"]  # sharper softmax, more colour
    assert all(row["psnr_gray"] == rows[0]["psnr_gray"] for row in rows)


def test_calibrate_sweeps_the_chroma_gain_of_a_regression_head(tiny_checkpoint, photo_folder):
    paths = sorted(photo_folder.iterdir())[:3]
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    rows = calibrate(checkpoint, paths, working_size=40, gains=(1.0, 2.0))
    assert [row["chroma_gain"] for row in rows] == [1.0, 2.0]
    assert rows[1]["colorfulness"] > rows[0]["colorfulness"]


def test_calibrate_prints_the_export_flags_it_suggests(tiny_checkpoint, photo_folder, capsys):
    assert main([str(tiny_checkpoint), "--images", str(photo_folder), "--val-fraction", "0.25", "--photos", "3",
                 "--gains", "1,1.5", "--min-gain", "-100"]) == 0
    out = capsys.readouterr().out
    assert "suggested: --chroma-gain 1.5 " in out  # the more colourful, and nothing is below -100 dB
    assert main([str(tiny_checkpoint), "--images", str(photo_folder), "--val-fraction", "0.25", "--photos", "3",
                 "--gains", "1", "--min-gain", "100"]) == 1
    assert "no setting keeps PSNR 100" in capsys.readouterr().out
