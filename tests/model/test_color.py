import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from model.color import (AB_SCALE, denormalize_ab, denormalize_l, gray_to_l, lab_to_rgb, lab_to_rgb_np,
                         normalize_ab, normalize_l, rgb_to_lab, rgb_to_lab_np)


def random_rgb(shape=(32, 48, 3), seed=0) -> np.ndarray:
    rgb = np.random.default_rng(seed).random(shape).astype(np.float32)
    rgb[0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]]
    return rgb


def test_rgb_to_lab_matches_scikit_image():
    rgb = random_rgb()
    assert np.abs(rgb_to_lab_np(rgb) - skcolor.rgb2lab(rgb)).max() < 1e-3


def test_lab_to_rgb_matches_scikit_image_inside_the_gamut():
    lab = skcolor.rgb2lab(random_rgb(seed=1))  # every one of these colours is in gamut
    assert np.abs(lab_to_rgb_np(lab) - skcolor.lab2rgb(lab)).max() < 1e-3


def test_lab_to_rgb_without_gamut_fit_matches_scikit_image_everywhere():
    lab = np.random.default_rng(2).uniform([0, -110, -110], [100, 110, 110], (40, 40, 3))
    with pytest.warns(UserWarning, match="negative Z values"):
        expected = skcolor.lab2rgb(lab)
    assert np.abs(lab_to_rgb_np(lab, fit_gamut=False) - expected).max() < 1e-3


def test_conversions_have_finite_gradients_at_black_and_gray():
    # A loss on RGB colours trains through lab_to_rgb: a NaN gradient at one black pixel would poison every
    # weight at once.
    rgb = torch.tensor([[[[0.0, 0.5, 1.0]], [[0.0, 0.5, 0.2]], [[0.0, 0.5, 0.0]]]], requires_grad=True)
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab = torch.tensor([[[[0.0, 50.0, 0.0]], [[0.0, 0.0, 80.0]], [[0.0, 0.0, -90.0]]]], requires_grad=True)
    lab_to_rgb(lab, fit_gamut=False).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_uint8_input_is_scaled():
    rgb8 = (random_rgb(seed=3) * 255).round().astype(np.uint8)
    assert np.abs(rgb_to_lab_np(rgb8) - skcolor.rgb2lab(rgb8)).max() < 1e-3


def test_round_trip():
    rgb = random_rgb(seed=4)
    assert np.abs(lab_to_rgb_np(rgb_to_lab_np(rgb)) - rgb).max() < 1e-4


def test_batched_torch_matches_per_image():
    batch = torch.rand(3, 3, 8, 10)
    lab = rgb_to_lab(batch)
    assert lab.shape == batch.shape and lab.dtype == torch.float32
    for i in range(3):
        assert torch.allclose(lab[i], rgb_to_lab(batch[i]), atol=1e-4)
    assert torch.allclose(lab_to_rgb(lab), batch, atol=1e-4)


def test_gamut_fit_keeps_lightness_where_clipping_would_not():
    lab = np.random.default_rng(5).uniform([5, -110, -110], [95, 110, 110], (30, 30, 3)).astype(np.float32)
    fitted = skcolor.rgb2lab(lab_to_rgb_np(lab))
    clipped = skcolor.rgb2lab(np.clip(lab_to_rgb_np(lab, fit_gamut=False), 0, 1))
    assert np.abs(fitted[..., 0] - lab[..., 0]).max() < 0.05
    assert np.abs(clipped[..., 0] - lab[..., 0]).max() > 5  # the test would catch plain clipping
    # and it loses no more chroma than it must: in-gamut colours come back unchanged
    inside = skcolor.rgb2lab(random_rgb(seed=6))
    assert np.abs(lab_to_rgb_np(inside) - skcolor.lab2rgb(inside)).max() < 1e-3


def test_gray_to_l_equals_lab_of_gray_rgb():
    gray = torch.linspace(0, 1, 101)
    rgb = gray[None, :, None].expand(3, 101, 1)
    assert torch.allclose(gray_to_l(gray), rgb_to_lab(rgb)[0, :, 0], atol=1e-4)


def test_normalization_round_trips_and_spans_minus_one_to_one():
    l = torch.tensor([0.0, 50.0, 100.0])
    assert torch.allclose(normalize_l(l), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(denormalize_l(normalize_l(l)), l)
    ab = torch.tensor([-AB_SCALE, 0.0, AB_SCALE])
    assert torch.allclose(normalize_ab(ab), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(denormalize_ab(normalize_ab(ab)), ab)


def test_the_8_bit_planar_path_matches_lab_to_rgb_within_one_level():
    from model.color import lab_to_srgb8
    torch.manual_seed(0)
    l = torch.rand(60, 80) * 100
    ab = torch.nn.functional.interpolate(torch.randn(1, 2, 6, 8) * 40, size=(60, 80), mode="bilinear")[0]
    lab = torch.cat([l[None], ab])  # chroma up to about 100: many colours outside sRGB, fitted
    expected = (lab_to_rgb(lab.clone()) * 255).round().to(torch.uint8).permute(1, 2, 0)
    got = lab_to_srgb8(l, ab[0].contiguous(), ab[1].contiguous())
    assert got.shape == (60, 80, 3) and got.dtype == torch.uint8
    difference = (got.int() - expected.int()).abs()
    assert difference.max() <= 1 and (difference > 0).float().mean() < 0.01


FORK_PROBE = """
import os, sys, time, torch
import app  # what gunicorn's master imports through its config file
pid = os.fork()
if pid == 0:
    torch.set_num_threads(2)
    torch.nn.functional.conv2d(torch.randn(1, 16, 256, 256), torch.randn(16, 16, 3, 3))
    os._exit(0)
for _ in range(100):
    if os.waitpid(pid, os.WNOHANG)[0]:
        sys.exit(0)
    time.sleep(0.1)
os.kill(pid, 9)
sys.exit("the forked child hung in its first multi-threaded torch call")
"""


@pytest.mark.slow
def test_importing_the_app_leaves_torch_safe_to_fork():
    """gunicorn's master imports the app package (its config lives there) and then forks the workers: a torch
    thread pool started at import made a worker with two torch threads hang while loading the model."""
    root = Path(__file__).resolve().parent.parent.parent
    result = subprocess.run([sys.executable, "-c", FORK_PROBE], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
