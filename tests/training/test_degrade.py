"""training.degrade: old-print damage at random strengths, and a mask that is exactly the visible damage."""
import numpy as np
import pytest

from model.color import gray8_of_rgb8
from tests.conftest import synthetic_photo
from training.degrade import (DAMAGE_KINDS, EVALUATION_KINDS, KINDS, MASK_LEVELS, degrade, fade, made_old, tint,
                              untint)


def gray(seed: int = 0, size=(176, 176)) -> np.ndarray:
    return np.asarray(synthetic_photo(seed, size).convert("L"))


def test_shapes_and_types():
    degraded, mask = degrade(gray(), 0, chance=1)
    assert degraded.shape == mask.shape == (176, 176)
    assert degraded.dtype == np.uint8 and mask.dtype == bool


def test_the_same_seed_gives_the_same_damage_and_another_seed_other_damage():
    a, b, c = (degrade(gray(), seed, chance=1) for seed in (5, 5, 6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_nothing_happens_at_chance_zero():
    clean = gray()
    degraded, mask = degrade(clean, 0, chance=0)
    assert np.array_equal(degraded, clean) and not mask.any()


@pytest.mark.parametrize("seed", range(4))
def test_the_mask_is_where_surface_damage_moved_the_picture(seed):
    clean = gray(seed)
    degraded, mask = degrade(clean, seed, chance=1, kinds=DAMAGE_KINDS)
    change = np.abs(degraded.astype(int) - clean)
    assert 0.002 < mask.mean() < 0.2
    assert (change[mask] >= MASK_LEVELS).all()  # every mask pixel visibly changed
    assert (change[~mask] < MASK_LEVELS).all()  # and nothing outside it did by as much


def test_tone_changes_record_no_damage():
    degraded, mask = degrade(gray(), 1, chance=1, kinds=("fade", "vignette", "blur", "grain", "jpeg"))
    assert not mask.any() and not np.array_equal(degraded, gray())


def test_evaluation_damage_is_every_kind_it_names_and_follows_the_name():
    a, mask = made_old(gray(), "photo_01.jpg")
    b, _ = made_old(gray(), "photo_01.jpg")
    c, _ = made_old(gray(), "photo_02.jpg")
    assert np.array_equal(a, b) and mask.any() and not np.array_equal(a, c)
    assert set(EVALUATION_KINDS) <= set(KINDS) and "jpeg" in EVALUATION_KINDS


def test_fade_compresses_the_range_towards_a_lifted_black():
    faded = fade(np.linspace(0, 1, 100, dtype=np.float32), np.random.default_rng(0))
    assert faded[0] >= 0.04 and faded[-1] <= 0.97 and faded[-1] - faded[0] >= 0.4


@pytest.mark.parametrize("name", ["sepia", "cyanotype"])
def test_a_tinted_print_turns_back_into_a_gray_of_the_same_order(name):
    clean = gray()
    rgb = tint(clean, name)
    red, blue = rgb[..., 0].astype(int), rgb[..., 2].astype(int)
    assert (red > blue).mean() > 0.9 if name == "sepia" else (blue > red).mean() > 0.9
    back = untint(rgb)
    assert np.array_equal(back, gray8_of_rgb8(rgb[..., 0].copy(), rgb[..., 1].copy(), rgb[..., 2].copy()))
    order = np.argsort(clean.ravel(), kind="stable")
    assert (np.diff(back.ravel()[order].astype(int)) >= 0).all()  # lighter stays lighter


@pytest.mark.parametrize("size", [(16, 16), (176, 176), (40, 300)])
def test_works_on_crops_of_any_size_and_float_input(size):
    crop = gray(2, size).astype(np.float32) / 255
    degraded, mask = degrade(crop, 3, chance=1)
    assert degraded.shape == crop.shape[:2] == mask.shape


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(gray(), 0, kinds=("scratches", "mould"))
    with pytest.raises(ValueError, match="chance"):
        degrade(gray(), 0, chance=2)
    with pytest.raises(ValueError, match=r"\(H, W\) gray"):
        degrade(np.zeros((8, 8, 3), np.uint8), 0)
