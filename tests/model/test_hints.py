"""Colour hints: parsing what users send, the layer the network reads, and the Colorizer's use of both."""
import math

import numpy as np
import pytest
import torch
from PIL import ImageOps

from model.color import normalize_ab
from model.generator import Generator, load_compatible
from model.hints import HINT_SIDE, Hint, color_to_ab, hint_layer, parse_hints
from tests.conftest import TINY, synthetic_photo


def test_a_colour_gives_its_hue_and_chroma():
    a, b = color_to_ab("#c02020")  # a red: a well above 0
    assert a > 40 and b > 20
    assert color_to_ab("#808080") == pytest.approx((0, 0), abs=0.01)  # gray has no chroma
    blue = color_to_ab("#2040C0")
    assert blue[1] < -40 and color_to_ab("#2040c0") == blue  # hex digits in either case


def test_valid_hints_are_parsed_in_order():
    hints = parse_hints([{"x": 0, "y": 5, "color": "#c02020"}, {"x": 99, "y": 0, "color": "#20c020"}], 100, 50)
    assert [(h.x, h.y) for h in hints] == [(0, 5), (99, 0)]
    assert (hints[0].a, hints[0].b) == pytest.approx(color_to_ab("#c02020"))
    assert parse_hints(None, 10, 10) == [] and parse_hints([], 10, 10) == []
    already = Hint(3, 4, 10.0, -5.0)
    assert parse_hints([already], 10, 10) == [already]


@pytest.mark.parametrize("hints,message", [
    ({"x": 1, "y": 1, "color": "#ffffff"}, "must be a list"),
    ("[]", "must be a list"),
    ([[1, 2, "#ffffff"]], "hint 1 must be an object"),
    ([{"x": 1, "color": "#ffffff"}], "hint 1 has no y"),
    ([{"x": 1, "y": 2, "color": "#fff"}], "hint 1: color must be '#rrggbb'"),
    ([{"x": 1, "y": 2, "color": "red"}], "color must be '#rrggbb'"),
    ([{"x": 1, "y": 2, "color": "#gg0000"}], "color must be '#rrggbb'"),
    ([{"x": 1, "y": 2, "color": 0xff0000}], "color must be '#rrggbb'"),
    ([{"x": 1, "y": 1, "color": "#ffffff"}, {"x": 100, "y": 2, "color": "#ffffff"}],
     "hint 2: x = 100 is outside the image, which is 100 pixels wide"),
    ([{"x": 1, "y": -1, "color": "#ffffff"}], "y = -1 is outside the image, which is 50 pixels high"),
    ([{"x": 1.5, "y": 2, "color": "#ffffff"}], "x must be a whole number"),
    ([{"x": "3", "y": 2, "color": "#ffffff"}], "x must be a whole number"),
    ([{"x": True, "y": 2, "color": "#ffffff"}], "x must be a whole number"),
    ([{"x": math.nan, "y": 2, "color": "#ffffff"}], "x must be a whole number"),
])
def test_bad_hints_raise_a_value_error_that_says_what_is_wrong(hints, message):
    with pytest.raises(ValueError, match=message):
        parse_hints(hints, 100, 50)


def test_the_layer_marks_a_square_with_the_normalized_colour():
    hint = Hint(50, 20, 40.0, -30.0)  # on a 100 x 40 image drawn at 50 x 20: pixel (25, 10)
    layer = hint_layer([hint], 100, 40, 50, 20)
    assert layer.shape == (3, 20, 50)
    rows, columns = torch.nonzero(layer[2], as_tuple=True)
    assert layer[2].sum() == HINT_SIDE**2 and rows.float().mean() == 10 and columns.float().mean() == 25
    assert torch.allclose(layer[:2, 10, 25], normalize_ab(torch.tensor([40.0, -30.0])))
    assert layer[:2][:, layer[2] == 0].abs().max() == 0  # no colour where there is no hint


def test_a_hint_at_the_corner_is_clipped_not_lost():
    layer = hint_layer([Hint(0, 0, 20.0, 20.0), Hint(99, 39, -20.0, 20.0)], 100, 40, 50, 20)
    half = HINT_SIDE // 2 + 1
    assert layer[2, :half, :half].all() and layer[2, -half:, -half:].all()
    assert layer[2].sum() == 2 * half * half


def test_zero_hints_are_exactly_the_automatic_generator():
    generator = Generator(**TINY).eval()
    torch.nn.init.normal_(generator.hint_stem.weight)
    l = torch.randn(2, 1, 32, 48)
    with torch.no_grad():
        assert torch.equal(generator(l), generator(l, torch.zeros(2, 3, 32, 48)))


def test_the_scripted_generator_takes_hints_as_the_eager_one():
    generator = Generator(**TINY).eval()
    torch.nn.init.normal_(generator.hint_stem.weight)
    scripted = torch.jit.script(generator)
    l, hints = torch.randn(1, 1, 24, 40), torch.zeros(1, 3, 24, 40)
    hints[:, :, 5:10, 8:13] = torch.tensor([0.5, -0.3, 1.0])[:, None, None]
    with torch.no_grad():
        with_hints = scripted(l, hints)
        assert torch.allclose(with_hints, generator(l, hints), atol=1e-5)
        assert not torch.allclose(with_hints, scripted(l), atol=1e-3)


def test_weights_made_before_the_hint_layer_load_with_that_layer_at_zero():
    old = Generator(**TINY).eval()
    state = {k: v for k, v in old.state_dict().items() if not k.startswith("hint_stem.")}
    new = Generator(**TINY).eval()
    torch.nn.init.normal_(new.hint_stem.weight)
    assert load_compatible(new, state) == ["hint_stem.weight"]
    assert new.hint_stem.weight.abs().max() == 0
    l, hints = torch.randn(1, 1, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(new(l, hints), old(l))  # it colorizes exactly as before, hints or not
    with pytest.raises(RuntimeError, match="which this architecture lacks"):
        load_compatible(Generator(base_channels=8, levels=2), state)


def test_the_colorizer_with_no_hints_is_the_automatic_colorizer(colorizer):
    photo = synthetic_photo(4)
    automatic = np.asarray(colorizer(photo))
    assert np.array_equal(np.asarray(colorizer(photo, hints=[])), automatic)
    assert np.array_equal(np.asarray(colorizer(photo, hints=None, vividness=1)), automatic)


def test_a_hint_changes_the_colours_around_it_and_not_far_away(colorizer):
    photo = synthetic_photo(4, (192, 144)).convert("L")
    automatic = np.asarray(colorizer(photo), dtype=int)
    hinted = np.asarray(colorizer(photo, hints=[{"x": 20, "y": 20, "color": "#2040c0"}]), dtype=int)
    near = np.abs(hinted - automatic)[10:30, 10:30].mean()
    assert near > 1 and near > 4 * np.abs(hinted - automatic)[120:, 150:].mean()


def test_a_mirrored_photo_with_mirrored_hints_gets_mirrored_colours(colorizer):
    photo = synthetic_photo(5, size=(64, 48))  # the tiny net's working size is 48: no padding, an exact mirror
    hints = [{"x": 10, "y": 30, "color": "#c02020"}, {"x": 50, "y": 8, "color": "#20c040"}]
    mirrored_hints = [{**h, "x": 63 - h["x"]} for h in hints]
    ours = colorizer(photo, hints=hints)
    mirrored = np.asarray(colorizer(ImageOps.mirror(photo), hints=mirrored_hints), int)
    assert np.abs(mirrored - np.asarray(ImageOps.mirror(ours), int)).max() <= 1
    assert not np.array_equal(np.asarray(ours), np.asarray(colorizer(photo)))


def test_hints_are_in_the_upright_image(colorizer):
    """A hint's x and y are pixels of the photo as displayed, after its EXIF orientation."""
    import io
    from PIL import Image
    photo = synthetic_photo(6, (120, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated: 60 wide, 120 high
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif.tobytes())
    with Image.open(buffer) as rotated:
        assert colorizer(rotated, hints=[{"x": 59, "y": 119, "color": "#c02020"}]).size == (60, 120)
        with pytest.raises(ValueError, match="x = 100 is outside the image, which is 60 pixels wide"):
            colorizer(rotated, hints=[{"x": 100, "y": 10, "color": "#c02020"}])


def test_vividness_zero_is_gray_and_two_is_more_colourful(colorizer):
    from training.evaluate import colorfulness
    photo = synthetic_photo(7, (96, 72))
    gray = np.asarray(colorizer(photo, vividness=0), dtype=int)
    assert np.abs(gray - gray[..., :1]).max() <= 1  # R = G = B, within rounding
    plain, vivid = (colorfulness(np.asarray(colorizer(photo, vividness=v))) for v in (1, 2))
    assert vivid > 1.5 * plain


@pytest.mark.parametrize("vividness", [-0.1, 2.01, math.nan, math.inf, "1", True])
def test_vividness_out_of_range_raises_a_value_error(colorizer, vividness):
    with pytest.raises(ValueError, match="vividness must be a number from 0 .* to 2"):
        colorizer(synthetic_photo(8), vividness=vividness)
