import io
from typing import Optional

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from model.color import rgb_to_lab_np
from model.colorizer import Colorizer, expand_chroma, lightness, working_shape
from model.weights import WeightsError, save_network
from model.generator import Generator
from tests.conftest import held_out_old_print, synthetic_photo
from training.export import export


def l_psnr(a: Image.Image, b: Image.Image) -> float:
    """PSNR in dB of the Lab L channels of two RGB images (peak 100)."""
    la, lb = (rgb_to_lab_np(np.asarray(im.convert("RGB")))[..., 0] for im in (a, b))
    return 10 * np.log10(100**2 / max(np.mean((la - lb) ** 2), 1e-12))


@pytest.mark.parametrize("size", [(96, 72), (301, 157), (1, 1), (3000, 8), (8, 500)])
def test_output_has_the_input_size(colorizer, size):
    image = synthetic_photo(1, (max(size[0], 16), max(size[1], 16))).resize(size)
    assert colorizer(image).size == size


@pytest.mark.parametrize("working_size", [32, 64, 200])
def test_output_keeps_the_input_lightness_through_png(colorizer, working_size):
    gray = synthetic_photo(2, (333, 250)).convert("L")
    png = io.BytesIO()
    colorizer(gray, size=working_size).save(png, "PNG")
    with Image.open(png) as decoded:
        assert l_psnr(decoded, gray.convert("RGB")) >= 40


def test_a_color_input_is_treated_as_gray(colorizer):
    photo = synthetic_photo(3)
    lab = rgb_to_lab_np(np.asarray(photo))
    lab[..., 1:] = 0
    from model.color import lab_to_rgb_np
    gray = Image.fromarray((lab_to_rgb_np(lab) * 255).round().astype(np.uint8))
    a, b = np.asarray(colorizer(photo), dtype=int), np.asarray(colorizer(gray), dtype=int)
    assert np.abs(a - b).max() <= 3  # the same lightness in, the same colors out (up to 8-bit rounding)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "CMYK", "1", "I;16"])
def test_every_pillow_mode_is_accepted(colorizer, mode):
    image = synthetic_photo(4).convert("L" if mode == "I;16" else mode)
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) * 257))
        assert image.mode == "I;16"
    result = colorizer(image)
    assert result.mode == "RGB" and result.size == image.size


def test_sixteen_bit_gray_is_scaled_not_clipped():
    mid = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    assert mid.mode == "I;16"
    assert lightness(mid).mean().item() == pytest.approx(lightness(Image.new("L", (8, 8), 128)).mean().item(), abs=0.3)


def test_exif_orientation_is_honoured(colorizer):
    image = synthetic_photo(5, (120, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", exif=exif.tobytes())
    with Image.open(jpeg) as rotated:
        assert colorizer(rotated).size == (60, 120)


@pytest.mark.parametrize("size", [10, 5000, 64.5, True, "64"])
def test_working_size_is_bounded(colorizer, size):
    with pytest.raises(ValueError, match="from 32 to 1024"):
        colorizer(synthetic_photo(6), size=size)


def test_working_shape_keeps_the_aspect_and_bounds_strips():
    assert working_shape(768, 1024, 256) == (256, 341)
    assert working_shape(100, 100, 256) == (256, 256)
    height, width = working_shape(8, 4000, 256)
    assert width == 2 * 256 and height >= 1  # MAX_ASPECT: the long side is bounded too
    assert working_shape(256, 900, 144) == (82, 288)  # a panorama: the long side caps the scale


def test_the_model_sees_a_size_independent_image(colorizer):
    """The network runs at the working size, so a photo and its 3x enlargement get the same colors."""
    small = synthetic_photo(7, (128, 96))
    large = small.resize((384, 288), Image.Resampling.BICUBIC)
    a = np.asarray(colorizer(small).resize((128, 96), Image.Resampling.BOX), dtype=float)
    b = np.asarray(colorizer(large).resize((128, 96), Image.Resampling.BOX), dtype=float)
    assert np.abs(a - b).mean() < 3


def test_identity_and_info(colorizer, tiny_weights):
    assert len(colorizer.sha256) == 64
    assert colorizer.info["stride"] == 4 and colorizer.default_size == 48


def test_a_mirrored_photo_gets_mirrored_colours(colorizer):
    photo = synthetic_photo(5, size=(64, 48))  # the tiny net's working size is 48: no padding, an exact mirror
    mirrored = np.asarray(colorizer(ImageOps.mirror(photo)), int)
    assert np.abs(mirrored - np.asarray(ImageOps.mirror(colorizer(photo)), int)).max() <= 1


def test_expand_chroma_scales_each_pictures_colours_around_its_own_mean():
    from model.colorizer import expand_chroma
    torch.manual_seed(0)
    ab = torch.randn(2, 2, 6, 5) * 0.1 + torch.tensor([0.2, -0.1])[None, :, None, None]
    assert expand_chroma(ab, 1.0) is ab
    wider = expand_chroma(ab, 2.0)
    mean = ab.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(wider.mean(dim=(2, 3), keepdim=True), mean, atol=1e-6)  # the cast stays as it was
    assert torch.allclose(wider - mean, 2 * (ab - mean), atol=1e-6)
    assert expand_chroma(torch.tensor([[[[0.9, -0.9]], [[0.0, 0.0]]]]), 3.0).abs().max() <= 1  # kept in range


def test_a_chroma_gain_in_the_weights_makes_the_same_net_more_colourful(tiny_checkpoint, tmp_path):
    export(tiny_checkpoint, tmp_path / "plain.pt")
    export(tiny_checkpoint, tmp_path / "vivid.pt", chroma_gain=2.5)
    plain, vivid = Colorizer.load(tmp_path / "plain.pt"), Colorizer.load(tmp_path / "vivid.pt")
    assert plain.chroma_gain == 1 and vivid.chroma_gain == 2.5
    photo = synthetic_photo(3)
    request = plain.check(photo, restore="off")
    ab_plain, ab_vivid = (c.predict(c.prepare(photo, request)).ab_small for c in (plain, vivid))
    mean = ab_plain.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(ab_vivid, (mean + 2.5 * (ab_plain - mean)).clamp(-1, 1), atol=1e-6)
    assert (ab_vivid - mean).abs().mean() > 2 * (ab_plain - mean).abs().mean()  # not all clamped away
    assert l_psnr(vivid(photo), photo) > 40  # colour only: the lightness is the photo's


def test_a_repaired_photo_is_painted_at_the_weights_repaired_gain_and_others_are_not(tiny_checkpoint, tmp_path):
    export(tiny_checkpoint, tmp_path / "plain.pt", chroma_gain=1.2)
    export(tiny_checkpoint, tmp_path / "prints.pt", chroma_gain=1.2, repaired_gain=2.4)
    plain, prints = Colorizer.load(tmp_path / "plain.pt"), Colorizer.load(tmp_path / "prints.pt")
    _, old = held_out_old_print()
    photo = Image.fromarray(old)
    for restore in ("off", "on"):
        request = plain.check(photo, restore=restore)
        seen = plain.prepare(photo, request)
        assert (seen.repair is not None and seen.repair["repaired"]) == (restore == "on")
        ab_plain, ab_prints = (c.predict(c.prepare(photo, request)).ab_small for c in (plain, prints))
        if restore == "off":  # not repaired: the photos' own gain
            assert torch.equal(ab_plain, ab_prints)
        else:  # repaired: twice as far from the mean colour as at 1.2
            raw = plain._network(seen.l_small)
            assert torch.allclose(ab_prints, expand_chroma(raw, 2.4), atol=1e-6)
            assert torch.allclose(ab_plain, expand_chroma(raw, 1.2), atol=1e-6)
            mean = raw.mean(dim=(2, 3), keepdim=True)
            assert (ab_prints - mean).abs().mean() > 1.5 * (ab_plain - mean).abs().mean()


@pytest.mark.parametrize("key", ["chroma_gain", "repaired_chroma_gain"])
@pytest.mark.parametrize("gain", [0, -1, 9.0, "2", True])
def test_a_bad_chroma_gain_in_the_weights_is_refused(tmp_path, gain, key):
    path = tmp_path / "bad.pt"
    save_network(Generator(base_channels=4, levels=2), path, {"working_size": 64, key: gain})
    with pytest.raises(WeightsError, match=f"has {key} "):
        Colorizer.load(path)


@pytest.mark.parametrize("scale", [0, -1, 100.0, "8", True])
def test_a_bad_points_edge_scale_in_the_weights_is_refused(tmp_path, scale):
    path = tmp_path / "bad.pt"
    save_network(Generator(base_channels=4, levels=2), path, {"working_size": 64, "points_edge_scale": scale})
    with pytest.raises(WeightsError, match="has points_edge_scale .*--points-edge-scale"):
        Colorizer.load(path)


def test_missing_weights_say_what_to_do(tmp_path):
    with pytest.raises(WeightsError, match="no weights file at .*train and export"):
        Colorizer.load(tmp_path / "nope.pt")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_broken_weights_are_refused_clearly(tmp_path, tiny_weights, damage):
    data = tiny_weights.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00not a model" * 100, "empty": b""}[damage])
    with pytest.raises(WeightsError, match="cannot read the weights file") as raised:
        Colorizer.load(broken)
    assert f"newer torch than this one ({torch.__version__}" in str(raised.value)  # a file from a newer torch fails so


def test_torchscript_that_is_not_a_colorizer_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(WeightsError, match="not a colorizer"):
        Colorizer.load(path)


def test_a_net_with_the_wrong_output_is_refused(tmp_path):
    class OneChannel(Generator):
        def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
            return l_norm
    path = tmp_path / "wrong.pt"
    save_network(OneChannel(base_channels=4, levels=2), path, {"working_size": 64})
    with pytest.raises(WeightsError, match="shape"):
        Colorizer.load(path)


@pytest.mark.parametrize("small,large", [((7, 5), (40, 33)), ((64, 48), (64, 48)), ((30, 20), (11, 9)), ((1, 3), (9, 17))])
@pytest.mark.parametrize("channels", [2, 4])
def test_upsampling_in_strips_equals_a_whole_frame_resize(small, large, channels):
    """The same as F.interpolate of the whole frame, up to OpenCV's positions in 1/32 of a grid cell: at most 1/32
    of the largest step between neighbouring cells (an ab unit where the colours jump by 32 from cell to cell)."""
    from model.colorizer import upsample_rows
    grid = torch.randn(1, channels, *small)
    expected = torch.nn.functional.interpolate(grid, size=large, mode="bilinear", align_corners=False)[0]
    steps = [grid.diff(dim=d).abs().max() for d in (-1, -2) if grid.shape[d] > 1]
    grid = np.ascontiguousarray(grid[0].numpy())
    strips = [upsample_rows(grid, large[1], large[0], top, min(top + 4, large[0])) for top in range(0, large[0], 4)]
    assert torch.allclose(torch.cat(strips, dim=1), expected, atol=max(steps) / 32 + 1e-5)


def test_painting_in_strips_equals_painting_at_once(colorizer, monkeypatch):
    import model.colorizer as module
    photo = synthetic_photo(8, (150, 97))
    whole = np.asarray(colorizer(photo), dtype=int)
    monkeypatch.setattr(module, "STRIP_PIXELS", 150 * 7)  # 7 rows a strip, the last one shorter
    strips = np.asarray(colorizer(photo), dtype=int)
    assert np.abs(whole - strips).max() <= 1


def test_bfloat16_gives_the_same_image_within_a_few_levels(tiny_weights):
    """The faster path's stated tolerance: every pixel within 4 levels of 255 of float32's, most identical."""
    photo = synthetic_photo(9, (200, 150))
    exact = np.asarray(Colorizer.load(tiny_weights, precision="float32")(photo), dtype=int)
    fast = np.asarray(Colorizer.load(tiny_weights, precision="bfloat16")(photo), dtype=int)
    difference = np.abs(exact - fast)
    assert difference.max() <= 4 and difference.mean() < 0.5


def test_an_unknown_precision_is_refused(tiny_weights):
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        Colorizer.load(tiny_weights, precision="int8")


def test_a_colour_photo_is_colorized_as_its_own_gray_version(colorizer):
    """A colour photo's L is kept to half a gray level; from there on it takes the gray path (and its speed)."""
    from model.color import gray8_of_rgb8
    photo = synthetic_photo(15, (120, 90))
    gray = Image.fromarray(gray8_of_rgb8(*(np.asarray(p) for p in photo.split())), "L")
    assert np.array_equal(np.asarray(colorizer(photo)), np.asarray(colorizer(gray)))
    exact = rgb_to_lab_np(np.asarray(photo))[..., 0]
    assert np.abs(lightness(gray).numpy() - exact).max() < 0.25
    assert np.abs(lightness(photo).numpy() - exact).max() < 0.25


def test_a_photo_sent_again_reuses_its_automatic_colours_to_the_bit(tiny_weights):
    """The page sends the same photo again for every colour point and vividness change: the network's automatic
    colours are computed once, and the result is what a fresh Colorizer gives."""
    colorizer = Colorizer.load(tiny_weights)
    runs = []
    network = colorizer.network

    def counting(*inputs):
        runs.append(len(inputs))  # 1: automatic, 2: with a hint layer
        return network(*inputs)
    colorizer.network = counting
    photo, other = synthetic_photo(21, (120, 90)), synthetic_photo(22, (120, 90))
    point = [{"x": 30, "y": 40, "color": "#2040c0"}]
    first = colorizer(photo, vividness=1.0)
    moved = colorizer(photo, vividness=1.5)
    pointed = colorizer(photo, hints=point)
    assert runs == [1, 2]  # the automatic pass once; the pass with the point
    colorizer(other)
    assert runs == [1, 2, 1]  # another photo is another question
    fresh = Colorizer.load(tiny_weights)
    for got, kwargs in ((first, {"vividness": 1.0}), (moved, {"vividness": 1.5}), (pointed, {"hints": point})):
        assert np.array_equal(np.asarray(got), np.asarray(fresh(photo, **kwargs)))


def test_forget_makes_the_same_photo_computed_whole_again(tiny_weights, monkeypatch):
    """bench.e2e times a photo several times: after forget() the network runs and the repair looks again."""
    import model.colorizer as module
    colorizer = Colorizer.load(tiny_weights)
    runs, repairs, network, real = [], [], colorizer.network, module.restore_gray
    colorizer.network = lambda *inputs: runs.append(1) or network(*inputs)
    monkeypatch.setattr(module, "restore_gray", lambda pixels, mode: repairs.append(mode) or real(pixels, mode))
    photo = synthetic_photo(23, (120, 90))
    first = colorizer(photo)
    colorizer(photo)
    assert (len(runs), len(repairs)) == (1, 1)  # remembered
    colorizer.forget()
    again = colorizer(photo)
    assert (len(runs), len(repairs)) == (2, 2)
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_only_the_latest_photos_are_remembered(tiny_weights):
    from model.colorizer import REMEMBERED
    colorizer = Colorizer.load(tiny_weights)
    for seed in range(REMEMBERED + 3):
        colorizer(synthetic_photo(30 + seed, (40, 30)))
    assert len(colorizer._remembered.answers) == REMEMBERED


def test_a_photo_sent_again_is_not_examined_for_repair_again(tiny_weights, monkeypatch):
    """The repair (model.restore) of the latest photos is remembered too, whether it repaired or found nothing."""
    import model.colorizer as module
    colorizer = Colorizer.load(tiny_weights)
    calls = []
    real = module.restore_gray

    def counting(pixels, mode):
        calls.append(mode)
        return real(pixels, mode)
    monkeypatch.setattr(module, "restore_gray", counting)
    clean = synthetic_photo(41, (256, 192)).convert("L")
    old = Image.fromarray(held_out_old_print()[1])
    first = [np.asarray(colorizer(photo, vividness=v)) for photo in (clean, old) for v in (1.0, 1.5)]
    assert calls == ["auto", "auto"]  # once per photo
    assert not np.array_equal(first[2], np.asarray(colorizer(old, restore="off")))  # the old one was repaired
    assert np.asarray(colorizer(old, restore="on")).shape and calls == ["auto", "auto", "on"]  # another question
    fresh = Colorizer.load(tiny_weights)
    again = [np.asarray(fresh(photo, vividness=v)) for photo in (clean, old) for v in (1.0, 1.5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
