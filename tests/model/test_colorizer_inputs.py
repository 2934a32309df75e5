"""What the Colorizer does with the inputs old prints come as: repair first (restore), transparency kept, tinted
scans colorized as their gray."""
import io

import numpy as np
import pytest
from PIL import Image

from model.color import rgb_to_lab_np
from model.colorizer import lightness
from model.formats import encode
from model.restore import restore as restore_gray
from tests.conftest import held_out_old_print, synthetic_photo
from training.degrade import tint, untint


def test_auto_colorizes_a_clean_photo_exactly_as_off(colorizer):
    photo = synthetic_photo(0, (256, 192))
    assert np.array_equal(np.asarray(colorizer(photo)), np.asarray(colorizer(photo, restore="off")))


def test_a_photo_made_old_is_repaired_and_keeps_the_repaired_lightness(colorizer):
    _, damaged = held_out_old_print()
    repaired, report = restore_gray(damaged, "auto")
    assert report["changed"]
    result = colorizer(Image.fromarray(damaged))  # restore="auto", the default
    assert (lightness(result) - lightness(Image.fromarray(repaired))).abs().max() < 0.6  # half a level's L
    off = colorizer(Image.fromarray(damaged), restore="off")
    assert (lightness(off) - lightness(Image.fromarray(damaged))).abs().max() < 0.6
    assert (lightness(result) - lightness(off)).abs().mean() > 1


@pytest.mark.parametrize("value", ["maybe", "", "AUTO", 1])
def test_a_bad_restore_value_is_refused(colorizer, value):
    with pytest.raises(ValueError, match="restore must be auto, on or off"):
        colorizer(synthetic_photo(0), restore=value)


def test_no_restore_value_means_auto(colorizer):
    old = Image.fromarray(held_out_old_print()[1])
    assert np.array_equal(np.asarray(colorizer(old, restore=None)), np.asarray(colorizer(old, restore="auto")))
    assert not np.array_equal(np.asarray(colorizer(old, restore=None)), np.asarray(colorizer(old, restore="off")))


def with_hole(image: Image.Image) -> Image.Image:
    """The image with an alpha channel: transparent on the left third, half transparent in the middle third."""
    alpha = np.full(image.size[::-1], 255, np.uint8)
    third = image.width // 3
    alpha[:, :third], alpha[:, third:2 * third] = 0, 128
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_kept_in_the_result_and_a_png(colorizer, mode):
    image = with_hole(synthetic_photo(2)).convert(mode)
    result = colorizer(image)
    assert result.mode == "RGBA"
    assert np.array_equal(np.asarray(result.getchannel("A")), np.asarray(image.getchannel("A")))
    with Image.open(io.BytesIO(encode(result, "png"))) as png:
        assert png.mode == "RGBA" and np.array_equal(np.asarray(png.getchannel("A")), np.asarray(image.getchannel("A")))


def test_a_palette_with_a_transparent_colour_gives_its_alpha(colorizer):
    palette = synthetic_photo(3).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pixels = np.asarray(palette)
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=int(pixels[0, 0]))  # one palette entry transparent
    with Image.open(buffer) as image:
        expected = np.asarray(image.convert("RGBA").getchannel("A"))
        assert 0 < (expected == 0).mean() < 1
        result = colorizer(image)
    assert result.mode == "RGBA" and np.array_equal(np.asarray(result.getchannel("A")), expected)


def test_jpeg_of_a_transparent_result_shows_it_on_white(colorizer):
    result = colorizer(with_hole(synthetic_photo(4)))
    with Image.open(io.BytesIO(encode(result, "jpeg", 95))) as jpeg:
        pixels = np.asarray(jpeg)
    assert jpeg.mode == "RGB"
    third = result.width // 3
    assert pixels[:, 2:third - 2].min() >= 245  # the transparent third: white
    assert np.abs(pixels[:, 2 * third + 2:].astype(int) - np.asarray(result.convert("RGB"))[:, 2 * third + 2:]).mean() < 3


def test_an_opaque_alpha_channel_gives_rgb(colorizer):
    assert colorizer(synthetic_photo(5).convert("RGBA")).mode == "RGB"


@pytest.mark.parametrize("name", ["sepia", "cyanotype"])
def test_a_tinted_scan_is_colorized_as_its_gray_with_no_cast_left(colorizer, name):
    gray = synthetic_photo(6, (160, 120)).convert("L")
    scan = Image.fromarray(tint(np.asarray(gray), name))  # a toned print scanned in colour
    tinted = rgb_to_lab_np(np.asarray(scan))[..., 1:].mean(axis=(0, 1))
    assert np.hypot(*tinted) > 8  # it has a cast
    from_scan = rgb_to_lab_np(np.asarray(colorizer(scan)))[..., 1:].mean(axis=(0, 1))
    from_gray = rgb_to_lab_np(np.asarray(colorizer(Image.fromarray(untint(np.asarray(scan))))))[..., 1:].mean(axis=(0, 1))
    assert np.abs(from_scan - from_gray).max() < 0.5  # the scan's colours are those of its gray version
    assert np.abs(from_scan - tinted).max() > 5  # and none of its cast
