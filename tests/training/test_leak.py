"""training.leak: the leak measure on constructed examples, the object region it probes, and evaluate --leak."""
import numpy as np
import pytest
from PIL import Image

from model.color import fit_gamut_np, lab_to_rgb_np, rgb_to_lab_np
from model.hints import color_to_ab
from training import evaluate, leak
from tests.conftest import synthetic_photo


def rgb_of(lab: np.ndarray) -> np.ndarray:
    return (lab_to_rgb_np(lab) * 255).round().astype(np.uint8)


def test_leak_is_the_mean_change_outside_over_the_mean_change_near_the_point():
    """A 100x100 gray photo; the object is the left half, the point at (25, 50). With the point, the object's ab
    moves by 30 units and a 20x20 patch far outside by 12: leak = (400 * 12 / outside pixels) / 30."""
    height = width = 100
    lab = np.zeros((height, width, 3), np.float32)
    lab[..., 0] = 60
    automatic = rgb_of(lab)
    mask = np.zeros((height, width), bool)
    mask[:, :50] = True
    moved = lab.copy()
    moved[:, :50, 1] = 30  # a: +30 over the object
    moved[70:90, 75:95, 2] = -12  # b: -12 over a patch outside
    pointed = rgb_of(moved)
    truth_auto, truth_point = rgb_to_lab_np(automatic), rgb_to_lab_np(pointed)  # what 8-bit sRGB made of them
    change = np.linalg.norm(truth_point[..., 1:] - truth_auto[..., 1:], axis=-1)
    scores = leak.leak_scores(automatic, pointed, leak.Probe(mask, 25, 50), "#c0392b")
    band = 2  # 1% of 100 px, at least 2
    outside = np.ones((height, width), bool)
    outside[:, :50 + band] = False
    assert scores["near_change"] == pytest.approx(30, abs=0.5)
    assert scores["outside_change"] == pytest.approx(change[outside].mean(), rel=1e-4)
    assert scores["outside_change"] == pytest.approx(400 * 12 / outside.sum(), rel=0.05)
    assert scores["leak"] == pytest.approx(scores["outside_change"] / scores["near_change"], rel=1e-6)
    assert scores["moved"] == pytest.approx(400 / outside.sum(), rel=1e-6)  # 12 > 10: the patch moved
    shown = fit_gamut_np(np.array([60, *color_to_ab("#c0392b")], np.float32))[1:]
    assert scores["at_point"] == pytest.approx(np.linalg.norm(truth_point[50, 25, 1:] - shown), abs=0.5)


def test_nothing_outside_moved_is_no_leak():
    lab = np.full((60, 60, 3), 50, np.float32)
    lab[..., 1:] = 0
    automatic = rgb_of(lab)
    lab[10:30, 10:30, 1] = 25
    mask = np.zeros((60, 60), bool)
    mask[10:30, 10:30] = True
    scores = leak.leak_scores(automatic, rgb_of(lab), leak.Probe(mask, 20, 20), "#c0392b")
    assert scores["leak"] == 0 and scores["moved"] == 0 and scores["near_change"] > 20


def test_the_object_region_is_a_segment_away_from_the_border_and_the_point_is_inside_it():
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[:] = (40, 90, 200)  # a blue backdrop
    rgb[40:90, 50:120] = (220, 60, 40)  # a red object
    rgb = np.clip(rgb + np.random.default_rng(0).normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    probe = leak.object_region(rgb)
    inside = np.zeros((120, 160), bool)
    inside[40:90, 50:120] = True
    assert probe is not None and probe.mask[inside].mean() > 0.8 and not probe.mask[~inside].any()
    assert 55 <= probe.y <= 75 and 65 <= probe.x <= 105  # well inside it, not on an edge


def test_the_colour_asked_is_one_the_result_does_not_have_there():
    rgb = np.zeros((60, 60, 3), np.uint8)
    rgb[:] = (40, 90, 200)
    probe = leak.Probe(np.ones((60, 60), bool), 30, 30)
    colour = leak.unlike_colour(rgb, probe)
    assert colour in leak.PALETTE and color_to_ab(colour)[1] > 30  # blue there: a yellow or an orange is asked
    assert leak.unlike_colour(np.full((60, 60, 3), 255, np.uint8), probe) is None  # white shows no colour


def test_measure_skips_a_photo_with_no_object_and_scores_one_with(colorizer):
    assert leak.measure(colorizer, Image.new("RGB", (80, 60), (120, 120, 120))) is None
    photo = np.zeros((72, 96, 3), np.uint8)
    photo[:] = (40, 90, 200)
    photo[20:55, 30:70] = (200, 180, 60)
    scores, pictures = leak.measure(colorizer, Image.fromarray(photo))
    assert set(scores) >= {"leak", "moved", "at_point"} and pictures["pointed"].shape == (72, 96, 3)


def test_evaluate_leak_prints_the_table(tiny_weights, photo_folder, capsys):
    assert evaluate.main(["--images", str(photo_folder), "--weights", str(tiny_weights), "--limit", "4",
                          "--hints", "0,10", "--leak"]) == 0
    out = capsys.readouterr().out
    assert "| photos | probed | leak (mean)" in out and "| all |" in out
