"""Colour points kept to their regions (model.points), and through the Colorizer with a net that leaks them."""
import numpy as np
import pytest
import torch
from PIL import Image

from model.color import fit_gamut_np, rgb_to_lab_np
from model.colorizer import Colorizer
from model.hints import color_to_ab
from model.points import (edge_costs, geodesic_distance, guide_shape, guided_coefficients, point_change,
                          to_grid)
from model.weights import save_network
from tests.conftest import TINY, LeakyHints

BLUE = "#2e59c6"


def two_areas(width: int = 160, height: int = 120, left: int = 60, right: int = 170) -> Image.Image:
    """A gray photo of two flat areas of different lightness, side by side, with a little noise."""
    gray = np.full((height, width), left, np.float32)
    gray[:, width // 2:] = right
    gray += np.random.default_rng(0).normal(0, 2, gray.shape)
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))


def ab_of(image: Image.Image) -> np.ndarray:
    return rgb_to_lab_np(np.asarray(image.convert("RGB")))[..., 1:]


def test_the_guide_is_the_photo_up_to_its_budget_and_a_grid_cell_holds_its_pixel():
    assert guide_shape(120, 160) == (120, 160)
    assert guide_shape(3000, 4000, pixels=1 << 18) == (443, 591)
    assert to_grid(0, 0, 4000, 3000, 591, 443) == (0, 0) and to_grid(3999, 2999, 4000, 3000, 591, 443) == (590, 442)
    assert to_grid(2000, 1500, 4000, 3000, 400, 300) == (200, 150)


def test_a_step_costs_its_length_and_the_lightness_it_crosses_above_the_floor():
    l = np.zeros((10, 20), np.float32)
    l[:, 10:] = 31  # one edge of 31 L between columns 9 and 10
    right, down = edge_costs(l, blur_sigma=0, floor=1, scale=3, reach=2)
    step = 1 / (2 * 10)
    assert np.allclose(down, step) and np.allclose(right[:, :9], step)
    assert np.allclose(right[:, 9], step + (31 - 1) / 3)


def test_geodesic_distance_goes_around_a_wall_and_sums_the_steps():
    right, down = np.full((9, 8), 1.0, np.float32), np.full((8, 9), 1.0, np.float32)
    right[:8, 3] = 100  # a wall between columns 3 and 4, open in the last row
    distance = geodesic_distance(right, down, [(0, 0)])[0]
    assert distance[0, 3] == 3 and distance[8, 0] == 8
    # down to the gap (3 diagonal steps and 5 straight), across, and up again: not 4 through the wall
    assert distance[0, 4] == pytest.approx(5 + 3 * np.sqrt(2) + 1 + 8)
    both = geodesic_distance(right, down, [(0, 0), (8, 0)])
    assert both.shape == (2, 9, 9) and both[1, 0, 4] == 4


def test_the_guided_filter_keeps_a_constant_and_a_linear_function_of_the_guide():
    l = torch.from_numpy(np.random.default_rng(1).uniform(0, 100, (30, 40)).astype(np.float32))
    slope, offset = guided_coefficients(l, torch.full((2, 30, 40), 0.3))
    assert torch.allclose(slope, torch.zeros(1), atol=1e-5) and torch.allclose(offset, torch.tensor(0.3), atol=1e-5)
    linear = torch.stack([0.01 * l - 0.2, -0.005 * l])
    slope, offset = guided_coefficients(l, linear, eps=1e-6)
    assert torch.allclose(slope * l + offset, linear, atol=1e-3)


def test_a_change_stays_on_the_points_side_of_an_edge_and_the_point_gets_its_colour():
    l = np.full((40, 60), 30, np.float32)
    l[:, 30:] = 70
    base = torch.zeros(2, 40, 60)
    change = torch.full((2, 40, 60), 0.3)  # the net changed the whole picture: a leak across the edge
    asked = torch.tensor([[0.4, -0.2]])
    total, reach = point_change(l, base, change, [(10, 20)], asked)
    assert reach[20, 10] == 1 and reach[:, 32:].max() < 0.01
    assert torch.allclose(total[:, 20, 10], asked[0], atol=1e-4)  # exactly the asked colour at the point
    assert total[0, :, :24].min() > 0.25  # its own side takes it (a: the net said 0.3, the point 0.4)
    assert total[:, :, 32:].abs().max() < 0.005  # the other side keeps its colour (half an ab unit)


def test_a_larger_edge_scale_lets_a_point_cross_more_of_an_edge():
    """The weights' points_edge_scale: a network trained with recoloured points keeps a point's colour to its
    object itself, and may let its points cross more of the photo's lightness."""
    l = np.full((40, 60), 30, np.float32)
    l[:, 30:] = 70  # an edge of 40 L
    base, change, asked = torch.zeros(2, 40, 60), torch.full((2, 40, 60), 0.3), torch.tensor([[0.4, -0.2]])
    _, strict = point_change(l, base, change, [(10, 20)], asked)  # model.points.EDGE_SCALE, 4
    _, relaxed = point_change(l, base, change, [(10, 20)], asked, edge_scale=16.0)
    assert strict[:, 34:].max() < 0.01 and relaxed[:, 34:].min() > 0.1  # across the edge: ~0.2 instead of ~0.003
    assert torch.allclose(strict[:, :24], relaxed[:, :24])  # on the point's own side: the same reach


def test_points_given_twice_on_one_pixel_are_averaged_not_broken():
    l = np.full((20, 20), 50, np.float32)
    total, _ = point_change(l, torch.zeros(2, 20, 20), torch.zeros(2, 20, 20), [(5, 5), (5, 5)],
                         torch.tensor([[0.2, 0.0], [0.4, 0.0]]))
    assert torch.isfinite(total).all() and torch.allclose(total[:, 5, 5], torch.tensor([0.3, 0.0]), atol=1e-4)


def test_many_points_each_get_their_colour_and_share_out_smoothly_between_them():
    """A reference gives dozens of points: what they lack is shared out on a coarser grid (model.points.share_out);
    each still gets exactly its colour, and between two points the colour lies between theirs; two points a
    couple of guide cells apart share their lack, each within 0.03 (3 ab) of its own. The reach is the nearest
    point's distance, the least of each point's own, exactly."""
    l = np.random.default_rng(2).normal(50, 3, (90, 120)).astype(np.float32)
    l[:, 80:] += 40  # an edge: the points on the right are on another region
    seeds = [(10, 10), (60, 20), (30, 70), (100, 45), (115, 85), (61, 22)]
    asked = torch.tensor([[0.4, -0.2], [-0.3, 0.1], [0.1, 0.5], [0.2, 0.2], [-0.4, -0.4], [-0.25, 0.1]])
    total, reach = point_change(l, torch.zeros(2, 90, 120), torch.zeros(2, 90, 120), seeds, asked)
    for (column, row), colour in list(zip(seeds, asked))[:5]:
        if (column, row) != seeds[1]:
            assert torch.allclose(total[:, row, column], colour, atol=1e-4), (column, row)
    for index in (1, 5):  # the near pair
        (column, row), colour = seeds[index], asked[index]
        assert (total[:, row, column] - colour).abs().max() < 0.03
    between = total[0, 15, 35]  # between the first point (a 0.4) and the second (a -0.3), on their region
    assert -0.3 < between < 0.4
    right, down = edge_costs(l, None)
    own = geodesic_distance(right, down, seeds, dab=0.015 * 90)
    assert torch.allclose(reach, torch.exp(-torch.from_numpy(own.min(axis=0))), atol=1e-6)


@pytest.fixture(scope="module")
def leaky(leaky_weights) -> Colorizer:
    return Colorizer.load(leaky_weights)


def test_a_point_does_not_colour_the_region_across_a_strong_edge(leaky):
    photo = two_areas()
    automatic = ab_of(leaky(photo))
    pointed = ab_of(leaky(photo, hints=[{"x": 40, "y": 60, "color": BLUE}]))
    change = np.linalg.norm(pointed - automatic, axis=-1)
    assert change[:, 84:].max() < 2  # the bright side: unchanged, though the net coloured it all
    assert change[:, :76].min() > 20  # the point's own side: all of it
    lab = rgb_to_lab_np(np.asarray(leaky(photo, hints=[{"x": 40, "y": 60, "color": BLUE}]).convert("RGB")))
    shown = fit_gamut_np(np.array([lab[60, 40, 0], *color_to_ab(BLUE)]))[1:]  # at the photo's L, as sRGB can
    assert np.linalg.norm(lab[60, 40, 1:] - shown) < 2


def test_the_same_holds_on_a_photo_larger_than_the_guide(leaky, monkeypatch):
    """A photo larger than the guide grid: the change reaches full resolution through the guided filter, and its
    edge stays on the photo's edge."""
    monkeypatch.setattr("model.colorizer.guide_shape", lambda h, w: guide_shape(h, w, pixels=40 * 30))
    photo = two_areas(320, 240)
    change = np.linalg.norm(ab_of(leaky(photo, hints=[{"x": 80, "y": 120, "color": BLUE}])) - ab_of(leaky(photo)),
                            axis=-1)
    assert change[:, 172:].max() < 2 and change[:, :150].min() > 20


def test_the_colorizer_uses_the_weights_edge_scale(leaky_weights, tmp_path):
    """A weights file's points_edge_scale reaches the points: a point crosses the edge between the two areas
    (110 L) at 64, not at the default 4; at_operating_point sets it for a measure (training.evaluate)."""
    relaxed_path = tmp_path / "relaxed.pt"
    save_network(LeakyHints(**TINY, stem_stride=1), relaxed_path,
                 {"working_size": 64, "chroma_gain": 1.0, "points_edge_scale": 64.0})
    relaxed, strict = Colorizer.load(relaxed_path), Colorizer.load(leaky_weights)
    assert (relaxed.edge_scale, strict.edge_scale) == (64.0, 4.0)
    photo, point = two_areas(), [{"x": 40, "y": 60, "color": BLUE}]
    for colorizer, crosses in ((strict, False), (relaxed, True),
                               (relaxed.at_operating_point(1.0, edge_scale=4.0), False)):
        change = np.linalg.norm(ab_of(colorizer(photo, hints=point)) - ab_of(colorizer(photo)), axis=-1)
        assert (change[:, 84:].mean() > 10) == crosses
    assert strict.at_operating_point(1.5).edge_scale == 4.0  # a gain sweep keeps the model's own


def test_with_no_points_the_edge_aware_step_does_not_run(leaky, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("point_change ran without points")
    monkeypatch.setattr("model.colorizer.point_change", fail)
    leaky(two_areas())
    leaky(two_areas(), hints=[])


def test_a_change_in_what_the_network_did_for_the_points_makes_an_edge_where_the_lightness_does_not():
    l = np.full((20, 40), 50, np.float32)
    change = np.zeros((2, 20, 40), np.float32)
    change[1, :, :20] = -60  # the network turned the left thing blue and left the right one, of one lightness
    right, down = edge_costs(l, change, change_scale=40)
    assert right[:, 19].min() > right[:, :19].max() + 1  # crossing costs 60 / 40 more
    assert np.allclose(edge_costs(l)[0], right[:, :19].max())  # without it, no edge


def test_near_a_point_the_chroma_gain_is_one_and_far_from_it_the_operating_points(colorizer):
    """Where the user gave the colour the net is not unsure: a point's region is painted at gain 1, whatever the
    weights' gain; across an edge the picture keeps its operating point."""
    photo = two_areas()
    vivid = colorizer.at_operating_point(2.5)
    hints = [{"x": 40, "y": 60, "color": BLUE}]
    plain_ab, vivid_ab = ab_of(colorizer(photo, hints=hints)), ab_of(vivid(photo, hints=hints))
    # the point's side: the same at either gain (to 4 ab: the tiny net's own answer to the point fades over the
    # area, which model.points reads as a faint edge, so the far end of it is not quite all reached)
    assert np.abs(plain_ab[:, :70] - vivid_ab[:, :70]).max() < 4
    far_plain, far_vivid = ab_of(colorizer(photo))[:, 90:], ab_of(vivid(photo))[:, 90:]
    assert np.abs(vivid_ab[:, 90:] - far_vivid).max() < 2 and np.abs(plain_ab[:, 90:] - far_plain).max() < 2


def test_vividness_scales_a_points_colour_as_it_scales_the_rest(leaky):
    photo, hints = two_areas(), [{"x": 40, "y": 60, "color": BLUE}]
    gray = np.asarray(leaky(photo, hints=hints, vividness=0), dtype=int)
    assert np.abs(gray - gray[..., :1]).max() <= 1  # R = G = B: no colour at the point either
    soft = [{"x": 120, "y": 60, "color": "#b08a70"}]  # on the light side, well inside sRGB at either strength
    plain = np.linalg.norm(ab_of(leaky(photo, hints=soft))[60, 120])
    half = np.linalg.norm(ab_of(leaky(photo, hints=soft, vividness=0.5))[60, 120])
    assert plain > 15 and half == pytest.approx(plain / 2, rel=0.1)
