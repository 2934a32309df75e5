"""Simulated hints for training and for the evaluation sweep (Zhang et al. 2017's sampling)."""
import math
import random

import numpy as np
import pytest
import torch

from model.color import rgb_to_lab_np
from tests.conftest import synthetic_photo
from training.hints import SWEEP_SIDE, gaussian_patch, patch_hints, point_count, simulate_hints, sweep_hints


def test_point_counts_follow_the_share_without_hints_and_the_geometric_rest():
    rng = random.Random(0)
    counts = np.array([point_count(rng, 0.5, 0.125) for _ in range(20000)])
    assert abs((counts == 0).mean() - 0.5) < 0.02
    hinted = counts[counts > 0]
    assert hinted.min() == 1 and abs(hinted.mean() - 8) < 0.3  # 1 + geometric with mean (1 - p) / p = 7
    assert all(point_count(rng, 0.0, 1.0) == 1 for _ in range(100))


def test_patches_are_inside_and_centred_on_average():
    rng = random.Random(1)
    corners = np.array([gaussian_patch(60, 100, 9, rng) for _ in range(5000)])
    assert corners.min() >= 0 and corners[:, 0].max() <= 51 and corners[:, 1].max() <= 91
    assert abs(corners[:, 0].mean() - 26) < 1 and abs(corners[:, 1].mean() - 46) < 1
    assert 8 < corners[:, 1].std() < 24  # a quarter of the free range, less what the clipping takes


def test_each_simulated_patch_holds_the_mean_colour_of_the_original_there():
    torch.manual_seed(0)
    ab = torch.rand(6, 2, 32, 40) * 2 - 1
    layer = patch_hints(ab, [1] * 6, random.Random(2))
    assert layer.shape == (6, 3, 32, 40)
    for i in range(6):
        rows, columns = torch.nonzero(layer[i, 2], as_tuple=True)
        top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
        assert bottom - top == right - left and 1 <= bottom - top <= 9  # one square patch
        assert layer[i, 2].sum() == (bottom - top) ** 2
        expected = ab[i, :, top:bottom, left:right].mean(dim=(1, 2))
        assert torch.allclose(layer[i, :2, top:bottom, left:right], expected[:, None, None].expand(2, bottom - top, right - left))
        assert layer[i, :2][:, layer[i, 2] == 0].abs().max() == 0


def test_simulated_hints_leave_the_share_without_hints_empty():
    ab = torch.rand(400, 2, 16, 16)
    layer = simulate_hints(ab, 0.5, 0.125, random.Random(3))
    empty = (layer[:, 2].flatten(1).sum(dim=1) == 0).float().mean().item()
    assert 0.4 < empty < 0.6
    assert simulate_hints(ab[:20], 1.0, 0.125, random.Random(4)).abs().max() == 0


def test_the_sweep_reveals_count_patches_with_their_mean_colour_and_is_repeatable():
    lab = rgb_to_lab_np(np.asarray(synthetic_photo(3, (120, 90))))
    hints, corners = sweep_hints(lab, 10, random.Random("photo.jpg:10"))
    assert len(hints) == len(corners) == 10
    for hint, (top, left) in zip(hints, corners):
        patch = lab[top:top + SWEEP_SIDE, left:left + SWEEP_SIDE, 1:]
        assert (hint.x, hint.y) == (left + SWEEP_SIDE // 2, top + SWEEP_SIDE // 2)
        assert (hint.a, hint.b) == pytest.approx(tuple(patch.reshape(-1, 2).mean(axis=0)), abs=1e-4)
    again, _ = sweep_hints(lab, 10, random.Random("photo.jpg:10"))
    assert again == hints


def painted_one_by_one(ab: torch.Tensor, counts: list[int], rng: random.Random) -> torch.Tensor:
    """The hint layer painted patch by patch, as the plain reading of Zhang et al.'s sampler: the reference."""
    batch, _, height, width = ab.shape
    layer = torch.zeros(batch, 3, height, width)
    for i, count in enumerate(counts):
        for _ in range(count):
            side = rng.choice(range(1, 10))
            top, left = gaussian_patch(height, width, side, rng)
            rows, columns = slice(top, top + side), slice(left, left + side)
            layer[i, :2, rows, columns] = ab[i, :, rows, columns].double().mean(dim=(1, 2)).float()[:, None, None]
            layer[i, 2, rows, columns] = 1
    return layer


def test_painting_all_patches_at_once_equals_painting_them_one_by_one_overlaps_included():
    torch.manual_seed(5)
    ab = torch.rand(8, 2, 20, 24) * 2 - 1
    counts = [0, 1, 3, 12, 40, 0, 7, 25]  # many patches on a small crop: they overlap, the later one wins
    fast = patch_hints(ab, counts, random.Random(6))
    reference = painted_one_by_one(ab, counts, random.Random(6))
    assert torch.equal(fast[:, 2], reference[:, 2])
    assert torch.allclose(fast, reference, atol=1e-6)
    assert fast[0].abs().max() == 0 and fast[3, 2].sum() > 9


def two_regions(height: int = 48, width: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized L and ab of a photo: a red square (with grain, and a darker hole in it) on a blue ground, the
    square lighter than the ground so that the lightness shows its edge."""
    rng = np.random.default_rng(0)
    lab = np.zeros((height, width, 3), np.float32)
    lab[...] = (40, 10, -40)
    lab[12:36, 12:36] = (70, 50, 30)
    lab[22:26, 22:26] = (40, 50, 30)  # a hole of another lightness: still the square's colour in the end
    lab += rng.normal(0, 1.0, lab.shape).astype(np.float32)
    l = torch.from_numpy(lab[..., 0])[None, None] / 50 - 1
    ab = torch.from_numpy(lab[..., 1:]).permute(2, 0, 1)[None] / 110
    return l, ab


def test_a_like_region_is_the_segment_under_the_point_with_its_holes_filled():
    from training.hints import like_region
    l, ab = two_regions()
    lab = torch.cat([(l + 1) * 50, ab * 110], dim=1)[0].permute(1, 2, 0).numpy()
    lab = np.ascontiguousarray(lab.repeat(2, axis=0).repeat(2, axis=1))  # 96 x 96: the square at 24:72, its hole
    region = like_region(lab, 30, 30)  # at 44:52, too wide for the closing alone to fill
    square = np.zeros_like(region)
    square[24:72, 24:72] = True
    assert region[44:52, 44:52].all()  # the small hole is filled
    assert not region[~square].any()  # nothing of the ground
    assert region[square].mean() > 0.98  # the rim too, which the blur mixed with the ground (corners round off)
    assert not like_region(lab, 24, 48).any()  # a point on the edge: no region
    lab[36:60, 36:60, 0] = 40  # a large inner part of another lightness (a logo on a shirt) keeps its colour
    region = like_region(lab, 30, 30)
    assert not region[38:58, 38:58].any() and region[28:34, 28:68].all()


def test_turning_the_hue_keeps_chroma_and_leaves_the_rest_alone():
    from training.hints import turn_hue
    ab = torch.tensor([[[0.3, 0.3]], [[0.0, 0.0]]])  # (2, 1, 2): two pixels of a = 0.3
    turn_hue(ab, torch.tensor([[True, False]]), math.pi / 2)
    assert ab[:, 0, 0].tolist() == pytest.approx([0.0, 0.3], abs=1e-6)  # a quarter turn: a -> b
    assert ab[:, 0, 1].tolist() == pytest.approx([0.3, 0.0])


def test_a_recoloured_point_says_its_regions_new_colour_and_nothing_else_changes():
    from training.hints import recoloured_hints
    l, ab = two_regions()
    l, ab = l.repeat(16, 1, 1, 1), ab.repeat(16, 1, 1, 1)
    target, hints = recoloured_hints(l, ab, 0.0, 1.0, 1.0, random.Random(1))  # one point each, all recoloured
    changed = (target - ab).abs().sum(dim=1) > 1e-6
    recoloured = [i for i in range(16) if changed[i].any()]
    assert len(recoloured) >= 4  # points in the ground are too large a region (over half the photo): left alone
    for i in recoloured:
        assert not changed[i, :12].any() and not changed[i, 36:].any()  # the ground is too large: never turned
        assert torch.allclose(target[i].norm(dim=0), ab[i].norm(dim=0), atol=1e-5)  # the same chroma, turned
        mask = hints[i, 2] > 0
        assert mask.any() and changed[i][mask].all()  # the point sits on the region and
        assert torch.allclose(hints[i, :2][:, mask].mean(dim=1), target[i][:, mask].mean(dim=1), atol=1e-5)
    assert max(changed[i, 12:36, 12:36].float().mean() for i in recoloured) > 0.98  # a point on the square: all
    for i in set(range(16)) - set(recoloured):
        assert torch.equal(target[i], ab[i])


def test_without_recolouring_the_hints_are_the_plain_simulation_draw_for_draw():
    from training.hints import recoloured_hints
    l, ab = two_regions()
    l, ab = l.repeat(6, 1, 1, 1), ab.repeat(6, 1, 1, 1)
    target, hints = recoloured_hints(l, ab, 0.5, 0.125, 0.0, random.Random(7))
    assert target is ab and torch.equal(hints, simulate_hints(ab, 0.5, 0.125, random.Random(7)))
